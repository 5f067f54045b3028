"""Pointing out answers inside sentences: figures and what they count, speakers, actors."""

from __future__ import annotations

import pytest
from conftest import SAMPLE_ARTICLE

from assistant.ask.actors import actor
from assistant.ask.extractive import ExtractiveAnswerer
from assistant.ask.figures import figures, past_time, relevant_figures, without_references
from assistant.ask.question import analyse, asks_for_actor, is_follow_up, question_kind
from assistant.ask.select import Selection
from core.types import SentenceRecord
from ingest.sentences import split_sentences
from ingest.speakers import speakers

SENTENCES = [s.text for s in split_sentences(SAMPLE_ARTICLE.read_text(encoding="utf-8"))]


def test_figures_keep_qualifier_and_counted_noun() -> None:
    assert [f.span.text for f in figures(SENTENCES[0])] == ["أكثر من 30 شخصاً"]
    assert [f.span.text for f in figures(SENTENCES[1])] == ["54 شخصاً", "28 مدنياً"]
    assert [f.span.text for f in figures("Five people died in 2015, and 12 were hurt.")] == [
        "Five people",
        "12",  # "were" is counted by nothing
    ]


def test_relevant_figures_match_the_counted_noun() -> None:
    civilians = ("مدني", "قتل")
    assert [f.span.text for f in relevant_figures(SENTENCES[1], civilians)] == ["28 مدنياً"]
    assert [f.span.text for f in relevant_figures(SENTENCES[0], civilians)] == ["أكثر من 30 شخصاً"]
    assert relevant_figures(SENTENCES[2], civilians) == []


def test_relevant_figures_without_the_noun_must_sit_next_to_a_term() -> None:
    sentence = "The Panthers defense ranked sixth, while Allen, a 5-time Pro Bowler, had 136 sacks."
    assert relevant_figures(sentence, ("point", "panther", "defens")) == []
    near = "Local sources said 30 people were killed, and 12 houses burned in 2 villages."
    assert [f.span.text for f in relevant_figures(near, ("kill", "die"))] == ["30 people"]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The strike was carried out by the US-led coalition, officials said.",
         "carried out by the US-led coalition"),
        ("The US-led coalition carried out the strike on Friday.",
         "The US-led coalition carried out the strike"),
        ("Officials said the strike was likely carried out by militants.",
         "likely carried out by militants"),
        ("Officials said that militants probably carried out the strike.",
         "militants probably carried out the strike"),
        ("Officials said the strike was carried out at dawn.", None),  # passive, no actor
        ("The coalition carried out a review of its targets.", None),  # not the strike
        ("The strike hit a US-led coalition base.", None),  # "led" is no verb here
    ],
)  # fmt: skip
def test_english_actor_reads_active_and_passive(sentence: str, expected: str | None) -> None:
    verbs, objects = ("carried", "carri", "led"), ("out", "strike")
    found = actor(sentence, verbs, objects)
    assert (found.text if found else None) == expected
    if found:
        assert sentence[found.start : found.end] == found.text


def test_speakers_follow_the_article() -> None:
    found = speakers(SENTENCES)
    assert found[0] == "مصادر محلية"
    assert found[1] == found[2] == "المرصد السوري لحقوق الإنسان"  # "وأضاف" inherits
    assert found[3] == "التحالف الدولي"
    assert found[4] == found[5] == found[6] == "المتحدث باسم التحالف الكولونيل شون رايان"
    assert found[7] == ""
    assert found[11] == "قسد"


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            "The Syrian Observatory for Human Rights said the toll rose to 54.",
            "The Syrian Observatory for Human Rights",
        ),
        ("Five people died, according to local officials.", "local officials"),
        ("Nobody knows.", ""),
        (
            "Mittal Steel could cut up to 45,000 jobs over the next five years, its chief "
            "executive has said.",
            "chief executive",
        ),
        ("Microsoft has said it will replace more than 14 million power cables.", "Microsoft"),
        ("The ministry also said that 20 people died.", "The ministry"),
    ],
)
def test_english_speakers(sentence: str, expected: str) -> None:
    assert speakers([sentence]) == [expected]


def test_actor_keeps_hedges_verbatim() -> None:
    verbs, objects = ("نفذ", "شن"), ("غار", "ضرب")
    assert actor(SENTENCES[2], verbs, objects).text == (  # type: ignore[union-attr]
        'نفذها على الأرجح التحالف الذي تقوده الولايات المتحدة لقتال "داعش" أو القوات العراقية '
        "المتحالفة معه"
    )
    assert actor(SENTENCES[3], verbs, objects).text == 'قواته أو "قوات شريكة له" ربما نفذت'  # type: ignore[union-attr]
    assert actor(SENTENCES[7], verbs, objects) is None


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many civilians died?", "count"),
        ("Who carried out the air strike?", "who"),
        ("When did the strike happen?", "when"),
        ("Where did it happen?", "where"),
        ("What did the coalition say?", "other"),
        ("كم عدد القتلى المدنيين؟", "count"),
        ("من نفذ الغارة؟", "who"),
        ("متى وقعت الغارة؟", "when"),
        ("أين وقعت الغارة؟", "where"),
    ],
)
def test_question_kinds(question: str, kind: str) -> None:
    assert question_kind(question, analyse(question).language) == kind


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who carried out the strike?", True),
        ("and who carried it out?", True),
        ("من نفذ الغارة؟", True),
        ("Who was killed in the strike?", False),  # the victims, not the doer
        ("Who did the army arrest?", False),  # the object
        ("Who is the coalition spokesman?", False),  # an identity
        ("من هو المتحدث باسم التحالف؟", False),
        ("How many civilians died?", False),
    ],
)
def test_who_questions_that_ask_for_the_doer(question: str, expected: bool) -> None:
    assert asks_for_actor(analyse(question)) is expected


def test_follow_up_borrows_the_previous_question() -> None:
    assert is_follow_up("and how many were injured?", "en")
    assert is_follow_up("وكم عدد الجرحى؟", "ar")
    assert not is_follow_up("How many civilians died in the strike?", "en")
    follow = analyse("and how many were injured?", ["Who carried out the air strike?"])
    assert follow.search_text == "Who carried out the air strike? and how many were injured?"
    assert follow.terms == ("injured",) and "جرحي" in follow.ar_terms
    fresh = analyse("How many civilians died in the strike?", ["Who carried it out?"])
    assert fresh.search_text == "How many civilians died in the strike?"


def test_past_time_is_found_verbatim() -> None:
    assert past_time(SENTENCES[8]).text == "أواخر يونيو/حزيران الماضي"  # type: ignore[union-attr]
    assert past_time("Twelve houses burned in late June 2015.").text == "late June 2015"  # type: ignore[union-attr]
    assert past_time(SENTENCES[1]) is None


def test_an_arabic_actor_never_rests_on_the_ya_folding_alone() -> None:
    question = analyse("من بنى قرطاج؟")
    assert question.terms[0] == "بني" and question.exact_terms[0] == "بنى"
    banu = "وحكمها بنو زيان ثم بني برطال لقرون، وبنى الملك قصرا."
    verbs, exact = question.terms[:1], question.exact_terms[:1]
    assert actor("وحكمت المدينة بني برطال قرونا.", verbs, ("قرطاج",), exact) is None
    found = actor(banu, verbs, (), exact)
    assert found is not None and found.text.startswith("وبنى")
    assert actor("وحكمت المدينة بني برطال قرونا.", verbs, ("قرطاج",)) is not None  # folded only


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The mine produced 5,000 tonnes of copper[7][8] in 2010.", ["5,000 tonnes"]),
        ("2][3] أما الإنتاج فبلغ 300 طن سنويا.", ["300 طن"]),
        ("It was founded by 12 monks[3].", ["12 monks"]),
    ],
)
def test_reference_markers_are_never_figures(sentence: str, expected: list[str]) -> None:
    assert [f.span.text for f in figures(sentence)] == expected


def test_reference_markers_leave_the_pointed_out_part() -> None:
    assert without_references("copper[7][8] it") == "copper … it"
    assert without_references("12 monks[3]") == "12 monks"
    assert without_references("no markers here") == "no markers here"


def test_a_count_answer_states_the_best_sentences_figure() -> None:
    best = record(0, "Gateshead had a population of 120,046 at the 2011 census.")
    other = record(1, "The county is home to 1,188,580 people, more than before.")
    question = analyse("How many people live in Gateshead?")
    draft = ExtractiveAnswerer().draft(question, Selection([best, other], 0.9, True), 5)
    assert "120,046" in draft.text.split("\n")[1]  # the first line after the header
    assert draft.claims[0].sentence_id == best.id


def record(i: int, text: str) -> SentenceRecord:
    return SentenceRecord(
        id=f"a:s{i}", article_id="a", title="T", source="S", url="", date="", language="en",
        sentence_index=i, start=0, end=len(text), sentence=text,
    )  # fmt: skip


def test_the_question_is_embedded_without_vowel_marks() -> None:
    question = analyse("مَتَى تَأَسَّسَتْ جَامِعَةُ العُلومِ؟")
    assert question.search_text == "متى تأسست جامعة العلوم؟"
    assert question.text == "مَتَى تَأَسَّسَتْ جَامِعَةُ العُلومِ؟" and question.kind == "when"


def test_a_pronoun_is_never_a_speaker() -> None:
    article = [
        "The minister, Ana Lopez, said the plan was ready.",
        "The weather was fine.",
        "He said the talks would go on.",
        "His lawyer Louise Christian said he would appeal.",
        "It said nothing more, according to him.",
    ]
    assert speakers(article) == [
        "",  # "The minister, Ana Lopez, said": no leading subject read (unchanged)
        "",
        "",
        "lawyer Louise Christian",
        "lawyer Louise Christian",
    ]
    named = ["Officials in Kabul said the road was closed.", "He said it would reopen."]
    assert speakers(named) == ["Officials in Kabul", "Officials in Kabul"]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Profits rose 76% to $1.13bn in December.", ["76%", "$1.13bn"]),
        ("The fine was £1,400 as the court ruled.", ["£1,400"]),
        ("It cost US$5m and 12 km of road.", ["US$5m", "12 km"]),
    ],
)
def test_a_currency_sign_or_unit_belongs_to_its_figure(sentence: str, expected: list[str]) -> None:
    assert [f.span.text for f in figures(sentence)] == expected


def news_record(i: int, article: str, title: str, text: str) -> SentenceRecord:
    return SentenceRecord(
        id=f"{article}:s{i}", article_id=article, title=title, source=article, url="", date="",
        language="ar", sentence_index=i, start=0, end=len(text), sentence=text,
    )  # fmt: skip


def test_a_count_lists_no_figure_of_another_event() -> None:
    report = news_record(
        0,
        "un",
        "الأمم المتحدة: مقتل وإصابة 3440 عراقياً خلال شهر",
        "وأوضح بيان للبعثة الأممية أن 1332 عراقياً قتلوا خلال الشهر الماضي.",
    )
    crash = news_record(
        0,
        "crash",
        "8 قتلى في اصطدام مروحية وطائرة مائية قرب موسكو",
        "عثر رجال انقاذ الاحد على ثماني جثث خارج موسكو بعد اصطدام مروحية بطائرة.",
    )
    said = news_record(1, "crash", "8 قتلى في اصطدام مروحية وطائرة مائية قرب موسكو",
                       "وقال نائب المحافظ: نؤكد ثمانية قتلى.")  # fmt: skip
    question = analyse("كم عدد قتلى اصطدام الطائرتين قرب موسكو؟")
    draft = ExtractiveAnswerer().draft(question, Selection([report, crash, said], 0.9, True), 5)
    assert "1332" not in draft.text  # ranked first, but about another event
    assert {claim.sentence_id for claim in draft.claims} <= {crash.id, said.id}
    assert "ثماني جثث" in draft.text
