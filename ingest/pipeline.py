"""Ingestion: load -> sentences (with their speakers) -> chunks -> embed chunks and sentences
(batched across articles) -> write.

Articles whose content hash is already stored are skipped (as unchanged under their own id, as
duplicates under another); of two articles with one id in a run the later wins and is counted
as "replaced". One process writes to a store at a time (`store.writing()`). Each article is
written whole or not at all (the store removes a half-written batch's parts before
re-raising). A batch's articles are written together (one upsert per collection and 500
records, not three per article: Chroma spends 20-50 ms per call), on one background thread
while the next batch is cut and embedded; at most one batch is being written at a time, and
every write has finished when `ingest_items` returns or raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.embedder import Embedder, use_threads
from core.errors import NewsAssistantError, StoreConnectionError
from core.memory import release_free_memory
from core.settings import ChunkSettings, IngestSettings
from core.store import ArticleStore, ArticleWrite
from core.types import Article, Chunk, Sentence
from ingest.chunks import chunk_sentences, fit_sentences
from ingest.load import LoadFailure, LoadNote, LoadResult, load_paths
from ingest.sentences import split_sentences
from ingest.speakers import speakers
from ingest.tokens import tiktoken_counter


@dataclass(frozen=True)
class Prepared:
    """An article cut into sentences (with the speaker of each) and chunks, ready to embed;
    `rewrite` when this run already wrote an article with its id (it is not counted again)."""

    article: Article
    sentences: list[Sentence]
    chunks: list[Chunk]
    speakers: list[str]
    rewrite: bool = False


@dataclass(frozen=True)
class Duplicate:
    """An article not stored because the same content is stored under another id."""

    origin: str
    stored_id: str

    def __str__(self) -> str:
        return f"{self.origin}: the same article is stored as {self.stored_id}"


@dataclass
class IngestSummary:
    """What one ingestion run did."""

    articles: int = 0
    sentences: int = 0
    chunks: int = 0
    unchanged: int = 0
    replaced: int = 0  # articles whose id came again later in the run: the later text kept
    failures: list[LoadFailure] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    notes: list[LoadNote] = field(default_factory=list)  # files whose encoding was guessed
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.failures)

    taken: int = 0  # loader results read so far, written yet or not
    started: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def elapsed(self) -> float:
        """Seconds since the run began (while it runs; `seconds` once it is done)."""
        return self.seconds or time.perf_counter() - self.started

    @property
    def seen(self) -> int:
        """Loader results read so far (for progress)."""
        return max(self.taken, self.articles + self.unchanged + self.failed)


@dataclass(frozen=True)
class Admitted:
    """An article to store: its content hash, and whether it replaces a text of the same id
    taken earlier in this run (the later text wins)."""

    article: Article
    origin: str
    content_hash: str
    replaces: bool


def admit(
    item: Article | LoadFailure,
    summary: IngestSummary,
    earlier_hash: Callable[[str], str | None],
    twin: Callable[[str, str], str | None],
) -> Admitted | None:
    """What to store of `item`, or None when there is nothing to store: a load failure or
    text that is not valid Unicode (a failure), the same text as before under its id
    (unchanged), or the text of another stored id (a duplicate), each counted in `summary`.
    `earlier_hash(id)`: the hash of that id's text taken earlier in this run; `twin(id, hash)`:
    the stored article with that text."""
    if isinstance(item, LoadFailure):
        summary.failures.append(item)
        return None
    origin = item.origin or item.id
    try:
        content_hash = item.content_hash
    except UnicodeEncodeError as exc:
        summary.failures.append(LoadFailure(origin, f"not valid Unicode text ({exc.reason})"))
        return None
    earlier = earlier_hash(item.id)
    if earlier == content_hash:
        summary.unchanged += 1
        return None
    if earlier is not None:
        summary.replaced += 1
        return Admitted(item, origin, content_hash, replaces=True)
    stored = twin(item.id, content_hash)
    if stored == item.id:
        summary.unchanged += 1
        return None
    if stored is not None:
        summary.duplicates.append(Duplicate(origin, stored))
        return None
    return Admitted(item, origin, content_hash, replaces=False)


def prepare(article: Article, embedder: Embedder, plan: ChunkSettings) -> Prepared:
    """Split `article` into sentences (clause-split to the model's limit), read who each
    sentence reports, and cut the sentences into chunks."""
    text = article.text
    model_count = lru_cache(maxsize=None)(embedder.count_tokens)  # fitting and chunking both ask
    sentences = fit_sentences(
        text, split_sentences(text), max_tokens=embedder.max_tokens, count=model_count
    )
    if not sentences:
        raise NewsAssistantError("no sentences found in the article text")
    chunks = chunk_sentences(
        text,
        sentences,
        budget=plan.budget,
        count=tiktoken_counter(),
        overlap=plan.overlap,
        model_limit=embedder.max_tokens,
        model_count=model_count,
    )
    return Prepared(article, sentences, chunks, speakers([s.text for s in sentences]))


BatchListener = Callable[[Sequence[ArticleWrite], str], None]


class Ingestor:
    """Runs ingestion into one store with one embedder; `progress` is called after each item.
    `threads`: torch threads for embedding (set before each batch), None to leave them.
    `on_batch` is called after each batch is written, with the articles written and the
    store's `revision()` before (the saved BM25 index adds them: see
    assistant/ask/lexical_saved.py)."""

    def __init__(
        self,
        store: ArticleStore,
        embedder: Embedder,
        *,
        chunks: ChunkSettings,
        limits: IngestSettings,
        threads: int | None = None,
        on_batch: BatchListener | None = None,
    ) -> None:
        self.store = store
        self.on_batch = on_batch
        self.embedder = embedder
        self.threads = threads  # torch threads set before each batch is embedded; None: as set
        self.plan = chunks
        self.batch_chunks = limits.batch_chunks
        self.max_bytes = limits.max_bytes
        self._pending: list[Prepared] = []
        self._writer: ThreadPoolExecutor | None = None
        self._writing: Future[IngestSummary] | None = None
        self._in_flight: list[Prepared] = []
        self._flushed: dict[str, str] = {}  # id -> content hash embedded in this run

    def ingest_paths(
        self,
        paths: Sequence[str | Path],
        progress: Callable[[IngestSummary], None] | None = None,
    ) -> IngestSummary:
        """Load every article under `paths` and store what is new or changed."""
        items = load_paths(paths, max_bytes=self.max_bytes)
        return self.ingest_items(items, progress)

    def ingest_items(
        self,
        items: Iterable[LoadResult],
        progress: Callable[[IngestSummary], None] | None = None,
    ) -> IngestSummary:
        """Store articles (and count failures) from any iterable of loader results."""
        started = time.perf_counter()
        summary = IngestSummary()
        with self.store.writing():
            self.store.bind_embedder(self.embedder.name, self.embedder.dim)
            self.store.check_schema()
            self.store.remove_orphans()
            self._run(items, summary, progress)
        summary.seconds = time.perf_counter() - started
        if progress is not None:
            progress(summary)
        return summary

    def _run(
        self,
        items: Iterable[LoadResult],
        summary: IngestSummary,
        progress: Callable[[IngestSummary], None] | None,
    ) -> None:
        self._flushed = {}
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
            self._writer = writer
            try:
                for item in items:
                    if isinstance(item, LoadNote):  # about a file, not an article: not counted
                        summary.notes.append(item)
                        continue
                    summary.taken += 1
                    self._take(item, summary)
                    if progress is not None:
                        progress(summary)
                self._flush(summary)
            except BaseException:
                with suppress(Exception):  # the first error is the one to report
                    self._wait_for_writes(summary)
                raise
            finally:
                self._writer = None
            self._wait_for_writes(summary)

    def _take(self, item: Article | LoadFailure, summary: IngestSummary) -> None:
        taken = admit(item, summary, self._earlier_hash, self._twin)
        if taken is None:
            return
        if taken.replaces:
            self._pending = [p for p in self._pending if p.article.id != taken.article.id]
        try:
            prepared = prepare(taken.article, self.embedder, self.plan)
        except NewsAssistantError as exc:
            summary.failures.append(LoadFailure(taken.origin, str(exc)))
            return
        self._pending.append(replace(prepared, rewrite=taken.article.id in self._flushed))
        if sum(len(p.chunks) for p in self._pending) >= self.batch_chunks:
            self._flush(summary)

    def _earlier_hash(self, article_id: str) -> str | None:
        """The content hash of the article with this id taken earlier in this run, if any."""
        for p in reversed(self._pending):
            if p.article.id == article_id:
                return p.article.content_hash
        return self._flushed.get(article_id)

    def _twin(self, article_id: str, content_hash: str) -> str | None:
        """The id under which this content is already stored, or taken in this run."""
        for p in (*self._pending, *self._in_flight):
            if p.article.content_hash == content_hash:
                return p.article.id
        if self.store.stored_hash(article_id) == content_hash:
            return article_id
        return self.store.article_with_hash(content_hash)

    def _flush(self, summary: IngestSummary) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        self._flushed.update((p.article.id, p.article.content_hash) for p in pending)
        if self.threads is not None:  # again each batch: an ask in between may have changed it
            use_threads(self.threads)
        vectors = embed_batch(pending, self.embedder)
        self._wait_for_writes(summary)
        if self._writer is None:
            merge(summary, write_batch(self.store, pending, vectors, self.on_batch))
            return
        self._in_flight = pending
        self._writing = self._writer.submit(
            write_batch, self.store, pending, vectors, self.on_batch
        )

    def _wait_for_writes(self, summary: IngestSummary) -> None:
        """Wait for the batch being written (re-raising its error) and count what it wrote."""
        writing, self._writing = self._writing, None
        try:
            if writing is not None:
                merge(summary, writing.result())
        finally:
            self._in_flight = []


def embed_batch(pending: Sequence[Prepared], embedder: Embedder) -> np.ndarray:
    """One vector per chunk and per sentence of `pending`: each article's chunks, then its
    sentences, article after article (the rows `write_batch` expects)."""
    texts = [t for p in pending for t in [c.text for c in p.chunks] + [s.text for s in p.sentences]]
    vectors = embedder.embed_passages(texts)
    release_free_memory()  # the activations' pages: peak RSS then stays flat over a long run
    return vectors


def write_batch(
    store: ArticleStore,
    pending: Sequence[Prepared],
    vectors: np.ndarray,
    on_batch: BatchListener | None = None,
) -> IngestSummary:
    """Store an embedded batch in a few calls; when the store refuses it, article by article,
    to name the one that failed (a server that stopped answering ends the run instead), then
    tell `on_batch` what was written. Returns the counts and failures to add to the run's
    summary."""
    writes = list(_article_writes(pending, vectors))
    written = IngestSummary()
    before = store.revision() if on_batch is not None else ""
    try:
        store.write_articles(writes)
    except StoreConnectionError:
        raise  # not about an article: nothing more can be written
    except NewsAssistantError:
        writes = [
            write
            for p, write in zip(pending, writes, strict=True)
            if _write_one(store, write, written, new=not p.rewrite)
        ]
    else:
        for p, write in zip(pending, writes, strict=True):
            _count(written, write, new=not p.rewrite)
    if on_batch is not None and writes:
        on_batch(writes, before)
    return written


def _write_one(
    store: ArticleStore, write: ArticleWrite, summary: IngestSummary, *, new: bool
) -> bool:
    try:
        store.write_articles([write])
    except StoreConnectionError:
        raise
    except NewsAssistantError as exc:
        origin = write.article.origin or write.article.id
        summary.failures.append(LoadFailure(origin, str(exc)))
        return False
    _count(summary, write, new=new)
    return True


def _article_writes(pending: Sequence[Prepared], vectors: np.ndarray) -> Iterator[ArticleWrite]:
    """Each prepared article with its rows of `vectors` (its chunks', then its sentences')."""
    row = 0
    for p in pending:
        n_chunks, n_sentences = len(p.chunks), len(p.sentences)
        chunk_rows = vectors[row : row + n_chunks]
        sentence_rows = vectors[row + n_chunks : row + n_chunks + n_sentences]
        row += n_chunks + n_sentences
        yield ArticleWrite(p.article, p.sentences, p.chunks, chunk_rows, sentence_rows, p.speakers)


def _count(summary: IngestSummary, write: ArticleWrite, *, new: bool) -> None:
    summary.articles += new
    summary.sentences += len(write.sentences)
    summary.chunks += len(write.chunks)


def merge(summary: IngestSummary, written: IngestSummary) -> None:
    summary.articles += written.articles
    summary.sentences += written.sentences
    summary.chunks += written.chunks
    summary.failures.extend(written.failures)
