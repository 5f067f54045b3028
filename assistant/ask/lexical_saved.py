"""The BM25 index saved beside the store and kept up to date with it, so that a question after
opening a store, or after an ingest, does not read every stored sentence again.

Files (in `store.lexical_dir`): `index.sqlite` holds the vocabulary (word -> id), the indexed
articles (id, content hash, the metadata filters read, whether still live) and the segments;
each segment is a folder of .npy arrays, memory-mapped when read: for the sentences of a batch
of articles, their words' term frequencies by word id (CSC-like: sorted word ids, pointers,
sentence numbers, counts), their lengths, their article and their index in it. Scores are
computed at query time from these counts (bm25s's default "lucene" BM25, k1 1.5, b 0.75), over
live sentences only, so adding a batch adds a segment and recomputes nothing. A deleted or
replaced article is marked dead (its sentences are skipped and leave the counts); segments are
merged, dropping dead sentences, when there are many.

The index follows the store, not its writers: it records the store `revision` it matches, and
when the store's differs it catches up (indexes the complete articles it lacks, in pages, and
marks dead those gone or changed), so that another process's ingest, a delete, or a killed run
are all picked up. An ingest in this process tells it each batch it wrote (`add_written`), which
saves the catch-up. Segments are written under a temporary name and renamed, and registered in
one SQLite transaction, so a killed process never leaves a half-written index; an index that
cannot be read is deleted and rebuilt from the store, with a log line.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import sqlite3
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.ask.lexical import LexicalIndex, refreshed
from assistant.ask.lexical_catalog import (
    SCHEMA,
    IndexedArticle,
    ToIndex,
    indexed_articles,
    insert_article,
    kill,
    live_hashes,
    set_state,
    state,
    term_ids,
    term_map,
)
from assistant.ask.lexical_segments import (
    Segment,
    UnreadableIndex,
    concat_segments,
    live_rows,
    segment_arrays,
    write_segment,
)
from assistant.ask.question import content_words
from core.store import ArticleDetail, ArticleStore, ArticleWrite, SentenceKey
from core.types import SentenceRecord

log = logging.getLogger(__name__)

K1, B = 1.5, 0.75  # bm25s's defaults
FORMAT = "1"  # the layout of the files; another one is rebuilt
EMPTY = "\u2205"  # the one word of a sentence without content words (as LexicalIndex)
CATCH_UP_PAGE = 500  # articles read from the store per segment when catching up
MAX_SEGMENTS = 8  # more are merged, smallest first
MERGE_LIMIT = 250_000  # sentences: bigger segments are not merged again (bounds memory)
BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another process's index write


class Searchable(Protocol):
    """What a question searches: the index as of one `revision` of the store."""

    revision: str
    generation: str  # of the files it was read from ("" when none)

    def __len__(self) -> int: ...

    def search(
        self, terms: Sequence[str], k: int, allowed: Callable[[SentenceRecord], bool] | None = None
    ) -> list[SentenceRecord]: ...


class InMemory:
    """An index kept in memory (where the files cannot be written), as of `revision`."""

    generation = ""

    def __init__(self, index: LexicalIndex, revision: str) -> None:
        self.index, self.revision = index, revision

    def __len__(self) -> int:
        return len(self.index)

    def search(
        self, terms: Sequence[str], k: int, allowed: Callable[[SentenceRecord], bool] | None = None
    ) -> list[SentenceRecord]:
        return self.index.search(terms, k, allowed)


class Snapshot:
    """The index as of one state of its files: what `search` reads (never changed after)."""

    def __init__(
        self, index: SavedLexicalIndex, segments: list[Segment], dead: np.ndarray, revision: str
    ) -> None:
        self.index = index
        self.segments = segments
        self.revision = revision
        self.generation = ""
        self.alive = [~np.isin(np.asarray(s.doc_article), dead) for s in segments]
        self.n_live = int(sum(int(a.sum()) for a in self.alive))
        lengths = sum(
            int(np.asarray(s.lengths)[a].sum()) for s, a in zip(segments, self.alive, strict=True)
        )
        self.avg_length = lengths / self.n_live if self.n_live else 0.0

    def __len__(self) -> int:
        return self.n_live

    def search(
        self, terms: Sequence[str], k: int, allowed: Callable[[SentenceRecord], bool] | None = None
    ) -> list[SentenceRecord]:
        """Up to `k` stored sentences sharing words with `terms` (and `allowed`), best first,
        with `lexical` set to their BM25 score."""
        if not terms or k <= 0 or not self.n_live:
            return []
        with self.index.connect() as db:
            ids = term_ids(db, terms)
            if not ids:
                return []
            scores, where = self._scores(ids)
            return self._records(db, scores, where, k, allowed)

    def _scores(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The positive scores (and (segment, sentence) of each) of live sentences."""
        unique = sorted(set(ids))
        postings = [[seg.postings(t) for t in unique] for seg in self.segments]
        df = Counter[int]()
        for seg_postings, alive in zip(postings, self.alive, strict=True):
            for t, (docs, _) in zip(unique, seg_postings, strict=True):
                df[t] += int(alive[docs].sum())
        weights = Counter(ids)  # a word asked twice counts twice (as in bm25s)
        found_scores, found_where = [], []
        for s, (seg, seg_postings) in enumerate(zip(self.segments, postings, strict=True)):
            total = np.zeros(len(seg), dtype=np.float32)
            norm = None
            for t, (docs, tfs) in zip(unique, seg_postings, strict=True):
                if not len(docs):
                    continue
                if norm is None:
                    lengths = np.asarray(seg.lengths, dtype=np.float32)
                    norm = K1 * (1 - B + B * lengths / np.float32(self.avg_length))
                tf = tfs.astype(np.float32)
                total[docs] += weights[t] * _idf(df[t], self.n_live) * tf / (norm[docs] + tf)
            hit = np.flatnonzero((total > 0) & self.alive[s])
            found_scores.append(total[hit])
            found_where.append(np.stack([np.full(len(hit), s), hit], axis=1))
        if not found_scores:
            return np.zeros(0, np.float32), np.zeros((0, 2), np.int64)
        return np.concatenate(found_scores), np.concatenate(found_where)

    def _records(
        self,
        db: sqlite3.Connection,
        scores: np.ndarray,
        where: np.ndarray,
        k: int,
        allowed: Callable[[SentenceRecord], bool] | None,
    ) -> list[SentenceRecord]:
        """The best `k` sentences `allowed` lets through, read from the store (filters are
        tried first on their article's metadata, so only hits are read)."""
        articles: dict[int, IndexedArticle] = {}
        found: list[SentenceRecord] = []
        step = max(2 * k, 50)
        for part in _best_first(scores, step):
            picks = [(float(scores[i]), *self._place(where[i])) for i in part]
            articles.update(indexed_articles(db, {num for _, num, _ in picks} - articles.keys()))
            keys = [(score, articles[num], index) for score, num, index in picks if num in articles]
            keys = [key for key in keys if allowed is None or allowed(key[1].probe)]
            found.extend(self._read(keys, k - len(found), allowed))
            if len(found) >= k:
                break
        return found

    def _place(self, where: np.ndarray) -> tuple[int, int]:
        segment = self.segments[int(where[0])]
        doc = int(where[1])
        return int(segment.doc_article[doc]), int(segment.doc_index[doc])

    def _read(
        self,
        keys: list[tuple[float, IndexedArticle, int]],
        k: int,
        allowed: Callable[[SentenceRecord], bool] | None,
    ) -> list[SentenceRecord]:
        """The stored sentences of `keys` (score, article, index) that are still stored."""
        wanted: list[SentenceKey] = [
            (a.probe.article_id, a.content_hash, index) for _, a, index in keys
        ]
        stored = {
            (r.article_id, r.sentence_index): r for r in self.index.store.get_sentences(wanted)
        }
        found = []
        for score, article, index in keys:
            record = stored.get((article.probe.article_id, index))
            if record is not None and (allowed is None or allowed(record)):
                found.append(record.scored(lexical=score))
        return found[:k]


class SavedLexicalIndex:
    """The saved index of one store (one object per folder and process: see `saved_index`).
    `current()` gives the snapshot to search, caught up with the store first when it changed;
    one thread catches up at a time and questions asked meanwhile use the snapshot as it was
    (only the very first question waits)."""

    def __init__(self, folder: Path, store: ArticleStore) -> None:
        self.folder = folder
        self.store = store
        self._snapshot: Searchable | None = None
        self._segments: dict[int, Segment] = {}
        self._updating = threading.Lock()
        self._opened = False

    def connect(self) -> contextlib.closing[sqlite3.Connection]:
        db = sqlite3.connect(
            self.folder / "index.sqlite", timeout=BUSY_TIMEOUT_S, isolation_level=None
        )
        return contextlib.closing(db)

    def current(self) -> Searchable:
        return refreshed(
            self._updating,
            self._snapshot,
            lambda snapshot: self.store.revision() == snapshot.revision,
            self._caught_up,
        )

    def prepare(self) -> None:
        """Create the files before an ingest (so that those of a new store match it from its
        first batch on); a failure is logged, and left to the first question."""
        with self._updating:
            try:
                self._ensure_open()
            except (UnreadableIndex, sqlite3.Error, OSError) as exc:
                log.warning("could not open the BM25 index at %s (%s)", self.folder, exc)

    def add_written(self, writes: Sequence[ArticleWrite], before: str) -> None:
        """Index articles this process just wrote to the store; `before` is the store's
        revision before the write: when the index matched it, it now matches the store's."""
        with self._updating:
            try:
                self._ensure_open()
                after = self.store.revision()
                with self._writing() as db:
                    synced = state(db, "revision")
                    self._add(db, [_from_write(w) for w in writes])
                    if synced == before:
                        set_state(db, "revision", after)
                self._merge_if_many()
                self._snapshot = self._load()
            except (UnreadableIndex, sqlite3.Error, OSError) as exc:
                log.warning("could not add to the BM25 index at %s (%s)", self.folder, exc)
                self._snapshot = None  # the next question catches up from the store

    def _caught_up(self) -> Searchable:
        """`_catch_up`, rebuilding unreadable files; where they cannot be written (a read-only
        folder) or stay locked, the old snapshot or an index in memory instead."""
        try:
            try:
                return self._catch_up()
            except sqlite3.OperationalError:
                raise  # locked: not a reason to delete it
            except (UnreadableIndex, sqlite3.DatabaseError, OSError) as exc:
                log.warning(
                    "the saved BM25 index at %s could not be read (%s): rebuilding it from "
                    "the store",
                    self.folder,
                    exc,
                )
                self._reset()
                return self._catch_up()
        except (UnreadableIndex, sqlite3.Error, OSError) as exc:
            log.warning(
                "the BM25 index at %s cannot be saved (%s): kept in memory", self.folder, exc
            )
            if self._snapshot is not None:
                return self._snapshot
            revision = self.store.revision()
            self._snapshot = InMemory(LexicalIndex(self.store.iter_sentences()), revision)
            return self._snapshot

    def _catch_up(self) -> Searchable:
        """The index matching the store: reloaded when another process changed the files,
        and brought up to date from the store when its revision is not the one the files
        match."""
        revision = self.store.revision()
        self._ensure_open()
        snapshot = self._snapshot
        if snapshot is None or snapshot.generation != self._generation():
            snapshot = self._snapshot = self._load()
        if snapshot.revision == revision:
            return snapshot
        self._follow_store(revision)
        self._merge_if_many()
        self._snapshot = self._load()
        return self._snapshot

    def _follow_store(self, revision: str) -> None:
        """Mark dead what the store no longer holds, index what it holds that is missing,
        a page of articles at a time, then record `revision` as matched."""
        stored = {a.id: a.content_hash for a in self.store.list_articles()}
        with self._writing() as db:
            live = dict(db.execute("SELECT article_id, content_hash FROM articles WHERE live"))
            gone = [a for a, h in live.items() if stored.get(a) != h]
            kill(db, gone)
        missing = sorted(a for a, h in stored.items() if live.get(a) != h)
        if missing:
            log.info("indexing %d articles for BM25 in %s", len(missing), self.folder)
        for lo in range(0, len(missing), CATCH_UP_PAGE):
            details = self.store.get_articles(missing[lo : lo + CATCH_UP_PAGE])
            with self._writing() as db:
                self._add(
                    db, [_from_detail(d) for d in details if stored.get(d.id) == d.content_hash]
                )
        with self._writing() as db:
            set_state(db, "revision", revision)

    # --- files ---

    def _ensure_open(self) -> None:
        """Create the files when missing (once per object; new files for an empty store
        match it); UnreadableIndex when they are of another format."""
        if self._opened:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        revision = self.store.revision()  # before counting: a write in between changes it
        empty = self.store.count_articles() == 0
        with self._writing(changes=False) as db:
            for statement in SCHEMA.split(";"):
                db.execute(statement)
            made = state(db, "format")
            if made is None:
                set_state(db, "format", FORMAT)
                if empty:
                    set_state(db, "revision", revision)
            elif made != FORMAT:
                raise UnreadableIndex(f"format {made}, not {FORMAT}")
            self._sweep(db)
        self._opened = True

    def _sweep(self, db: sqlite3.Connection) -> None:
        """Remove segment folders no row names (left by a killed writer)."""
        known = {f"seg-{i}" for (i,) in db.execute("SELECT id FROM segments")}
        for path in self.folder.glob("seg-*"):
            if path.name not in known:
                shutil.rmtree(path, ignore_errors=True)

    def _reset(self) -> None:
        self._snapshot, self._segments, self._opened = None, {}, False
        shutil.rmtree(self.folder, ignore_errors=True)
        self._ensure_open()

    @contextlib.contextmanager
    def _writing(self, *, changes: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction (one writer across processes: SQLite's lock); `changes`: it
        changes what the index holds (other processes reload it)."""
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                if changes:
                    generation = int(state(db, "generation") or 0) + 1
                    set_state(db, "generation", str(generation))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _generation(self) -> str:
        with self.connect() as db:
            return state(db, "generation") or ""

    def _load(self) -> Snapshot:
        """A snapshot of the files as they are (once more if a merge removed a segment while
        they were read)."""
        try:
            return self._read_files()
        except UnreadableIndex:
            return self._read_files()

    def _read_files(self) -> Snapshot:
        with self.connect() as db:
            db.execute("BEGIN")
            ids = [i for (i,) in db.execute("SELECT id FROM segments ORDER BY id")]
            dead = np.array([n for (n,) in db.execute("SELECT num FROM articles WHERE NOT live")])
            revision, generation = state(db, "revision") or "", state(db, "generation") or ""
            db.execute("COMMIT")
        self._segments = {i: self._segments.get(i) or self._open_segment(i) for i in ids}
        snapshot = Snapshot(self, [self._segments[i] for i in ids], dead, revision)
        snapshot.generation = generation
        return snapshot

    def _open_segment(self, segment_id: int) -> Segment:
        return Segment(segment_id, self.folder / f"seg-{segment_id}")

    def _add(self, db: sqlite3.Connection, articles: list[ToIndex]) -> None:
        """Index `articles` as one new segment, marking dead their earlier versions (inside
        the caller's transaction). Articles already indexed as they are are skipped."""
        live = live_hashes(db, [a.article_id for a in articles])
        articles = [a for a in articles if live.get(a.article_id) != a.content_hash]
        if not articles:
            return
        kill(db, [a.article_id for a in articles if a.article_id in live])
        segment_id = int(db.execute("INSERT INTO segments (docs) VALUES (0)").lastrowid or 0)
        words = [[_words(text) for text in a.sentences] for a in articles]
        vocab = term_map(db, {w for doc in words for sentence in doc for w in sentence})
        nums = [insert_article(db, a, segment_id) for a in articles]
        arrays = segment_arrays(words, nums, vocab)
        db.execute(
            "UPDATE segments SET docs = ? WHERE id = ?", (len(arrays["lengths"]), segment_id)
        )
        write_segment(self.folder, segment_id, arrays)

    def _merge_if_many(self) -> None:
        """Merge the smallest segments into one when there are more than MAX_SEGMENTS,
        dropping the sentences of dead articles."""
        with self._writing() as db:
            sizes = list(db.execute("SELECT id, docs FROM segments ORDER BY docs, id"))
            if len(sizes) <= MAX_SEGMENTS:
                return
            small = [(i, n) for i, n in sizes if n < MERGE_LIMIT][: len(sizes) - MAX_SEGMENTS // 2]
            if len(small) < 2:
                return
            merged = self._merged(db, [i for i, _ in small])
        for segment_id, _ in small:
            shutil.rmtree(self.folder / f"seg-{segment_id}", ignore_errors=True)
        log.info("merged %d BM25 segments into segment %d in %s", len(small), merged, self.folder)

    def _merged(self, db: sqlite3.Connection, ids: list[int]) -> int:
        dead = np.array([n for (n,) in db.execute("SELECT num FROM articles WHERE NOT live")])
        parts = [live_rows(self._open_segment(i), dead) for i in ids]
        segment_id = int(db.execute("INSERT INTO segments (docs) VALUES (0)").lastrowid or 0)
        arrays = concat_segments(parts)
        db.execute(
            "UPDATE segments SET docs = ? WHERE id = ?", (len(arrays["lengths"]), segment_id)
        )
        marks = ",".join("?" * len(ids))
        db.execute(f"DELETE FROM articles WHERE segment IN ({marks}) AND NOT live", ids)
        db.execute(
            f"UPDATE articles SET segment = ? WHERE segment IN ({marks})", [segment_id, *ids]
        )
        db.execute(f"DELETE FROM segments WHERE id IN ({marks})", ids)
        write_segment(self.folder, segment_id, arrays)
        return segment_id


_OPEN: weakref.WeakValueDictionary[Path, SavedLexicalIndex] = weakref.WeakValueDictionary()
_OPEN_GUARD = threading.Lock()


def saved_index(store: ArticleStore) -> SavedLexicalIndex | None:
    """The saved index of `store`, shared by everything in this process that uses its folder
    (so an ingest's batches reach the questions asked beside it); None for a store without a
    `lexical_dir`."""
    folder = getattr(store, "lexical_dir", None)  # a store made for a test may have none
    if folder is None:
        return None
    key = folder.resolve()
    with _OPEN_GUARD:
        index = _OPEN.get(key)
        if index is None or index.store is not store:
            index = _OPEN[key] = SavedLexicalIndex(key, store)
        return index


def index_batches(store: ArticleStore) -> Callable[[Sequence[ArticleWrite], str], None] | None:
    """What an Ingestor calls after each batch it wrote to `store` (None: nothing to update)."""
    index = saved_index(store)
    if index is None:
        return None
    index.prepare()
    return index.add_written


# --- helpers ---


def _words(sentence: str) -> list[str]:
    return list(content_words(sentence)) or [EMPTY]


def _best_first(scores: np.ndarray, step: int) -> Iterator[np.ndarray]:
    """Positions of `scores`, best first, `step` at a time: the first few steps from a partial
    sort (most questions need no more), then the rest."""
    head = 8 * step
    if len(scores) <= head:
        order = np.argsort(-scores, kind="stable")
        yield from (order[lo : lo + step] for lo in range(0, len(order), step))
        return
    top = np.argpartition(-scores, head - 1)[:head]
    top = top[np.argsort(-scores[top], kind="stable")]
    yield from (top[lo : lo + step] for lo in range(0, head, step))
    rest = np.setdiff1d(np.arange(len(scores)), top, assume_unique=True)
    rest = rest[np.argsort(-scores[rest], kind="stable")]
    yield from (rest[lo : lo + step] for lo in range(0, len(rest), step))


def _idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _from_write(w: ArticleWrite) -> ToIndex:
    a = w.article
    return ToIndex(
        a.id, a.content_hash, a.title, a.source, a.url, a.date, a.language,
        [s.text for s in w.sentences],
    )  # fmt: skip


def _from_detail(d: ArticleDetail) -> ToIndex:
    return ToIndex(
        d.id, d.content_hash, d.title, d.source, d.url, d.date, d.language, d.sentence_texts()
    )
