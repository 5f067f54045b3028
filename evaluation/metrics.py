"""Scoring replies against gold answers, per question, then averaged per setting and system.

Retrieval: the gold sentence is the ranked sentence of the gold article whose span holds the
answer's first character (whatever the sentence splitter, "the sentence that contains the
answer"); recall@1, recall@5 and MRR (over the ranked depth). Paragraphs are ranked by their
first ranked sentence; gold paragraph recall@5 asks whether the answer's paragraph is among the
first five. Answers: the gold answer occurs in the answer text (both normalised), only where the
system answered; exact match and token F1 of the short answer where the system states one.
Citations: precision = cited sentences (of answered questions) that contain the gold answer;
recall = questions whose gold sentence is cited. Abstention: questions not answered (every
XQuAD-R question has its answer in the store, so abstaining is always a miss).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant import normalize
from evaluation.systems import Reply, Sentence
from evaluation.xquad import Gold

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}«»“”‘’،؛؟…—–]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
Paragraphs = Callable[[str, int], int]


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation plus the project's Arabic one: case, punctuation, English
    articles, Arabic diacritics and letter forms, whitespace."""
    text = _PUNCT.sub(" ", normalize(text))
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    predicted, wanted = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


def holds_answer(sentence: Sentence, gold: Gold) -> bool:
    """Is this the gold sentence: in the gold article, holding the answer's first character?"""
    return sentence.article_id == gold.article_id and sentence.start <= gold.start < sentence.end


def contains_answer(text: str, gold: Gold) -> bool:
    """Does `text` hold the gold answer (normalised)? Latin letters and digits must not touch
    it on either side ("5" is not in "1950"); Arabic letters may, for attached clitics
    ("بالولايات المتحدة" holds "الولايات المتحدة")."""
    wanted = normalize_answer(gold.answer)
    if not wanted:
        return False
    pattern = rf"(?<![0-9a-z]){re.escape(wanted)}(?![0-9a-z])"
    return re.search(pattern, normalize_answer(text)) is not None


@dataclass(frozen=True)
class Score:
    """One question's figures for one system."""

    rank: int  # 0-based rank of the gold sentence; -1 when not ranked
    paragraph_rank: int
    in_answer: bool
    short_stated: bool
    em: float
    f1: float
    cited: int
    cited_correct: int
    gold_cited: bool
    answered: bool
    ms: float


def score(reply: Reply, gold: Gold, paragraph_of: Paragraphs) -> Score:
    rank = next((i for i, s in enumerate(reply.ranked) if holds_answer(s, gold)), -1)
    cited = reply.cited if reply.answered else []
    short = reply.short if reply.answered else ""
    return Score(
        rank=rank,
        paragraph_rank=_paragraph_rank(reply.ranked, gold, paragraph_of),
        in_answer=reply.answered and contains_answer(reply.text, gold),
        short_stated=bool(short),
        em=exact_match(short, gold.answer) if short else 0.0,
        f1=token_f1(short, gold.answer) if short else 0.0,
        cited=len(cited),
        cited_correct=sum(contains_answer(s.text, gold) for s in cited),
        gold_cited=any(holds_answer(s, gold) for s in cited),
        answered=reply.answered,
        ms=reply.ms,
    )


def _paragraph_rank(ranked: Sequence[Sentence], gold: Gold, paragraph_of: Paragraphs) -> int:
    seen: list[tuple[str, int]] = []
    for sentence in ranked:
        key = (sentence.article_id, paragraph_of(sentence.article_id, sentence.start))
        if key not in seen:
            seen.append(key)
    wanted = (gold.article_id, gold.paragraph)
    return seen.index(wanted) if wanted in seen else -1


def summarize(scores: Sequence[Score]) -> dict[str, float]:
    """Per-setting figures in percent (latency in ms): what the report tables show."""
    n = len(scores) or 1
    stated = [s for s in scores if s.short_stated]
    cited = sum(s.cited for s in scores)
    latencies = sorted(s.ms for s in scores)
    return {
        "questions": len(scores),
        "recall@1": 100 * sum(s.rank == 0 for s in scores) / n,
        "recall@5": 100 * sum(0 <= s.rank < 5 for s in scores) / n,
        "mrr": 100 * sum(1 / (s.rank + 1) for s in scores if s.rank >= 0) / n,
        "paragraph_recall@5": 100 * sum(0 <= s.paragraph_rank < 5 for s in scores) / n,
        "answer_has_gold": 100 * sum(s.in_answer for s in scores) / n,
        "short_stated": 100 * len(stated) / n,
        "short_em": 100 * sum(s.em for s in stated) / len(stated) if stated else 0.0,
        "short_f1": 100 * sum(s.f1 for s in stated) / len(stated) if stated else 0.0,
        "citation_precision": 100 * sum(s.cited_correct for s in scores) / cited if cited else 0.0,
        "citation_recall": 100 * sum(s.gold_cited for s in scores) / n,
        "abstained": 100 * sum(not s.answered for s in scores) / n,
        "p50_ms": _percentile(latencies, 0.50),
        "p95_ms": _percentile(latencies, 0.95),
    }


def _percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    return float(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))])
