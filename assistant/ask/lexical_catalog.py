"""The catalog of the saved BM25 index (assistant/ask/lexical_saved.py), in SQLite: its state
(format, generation, the store revision it matches), the vocabulary (word -> id), the segments,
and the indexed articles (id, content hash, the metadata filters read, live or dead)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from core.types import SentenceRecord

_VARS = 900  # SQL parameters per statement


@dataclass(frozen=True)
class ToIndex:
    """One article to index: its record's metadata and its sentences' texts."""

    article_id: str
    content_hash: str
    title: str
    source: str
    url: str
    date: str
    language: str
    sentences: Sequence[str]


SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS segments (id INTEGER PRIMARY KEY, docs INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    num INTEGER PRIMARY KEY AUTOINCREMENT, article_id TEXT NOT NULL, content_hash TEXT NOT NULL,
    segment INTEGER NOT NULL, live INTEGER NOT NULL, title TEXT, source TEXT, url TEXT,
    date TEXT, language TEXT);
CREATE INDEX IF NOT EXISTS articles_by_id ON articles (article_id, live);
CREATE INDEX IF NOT EXISTS articles_by_segment ON articles (segment);
"""


def state(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_state(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, value))


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for lo in range(0, len(items), _VARS):
        yield items[lo : lo + _VARS]


def term_ids(db: sqlite3.Connection, terms: Sequence[str]) -> list[int]:
    """The ids of the known words among `terms` (a word given twice, twice)."""
    unique = sorted(set(terms))
    known: dict[str, int] = {}
    for part in _chunks(unique):
        marks = ",".join("?" * len(part))
        known.update(db.execute(f"SELECT term, id FROM terms WHERE term IN ({marks})", part))
    return [known[t] for t in terms if t in known]


def term_map(db: sqlite3.Connection, words: set[str]) -> dict[str, int]:
    """The id of every word, new words added to the vocabulary."""
    ordered = sorted(words)
    db.executemany("INSERT OR IGNORE INTO terms (term) VALUES (?)", [(w,) for w in ordered])
    found: dict[str, int] = {}
    for part in _chunks(ordered):
        marks = ",".join("?" * len(part))
        found.update(db.execute(f"SELECT term, id FROM terms WHERE term IN ({marks})", part))
    return found


def live_hashes(db: sqlite3.Connection, article_ids: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in _chunks(sorted(set(article_ids))):
        marks = ",".join("?" * len(part))
        query = (
            f"SELECT article_id, content_hash FROM articles WHERE live AND article_id IN ({marks})"
        )
        found.update(db.execute(query, part))
    return found


def kill(db: sqlite3.Connection, article_ids: Sequence[str]) -> None:
    for part in _chunks(sorted(set(article_ids))):
        marks = ",".join("?" * len(part))
        db.execute(f"UPDATE articles SET live = 0 WHERE live AND article_id IN ({marks})", part)


def insert_article(db: sqlite3.Connection, a: ToIndex, segment_id: int) -> int:
    row = (a.article_id, a.content_hash, segment_id, a.title, a.source, a.url, a.date, a.language)
    cursor = db.execute(
        "INSERT INTO articles (article_id, content_hash, segment, live, title, source, url, "
        "date, language) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?)",
        row,
    )
    return int(cursor.lastrowid or 0)


@dataclass(frozen=True)
class IndexedArticle:
    """An indexed article's content hash, and a record carrying its metadata (what
    `Filters.allows` reads) to try filters on before any sentence is read."""

    content_hash: str
    probe: SentenceRecord


def indexed_articles(db: sqlite3.Connection, nums: set[int]) -> dict[int, IndexedArticle]:
    """The indexed articles by number (those merged away by another process meanwhile are
    left out)."""
    found: dict[int, IndexedArticle] = {}
    ordered = sorted(nums)
    for lo in range(0, len(ordered), _VARS):
        part = ordered[lo : lo + _VARS]
        marks = ",".join("?" * len(part))
        query = (
            "SELECT num, article_id, content_hash, title, source, url, date, language "
            f"FROM articles WHERE num IN ({marks})"
        )
        for num, article_id, content_hash, title, source, url, date, language in db.execute(
            query, part
        ):
            probe = SentenceRecord(
                "", article_id, title or "", source or "", url or "", date or "", language or "",
                sentence_index=0, start=0, end=0, sentence="",
            )  # fmt: skip
            found[num] = IndexedArticle(content_hash, probe)
    return found
