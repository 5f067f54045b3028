"""Split article text into sentences with exact character offsets (Arabic and English).

A sentence ends at . ! ? ؟ … (and runs of them) followed by a space, a line end or the text's
end, and always at a line break. It does not end inside a quotation that is opened and later
closed on the same line, after a decimal point (3.5), after a common abbreviation (Mr., U.S.,
د.) or a single initial (J. Smith), or at a list number opening a line ("1. ").
Closing quotes and brackets after the end mark belong to the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from core.types import Sentence

_END_MARKS = ".!?؟…"
_CLOSERS = "\"'”’»)]}›"
_OPENERS_BEFORE_QUOTE = "([{:«“‘-—–/"
_AFTER_CLOSE = ".,;:!?؟،؛)]}…"
_QUOTE_PAIRS = {"«": "»", "“": "”", "‹": "›"}
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st vs etc e.g i.e u.s u.k u.n inc ltd co corp gen col lt sgt
    capt gov sen rep no nos fig jan feb mar apr jun jul aug sep sept oct nov dec mt ft approx
    dept est a.m p.m al د م ه هـ ص ج ق.م أ ش أ.د ص.ب""".split()
)
_END_RUN = re.compile(r"[.!?؟…]+")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064A]")


def split_sentences(text: str) -> list[Sentence]:
    """Return the sentences of `text` in order, each with offsets into `text`."""
    spans: list[tuple[int, int]] = []
    for line_start, line_end in _lines(text):
        spans.extend(_line_sentences(text, line_start, line_end))
    return [Sentence(i, s, e, text[s:e]) for i, (s, e) in enumerate(spans)]


def _lines(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for match in re.finditer(r"\r\n|\r|\n|\u2029|\u2028", text):
        yield start, match.start()
        start = match.end()
    yield start, len(text)


def _line_sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    quoted = _quoted_spans(text, start, end)
    cut = start
    for match in _END_RUN.finditer(text, start, end):
        stop = _extend_closers(text, match.end(), end)
        if _is_boundary(text, match.start(), stop, end, quoted, cut):
            yield from _trimmed(text, cut, stop)
            cut = stop
    yield from _trimmed(text, cut, end)


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end and any(ch.isalnum() for ch in text[start:end]):
        yield start, end


def _extend_closers(text: str, pos: int, end: int) -> int:
    while pos < end and text[pos] in _CLOSERS:
        pos += 1
    return pos


def _is_boundary(
    text: str, mark: int, stop: int, end: int, quoted: list[tuple[int, int]], cut: int
) -> bool:
    if stop < end and not _space_or_arabic(text[stop]):
        return False
    if any(q_start < mark < q_end for q_start, q_end in quoted):
        return False
    if text[mark] == "." and stop == mark + 1:
        return not (_decimal(text, mark, end) or _abbreviation(text, mark, cut))
    return True


def _space_or_arabic(ch: str) -> bool:
    return ch.isspace() or bool(_ARABIC_LETTER.match(ch))


def _decimal(text: str, mark: int, end: int) -> bool:
    return mark > 0 and text[mark - 1].isdigit() and mark + 1 < end and text[mark + 1].isdigit()


def _abbreviation(text: str, mark: int, cut: int) -> bool:
    word_start = mark
    while word_start > cut and not text[word_start - 1].isspace() and text[word_start - 1] != '"':
        word_start -= 1
    word = text[word_start:mark].lstrip("(«“")
    if word.casefold() in _ABBREVIATIONS or _dotted_abbreviation(text, word_start, mark):
        return True
    if len(word) == 1 and word.isupper():
        return True
    return word.isdigit() and not text[cut:word_start].strip()


def _dotted_abbreviation(text: str, word_start: int, mark: int) -> bool:
    """Is the dot at `mark` inside a listed abbreviation written with dots, like ق.م (BC)?"""
    token_end = mark + 1
    while token_end < len(text) and not text[token_end].isspace() and text[token_end] not in "،,;:":
        token_end += 1
    token = text[word_start:token_end].lstrip("(«“").rstrip(".)»”")
    return "." in token and token.casefold() in _ABBREVIATIONS


def _quoted_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Pairs of quote positions on one line; a quote never closed on the line is ignored."""
    spans: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []
    for pos in range(start, end):
        ch = text[pos]
        if ch in _QUOTE_PAIRS:
            stack.append((_QUOTE_PAIRS[ch], pos))
        elif ch in _QUOTE_PAIRS.values() or ch == '"':
            _close_or_open(text, pos, start, end, stack, spans)
    return spans


def _close_or_open(
    text: str,
    pos: int,
    start: int,
    end: int,
    stack: list[tuple[str, int]],
    spans: list[tuple[int, int]],
) -> None:
    ch = text[pos]
    closing = _is_closing(text, pos, start, end, open_quote=any(q == ch for q, _ in stack))
    if closing:
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth][0] == ch:
                spans.append((stack[depth][1], pos))
                del stack[depth:]
                return
    if ch == '"':
        stack.append(('"', pos))


def _is_closing(text: str, pos: int, start: int, end: int, *, open_quote: bool) -> bool:
    if text[pos] != '"':
        return True
    before = text[pos - 1] if pos > start else " "
    after = text[pos + 1] if pos + 1 < end else " "
    space_before = before.isspace() or before in _OPENERS_BEFORE_QUOTE
    space_after = after.isspace() or after in _AFTER_CLOSE
    if space_before != space_after:
        return space_after
    return open_quote
