"""Hybrid retrieval of evidence sentences: dense sentences and chunks from the store, BM25 over
normalised words, fused by z-scores, plus a small bonus when a sentence holds the kind of thing
the question asks for (a figure for "how many", a date for "when").

Fusion by z-scores lets BM25 help Arabic questions over Arabic articles without hurting English
questions over Arabic articles: where BM25 finds nothing its z-scores are all zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.candidates import Candidate
from assistant.extract import figures
from assistant.lexical import LexicalIndex
from assistant.questions import Question, content_words
from ingest.embedder import Embedder
from ingest.store import ArticleStore, SentenceHit, date_ord

_DATE_WORDS = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|\b(january|february|march|april|may|june|july|august|september|"
    r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|"
    r"(يناير|فبراير|مارس|أبريل|ابريل|مايو|يونيو|يوليو|أغسطس|سبتمبر|أكتوبر|نوفمبر|ديسمبر|"
    r"كانون|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|تشرين|الجمعة|الخميس|الأربعاء|الثلاثاء|"
    r"الاثنين|الأحد|السبت|أمس|اليوم)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Filters:
    """Metadata filters passed through to the store: source, article id, date range (ISO)."""

    source: str | None = None
    article_id: str | None = None
    since: str | None = None
    until: str | None = None

    def where(self) -> dict[str, Any] | None:
        """The Chroma where-clause, or None when nothing is filtered."""
        parts: list[dict[str, Any]] = []
        if self.source:
            parts.append({"source": self.source})
        if self.article_id:
            parts.append({"article_id": self.article_id})
        if self.since:
            parts.append({"date_ord": {"$gte": date_ord(self.since)}})
        if self.until:
            parts.append({"date_ord": {"$lte": date_ord(self.until) or 99999999}})
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"$and": parts}

    def allows(self, c: Candidate) -> bool:
        """The same filter applied to a candidate in memory (for BM25 hits)."""
        day = date_ord(c.date)
        return (
            (not self.source or c.source == self.source)
            and (not self.article_id or c.article_id == self.article_id)
            and (not self.since or day >= date_ord(self.since))
            and (not self.until or day <= (date_ord(self.until) or 99999999))
        )


@dataclass(frozen=True)
class Weights:
    """How the signals are fused; measured on XQuAD-R (see `news-assistant eval`)."""

    chunk: float = 0.3
    lexical: float = 0.3
    kind: float = 0.5
    dense_k: int = 40
    chunk_k: int = 10
    lexical_k: int = 40


class Retriever:
    """Ranks stored sentences for a question. The BM25 index is built on first use from the
    store and rebuilt when the store's sentence count changes."""

    def __init__(self, store: ArticleStore, embedder: Embedder, weights: Weights | None = None):
        self.store = store
        self.embedder = embedder
        self.weights = weights or Weights()
        self._lexical: LexicalIndex | None = None
        self._lexical_count = -1

    def embed(self, question: Question) -> np.ndarray:
        """The question's query vector (normalised)."""
        return self.embedder.embed_queries([question.search_text])[0]

    def search(
        self,
        question: Question,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        vector: np.ndarray | None = None,
    ) -> list[Candidate]:
        """The `k` best candidate sentences (all that were pooled when None), best first, each
        with its scores. `vector` is the question's embedding when already computed."""
        filters = filters or Filters()
        vector = self.embed(question) if vector is None else vector
        pool = self._pool(question, vector, filters)
        ranked = sorted(self._fuse(question, pool), key=lambda c: -c.score)
        return ranked[:k]

    def lexical_index(self) -> LexicalIndex:
        count = self.store.count_sentences()
        if self._lexical is None or count != self._lexical_count:
            self._lexical = LexicalIndex(candidate_of(hit) for hit in self.store.iter_sentences())
            self._lexical_count = count
        return self._lexical

    def _pool(self, question: Question, vector: np.ndarray, filters: Filters) -> list[Candidate]:
        w, where = self.weights, filters.where()
        pool: dict[tuple[str, int], Candidate] = {}
        for hit in self.store.query_sentences(vector, w.dense_k, where):
            pool[(hit.article_id, hit.index)] = candidate_of(hit).scored(dense=hit.score)
        chunk_scores = self._chunk_scores(vector, where)
        terms = content_words(question.search_text)
        for c in self.lexical_index().search(terms, w.lexical_k, filters.allows):
            pool[c.key] = pool.get(c.key, c).scored(lexical=c.lexical)
        self._fill_dense(vector, pool)
        return [c.scored(chunk=chunk_scores.get(key, 0.0)) for key, c in pool.items()]

    def _chunk_scores(
        self, vector: np.ndarray, where: Mapping[str, Any] | None
    ) -> dict[tuple[str, int], float]:
        scores: dict[tuple[str, int], float] = {}
        for chunk in self.store.query(vector, self.weights.chunk_k, where):
            for span in chunk.sentences:
                key = (chunk.article_id, span.index)
                scores[key] = max(scores.get(key, 0.0), chunk.score)
        return scores

    def _fill_dense(self, vector: np.ndarray, pool: dict[tuple[str, int], Candidate]) -> None:
        missing = {c.id: key for key, c in pool.items() if c.dense == 0.0}
        if not missing:
            return
        for record_id, stored in self.store.sentence_vectors(list(missing)).items():
            key = missing[record_id]
            pool[key] = pool[key].scored(dense=float(stored @ vector))

    def _fuse(self, question: Question, pool: Sequence[Candidate]) -> list[Candidate]:
        if not pool:
            return []
        w = self.weights
        dense = _z([c.dense for c in pool])
        chunk = _z([c.chunk for c in pool])
        lexical = _z([c.lexical for c in pool])
        bonus = [w.kind * _kind_match(question.kind, c.text) for c in pool]
        fused = dense + w.chunk * chunk + w.lexical * lexical + np.asarray(bonus)
        return [c.scored(score=float(s)) for c, s in zip(pool, fused, strict=True)]


def _z(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    std = float(array.std())
    return (array - array.mean()) / std if std > 1e-9 else np.zeros_like(array)


def _kind_match(kind: str, text: str) -> float:
    if kind == "count":
        return 1.0 if figures(text) else 0.0
    if kind == "when":
        return 1.0 if _DATE_WORDS.search(text) else 0.0
    return 0.0


def candidate_of(hit: SentenceHit) -> Candidate:
    """The retrieval candidate for a stored sentence (no scores yet)."""
    return Candidate(
        id=hit.id,
        article_id=hit.article_id,
        sentence_index=hit.index,
        start=hit.start,
        end=hit.end,
        text=hit.text,
        title=hit.title,
        source=hit.source,
        url=hit.url,
        date=hit.date,
        language=hit.language,
    )
