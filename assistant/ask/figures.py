"""Figures in a sentence and what they count ("أكثر من 30 شخصاً", "28 مدنياً"), the ones about
a question's terms, and the time phrase that dates a figure about an earlier event. Used to
rank (a count question wants a sentence with a figure) and to answer (the figure stated)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.lexicon import (
    AR_NUMBER_WORDS,
    AR_QUALIFIERS,
    AR_STOPWORDS,
    EN_NUMBER_WORDS,
    EN_QUALIFIERS,
    EN_STOPWORDS,
    stem_match,
)
from core.normalize import normalize
from core.spans import CLAUSE_STOP, PIECES, Span, Token, matches, span, tokens

_DIGITS = re.compile(r"^[0-9٠-٩]+(?:[.,٫][0-9٠-٩]+)?(?:bn|mn|m|k|km|kg|mw|gw)?$")
_CURRENCY = ("US$", "£", "$", "€", "¥")  # written before a figure: they belong to it
_PERCENT = ("%", "٪")
_NOT_COUNTED = AR_STOPWORDS | EN_STOPWORDS  # "1,400 as", "76% to": no noun is counted
_YEAR = re.compile(r"^(1[89]|20)\d\d$")


@dataclass(frozen=True)
class Figure:
    """A number in a sentence with the noun it counts: "أكثر من 30 شخصاً", "28 مدنياً"."""

    span: Span
    number: Span
    counted: str


def figures(sentence: str) -> list[Figure]:
    """Every count-like number in `sentence` (years excluded), with qualifier and noun."""
    toks = tokens(sentence)
    found = []
    for i, tok in enumerate(toks):
        if not _is_number(tok) or _YEAR.match(tok.norm) or is_reference(sentence, tok):
            continue
        start = _qualifier_start(sentence, toks, i)
        end, counted = _counted_noun(sentence, toks, i)
        number_start = tok.start + (
            1 if tok.norm.startswith("و") and tok.norm[1:2].isdigit() else 0
        )
        start = max(start, number_start) if start == tok.start else start
        sign = next((c for c in _CURRENCY if sentence[:number_start].endswith(c)), "")
        number_start -= len(sign)
        start = min(start, number_start)
        found.append(
            Figure(span(sentence, start, end), span(sentence, number_start, tok.end), counted)
        )
    return found


def is_reference(sentence: str, tok: Token) -> bool:
    """Is the token a bracketed citation marker, as in "copper[7][8]" or "2][3]"?"""
    return sentence[tok.start - 1 : tok.start] == "[" or sentence[tok.end : tok.end + 1] == "]"


REFERENCES = re.compile(r"\s*(?:\[\d+\]|\d+\]|\[\d+)+\s*")


def without_references(part: str) -> str:
    """`part` with bracketed citation markers taken out: trimmed at its ends, and inner ones
    replaced by the " … " that joins verbatim pieces (so every piece is still verbatim)."""
    pieces = [piece for piece in REFERENCES.split(part) if piece.strip()]
    return PIECES.join(piece.strip() for piece in pieces) if pieces else part


def _is_number(tok: Token) -> bool:
    bare = tok.norm[1:] if tok.norm.startswith("و") and len(tok.norm) > 1 else tok.norm
    return bool(_DIGITS.match(bare)) or bare in AR_NUMBER_WORDS or tok.norm in EN_NUMBER_WORDS


def _qualifier_start(sentence: str, toks: list[Token], i: int) -> int:
    before = normalize(sentence[max(0, toks[i].start - 20) : toks[i].start])
    for qualifier in (*AR_QUALIFIERS, *EN_QUALIFIERS):
        if before.endswith(qualifier):
            raw_start = max(0, toks[i].start - 20)
            words_back = len(qualifier.split())
            return toks[max(0, i - words_back)].start if i >= words_back else raw_start
    return toks[i].start


def _counted_noun(sentence: str, toks: list[Token], i: int) -> tuple[int, str]:
    """Where the figure ends and what it counts: the word right after the number (not a
    function word), else a percent sign ("76%") or nothing."""
    end = toks[i].end
    percent = sentence[end : end + 1] in _PERCENT
    if i + 1 < len(toks) and toks[i + 1].start - end <= 2:
        nxt = toks[i + 1]
        if not _is_number(nxt) and nxt.norm not in _NOT_COUNTED:
            return nxt.end, nxt.norm
    return (end + 1, "%") if percent else (end, "")


NEAR_TERM = 3  # words between a figure and a question term for the figure to be about it


def relevant_figures(sentence: str, stems: Sequence[str]) -> list[Figure]:
    """Figures whose counted noun matches the question's terms; failing that, figures within
    NEAR_TERM words of one of the terms, in the same clause ("30 people were killed" for "how
    many died?")."""
    all_figures = [f for f in figures(sentence) if f.counted]
    direct = [f for f in all_figures if any(stem_match(f.counted, s) for s in stems)]
    if direct:
        return direct
    terms = [tok for tok in tokens(sentence) if matches(tok, stems)]
    return [f for f in all_figures if any(_near(sentence, f.span, term) for term in terms)]


def nearest_figure(sentence: str, stems: Sequence[str]) -> list[Figure]:
    """The figure (counted or not) fewest words away from one of the terms, as a list of one;
    [] when the sentence holds no figure or none of the terms."""
    terms = [tok for tok in tokens(sentence) if matches(tok, stems)]
    found = figures(sentence)
    if not terms or not found:
        return []
    return [min(found, key=lambda f: min(_words_between(sentence, f.span, t) for t in terms))]


def _words_between(sentence: str, span: Span, term: Token) -> int:
    start, end = (span.end, term.start) if span.end <= term.start else (term.end, span.start)
    return len(sentence[start:end].split()) if start <= end else 0


def _near(sentence: str, span: Span, term: Token) -> bool:
    start, end = (span.end, term.start) if span.end <= term.start else (term.end, span.start)
    between = sentence[start:end] if start <= end else ""
    return len(between.split()) <= NEAR_TERM and not CLAUSE_STOP.search(between)


_PAST = re.compile(
    r"(?:أواخر |أوائل |منتصف |في )?(?:يناير|فبراير|مارس|أبريل|مايو|يونيو|يوليو|أغسطس|سبتمبر|"
    r"أكتوبر|نوفمبر|ديسمبر|كانون|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|تشرين)"
    r"(?:/\w+)?(?: (?:الماضي|الفائت|من العام الماضي))?|"
    r"\b(?:(?:early|late|mid|in) )?(?:January|February|March|April|May|June|July|August|"
    r"September|October|November|December)(?: \d{4})?\b|\blast (?:week|month|year)\b"
)


def past_time(sentence: str) -> Span | None:
    """A month or "last week/month/year" phrase in the sentence, verbatim: said with a figure
    so that a figure about an earlier event is not read as one about this one."""
    match = _PAST.search(sentence)
    return span(sentence, match.start(), match.end()) if match else None
