"""The ask pipeline: question -> retrieve -> rerank -> select -> answer -> check -> Answer.

Each step is a small protocol with one implementation today (retrieve.py, rerank.py,
select.py, extractive.py, check.py); `build_pipeline` makes the defaults from Settings, and
any of them can be passed instead. "The articles do not say" is an Answer with
answered=False, never an exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from assistant.ask.check import CitationChecker, MarkerChecker
from assistant.ask.draft import Answerer
from assistant.ask.extractive import ExtractiveAnswerer
from assistant.ask.question import Question
from assistant.ask.read import ReadingReranker, build_reader
from assistant.ask.rerank import FusionReranker, Reranker
from assistant.ask.retrieve import HybridRetriever, Retriever
from assistant.ask.select import Background, EvidenceModel, EvidenceSelector
from core.embedder import Embedder
from core.settings import Settings
from core.store import ArticleStore
from core.types import Answer, Filters, SentenceRecord

TOPIC_SENTENCES = 2  # a follow-up stays with the articles of the previous question's best ones


@dataclass
class AnswerPipeline:
    """The parts that answer a question, in the order they run."""

    embedder: Embedder
    retriever: Retriever
    reranker: Reranker
    selector: EvidenceSelector
    answerer: Answerer
    checker: CitationChecker

    def rank(
        self,
        question: Question,
        filters: Filters | None = None,
        *,
        vector: np.ndarray | None = None,
    ) -> list[SentenceRecord]:
        """The candidate sentences for `question`, best first (retrieve and rerank only);
        `vector` is its embedding when already computed."""
        vector = self.embed(question) if vector is None else vector
        return self._rank(question, vector, filters or Filters())

    def embed(self, question: Question) -> np.ndarray:
        """The question's query vector (normalised)."""
        return self.embedder.embed_queries([question.search_text])[0]

    def answer(self, question: Question, *, k: int, filters: Filters | None = None) -> Answer:
        """The checked Answer to `question`, showing `k` evidence sentences, with timings."""
        started = time.perf_counter()
        vector = self.embed(question)
        ranked = self._rank(question, vector, filters or Filters())
        if question.previous is not None:
            ranked = self._on_topic(question.previous, ranked, filters or Filters())
        retrieved = time.perf_counter()
        selection = self.selector.select(question, vector, ranked)
        draft = self.answerer.draft(question, selection, k)
        answer = self.checker.check(question, draft, selection, k)
        answer.confidence = round(selection.confidence, 3)
        done = time.perf_counter()
        answer.timings = {
            "retrieve_ms": round((retrieved - started) * 1000, 1),
            "compose_ms": round((done - retrieved) * 1000, 1),
            "total_ms": round((done - started) * 1000, 1),
        }
        return answer

    def _on_topic(
        self, previous: Question, ranked: list[SentenceRecord], filters: Filters
    ) -> list[SentenceRecord]:
        """A follow-up's candidates from the articles the previous question was about (the
        articles of its best TOPIC_SENTENCES), when it has any there; else all of them."""
        topic = {r.article_id for r in self.rank(previous, filters)[:TOPIC_SENTENCES]}
        kept = [r for r in ranked if r.article_id in topic]
        return kept or ranked

    def _rank(
        self, question: Question, vector: np.ndarray, filters: Filters
    ) -> list[SentenceRecord]:
        return self.reranker.rerank(question, self.retriever.retrieve(question, vector, filters))


def build_pipeline(
    settings: Settings,
    store: ArticleStore,
    embedder: Embedder,
    *,
    retriever: Retriever | None = None,
    reranker: Reranker | None = None,
    selector: EvidenceSelector | None = None,
    answerer: Answerer | None = None,
    checker: CitationChecker | None = None,
) -> AnswerPipeline:
    """The pipeline over `store`: each part given, else the default built from `settings`."""
    return AnswerPipeline(
        embedder=embedder,
        retriever=retriever or HybridRetriever(store, settings.retrieval, Background(embedder)),
        reranker=reranker or default_reranker(settings, store),
        selector=selector or default_selector(settings, embedder),
        answerer=answerer or ExtractiveAnswerer(settings.reader.min_has_answer),
        checker=checker or MarkerChecker(),
    )


def default_reranker(settings: Settings, store: ArticleStore) -> Reranker:
    """Today's fusion, followed by the reader when it is on and its weights load."""
    fusion = FusionReranker(settings.retrieval)
    reader = build_reader(settings.reader, settings.embedder)
    return fusion if reader is None else ReadingReranker(fusion, reader, store, settings.reader)


def default_selector(settings: Settings, embedder: Embedder) -> EvidenceModel:
    return EvidenceModel(settings.abstention, Background(embedder), settings.answer.min_confidence)
