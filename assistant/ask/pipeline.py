"""The ask pipeline: question -> retrieve -> rerank -> select -> answer -> check -> Answer.

Each step is a small protocol (retrieve.py, rerank.py, select.py, extractive.py or llm.py,
check.py); `build_pipeline` makes the defaults from Settings, and any of them can be passed
instead. A streaming answerer's text is passed on as it comes (`stream`); when an answerer
fails or nothing it wrote is supported, the `fallback` answers, with a note saying why. "The
articles do not say" is an Answer with answered=False, never an exception.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np

from assistant.ask.check import CitationChecker, MarkerChecker
from assistant.ask.draft import Answerer, Draft, StreamingAnswerer
from assistant.ask.extractive import ExtractiveAnswerer
from assistant.ask.question import Question
from assistant.ask.read import ReadingReranker, build_reader
from assistant.ask.rerank import FusionReranker, Reranker
from assistant.ask.retrieve import HybridRetriever, Retriever
from assistant.ask.select import Background, EvidenceModel, EvidenceSelector, Selection
from core.embedder import Embedder
from core.errors import LLMError
from core.settings import Settings
from core.store import ArticleStore
from core.types import Answer, Filters, SentenceRecord

FELL_BACK = "This answer is extractive instead (quotes from the articles)"
UNSUPPORTED = (
    "Nothing the language model wrote was supported by the sentences it cited (see the "
    "unsupported sentences)"
)
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
    fallback: Answerer | None = None

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
        *_, answer = self.stream(question, k=k, filters=filters)
        assert isinstance(answer, Answer)
        return answer

    def stream(
        self, question: Question, *, k: int, filters: Filters | None = None
    ) -> Iterator[str | Answer]:
        """The answer's text as the answerer writes it (a streaming one: an LLM), then the
        checked Answer last."""
        started = time.perf_counter()
        vector = self.embed(question)
        ranked = self._rank(question, vector, filters or Filters())
        if question.previous is not None:
            ranked = self._on_topic(question.previous, ranked, filters or Filters())
        retrieved = time.perf_counter()
        selection = self.selector.select(question, vector, ranked)
        answer = yield from self._checked(question, selection, k)
        answer.confidence = round(selection.confidence, 3)
        done = time.perf_counter()
        answer.timings = {
            "retrieve_ms": round((retrieved - started) * 1000, 1),
            "compose_ms": round((done - retrieved) * 1000, 1),
            "total_ms": round((done - started) * 1000, 1),
        }
        yield answer

    def _checked(
        self, question: Question, selection: Selection, k: int
    ) -> Generator[str, None, Answer]:
        """The checked answer of the answerer; the fallback's, with a note saying why, when
        the answerer fails (an LLMError) or none of what it wrote is supported."""
        try:
            draft = yield from _drafted(self.answerer, question, selection, k)
        except LLMError as exc:
            if self.fallback is None:
                raise
            return self._fallback(question, selection, k, f"{exc}. {FELL_BACK}")
        answer = self.checker.check(question, draft, selection, k)
        answer.mode = getattr(self.answerer, "mode", "extractive")
        if draft.written and not answer.citations and self.fallback is not None:
            fallback = self._fallback(question, selection, k, f"{UNSUPPORTED}. {FELL_BACK}")
            fallback.unsupported = answer.unsupported
            return fallback
        return answer

    def _fallback(self, question: Question, selection: Selection, k: int, note: str) -> Answer:
        assert self.fallback is not None
        draft = self.fallback.draft(question, selection, k)
        answer = self.checker.check(question, draft, selection, k)
        answer.mode = getattr(self.fallback, "mode", "extractive")
        answer.notes.append(note)
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


def _drafted(
    answerer: Answerer, question: Question, selection: Selection, k: int
) -> Generator[str, None, Draft]:
    """The answerer's draft; a streaming answerer's text is passed on as it comes."""
    if not isinstance(answerer, StreamingAnswerer):
        return answerer.draft(question, selection, k)
    for item in answerer.stream(question, selection, k):
        if isinstance(item, Draft):
            return item
        yield item
    raise LLMError(f"{type(answerer).__name__} wrote no draft")


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
