"""What an answerer writes: a draft whose text marks each claim, and the claims, each resting on
one given sentence (by id) with the verbatim part of it stated. The citation checker turns a
draft into the `Answer` (check.py); an answerer never builds citations itself.

Markers in a draft's text are `marker(n)`, a form no article text holds (private-use
characters), so a quote that contains "[7]" is never taken for a citation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from assistant.ask.question import Question
from assistant.ask.select import Selection
from core.spans import PIECES

MARKER = re.compile("\ue000([0-9]+)\ue001")


def marker(n: int) -> str:
    """The draft marker of claim `n` (rendered as "[n]" once checked)."""
    return f"\ue000{n}\ue001"


@dataclass(frozen=True)
class Claim:
    """One claim: its marker number in the draft text, the id of the sentence it rests on, the
    part of that sentence stated (pieces joined by PIECES, each verbatim), and who said it
    ("" when the answer does not attribute it)."""

    marker: int
    sentence_id: str
    part: str
    speaker: str = ""


@dataclass(frozen=True)
class Draft:
    """An answer before its citations are checked; `answered` is False for "the articles do
    not say" (the claims then point at the nearest sentences). A `written` draft is a model's
    own words: its claims have no verbatim part, and the checker screens each of its sentences
    against the sentences it cites (support.py)."""

    text: str
    claims: tuple[Claim, ...]
    answered: bool
    short_answer: str = ""
    written: bool = False


class Answerer(Protocol):
    """Writes the draft answer to a question from the selected evidence."""

    def draft(self, question: Question, selection: Selection, k: int) -> Draft:
        """`k` is how many evidence sentences the answer shows."""
        ...


@runtime_checkable
class StreamingAnswerer(Answerer, Protocol):
    """An answerer that can show its answer while writing it: `stream` yields the text as it
    comes, then the Draft last."""

    def stream(self, question: Question, selection: Selection, k: int) -> Iterator[str | Draft]: ...


def pieces(part: str) -> Sequence[str]:
    """The verbatim pieces of a claim's part."""
    return part.split(PIECES)
