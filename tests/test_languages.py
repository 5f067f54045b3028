"""A store holding Arabic and English articles side by side: each language is searched on its
own and compared by its margin over unrelated sentences of that language, so an English
question finds the Arabic sentence that answers it among many English sentences on other
stories (the setting `news-assistant eval` measures with BBC News beside XQuAD-R's Arabic)."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import pytest
from conftest import SAMPLE_ARTICLE, SAMPLE_SOURCE, AlwaysAnswers

from assistant import Assistant, Filters, HashingEmbedder, Settings, make_article, with_location
from assistant.ask.pipeline import default_selector
from assistant.ask.question import read_question
from assistant.ask.rerank import FusionReranker
from assistant.ask.retrieve import HybridRetriever
from core.settings import RetrievalSettings
from core.types import SentenceRecord

PLACES = ["Leeds", "Bristol", "Glasgow", "Cardiff", "Belfast", "Oxford", "York", "Bath", "Derby",
          "Hull", "Dover", "Exeter", "Durham", "Norwich", "Chester", "Wells"]  # fmt: skip
STORY = [
    "Shares in the {place} software maker rose {n}% after it reported higher sales.",
    "The {place} club signed a new striker for {n} million pounds on Friday.",
    "Ticket sales for the {place} music festival reached {n},000 this week.",
    "The council in {place} approved {n} new homes near the railway station.",
    "A new phone made in {place} will go on sale for {n}0 pounds next month.",
    "Fans in {place} queued for hours to see the film's premiere.",
]


def english_news() -> list[Any]:
    """Sixteen English articles of six sentences each on business, sport and entertainment:
    more similar to an English question than unrelated Arabic sentences, and than the Arabic
    sentence that answers it is to that question."""
    numbers = itertools.count(11)
    articles = []
    for place in PLACES:
        text = " ".join(line.format(n=next(numbers), place=place) for line in STORY)
        articles.append(
            make_article(text, title=f"News from {place}", article_id=f"en-{place}",
                         source="Wire", language="en")
        )  # fmt: skip
    return articles


def each_language(location: str) -> Settings:
    settings = with_location(Settings(), location)
    settings.retrieval.per_language = True
    return settings


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, e5_embedder: Any) -> Assistant:
    """The sample Arabic article beside the English news, with the real embedder."""
    location = tmp_path_factory.mktemp("mixed") / "store"
    assistant = Assistant(each_language(str(location)), embedder=e5_embedder)
    assistant.ingest([SAMPLE_ARTICLE], defaults={"source": SAMPLE_SOURCE})
    assistant.ingest_articles(english_news())
    return assistant


def ranked(assistant: Assistant, text: str, *, per_language: bool) -> list[SentenceRecord]:
    settings = assistant.settings.model_copy(deep=True)
    settings.retrieval.per_language = per_language
    other = Assistant(settings, store=assistant.store, embedder=assistant.embedder)
    return other.pipeline().rank(read_question(text))


@pytest.mark.model
def test_the_arabic_answer_comes_first_for_an_english_question(mixed: Assistant) -> None:
    assert mixed.store.languages() == ["ar", "en"]
    question = "How many civilians were killed in the air strike in Deir ez-Zor?"
    best = ranked(mixed, question, per_language=True)[:2]
    assert {r.language for r in best} == {"ar"} and all(r.baseline > 0.5 for r in best)
    assert any("28 مدنياً" in r.sentence for r in best)


@pytest.mark.model
def test_the_english_question_is_answered_from_the_arabic_sentence(mixed: Assistant) -> None:
    pipeline = mixed.pipeline()
    pipeline.selector = AlwaysAnswers(default_selector(mixed.settings, mixed.embedder))
    answer = pipeline.answer(
        read_question("How many civilians died in the strike near Sousa?"), k=5
    )
    assert answer.answered and answer.language == "en"
    assert answer.citations[0].language == "ar"
    assert "28" in answer.short_answer


@pytest.mark.model
def test_an_english_question_about_english_news_stays_in_english(mixed: Assistant) -> None:
    best = ranked(
        mixed, "How much did the Glasgow club pay for its new striker?", per_language=True
    )[0]
    assert best.article_id == "en-Glasgow" and best.language == "en"


def test_languages_and_the_language_filter(tmp_path: Path) -> None:
    assert not Settings().retrieval.per_language  # off by default
    assistant = Assistant(each_language(str(tmp_path / "store")), embedder=HashingEmbedder())
    assistant.ingest([SAMPLE_ARTICLE])
    assert assistant.store.languages() == ["ar"]
    retriever = assistant.pipeline().retriever
    assert retriever.searches(Filters()) == [Filters()]  # type: ignore[attr-defined]
    assistant.ingest_articles(english_news()[:3])
    assert assistant.store.languages() == ["ar", "en"]
    assert retriever.searches(Filters(source="Wire")) == [  # type: ignore[attr-defined]
        Filters(source="Wire", language="ar"),
        Filters(source="Wire", language="en"),
    ]
    assert retriever.searches(Filters(source="Wire"), "en") == [  # type: ignore[attr-defined]
        Filters(source="Wire"),  # the question's own language fills the unlimited search
        Filters(source="Wire", language="ar"),
    ]
    assert retriever.searches(Filters(language="en"), "ar") == [  # type: ignore[attr-defined]
        Filters(language="en")
    ]
    pool = Settings().retrieval.model_copy(update={"dense_k": 5, "chunk_k": 0, "lexical_k": 0})
    question = read_question("Shares rose after higher sales, the club signed a striker")
    vector = assistant.embedder.embed_queries([question.search_text])[0]
    for per_language, languages in ((False, {"en"}), (True, {"ar", "en"})):
        hybrid = HybridRetriever(assistant.store, pool.model_copy(update={
            "per_language": per_language}))  # fmt: skip
        found = hybrid.retrieve(question, vector, Filters())
        assert {r.language for r in found} == languages
        assert len([r for r in found if r.language == "ar"]) == (5 if per_language else 0)
    english = assistant.store.query_sentences(vector, 50, Filters(language="en"))
    assert len(english) == 18 and {r.language for r in english} == {"en"}
    assert {c.article_id for c in assistant.store.query_chunks(vector, 50, Filters(language="ar"))}
    assert assistant.store.has_articles(Filters(language="en"))


def record(language: str, dense: float, lexical: float, baseline: float) -> SentenceRecord:
    return SentenceRecord(
        id=f"{language}{dense}", article_id=language, title="", source="", url="", date="",
        language=language, sentence_index=int(dense * 100), start=0, end=1, sentence="x",
        dense=dense, lexical=lexical, baseline=baseline,
    )  # fmt: skip


def test_fusion_compares_margins_and_keeps_bm25_within_a_language() -> None:
    question = read_question("How many civilians died?")
    fusion = FusionReranker(RetrievalSettings())
    arabic = record("ar", 0.84, 0.0, 0.74)  # cross-lingual: lower similarity, lower baseline
    english = [record("en", 0.86 - i / 100, 5.0 - i, 0.80) for i in range(3)]
    order = fusion.rerank(question, [*english, arabic])
    assert order[0].language == "ar"  # margin 0.10 over 0.06: BM25 hits do not lift English
    same = [dataclasses.replace(r, baseline=0.0) for r in [*english, arabic]]
    shifted = [dataclasses.replace(r, baseline=0.5) for r in [*english, arabic]]
    assert [r.id for r in fusion.rerank(question, same)] == [
        r.id for r in fusion.rerank(question, shifted)
    ]  # one baseline for all: the order is that of the raw similarities
