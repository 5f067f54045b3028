"""Sentence splitting: offsets give back every sentence exactly; ends, quotes, numbers, initials."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.sentences import _ABBREVIATIONS, split_sentences

SAMPLE = Path(__file__).parent.parent / "data" / "sample" / "airstrike-deir-ez-zor.ar.txt"


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def test_sample_article_sentences_round_trip() -> None:
    article = SAMPLE.read_text(encoding="utf-8")
    sentences = split_sentences(article)
    assert len(sentences) == 17
    for i, s in enumerate(sentences):
        assert s.index == i
        assert article[s.start : s.end] == s.text
    assert sentences[1].text.startswith('وقال "المرصد السوري لحقوق الإنسان"')
    assert sentences[1].text.endswith("و28 مدنياً.")


def test_sample_quote_with_inner_quote_still_splits_after_it() -> None:
    line = SAMPLE.read_text(encoding="utf-8").splitlines()[-1]
    parts = texts(line)
    assert len(parts) == 2
    assert parts[0].endswith('"بضعة أسابيع".')
    assert parts[1].startswith("وتابع باريزو:")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("One. Two! Three? Four", ["One.", "Two!", "Three?", "Four"]),
        ("هل قتل أحد؟ نعم. قتل ثلاثة", ["هل قتل أحد؟", "نعم.", "قتل ثلاثة"]),
        ("first line\nsecond line", ["first line", "second line"]),
        ("It cost $3.5 million. Then", ["It cost $3.5 million.", "Then"]),
        ("Mr. Smith met Dr. Jones. Fine", ["Mr. Smith met Dr. Jones.", "Fine"]),
        ("The U.S. Army said so. Yes", ["The U.S. Army said so.", "Yes"]),
        ("J. K. Rowling wrote it. Yes", ["J. K. Rowling wrote it.", "Yes"]),
        ("قال د. محمد إن الوضع صعب. وغادر", ["قال د. محمد إن الوضع صعب.", "وغادر"]),
        ('He said "Stop. Now." Then left.', ['He said "Stop. Now." Then left.']),
        ("قال: «انتهى. لا شيء». ثم غادر.", ["قال: «انتهى. لا شيء».", "ثم غادر."]),
        ("Wait... what?! Really", ["Wait...", "what?!", "Really"]),
        ("انتهى.وقال آخر", ["انتهى.", "وقال آخر"]),
        ("Visit example.com today. Ok", ["Visit example.com today.", "Ok"]),
        ("1. First item.\n2. Second", ["1. First item.", "2. Second"]),
        ("  \n\n ... \n", []),
    ],
)
def test_sentence_ends(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_unclosed_quote_does_not_swallow_the_line() -> None:
    assert texts('He said "it is over. Nobody came.') == ['He said "it is over.', "Nobody came."]


def test_crlf_line_breaks() -> None:
    text = "أولاً.\r\nثانياً"
    sentences = split_sentences(text)
    assert [text[s.start : s.end] for s in sentences] == ["أولاً.", "ثانياً"]


@given(st.text(alphabet=st.sampled_from(list('ab ص.!?؟"«»\n\r،1 ')), max_size=200))
def test_offsets_always_give_back_the_text(text: str) -> None:
    previous_end = 0
    for s in split_sentences(text):
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip()
        assert s.start >= previous_end
        previous_end = s.end


@pytest.mark.parametrize(
    "text",
    [
        "ولد سنة 384 ق.م في أثينا.",
        "توفي أرسطو عام 322 ق.م. في خالكيس",
        "قال د. أحمد إن الوضع صعب.",
        "حاضر أ.د. محمد علي في الجامعة.",
        "أ.د محمد علي حاضر.",
        "العنوان ص.ب 1234 الرياض.",
        "ولد عام 1950 م. في القاهرة.",
        "Mr. Smith met Dr. Jones of the U.S. Army at 5 p.m. on Monday.",
        "Gen. Allen and Sgt. Brown went to St. Louis, e.g. by train, approx. 5 km, No. 5 road.",
    ],
)
def test_listed_abbreviations_do_not_end_a_sentence(text: str) -> None:
    assert texts(text) == [text]


@pytest.mark.parametrize("abbreviation", sorted(_ABBREVIATIONS))
def test_every_listed_abbreviation_keeps_its_sentence_whole(abbreviation: str) -> None:
    arabic = not abbreviation[0].isascii()
    text = f"قال {abbreviation}. كلاما طويلا." if arabic else f"We met {abbreviation}. Smith here."
    assert texts(text) == [text]
