"""Whether the evidence is strong enough to answer: a logistic model over four signals of the
retrieved sentences, fitted on XQuAD-R by scripts/calibrate_abstention.py (questions about
stored articles must be answered, questions about other articles must not).

Signals: the best sentence's cosine similarity to the question; its margin over the question's
median similarity to a fixed set of neutral sentences on other topics (data/background.txt:
a real match stands out from that, a question about something else does not); the share of
the question's content words found in the top sentences; and whether the best sentence is in
another language than the question (cross-lingual similarities run lower), with its
interactions. The weights are for multilingual-e5-small; another embedder needs a refit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files

import numpy as np

from assistant.candidates import Candidate
from assistant.extract import tokens
from assistant.lexicon import expand_en, stem_match
from assistant.questions import Question
from ingest.embedder import Embedder

POOL = 40


class Background:
    """How similar unrelated sentences look to a question, for this embedder."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vectors: np.ndarray | None = None

    def similarity(self, vector: np.ndarray) -> float:
        """Median cosine similarity of `vector` (a normalised question) to the background."""
        if self._vectors is None:
            self._vectors = self.embedder.embed_passages(background_sentences())
        return float(np.median(self._vectors @ vector))


def background_sentences() -> list[str]:
    text = files("assistant").joinpath("data/background.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


@dataclass(frozen=True)
class EvidenceModel:
    """Logistic weights over (dense, margin, coverage, cross, cross*dense, cross*margin,
    words): `words` is the number of the question's content words (at most 10), since short
    questions match their sentences with lower similarity than long ones."""

    weights: tuple[float, ...] = (15.162, 70.127, 5.608, 2.997, 3.294, 9.767, -0.058)
    bias: float = -23.622

    def confidence(
        self, question: Question, ranked: Sequence[Candidate], background: float
    ) -> float:
        """Probability-like score in [0, 1] that the ranked evidence answers the question;
        `background` is `Background.similarity` of the question."""
        if not ranked:
            return 0.0
        features = signals(question, ranked, background)
        z = self.bias + sum(w * f for w, f in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def signals(
    question: Question, ranked: Sequence[Candidate], background: float
) -> tuple[float, ...]:
    """The model's inputs for candidates ranked best first."""
    best = max(ranked[:POOL], key=lambda c: c.dense)
    dense, margin = best.dense, best.dense - background
    cross = 0.0 if best.language == question.language else 1.0
    words = float(min(10, len(question.search_terms)))
    cover = coverage(question, ranked[:3])
    return dense, margin, cover, cross, cross * dense, cross * margin, words


def coverage(question: Question, top: Sequence[Candidate]) -> float:
    """Share of the question's content words found (as stems, or lexicon translations) in the
    sentences of `top` together (evidence for a question is often spread over two sentences)."""
    groups = [(term, *expand_en(term)) for term in question.search_terms]
    if not groups:
        return 0.0
    found = {tok.norm for candidate in top for tok in tokens(candidate.text)}
    hits = sum(any(stem_match(w, s) for w in found for s in group) for group in groups)
    return hits / len(groups)
