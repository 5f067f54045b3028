"""Dev-set scores of the reader: SQuAD-style exact match and F1 of the predicted span on the
positives (texts compared after `core.normalize.normalize`, which also folds Arabic letter
variants and diacritics, then without punctuation and English articles), and has-answer
accuracy (at 0.5) and ROC AUC over every dev example."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.normalize import normalize

_PUNCTUATION = re.compile(r"[^\w\s]|_")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class Scored:
    """One dev example as the metrics see it."""

    language: str
    has_answer: bool  # the gold label
    probability: float  # the reader's has-answer probability
    prediction: str  # the predicted span text
    answers: tuple[str, ...]  # gold answer texts (positives only)


@dataclass(frozen=True)
class DevScores:
    examples: int
    positives: int
    exact_match: float  # percent, over positives
    f1: float  # percent, over positives
    has_answer_accuracy: float  # percent
    has_answer_auc: float | None  # None when dev has only one class

    def line(self) -> str:
        auc = "n/a" if self.has_answer_auc is None else f"{self.has_answer_auc:.3f}"
        return (
            f"EM {self.exact_match:.1f} F1 {self.f1:.1f} (on {self.positives} positives) | "
            f"has-answer acc {self.has_answer_accuracy:.1f} AUC {auc} (on {self.examples})"
        )


def normalize_answer(text: str) -> str:
    text = _PUNCTUATION.sub("", normalize(text))
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    guess = normalize_answer(prediction)
    return max((float(guess == normalize_answer(a)) for a in answers), default=0.0)


def f1(prediction: str, answers: Sequence[str]) -> float:
    return max((_f1(prediction, a) for a in answers), default=0.0)


def _f1(prediction: str, answer: str) -> float:
    guess, gold = normalize_answer(prediction).split(), normalize_answer(answer).split()
    if not guess or not gold:
        return float(guess == gold)
    same = sum((Counter(guess) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(guess), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def roc_auc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half)."""
    truth = np.asarray(labels, dtype=bool)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    if not positives or not negatives:
        return None
    _, inverse, counts = np.unique(
        np.asarray(scores, dtype=float), return_inverse=True, return_counts=True
    )
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def dev_scores(rows: Sequence[Scored]) -> DevScores:
    positives = [r for r in rows if r.has_answer]
    correct = [r.has_answer == (r.probability >= 0.5) for r in rows]
    return DevScores(
        examples=len(rows),
        positives=len(positives),
        exact_match=_percent([exact_match(r.prediction, r.answers) for r in positives]),
        f1=_percent([f1(r.prediction, r.answers) for r in positives]),
        has_answer_accuracy=_percent([float(c) for c in correct]),
        has_answer_auc=roc_auc([r.has_answer for r in rows], [r.probability for r in rows]),
    )


def scores_by_language(rows: Sequence[Scored]) -> dict[str, DevScores]:
    groups: dict[str, list[Scored]] = defaultdict(list)
    for row in rows:
        groups[row.language].append(row)
    return {language: dev_scores(group) for language, group in sorted(groups.items())}


def _percent(values: Sequence[float]) -> float:
    return 100.0 * sum(values) / len(values) if values else 0.0
