"""The Python API every front end calls: open a store, ingest, list, delete, ask and chat."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from assistant.ask.chat_models import build_chat_model
from assistant.ask.check import CitationChecker
from assistant.ask.draft import Answerer
from assistant.ask.lexical_saved import index_batches
from assistant.ask.llm import FollowUpRewriter, LLMAnswerer
from assistant.ask.pipeline import FELL_BACK, AnswerPipeline, build_pipeline
from assistant.ask.question import Question, history_questions, read_question
from assistant.ask.rerank import Reranker
from assistant.ask.retrieve import Retriever
from assistant.ask.select import EvidenceSelector
from assistant.chain import NewsRetriever, answer_runnable
from core.chroma import open_store
from core.embedder import Embedder, build_embedder, use_threads
from core.errors import LLMError, QuestionError, StoreError
from core.settings import Mode, Settings
from core.store import ArticleStore, StoredArticle
from core.types import Answer, Article, Filters
from ingest.load import LoadFailure, LoadNote, LoadResult, load_paths, with_defaults
from ingest.pipeline import Ingestor, IngestSummary
from ingest.speakers import speakers

Progress = Callable[[IngestSummary], None]


@dataclass(frozen=True)
class PipelineParts:
    """Answer pipeline parts passed in; the ones left None are built from settings."""

    retriever: Retriever | None = None
    reranker: Reranker | None = None
    selector: EvidenceSelector | None = None
    answerer: Answerer | None = None
    checker: CitationChecker | None = None


class Assistant:
    """A news assistant over one store. Heavy parts (store client, embedder) and the answer
    pipeline's parts are built on first use by factories from `settings`, unless passed in
    (tests pass fakes; see assistant.ask.pipeline for the parts)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: ArticleStore | None = None,
        embedder: Embedder | None = None,
        retriever: Retriever | None = None,
        reranker: Reranker | None = None,
        selector: EvidenceSelector | None = None,
        answerer: Answerer | None = None,
        checker: CitationChecker | None = None,
        llm: BaseChatModel | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._store = store
        self._embedder = embedder
        self._parts = PipelineParts(retriever, reranker, selector, answerer, checker)
        self._pipeline: AnswerPipeline | None = None
        self._llm = llm
        self._llm_pipeline: AnswerPipeline | None = None
        self._building = threading.RLock()  # UI callbacks run in threads: build each part once

    @classmethod
    def open(cls, location: str | Path | None = None, **kwargs: object) -> Assistant:
        """Open a store by folder or by Chroma server URL ("http://host:port")."""
        settings = Settings()
        if location is not None:
            settings = with_location(settings, str(location))
        return cls(settings, **kwargs)  # type: ignore[arg-type]

    @property
    def store(self) -> ArticleStore:
        with self._building:
            if self._store is None:
                self._store = open_store(self.settings.store)
            return self._store

    @property
    def embedder(self) -> Embedder:
        with self._building:
            if self._embedder is None:
                self._embedder = build_embedder(self.settings.embedder)
            return self._embedder

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        defaults: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> IngestSummary:
        """Ingest files, folders and globs; `defaults` fills metadata articles do not carry
        (e.g. {"source": "Reuters"}). Returns counts and every failure with its reason."""
        items = load_paths(paths, max_bytes=self.settings.ingest.max_bytes)
        return self.ingest_articles(with_defaults(items, defaults or {}), progress=progress)

    def ingest_articles(
        self, articles: Iterable[LoadResult], *, progress: Progress | None = None
    ) -> IngestSummary:
        """Ingest Article objects built in Python (see `ingest.make_article`). The embedder is
        loaded only once there is an article to embed: bad paths fail at once."""
        items = iter(articles)
        before: list[LoadResult] = []
        for item in items:
            if isinstance(item, Article):
                head = [*before, item]
                return self._ingestor().ingest_items(itertools.chain(head, items), progress)
            before.append(item)
        failures = [item for item in before if isinstance(item, LoadFailure)]
        notes = [item for item in before if isinstance(item, LoadNote)]
        summary = IngestSummary(failures=failures, notes=notes, taken=len(failures))
        if progress is not None:
            progress(summary)
        return summary

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[str] = (),
        mode: Mode | None = None,
    ) -> Answer:
        """Answer `question` from the stored articles, citing the exact sentences used.
        `history` holds earlier questions of the conversation, oldest first; `mode`
        ("extractive" or "llm") overrides `settings.answer.mode` for this question."""
        return _last(self.ask_stream(question, k=k, filters=filters, history=history, mode=mode))

    def ask_stream(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[str] = (),
        mode: Mode | None = None,
    ) -> Iterator[str | Answer]:
        """As `ask`, yielding the answer's text as a language model writes it (LLM mode),
        then the checked Answer last (it replaces what was streamed)."""
        turns = [{"role": "user", "content": text} for text in history]
        return self._stream(question, turns, k=k, filters=filters, mode=mode)

    def chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode | None = None,
    ) -> Answer:
        """Answer the last user message of a conversation ({"role", "content"} dicts, oldest
        first); a follow-up such as "and how many were injured?" reads the earlier questions."""
        return _last(self.chat_stream(messages, k=k, filters=filters, mode=mode))

    def chat_stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode | None = None,
    ) -> Iterator[str | Answer]:
        """As `chat`, streaming like `ask_stream`. In LLM mode a follow-up is rewritten by the
        model into a question that stands alone, from the last `answer.llm.max_history_turns`
        exchanges."""
        question, _ = history_questions(messages)
        turns = list(messages)[: _last_user(messages)]
        return self._stream(question, turns, k=k, filters=filters, mode=mode)

    def _stream(
        self,
        question: str,
        turns: list[dict[str, str]],
        *,
        k: int | None,
        filters: Filters | None,
        mode: Mode | None,
    ) -> Iterator[str | Answer]:
        notes: list[str] = []
        earlier = [t["content"] for t in turns if t.get("role") == "user" and t.get("content")]
        asked = read_question(question, earlier)
        pipeline = self.pipeline()
        if (mode or self.settings.answer.mode) == "llm":
            pipeline = self._answering_with_llm(pipeline, notes)
            asked = self._rewritten(asked, turns, notes)
        if filters and not self.store.has_articles(filters):
            raise QuestionError(
                f"no stored article matches {_described(filters)}: see `news-assistant list`"
            )
        for item in pipeline.stream(asked, k=k or self.settings.answer.k, filters=filters):
            if isinstance(item, Answer):
                item.notes[:0] = notes
            yield item

    def _rewritten(
        self, asked: Question, turns: list[dict[str, str]], notes: list[str]
    ) -> Question:
        """A follow-up rewritten by the chat model into a question that stands alone (with a
        note saying so); any other question as it is."""
        if asked.previous is None or self._llm_pipeline is None:
            return asked
        try:
            rewriter = FollowUpRewriter(self.chat_model(), self.settings.answer.llm)
            rewritten = rewriter.rewrite(read_question(asked.text), turns)
        except LLMError as exc:
            notes.append(f"The follow-up was not rewritten: {exc}")
            return asked
        if rewritten == asked.text:
            return asked
        notes.append(f"Asked as: {rewritten}")
        return dataclasses.replace(read_question(rewritten), previous=asked.previous)

    def chat_model(self) -> BaseChatModel:
        """The LLM mode's chat model: the one passed in, else built from `answer.llm`
        (LLMError when its extra is missing or a setting it needs is not set)."""
        with self._building:
            if self._llm is None:
                self._llm = build_chat_model(self.settings.answer.llm)
            return self._llm

    def _answering_with_llm(self, pipeline: AnswerPipeline, notes: list[str]) -> AnswerPipeline:
        """The pipeline with the LLM answerer (extractive as its fallback); the extractive
        one, with a note, when the chat model cannot be built."""
        try:
            model = self.chat_model()
        except LLMError as exc:
            notes.append(f"{exc}. {FELL_BACK}")
            return pipeline
        with self._building:
            if self._llm_pipeline is None:
                answerer = LLMAnswerer(model, self.settings.answer.llm)
                self._llm_pipeline = dataclasses.replace(
                    pipeline, answerer=answerer, fallback=pipeline.answerer
                )
            return self._llm_pipeline

    def as_retriever(self, *, k: int = 8, filters: Filters | None = None) -> NewsRetriever:
        """A LangChain retriever returning one Document per evidence sentence."""
        return NewsRetriever(assistant=self, k=k, filters=filters)

    def as_runnable(self) -> Runnable[Any, Answer]:
        """The answer pipeline as a LangChain Runnable (question or messages -> Answer)."""
        return answer_runnable(self)

    def pipeline(self) -> AnswerPipeline:
        """The answer pipeline over this store (built on first use), once the store holds
        articles in the current layout. Every use of asking starts here, so this is where torch
        gets its threads for asking (`embedder.ask_threads`)."""
        with self._building:
            if self._pipeline is None:
                self._check_readable()
                self.store.check_schema()
                self._check_not_empty()  # before the models load: an empty store fails at once
                self.store.check_embedder(self.embedder.name, self.embedder.dim)
                self._pipeline = build_pipeline(
                    self.settings, self.store, self.embedder, **vars(self._parts)
                )
        self._check_not_empty()
        use_threads(self.settings.embedder.threads_for("ask"))
        return self._pipeline

    def _check_not_empty(self) -> None:
        if self.store.count_articles() == 0:
            raise StoreError(
                f"No articles in {self.location}: run `news-assistant ingest PATH` first"
            )

    def warm_up(self) -> None:
        """Load the models and build the search indexes now rather than on the first question
        (the UI does at start). An empty or missing store is not an error here: the embedder
        still loads."""
        try:
            pipeline = self.pipeline()
        except StoreError:
            _ = self.embedder
            return
        pipeline.rank(read_question("warm up"))

    def reindex(self, progress: Callable[[str, int, int], None] | None = None) -> int:
        """Bring a store written by an older version up to date in place: its parts moved to
        their language's collections, and the speaker of every sentence read again; nothing is
        re-embedded. `progress(step, done, total)` is told as each step goes ("parts", then
        "articles"). Returns the articles updated."""
        tell = progress or (lambda step, done, total: None)
        self._check_readable()
        self.store.spread_languages(lambda done, total: tell("parts", done, total))
        articles = self.store.list_articles()
        for n, stored in enumerate(articles, 1):
            detail = self.store.get_article(stored.id)
            if detail is not None:
                self.store.set_speakers(stored.id, speakers(detail.sentence_texts()))
            tell("articles", n, len(articles))
        self.store.mark_schema()
        return len(articles)

    @property
    def location(self) -> str:
        if self._store is not None:
            return self._store.location
        cfg = self.settings.store
        return cfg.url or str(cfg.path)

    def _check_readable(self) -> None:
        cfg = self.settings.store
        if self._store is None and not cfg.url and not cfg.path.exists():
            raise StoreError(
                f"No store at {cfg.path}: run `news-assistant ingest PATH` first "
                "(or pass --store DIR for another one)"
            )

    def articles(self) -> list[StoredArticle]:
        """Every stored article, sorted by title."""
        return self.store.list_articles()

    def delete(self, article_id: str) -> bool:
        """Delete an article and all its chunks; False when no such article is stored."""
        return self.store.delete_article(article_id)

    def _ingestor(self) -> Ingestor:
        return Ingestor(
            self.store,
            self.embedder,
            chunks=self.settings.chunks,
            limits=self.settings.ingest,
            threads=self.settings.embedder.threads_for("ingest"),
            on_batch=index_batches(self.store),
        )


def _last(stream: Iterator[str | Answer]) -> Answer:
    *_, answer = stream
    assert isinstance(answer, Answer)
    return answer


def _last_user(messages: Sequence[dict[str, str]]) -> int:
    """The index of the last user message."""
    return max(i for i, m in enumerate(messages) if m.get("role") == "user" and m.get("content"))


def with_location(settings: Settings, location: str) -> Settings:
    """Settings pointing at a store folder or, for http(s) URLs, a Chroma server."""
    store = settings.store
    if location.startswith(("http://", "https://")):
        store = store.model_copy(update={"url": location})
    else:
        store = store.model_copy(update={"path": Path(location).expanduser(), "url": None})
    return settings.model_copy(update={"store": store})


def _described(filters: Filters) -> str:
    """'source "bbc", since 2015-01-01' for messages."""
    named = [("source", filters.source), ("article", filters.article_id)]
    named += [("since", filters.since), ("until", filters.until)]
    return ", ".join(f'{name} "{value}"' for name, value in named if value)
