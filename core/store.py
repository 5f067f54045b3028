"""What every part asks of an article store, and the records a store hands back; the Chroma
implementation is core/chroma.py.

A store keeps each article as its chunks and its sentences, each with a vector, and an
article record written last (the commit marker: a record means the article is complete).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from core.types import Article, Chunk, Filters, Sentence, SentenceRecord

# The layout of what a store holds. 2: every sentence carries the speaker read at ingestion.
# A store written by an older version is refused with the command that updates it.
SCHEMA = 2

SentenceKey = tuple[str, str, int]  # (article id, content hash, sentence index)


@dataclass(frozen=True)
class SentenceSpan:
    """One sentence of a chunk: its index in the article and its offsets in the article text."""

    index: int
    start: int
    end: int


@dataclass(frozen=True)
class StoredArticle:
    """What the store knows about one article, without its text."""

    id: str
    title: str
    source: str
    url: str
    date: str
    author: str
    language: str
    origin: str
    content_hash: str
    n_sentences: int
    n_chunks: int


@dataclass(frozen=True)
class ArticleDetail(StoredArticle):
    """A stored article with its full text and the (start, end) offsets of every sentence."""

    text: str
    sentence_spans: tuple[tuple[int, int], ...]

    def sentence_texts(self) -> list[str]:
        return [self.text[start:end] for start, end in self.sentence_spans]


@dataclass(frozen=True)
class ArticleWrite:
    """One article to store, with its parts, their vectors (rows in the parts' order) and the
    speaker of each sentence ("" for none; all "" when `speakers` is empty)."""

    article: Article
    sentences: Sequence[Sentence]
    chunks: Sequence[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    speakers: Sequence[str] = ()


@dataclass(frozen=True)
class ChunkHit:
    """One chunk found by `ArticleStore.query_chunks`; `score` is its cosine similarity to the
    query."""

    id: str
    article_id: str
    text: str
    score: float
    content_hash: str
    chunk_index: int
    char_start: int
    char_end: int
    sentences: tuple[SentenceSpan, ...]
    title: str
    source: str
    url: str
    date: str
    author: str
    language: str

    @property
    def sentence_first(self) -> int:
        return self.sentences[0].index if self.sentences else -1

    @property
    def sentence_last(self) -> int:
        return self.sentences[-1].index if self.sentences else -1


class ArticleStore(Protocol):
    """Articles, their chunks and their sentences, with vectors; searched by vector."""

    @property
    def location(self) -> str:
        """Where the store is (a folder or a server URL), for messages."""
        ...

    def close(self) -> None: ...

    def bind_embedder(self, name: str, dim: int) -> None:
        """Record the embedder on a new store, or check it is the one the store was built with."""
        ...

    def check_embedder(self, name: str, dim: int) -> None:
        """StoreError when the store was built with another embedder (questions embedded by
        another model cannot be compared with its vectors)."""
        ...

    def check_schema(self) -> None:
        """Raise StoreError, naming the command that updates it, for a store whose layout is
        older than SCHEMA."""
        ...

    def writing(self) -> AbstractContextManager[None]:
        """Held around a run of writes: one writing process at a time (StoreError for a second
        one, saying so)."""
        ...

    def stored_hash(self, article_id: str) -> str | None: ...

    def article_with_hash(self, content_hash: str) -> str | None:
        """The id of a stored article with this content hash, or None."""
        ...

    def complete_only(self, records: Sequence[SentenceRecord]) -> list[SentenceRecord]:
        """The records whose article is stored completely: its record (the commit marker) is
        written, for this version of its text. Parts of an ingest that was killed, or that
        another process is still writing, are left out."""
        ...

    def count_articles(self) -> int: ...

    def revision(self) -> str:
        """A short token that changes whenever an article record is written or deleted, by
        any process (cheap to read: the saved BM25 index checks it before each question)."""
        ...

    @property
    def lexical_dir(self) -> Path | None:
        """The folder of this store's saved BM25 index (assistant/ask/lexical_saved.py); None
        to keep the index in memory."""
        ...

    def count_sentences(self) -> int: ...

    def write_articles(self, writes: Sequence[ArticleWrite]) -> None:
        """Store the articles whole, or (on failure) leave none of the batch half-written."""
        ...

    def delete_article(self, article_id: str) -> bool: ...

    def list_articles(self) -> list[StoredArticle]: ...

    def get_article(self, article_id: str) -> ArticleDetail | None: ...

    def get_articles(self, article_ids: Sequence[str]) -> list[ArticleDetail]:
        """The stored articles with these ids (unknown ids are left out), in few calls."""
        ...

    def has_articles(self, filters: Filters) -> bool:
        """Whether any stored article is one that `filters` allow."""
        ...

    def languages(self) -> list[str]:
        """The languages of the stored articles, sorted."""
        ...

    def language_sizes(self) -> dict[str, int]:
        """The number of sentences stored for each article language."""
        ...

    def query_chunks(self, vector: np.ndarray, k: int, filters: Filters) -> list[ChunkHit]:
        """The `k` chunks nearest `vector` that `filters` allow, best first."""
        ...

    def query_sentences(self, vector: np.ndarray, k: int, filters: Filters) -> list[SentenceRecord]:
        """The `k` sentences nearest `vector` that `filters` allow, best first, with `dense`."""
        ...

    def iter_sentences(self) -> Iterator[SentenceRecord]:
        """Every stored sentence (for lexical indexing)."""
        ...

    def sentence_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...

    def get_sentences(self, keys: Sequence[SentenceKey]) -> list[SentenceRecord]:
        """The stored sentences of these (article id, content hash, sentence index), in that
        order; those not stored (any more) are left out."""
        ...

    def remove_orphans(self) -> int:
        """Delete parts no complete record claims, and records missing parts they claim (so
        that the next ingest stores those articles again); returns how many were deleted."""
        ...

    def set_speakers(self, article_id: str, speakers: Sequence[str]) -> None:
        """Store the speaker of each sentence of a stored article (in sentence order)."""
        ...

    def spread_languages(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Move parts an older layout kept together into their language's place (nothing is
        re-embedded), telling `progress(done, total)` as it goes; returns how many were moved."""
        ...

    def mark_schema(self) -> None:
        """Record that the store's layout is SCHEMA (after `set_speakers` for every article)."""
        ...
