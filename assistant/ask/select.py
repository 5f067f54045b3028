"""Evidence selection: whether the ranked evidence is strong enough to answer. Today's
selector is a logistic model over four signals of the ranked sentences, fitted on XQuAD-R by
scripts/calibrate_abstention.py (questions about stored articles must be answered, questions
about other articles must not); its weights live in settings (`abstention`).

Signals: the best sentence's cosine similarity to the question; its margin over the question's
median similarity to a fixed set of neutral sentences on other topics (data/background.txt:
a real match stands out from that, a question about something else does not); the share of
the question's content words found in the top sentences; and whether the best sentence is in
another language than the question (cross-lingual similarities run lower), with its
interactions. The weights are for one embedder (`abstention.fitted_for`); another one needs a
refit, and a warning says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import ClassVar, Protocol

import numpy as np

from assistant.ask.question import Question
from core.embedder import Embedder
from core.lexicon import expand_en, stem_match
from core.settings import AbstentionSettings
from core.spans import tokens
from core.types import SentenceRecord

log = logging.getLogger(__name__)

Features = tuple[float, ...]


@dataclass(frozen=True)
class Selection:
    """The ranked evidence (best first; what an answerer may cite) and whether it answers."""

    ranked: list[SentenceRecord]
    confidence: float
    answerable: bool


class EvidenceSelector(Protocol):
    """Decides whether the ranked evidence answers the question."""

    def select(
        self, question: Question, vector: np.ndarray, ranked: Sequence[SentenceRecord]
    ) -> Selection: ...


class Background:
    """How similar unrelated sentences look to a question, for this embedder. The background
    is embedded once per model (name and dimension, as a store knows its embedder) and
    process, however many stores are opened."""

    _vectors: ClassVar[dict[tuple[str, int], np.ndarray]] = {}

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def similarity(self, vector: np.ndarray) -> float:
        """Median cosine similarity of `vector` (a normalised question) to the background."""
        key = (self.embedder.name, self.embedder.dim)
        if key not in self._vectors:
            self._vectors[key] = self.embedder.embed_passages(background_sentences())
        return float(np.median(self._vectors[key] @ vector))


def background_sentences() -> list[str]:
    text = files("assistant").joinpath("data/background.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


@dataclass(frozen=True)
class Calibration:
    """The logistic model over the signals and the confidence it must reach to answer."""

    weights: tuple[float, ...]
    bias: float
    min_confidence: float

    def confidence(self, features: Features) -> float:
        """Probability-like score in [0, 1] that the evidence answers the question."""
        if not features:
            return 0.0
        z = self.bias + sum(w * f for w, f in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def answers(self, features: Features) -> bool:
        return self.confidence(features) >= self.min_confidence


class EvidenceModel:
    """Logistic weights over (dense, margin, coverage, cross, cross*dense, cross*margin,
    words): `words` is the number of the question's content words (at most 10), since short
    questions match their sentences with lower similarity than long ones."""

    def __init__(
        self, settings: AbstentionSettings, background: Background, min_confidence: float
    ) -> None:
        self.settings = settings
        self.background = background
        self.calibration = Calibration(settings.weights, settings.bias, min_confidence)
        name = background.embedder.name
        if name != settings.fitted_for:
            log.warning(
                "the abstention weights were fitted for the embedder %s, not %s: answers may "
                "be refused or given wrongly; refit them with scripts/calibrate_abstention.py "
                "and set NEWS_ASSISTANT_ABSTENTION__WEIGHTS, __BIAS and __FITTED_FOR",
                settings.fitted_for,
                name,
            )

    def select(
        self, question: Question, vector: np.ndarray, ranked: Sequence[SentenceRecord]
    ) -> Selection:
        features = self.features(question, vector, ranked)
        confidence = self.calibration.confidence(features)
        return Selection(list(ranked), confidence, self.calibration.answers(features))

    def features(
        self, question: Question, vector: np.ndarray, ranked: Sequence[SentenceRecord]
    ) -> Features:
        """The model's inputs for candidates ranked best first (none when there are none)."""
        background = self.background.similarity(vector)
        return signals(question, ranked[: self.settings.pool], background) if ranked else ()


def signals(question: Question, ranked: Sequence[SentenceRecord], background: float) -> Features:
    """The model's inputs: the best of `ranked` by similarity, the top three for coverage."""
    best = max(ranked, key=lambda c: c.dense)
    dense, margin = best.dense, best.dense - background
    cross = 0.0 if best.language == question.language else 1.0
    words = float(min(10, len(question.search_terms)))
    cover = coverage(question, ranked[:3])
    return dense, margin, cover, cross, cross * dense, cross * margin, words


def coverage(question: Question, top: Sequence[SentenceRecord]) -> float:
    """Share of the question's content words found (as stems, or lexicon translations) in the
    sentences of `top` together (evidence for a question is often spread over two sentences)."""
    groups = [(term, *expand_en(term)) for term in question.search_terms]
    if not groups:
        return 0.0
    found = {tok.norm for candidate in top for tok in tokens(candidate.sentence)}
    hits = sum(any(stem_match(w, s) for w in found for s in group) for group in groups)
    return hits / len(groups)
