"""Word tokens of a sentence with their offsets, and spans of it: what the answer rules and
the speaker rules point at. Every span is verbatim: `sentence[start:end] == text`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.lexicon import stem_match
from core.normalize import normalize

_TOKEN = re.compile(r"[\w\u0640\u064B-\u065F\u0670]+(?:[.,٫][0-9٠-٩]+)?")
CLAUSE_STOP = re.compile(r"[،,.;؛:!?؟()]")
PIECES = " … "  # verbatim pieces of one sentence stated together are joined by this


@dataclass(frozen=True)
class Span:
    """`sentence[start:end] == text`."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str
    norm: str


def tokens(sentence: str) -> list[Token]:
    return [
        Token(m.start(), m.end(), m.group(), normalize(m.group()))
        for m in _TOKEN.finditer(sentence)
    ]


def span(sentence: str, start: int, end: int) -> Span:
    return Span(start, end, sentence[start:end])


def matches(token: Token, stems: Sequence[str]) -> bool:
    return any(stem_match(token.norm, stem) for stem in stems)


def clause_break(sentence: str, toks: list[Token], k: int) -> bool:
    """Is there clause punctuation between token k - 1 and token k?"""
    return bool(CLAUSE_STOP.search(sentence[toks[k - 1].end : toks[k].start]))
