"""The abstention fit on training data (training/abstention.py) and the per-language background
the evidence model measures its margin against."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.ask.extractive import ExtractiveAnswerer
from assistant.ask.question import Question, read_question
from assistant.ask.select import (
    Background,
    Calibration,
    EvidenceModel,
    background_languages,
    background_sentences,
)
from core.embedder import HashingEmbedder
from core.settings import AbstentionSettings
from core.types import SentenceRecord
from training.abstention import (
    CROSS,
    Sample,
    add_news,
    build_store,
    collect,
    fit,
    rates,
    store_news,
    stored_half,
    stored_ref,
)
from training.reader_data import load_corpus

# data set folder -> (title, context, [(question id, question, answer or None)])
ARTICLES: dict[str, list[tuple[str, str, list[tuple[str, str, str | None]]]]] = {
    "en-tydiqa-goldp-train": [
        (
            f"Town {n}",
            f"The town of Town{n} lies on the river Rhone. It was founded in {1100 + n}. "
            f"About {n * 1000} people live there today.",
            [(f"en-{n}", f"When was Town{n} founded?", str(1100 + n))],
        )
        for n in range(1, 9)
    ],
    "ar-arcd-train": [
        (
            f"مدينة {n}",
            f"تقع مدينة رقم {n} على نهر النيل. تأسست المدينة عام {900 + n} ميلادية.",
            [(f"ar-{n}", f"متى تأسست المدينة رقم {n}؟", f"{900 + n} ميلادية")],
        )
        for n in range(1, 9)
    ],
    "en-squad2-train-first10": [
        (
            f"Tower {n}",
            f"The tower number {n} was built in {1800 + n}. It is {100 + n} metres tall.",
            [
                (f"sq-{n}", f"How tall is tower number {n}?", f"{100 + n} metres"),
                (f"sq-no-{n}", f"Who painted tower number {n}?", None),
            ],
        )
        for n in range(1, 9)
    ],
}


def squad_json(articles: list[tuple[str, str, list[tuple[str, str, str | None]]]]) -> Any:
    data = []
    for title, context, questions in articles:
        qas = [
            {
                "id": qid,
                "question": question,
                "answers": [{"text": answer, "answer_start": context.index(answer)}]
                if answer
                else [],
                "is_impossible": not answer,
            }
            for qid, question, answer in questions
        ]
        data.append({"title": title, "paragraphs": [{"context": context, "qas": qas}]})
    return {"version": "test", "data": data}


@pytest.fixture
def qa_train(tmp_path: Path) -> Path:
    root = tmp_path / "qa-train"
    for name, articles in ARTICLES.items():
        (root / name).mkdir(parents=True)
        text = json.dumps(squad_json(articles), ensure_ascii=False)
        (root / name / "data.json").write_text(text, encoding="utf-8")
    return root


def test_the_stored_half_is_split_by_title(qa_train: Path) -> None:
    paragraphs = load_corpus(qa_train).paragraphs
    assert {p.title for p in paragraphs} >= {"Town 1", "مدينة 1", "Tower 1"}
    halves = [stored_half(p) for p in paragraphs]
    assert 0 < sum(halves) < len(halves)
    again = [stored_half(p) for p in load_corpus(qa_train).paragraphs]
    assert halves == again


def test_the_fit_separates_answerable_from_unrelated() -> None:
    rng = np.random.default_rng(0)
    inside = [(0.86 + rng.normal(0, 0.02), 0.1, 0.8, 5.0, 0.0) for _ in range(60)]
    outside = [(0.78 + rng.normal(0, 0.02), 0.02, 0.2, 5.0, 0.0) for _ in range(60)]
    weights, bias, pairs = fit({"en": Sample(inside, outside)})
    model = Calibration(tuple(weights), bias, 0.5)
    answered, refused = rates(model, Sample(inside, outside))
    assert answered > 0.9 and refused > 0.9
    assert weights[0] > 0 and weights[2] > 0  # more similar, more covered: more confident
    assert weights[4] == 0.0 and pairs == {}  # no cross-lingual rows: no cross weight


def test_other_language_evidence_gets_half_its_question_languages_false_answer_rate() -> None:
    rng = np.random.default_rng(1)

    def rows(dense: float, cover: float, cross: float, n: int = 400) -> list[tuple[float, ...]]:
        noise = rng.normal(0, 0.03, size=(n, 2))
        return [(dense + a, dense + a - 0.75, cover + b, 5.0, cross) for a, b in noise]

    english = Sample(rows(0.86, 0.5, 0.0), rows(0.82, 0.45, 0.0), "en")
    arabic = Sample(rows(0.86, 0.5, 0.0), rows(0.84, 0.45, 0.0), "ar")
    lower, lowest = rows(0.79, 0.0, 1.0), rows(0.76, 0.0, 1.0)
    samples = {
        "en": english,
        "ar": arabic,
        f"{CROSS} en>ar": Sample([], lower),
        f"{CROSS} ar>en": Sample([], lowest),
    }
    weights, bias, pairs = fit(samples)
    model = Calibration(tuple(weights), bias, 0.5)
    own = {lang: 1 - rates(model, samples[lang])[1] for lang in ("en", "ar")}
    assert 0.01 < own["en"] < own["ar"] < 0.5
    for pair, rows_of_pair in (("en>ar", lower), ("ar>en", lowest)):
        paired = Calibration((*weights[:-1], pairs[pair]), bias, 0.5)
        cross_false_rate = 1 - rates(paired, Sample([], rows_of_pair))[1]
        assert cross_false_rate == pytest.approx(own[pair[:2]] / 2, abs=0.015), pair
    # the lower a pair's similarities run, the more they are lifted to its rate
    assert 0 < pairs["en>ar"] < pairs["ar>en"]


def test_the_margin_is_taken_against_the_best_sentences_language() -> None:
    embedder = HashingEmbedder(dim=64)
    languages = background_languages()
    assert languages.count("ar") >= 10 and languages.count("en") >= 10
    vector = embedder.embed_queries(["كم عدد القتلى في الغارة؟"])[0]
    sentences = background_sentences()
    assert len(sentences) == len(languages)
    vectors = embedder.embed_passages(sentences)
    background = Background(embedder)
    for language in ("ar", "en"):
        rows = [i for i, lang in enumerate(languages) if lang == language]
        expected = float(np.median(vectors[rows] @ vector))
        assert background.similarity(vector, language) == pytest.approx(expected)
    assert background.similarity(vector, "fr") == pytest.approx(float(np.median(vectors @ vector)))


def test_collect_asks_the_product_about_stored_and_other_paragraphs(
    qa_train: Path, tmp_path: Path
) -> None:
    args = argparse.Namespace(data=qa_train, paragraphs=10, per_side=10, seed=1, reader=False)
    samples = collect(args, tmp_path / "work", HashingEmbedder(dim=64))
    pairs = {f"{CROSS} en>ar", f"{CROSS} ar>en"}
    assert set(samples) == {*ARTICLES, *pairs}
    for name in ARTICLES:
        assert samples[name].inside and samples[name].outside, name
    for name in pairs:  # every question's other-language evidence, unrelated to it
        assert not samples[name].inside and samples[name].outside, name
        assert all(row[4] == 1.0 for row in samples[name].outside)
    rows = [r for s in samples.values() for r in s.inside + s.outside]
    assert all(len(row) == 5 for row in rows)
    own = [r for name in ARTICLES for r in samples[name].inside + samples[name].outside]
    assert all(row[4] == 0.0 for row in own)


def reading_model() -> tuple[EvidenceModel, Question, np.ndarray]:
    """A model whose base weights never answer and whose reader weights answer when the
    reader's probability is over 0.5; an English count question and its vector."""
    embedder = HashingEmbedder(dim=64)
    settings = AbstentionSettings(
        weights=(0.0, 0.0, 0.0, 0.0, 0.0),
        bias=-5.0,
        reader_weights=(0.0, 0.0, 0.0, 0.0, 20.0, 0.0),
        reader_bias=-10.0,
        cross_pairs={},
        fitted_for=embedder.name,
    )
    model = EvidenceModel(settings, Background(embedder), min_confidence=0.5)
    question = read_question("How many people were killed?")
    return model, question, embedder.embed_queries([question.search_text])[0]


def test_the_readers_weights_decide_when_the_reader_read() -> None:
    model, question, vector = reading_model()
    record = SentenceRecord(
        "a:h:s0", "a", "T", "S", "", "2015-01-01", "en", 0, 0, 20, "Ten people were killed."
    )
    unread = model.select(question, vector, [record])
    assert not unread.answerable and unread.confidence < 0.01
    sure = model.select(question, vector, [record.scored(has_answer=0.9)])
    assert sure.answerable and sure.confidence > 0.99
    unsure = model.select(question, vector, [record.scored(has_answer=0.2)])
    assert not unsure.answerable
    found = model.signals(question, vector, [record.scored(has_answer=0.9)])
    assert set(found) == {"en"} and len(found["en"].values(reading=False)) == 5


def test_cross_lingual_evidence_is_decided_without_the_reader() -> None:
    model, question, vector = reading_model()
    arabic = SentenceRecord(
        "a:h:s0", "a", "T", "S", "", "2015-01-01", "ar", 0, 0, 12, "قتل عشرة أشخاص."
    )
    assert not model.select(question, vector, [arabic.scored(has_answer=0.9)]).answerable


def similarity_model(cross_pairs: dict[str, float]) -> tuple[EvidenceModel, HashingEmbedder]:
    """A model that answers same-language evidence over 0.75 similarity, and other-language
    evidence by its pair's cross weight (each point of it lowers the bar by 0.05)."""
    embedder = HashingEmbedder(dim=64)
    settings = AbstentionSettings(
        weights=(20.0, 0.0, 0.0, 0.0, 0.0),
        bias=-15.0,
        reader_weights=None,
        cross_pairs=cross_pairs,
        fitted_for=embedder.name,
    )
    return EvidenceModel(settings, Background(embedder), min_confidence=0.5), embedder


def sentence(n: int, language: str, dense: float, baseline: float = 0.0) -> SentenceRecord:
    text = "قتل عشرة أشخاص." if language == "ar" else "Ten people were killed."
    record = SentenceRecord(
        f"a{n}:h:s0", f"a{n}", "T", "S", "", "2015-01-01", language, 0, 0, len(text), text
    )
    return record.scored(dense=dense, baseline=baseline)


def test_other_language_evidence_is_decided_with_its_pairs_weight() -> None:
    question = read_question("How many people were killed?")
    ranked = [sentence(1, "en", 0.6), sentence(2, "en", 0.55), sentence(3, "ar", 0.7)]
    plain, embedder = similarity_model({})
    vector = embedder.embed_queries([question.search_text])[0]
    refused = plain.select(question, vector, ranked)
    assert not refused.answerable and refused.ranked == ranked
    paired, _ = similarity_model({"en>ar": 2.0, "ar>en": -5.0})
    chosen = paired.select(question, vector, ranked)
    assert chosen.answerable and chosen.confidence == pytest.approx(1 / (1 + np.exp(-1.0)))
    assert chosen.answering == {"ar"} and chosen.ranked == ranked  # the ranking as it was
    # the answer quotes the answering language's sentence, not the English ones above it
    assert [r.article_id for r in chosen.quotable()] == ["a3"]
    draft = ExtractiveAnswerer().draft(question, chosen, 5)
    assert draft.answered and {c.sentence_id for c in draft.claims} == {"a3:h:s0"}


def test_other_language_articles_never_make_an_answered_question_refused() -> None:
    model, embedder = similarity_model({})
    question = read_question("كم عدد القتلى؟")
    vector = embedder.embed_queries([question.search_text])[0]
    arabic = [sentence(1, "ar", 0.8, baseline=0.78), sentence(2, "ar", 0.78, baseline=0.78)]
    alone = model.select(question, vector, arabic)
    assert alone.answerable
    # an unrelated English sentence standing far out of its language's candidates
    english = [sentence(3, "en", 0.7, baseline=0.5), sentence(4, "en", 0.5, baseline=0.5)]
    beside = model.select(question, vector, [english[0], *arabic, english[1]])
    assert beside.answerable and beside.confidence == pytest.approx(alone.confidence)
    assert [r.article_id for r in beside.quotable()] == ["a1", "a2"]
    assert set(model.signals(question, vector, beside.ranked)) == {"ar", "en"}


NEWS_SAUDI = [
    {
        "url": f"http://news.example/{n}",
        "title": f"حادث رقم {n}",
        "source": "example",
        "content": f"قالت الشرطة إن {n + 10} أشخاص أصيبوا في حادث سير في مدينة رقم {n}. "
        f"ونقل المصابون إلى المستشفى.",
    }
    for n in range(1, 7)
]


@pytest.fixture
def news_data(tmp_path: Path) -> Path:
    """A data folder made here, laid out as the news questions' articles are looked up
    (saudinewsnet/sample_1000.jsonl, bbc_news/bbc/): six Arabic articles, two English ones."""
    data = tmp_path / "data"
    (data / "saudinewsnet").mkdir(parents=True)
    lines = [json.dumps(item, ensure_ascii=False) for item in NEWS_SAUDI]
    (data / "saudinewsnet" / "sample_1000.jsonl").write_text("\n".join(lines), encoding="utf-8")
    (data / "bbc_news" / "bbc" / "tech").mkdir(parents=True)
    for n in (1, 2):
        text = f"Phone maker {n} recalls batteries\n\nPhone maker {n} recalled {n * 7} batteries."
        (data / "bbc_news" / "bbc" / "tech" / f"00{n}.txt").write_text(text, encoding="utf-8")
    return data


def news_row(n: int, question: str, language: str, ref: str, article_language: str) -> Any:
    sentence = "x" if article_language == "en" else "y"
    return {"id": f"q{n}", "kind": "answerable", "question": question, "language": language,
            "article": {"set": "test", "ref": ref}, "article_language": article_language,
            "answer": sentence, "sentence": sentence}  # fmt: skip


def test_news_questions_about_stored_articles_must_be_answered(
    news_data: Path, tmp_path: Path
) -> None:
    saudi = [item["url"] for item in NEWS_SAUDI]
    rows = [news_row(n, f"كم شخصاً أصيب في مدينة رقم {n + 1}؟", "ar", ref, "ar")
            for n, ref in enumerate(saudi)]  # fmt: skip
    rows += [news_row(10 + n, f"How many were hurt in town {n + 1}?", "en", ref, "ar")
             for n, ref in enumerate(saudi)]  # fmt: skip
    rows += [news_row(20, "How many batteries were recalled?", "en", "tech/001.txt", "en")]
    rows += [news_row(21, "How many batteries were recalled?", "en", "tech/002.txt", "en")]
    assistant = build_store(tmp_path / "work", [], HashingEmbedder(dim=64))
    stored = store_news(assistant, rows, news_data)
    assert stored == {ref for ref in [*saudi, "tech/001.txt", "tech/002.txt"] if stored_ref(ref)}
    assert len(assistant.articles()) == len(stored)
    samples: dict[str, Sample] = {}
    add_news(samples, assistant, rows, stored)
    assert 0 < len(stored) < 8  # half the articles, by their reference
    stored_ar = sum(ref in stored for ref in saudi)
    arabic, english = samples["news ar"], samples["news en"]
    assert len(arabic.inside) == stored_ar and len(arabic.outside) == 6 - stored_ar
    # an English question about an Arabic article: its Arabic evidence answers it when stored,
    # its English evidence never does
    assert len(samples[f"{CROSS} en>ar"].inside) == stored_ar
    assert len(samples[f"{CROSS} en>ar"].outside) == 2 + 6 - stored_ar  # the rest: unrelated
    in_english = sum(ref in stored for ref in ("tech/001.txt", "tech/002.txt"))
    assert in_english and len(english.inside) == in_english
    assert len(english.outside) == 6 + 2 - in_english  # never the English evidence of those
