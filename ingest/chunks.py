"""Group consecutive whole sentences into chunks that fit a token budget.

Two limits hold for every chunk: the budget in tiktoken tokens, and the embedder's own limit in
model tokens (so nothing is silently truncated). A sentence over the model limit is first split
at clause boundaries (then at spaces) by `fit_sentences`, so every piece keeps exact offsets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.types import Chunk, Sentence
from ingest.tokens import TokenCounter

_CLAUSE_END = re.compile(r"[،,;؛:](?=\s)|\s[-–—]\s")
_SPACE = re.compile(r"\s+")


def fit_sentences(
    text: str, sentences: Sequence[Sentence], *, max_tokens: int, count: TokenCounter
) -> list[Sentence]:
    """Split every sentence longer than `max_tokens` into clause pieces; re-number them all."""
    spans: list[tuple[int, int]] = []
    for sentence in sentences:
        spans.extend(_fit_span(text, sentence.start, sentence.end, max_tokens, count))
    return [Sentence(i, s, e, text[s:e]) for i, (s, e) in enumerate(spans)]


def _fit_span(
    text: str, start: int, end: int, max_tokens: int, count: TokenCounter
) -> list[tuple[int, int]]:
    if end - start <= 1 or count(text[start:end]) <= max_tokens:
        return [(start, end)] if end > start else []  # one character is never split
    cuts = [m.end() for m in _CLAUSE_END.finditer(text, start, end) if start < m.end() < end]
    if not cuts:
        cuts = [m.start() for m in _SPACE.finditer(text, start, end) if start < m.start() < end]
    if not cuts:
        return _split_at(text, start, end, (start + end) // 2, max_tokens, count)
    middle = min(cuts, key=lambda cut: abs(cut - (start + end) / 2))
    return _split_at(text, start, end, middle, max_tokens, count)


def _split_at(
    text: str, start: int, end: int, cut: int, max_tokens: int, count: TokenCounter
) -> list[tuple[int, int]]:
    left_end = cut
    while left_end > start and text[left_end - 1].isspace():
        left_end -= 1
    right_start = cut
    while right_start < end and text[right_start].isspace():
        right_start += 1
    return _fit_span(text, start, left_end, max_tokens, count) + _fit_span(
        text, right_start, end, max_tokens, count
    )


def chunk_sentences(
    text: str,
    sentences: Sequence[Sentence],
    *,
    budget: int,
    count: TokenCounter,
    overlap: int = 1,
    model_limit: int | None = None,
    model_count: TokenCounter | None = None,
) -> list[Chunk]:
    """Pack consecutive sentences into chunks of at most `budget` tokens, `overlap` shared."""
    if budget < 1 or overlap < 0:
        raise ValueError("chunk budget must be >= 1 and overlap >= 0")
    sizes = [count(s.text) + 1 for s in sentences]
    model_sizes = [model_count(s.text) + 1 for s in sentences] if model_count else None
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = _last_fitting(first, sizes, budget, model_sizes, model_limit)
        group = tuple(sentences[first : last + 1])
        start, end = group[0].start, group[-1].end
        chunks.append(Chunk(len(chunks), start, end, text[start:end], group))
        if last == len(sentences) - 1:
            break
        first = max(first + 1, last + 1 - overlap)
    return chunks


def _last_fitting(
    first: int,
    sizes: Sequence[int],
    budget: int,
    model_sizes: Sequence[int] | None,
    model_limit: int | None,
) -> int:
    total, model_total, last = sizes[first], 0, first
    if model_sizes is not None:
        model_total = model_sizes[first]
    while last + 1 < len(sizes):
        total += sizes[last + 1]
        if model_sizes is not None and model_limit is not None:
            model_total += model_sizes[last + 1]
            if model_total > model_limit:
                break
        if total > budget:
            break
        last += 1
    return last
