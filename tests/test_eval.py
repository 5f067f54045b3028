"""The evaluation's scorer and runner, on an XQuAD-R-shaped set this test writes itself (two
parallel English/Arabic articles, six questions) plus three Arabic news distractors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from assistant import Assistant, Settings
from assistant.api import with_location
from evaluation.command import EvalError, plan_from, save_results
from evaluation.metrics import contains_answer, normalize_answer, score, summarize, token_f1
from evaluation.news import spread_files
from evaluation.report import write_report
from evaluation.run import Plan, changed_settings, english_news, pairs, run_eval
from evaluation.systems import LANGCHAIN_COLLECTION, Reply, Sentence, langchain_chunks
from evaluation.xquad import Gold, check_answers, load_corpus

ARTICLES = {
    "en": [
        (
            "Solar_Farm",
            [
                "The Noor solar farm opened in 2018 near the city of Ouarzazate. It was built by "
                "a consortium led by ACWA Power. The plant covers an area of 3,000 hectares.",
                "The farm produces 580 megawatts of electricity at its peak. About one million "
                "homes receive power from it. Engineers clean the mirrors with robots to save "
                "water.",
            ],
        ),
        (
            "River_Festival",
            [
                "The annual river festival took place in the town of Aswan in March. More than "
                "20,000 visitors attended the three-day event. The mayor, Ahmed Salem, opened the "
                "festival with a speech.",
                "Boat races were the most popular competition this year. A team from Luxor won "
                "the main race. The organisers plan to double the number of boats next year.",
            ],
        ),
    ],
    "ar": [
        (
            "Solar_Farm",
            [
                "افتتحت محطة نور للطاقة الشمسية عام 2018 قرب مدينة ورزازات. وقد بناها تحالف "
                "تقوده شركة أكوا باور. وتغطي المحطة مساحة 3000 هكتار.",
                "تنتج المحطة 580 ميغاواط من الكهرباء في ذروتها. ويحصل نحو مليون منزل على الكهرباء "
                "منها. وينظف المهندسون المرايا بالروبوتات لتوفير المياه.",
            ],
        ),
        (
            "River_Festival",
            [
                "أقيم مهرجان النهر السنوي في مدينة أسوان في شهر مارس. وحضر أكثر من 20 ألف زائر "
                "الحدث الذي استمر ثلاثة أيام. وافتتح رئيس البلدية أحمد سالم المهرجان بكلمة.",
                "كانت سباقات القوارب أكثر المسابقات شعبية هذا العام. وفاز فريق من الأقصر بالسباق "
                "الرئيسي. ويخطط المنظمون لمضاعفة عدد القوارب في العام المقبل.",
            ],
        ),
    ],
}
# (article, paragraph, {language: (question, answer)})
QUESTIONS = [
    (0, 0, {"en": ("Who built the Noor solar farm?", "a consortium led by ACWA Power"),
            "ar": ("من بنى محطة نور للطاقة الشمسية؟", "تحالف تقوده شركة أكوا باور")}),
    (0, 1, {"en": ("How many megawatts does the farm produce?", "580"),
            "ar": ("كم ميغاواط تنتج المحطة؟", "580")}),
    (0, 1, {"en": ("Why do engineers clean the mirrors with robots?", "to save water"),
            "ar": ("لماذا ينظف المهندسون المرايا بالروبوتات؟", "لتوفير المياه")}),
    (1, 0, {"en": ("How many visitors attended the festival?", "More than 20,000"),
            "ar": ("كم زائرا حضر المهرجان؟", "أكثر من 20 ألف")}),
    (1, 0, {"en": ("Who opened the festival?", "Ahmed Salem"),
            "ar": ("من افتتح المهرجان؟", "أحمد سالم")}),
    (1, 1, {"en": ("Which team won the main race?", "A team from Luxor"),
            "ar": ("أي فريق فاز بالسباق الرئيسي؟", "فريق من الأقصر")}),
]  # fmt: skip
NEWS = [
    {"title": "افتتاح مستشفى جديد في جدة", "source": "okaz", "url": "http://example.com/1",
     "content": "افتتح وزير الصحة مستشفى جديدا في جدة يضم 300 سرير. ويخدم المستشفى أحياء "
                "جنوب المدينة."},
    {"title": "أمطار غزيرة على الرياض", "source": "alriyadh", "url": "http://example.com/2",
     "content": "هطلت أمطار غزيرة على الرياض أمس. وأغلقت السلطات عددا من الأنفاق."},
    {"title": "فوز الهلال", "source": "sabq", "url": "http://example.com/3",
     "content": "فاز فريق الهلال على النصر بهدفين مقابل هدف. وسجل الهدفين لاعب الوسط."},
]  # fmt: skip


ENGLISH_NEWS = {
    "business/001.txt": "Bank profits rise\n\nThe bank reported profits of 2 billion dollars.",
    "business/002.txt": "Oil prices fall\n\nOil prices fell for a third day on Monday.",
    "sport/001.txt": "Cup final\n\nThe home team won the cup final three goals to one.",
}


def write_english_news(folder: Path) -> Path:
    for name, text in ENGLISH_NEWS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def write_xquad(folder: Path) -> Path:
    """The fixture in XQuAD-R's layout: data -> paragraphs -> context, qas, sentences."""
    folder.mkdir(parents=True, exist_ok=True)
    for lang, articles in ARTICLES.items():
        data = []
        for title, contexts in articles:
            paragraphs = [{"context": c, "qas": [], "sentences": [], "sentence_breaks": []}
                          for c in contexts]  # fmt: skip
            data.append({"title": title, "paragraphs": paragraphs})
        for n, (a, p, asked) in enumerate(QUESTIONS):
            question, answer = asked[lang]
            paragraph = data[a]["paragraphs"][p]
            start = paragraph["context"].index(answer)
            paragraph["qas"].append(
                {"id": f"q{n}", "question": question,
                 "answers": [{"answer_start": start, "text": answer}]}
            )  # fmt: skip
        (folder / f"{lang}.json").write_text(json.dumps({"data": data}, ensure_ascii=False))
    return folder


def test_corpus_offsets_point_at_each_answer(tmp_path: Path) -> None:
    folder = write_xquad(tmp_path / "xquad-r")
    for lang in ("ar", "en"):
        corpus = load_corpus(folder, lang)
        assert len(corpus.articles) == 2 and len(corpus.questions) == len(QUESTIONS)
        assert check_answers(corpus) == []
        gold = corpus.questions[4]
        assert corpus.paragraph_of(gold.article_id, gold.start) == gold.paragraph == 0
    cross = pairs(load_corpus(folder, "en"), load_corpus(folder, "ar"))
    assert cross[5].question == "Which team won the main race?"
    assert cross[5].answer == "فريق من الأقصر"


def test_missing_xquad_folder_is_named(tmp_path: Path) -> None:
    args = argparse.Namespace(
        data=tmp_path, work=tmp_path / "w", distractors=None, corpus=None, large=10,
        no_distractors=False, no_large=False, articles=None, questions=None,
        english_distractors=None, english=2, no_english_distractors=False, compare=[],
        no_langchain=False, no_alone=False,
    )  # fmt: skip
    with pytest.raises(EvalError, match="no XQuAD-R files"):
        plan_from(args)
    write_xquad(tmp_path / "xquad-r")
    plan = plan_from(args)
    assert plan.xquad == tmp_path / "xquad-r" and plan.distractors is None
    assert plan.english_distractors is None and plan.langchain and plan.alone
    args.no_langchain = True
    assert plan_from(args).systems == ["BM25", "news-assistant"]
    args.no_alone = True
    with pytest.raises(EvalError, match="--no-alone with no distractor run"):
        plan_from(args)
    write_english_news(tmp_path / "bbc_news" / "bbc")
    assert plan_from(args).english_distractors == tmp_path / "bbc_news" / "bbc"
    assert not plan_from(args).alone
    args.english_distractors = tmp_path / "nowhere"
    with pytest.raises(EvalError, match=r"--english-distractors .*nowhere: no such"):
        plan_from(args)
    args.english_distractors, args.compare = None, ["retrieval.fast=yes"]
    with pytest.raises(EvalError, match=r"--compare 'retrieval.fast=yes': expected SECTION"):
        plan_from(args)


def test_english_news_takes_the_categories_in_turn(tmp_path: Path) -> None:
    folder = write_english_news(tmp_path / "bbc")
    assert [p.relative_to(folder).as_posix() for p in spread_files(folder, 3)] == [
        "business/001.txt", "sport/001.txt", "business/002.txt",
    ]  # fmt: skip
    articles = english_news(folder, 2)
    assert [a.title for a in articles] == ["Bank profits rise", "Cup final"]
    assert {a.source for a in articles} == {"BBC News"} and articles[0].language == "en"
    with pytest.raises(ValueError, match="only 3"):
        spread_files(folder, 4)


GOLD = Gold("q", "Who opened the festival?", "en", "art", 1, 120, 131, "Ahmed Salem")
HIT = Sentence("art", 100, 160, "The mayor, Ahmed Salem, opened the festival.")
MISS = Sentence("art", 0, 99, "The annual river festival took place in Aswan.")
OTHER = Sentence("other", 100, 160, "Ahmed Salem is a common name.")


def paragraph_of(article_id: str, offset: int) -> int:
    return offset // 100


def test_scores_of_a_perfect_a_late_and_an_abstaining_reply() -> None:
    perfect = score(Reply([HIT, MISS], HIT.text, "Ahmed Salem", [HIT]), GOLD, paragraph_of)
    late = score(Reply([MISS, OTHER, HIT], MISS.text, "", [MISS]), GOLD, paragraph_of)
    none = score(Reply([HIT], "The articles do not say.", "", [HIT], False), GOLD, paragraph_of)
    assert (perfect.rank, late.rank, none.rank) == (0, 2, 0)
    assert (perfect.paragraph_rank, late.paragraph_rank) == (0, 2)  # (art,0) (other,1) (art,1)
    figures = summarize([perfect, late, none])
    assert figures["recall@1"] == pytest.approx(200 / 3)
    assert figures["mrr"] == pytest.approx(100 * (1 + 1 / 3 + 1) / 3)
    assert figures["short_stated"] == pytest.approx(100 / 3) and figures["short_em"] == 100
    assert figures["answer_has_gold"] == pytest.approx(100 / 3)  # abstaining never counts
    assert figures["citation_precision"] == 50.0  # HIT yes, MISS no; the abstention cites none
    assert figures["citation_recall"] == pytest.approx(100 / 3)
    assert figures["abstained"] == pytest.approx(100 / 3)


def test_answer_matching_normalises_but_keeps_numbers_whole() -> None:
    gold = Gold("q", "?", "ar", "a", 0, 0, 3, "أكثر من 20 ألف")
    assert contains_answer("وحضر اكثر من 20 ألف زائر", gold)  # hamza form normalised
    assert not contains_answer("وحضر اكثر من 200 ألف زائر", gold)
    assert contains_answer(
        "وفاز فريق من الأقصر بالسباق", Gold("q", "?", "ar", "a", 0, 0, 1, "الأقصر")
    )
    assert normalize_answer("The Luxor team!") == "luxor team"
    assert token_f1("a team from Luxor", "A team from Luxor") == 1.0
    assert token_f1("Luxor", "A team from Luxor") == pytest.approx(2 * 1 * (1 / 3) / (1 + 1 / 3))


def test_langchain_chunks_keep_their_offsets(tmp_path: Path) -> None:
    corpus = load_corpus(write_xquad(tmp_path / "x"), "en")
    text = corpus.articles[0].text
    for chunk in langchain_chunks(corpus.articles):
        start = chunk.metadata["start_index"]
        if chunk.metadata["article_id"] == corpus.articles[0].id:
            assert text[start : start + len(chunk.page_content)] == chunk.page_content


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, e5_embedder: Any) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("eval")
    news = root / "news.jsonl"
    news.write_text("".join(json.dumps(n, ensure_ascii=False) + "\n" for n in NEWS))
    plan = Plan(
        xquad=write_xquad(root / "xquad-r"), work=root / "work", distractors=news,
        english_distractors=write_english_news(root / "bbc"), english=3, latency_questions=4,
        compare=(ONE_SEARCH,),
    )  # fmt: skip
    return run_eval(plan, e5_embedder)


ONE_SEARCH = "retrieval.per_language=false"
SYSTEMS = ("BM25", "LangChain", "news-assistant", f"news-assistant [{ONE_SEARCH}]")
RUNS = {
    "XQuAD-R": ("ar->ar", "en->en", "en->ar", "ar->en"),
    "XQuAD-R + 3 news articles": ("ar->ar", "en->en", "en->ar", "ar->en"),
    "XQuAD-R ar + 3 English news articles": ("ar->ar", "en->ar"),
}


@pytest.mark.model
def test_eval_runs_every_system_in_every_setting(results: dict[str, Any]) -> None:
    runs = results["runs"]
    assert list(runs) == list(RUNS)
    for name, run in runs.items():
        assert tuple(run["settings"]) == RUNS[name]
        for setting in RUNS[name]:
            for system in SYSTEMS:
                figures = run["settings"][setting][system]
                assert figures["questions"] == len(QUESTIONS)
                percents = {k: v for k, v in figures.items() if not k.endswith("_ms")}
                assert all(0 <= v <= 100 for k, v in percents.items() if k != "questions")
        assert len(run["questions"]) == len(RUNS[name]) * len(QUESTIONS)
    assert results["data"]["sentences"] == {"ar": 12, "en": 12}
    assert results["systems"] == list(SYSTEMS)


@pytest.mark.model
def test_a_setting_compared_changes_nothing_where_a_store_has_one_language(
    results: dict[str, Any],
) -> None:
    clean = results["runs"]["XQuAD-R"]["settings"]
    for setting in RUNS["XQuAD-R"]:
        figures = {s: dict(clean[setting][s]) for s in SYSTEMS[2:]}
        for f in figures.values():
            f.pop("p50_ms"), f.pop("p95_ms")
        assert figures[SYSTEMS[2]] == figures[SYSTEMS[3]]


def test_compare_names_a_setting_or_fails(tmp_path: Path) -> None:
    settings = changed_settings(Settings(), "retrieval.per_language=false")
    assert settings.retrieval.per_language is False and Settings().retrieval.per_language
    assert changed_settings(Settings(), "retrieval.dense_k=7").retrieval.dense_k == 7
    for wrong in ("retrieval.nothing=1", "per_language=false", "retrieval.dense_k=many"):
        with pytest.raises(ValueError):
            changed_settings(Settings(), wrong)


@pytest.mark.model
def test_eval_figures_are_what_the_fixture_implies(results: dict[str, Any]) -> None:
    clean = results["runs"]["XQuAD-R"]["settings"]
    # Monolingual questions share words with their sentence: BM25 and the project find it.
    assert clean["ar->ar"]["BM25"]["recall@1"] >= 80
    assert clean["en->en"]["BM25"]["recall@1"] >= 80
    for setting in ("ar->ar", "en->en", "en->ar"):
        assert clean[setting]["news-assistant"]["recall@5"] == 100
        assert clean[setting]["LangChain"]["paragraph_recall@5"] == 100
    # English questions share no words with Arabic sentences (only the figure 580).
    assert clean["en->ar"]["BM25"]["recall@1"] <= 100 / len(QUESTIONS)
    with_news = results["runs"]["XQuAD-R + 3 news articles"]["settings"]
    assert with_news["ar->ar"]["news-assistant"]["recall@5"] == 100
    with_english = results["runs"]["XQuAD-R ar + 3 English news articles"]["settings"]
    assert with_english["en->ar"]["news-assistant"]["recall@5"] == 100


@pytest.mark.model
def test_eval_measures_speed_and_writes_the_report(results: dict[str, Any], tmp_path: Path) -> None:
    ingest = results["speed"]["ingest"]
    assert set(ingest) == {"XQuAD-R ar (2 articles)", "XQuAD-R en (2 articles)"}
    assert all(i["texts_match_store"] and i["ratio"] > 0 for i in ingest.values())
    latency = results["speed"]["latency"]["3 news articles"]
    assert latency["articles"] == 3 and latency["questions"] == 4 and latency["p50_ms"] > 0
    paths = save_results(results, tmp_path / "out", write_report)
    names = ["results.json", "report.md", "chart.png", "questions.jsonl"]
    assert [p.name for p in paths] == names
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "XQuAD-R + 3 news articles" in report and "Ratio" in report
    rows = (tmp_path / "out" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == (4 + 4 + 2) * len(QUESTIONS)
    assert json.loads(rows[0])["rank"].keys() == set(SYSTEMS)
    saved = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert "questions" not in saved["runs"]["XQuAD-R"] and "questions" in results["runs"]["XQuAD-R"]


@pytest.mark.model
def test_no_langchain_leaves_the_baseline_and_its_chunks_out(
    tmp_path: Path, e5_embedder: Any
) -> None:
    """Also without the run over XQuAD-R alone (`alone` off): only the run beside news."""
    xquad = write_xquad(tmp_path / "xquad-r")
    plan = Plan(
        xquad=xquad, work=tmp_path / "work", english_distractors=write_english_news(
            tmp_path / "bbc"), english=3, latency_questions=2, langchain=False, alone=False,
    )  # fmt: skip
    results = run_eval(plan, e5_embedder)
    assert results["systems"] == ["BM25", "news-assistant"]
    assert list(results["runs"]) == ["XQuAD-R ar + 3 English news articles"]
    assert results["speed"]["ingest"] == {}
    assert set(results["runs"]["XQuAD-R ar + 3 English news articles"]["settings"]) == {
        "ar->ar", "en->ar",
    }  # fmt: skip
    for run in results["runs"].values():
        for figures in run["settings"].values():
            assert set(figures) == {"BM25", "news-assistant"}
        for loss in run["losses"].values():
            assert "langchain_hits_where_project_misses" not in loss
            assert "bm25_hits_where_project_misses" in loss
    news = plan.work / "store-english-news-3-bare"
    assert (news / "eval-complete").exists()
    store = Assistant(with_location(Settings(), str(news)), embedder=e5_embedder).store
    names = [c.name for c in store.client.list_collections()]  # type: ignore[attr-defined]
    assert names and LANGCHAIN_COLLECTION not in names
    store.close()
    assert "LangChain" not in write_report(results, tmp_path / "out")[1].read_text()
