"""Reranking: one fused score per candidate sentence, best first. Today's reranker fuses the
retrieval signals by z-scores (so BM25 helps Arabic questions over Arabic articles without
hurting English questions over Arabic articles: where it finds nothing its z-scores are all
zero) and adds a bonus when a sentence holds what the question asks for (a figure for "how
many", a date for "when").

Candidates of several languages are compared by their similarities' margins over the level
their language's candidates reach (retrieve.language_levels; a constant shift when there is
one language, so nothing changes then), and BM25 is z-scored within each language's
candidates: it tells sentences of the question's language apart, and must not lift them as a
group over the other language's sentences, which share no words with the question."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from assistant.ask.figures import figures
from assistant.ask.question import Question
from core.settings import RetrievalSettings
from core.types import SentenceRecord

_DATE_WORDS = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|\b(january|february|march|april|may|june|july|august|september|"
    r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|"
    r"(يناير|فبراير|مارس|أبريل|ابريل|مايو|يونيو|يوليو|أغسطس|سبتمبر|أكتوبر|نوفمبر|ديسمبر|"
    r"كانون|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|تشرين|الجمعة|الخميس|الأربعاء|الثلاثاء|"
    r"الاثنين|الأحد|السبت|أمس|اليوم)",
    re.IGNORECASE,
)


class Reranker(Protocol):
    """Orders candidate sentences for a question."""

    def rerank(
        self, question: Question, candidates: Sequence[SentenceRecord]
    ) -> list[SentenceRecord]:
        """The candidates best first, each with its `score` set."""
        ...


class FusionReranker:
    """z-scored dense + weighted chunk and BM25 scores + the kind bonus (weights in settings)."""

    def __init__(self, settings: RetrievalSettings) -> None:
        self.settings = settings

    def rerank(
        self, question: Question, candidates: Sequence[SentenceRecord]
    ) -> list[SentenceRecord]:
        if not candidates:
            return []
        w = self.settings
        dense = _z([c.margin for c in candidates])
        chunk = _z(chunk_margins(candidates))
        groups = [c.language if w.per_language else "" for c in candidates]
        lexical = _z_within(groups, [c.lexical for c in candidates])
        bonus = [w.kind * holds_kind(question.kind, c.sentence) for c in candidates]
        shared = dense + w.chunk * chunk + np.asarray(bonus)
        fused = shared + w.lexical * lexical
        if w.per_language and not w.lexical_across and len(set(groups)) > 1:
            fused = rank_matched(groups, fused, shared)
        scored = [c.scored(score=float(s)) for c, s in zip(candidates, fused, strict=True)]
        return sorted(scored, key=lambda c: -c.score)


def rank_matched(groups: Sequence[str], fused: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Scores that keep each group's order by `fused` and give its candidates, in that order,
    the group's `shared` scores from the highest down: within a language every signal orders
    the sentences, between languages only the signals that all of them have (BM25 finds no
    words of an English question in an Arabic sentence, so it must not decide between them)."""
    out = np.empty_like(fused)
    labels = np.asarray(groups)
    for group in set(groups):
        rows = np.flatnonzero(labels == group)
        by_fused = rows[np.argsort(-fused[rows], kind="stable")]
        out[by_fused] = np.sort(shared[rows])[::-1]
    return out


def chunk_margins(candidates: Sequence[SentenceRecord]) -> list[float]:
    """Each candidate's chunk similarity over its language's level; a candidate in none of
    the nearest chunks (`chunk` 0) gets one value below every level, whatever its language."""
    missing = -max(c.baseline for c in candidates)
    return [c.chunk - c.baseline if c.chunk > 0 else missing for c in candidates]


def holds_kind(kind: str, text: str) -> float:
    """1.0 when `text` holds the kind of thing the question asks for, else 0.0."""
    if kind == "count":
        return 1.0 if figures(text) else 0.0
    if kind == "when":
        return 1.0 if _DATE_WORDS.search(text) else 0.0
    return 0.0


def _z_within(groups: Sequence[str], values: Sequence[float]) -> np.ndarray:
    """`values` z-scored within each group (the same as `_z` when there is one group)."""
    array = np.asarray(values, dtype=np.float64)
    labels = np.asarray(groups)
    out = np.zeros_like(array)
    for group in set(groups):
        rows = labels == group
        out[rows] = _z(array[rows])
    return out


def _z(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    std = float(array.std())
    return (array - array.mean()) / std if std > 1e-9 else np.zeros_like(array)
