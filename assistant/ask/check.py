"""Citation checking: the only way from a draft to an `Answer`. A marker must point at a claim,
a claim at a sentence the answerer was given, and every piece of a claim's part must occur
verbatim in that sentence; markers that fail are dropped, with their claims. Markers are then
numbered [1], [2], ... in the order they first appear, and each becomes one `Citation`. A
model-written draft is screened first: each of its sentences must cite a given sentence that
carries its numbers, quotes and names (support.py); the others are removed and listed in the
Answer's `unsupported`."""

from __future__ import annotations

import re
from typing import Protocol

from assistant.ask.draft import MARKER, Claim, Draft, pieces
from assistant.ask.question import Question
from assistant.ask.select import Selection
from assistant.ask.support import screen
from core.types import Answer, Citation, Evidence, SentenceRecord, Unsupported


class CitationChecker(Protocol):
    """Turns a draft into the Answer, keeping only what its sources carry."""

    def check(self, question: Question, draft: Draft, selection: Selection, k: int) -> Answer: ...


class MarkerChecker:
    """Checks markers and verbatim parts against the given sentences, then renumbers."""

    def check(self, question: Question, draft: Draft, selection: Selection, k: int) -> Answer:
        given = {r.id: r for r in selection.ranked}
        claims = {c.marker: c for c in draft.claims if _supported(c, given)}
        text, unsupported = draft.text, list[Unsupported]()
        if draft.written:
            text, unsupported = screen(draft.text, claims, given)
        order = _first_appearances(text, claims)
        numbers = {old: new for new, old in enumerate(order, 1)}
        text = MARKER.sub(lambda m: _render(m, numbers), text)
        citations = [_citation(given, claims[old], numbers[old]) for old in order]
        cited = {c.key for c in citations} if draft.answered else set()
        return Answer(
            question=question.text,
            text=text,
            answered=draft.answered,
            citations=citations,
            evidence=[_evidence(r, r.key in cited) for r in selection.ranked[:k]],
            language="ar" if question.language == "ar" else "en",
            kind=question.kind,
            short_answer=draft.short_answer,
            unsupported=unsupported,
        )


def _supported(claim: Claim, given: dict[str, SentenceRecord]) -> bool:
    record = given.get(claim.sentence_id)
    return record is not None and all(p in record.sentence for p in pieces(claim.part))


def _first_appearances(text: str, claims: dict[int, Claim]) -> list[int]:
    order: list[int] = []
    for match in MARKER.finditer(text):
        n = int(match.group(1))
        if n in claims and n not in order:
            order.append(n)
    return order


def _render(match: re.Match[str], numbers: dict[int, int]) -> str:
    n = numbers.get(int(match.group(1)))
    return f"[{n}]" if n is not None else ""


def _citation(given: dict[str, SentenceRecord], claim: Claim, number: int) -> Citation:
    record = given[claim.sentence_id]
    fields = record.record_fields()
    start, end = _quoted(record.sentence, claim.part)
    return Citation(
        **{**fields, "speaker": claim.speaker}, number=number, part_start=start, part_end=end
    )


def _quoted(sentence: str, part: str) -> tuple[int, int]:
    """Where a one-piece part shorter than the sentence lies in it; (-1, -1) otherwise."""
    found = pieces(part)
    at = sentence.find(part) if len(found) == 1 and part != sentence else -1
    return (at, at + len(part)) if at >= 0 and part.strip() else (-1, -1)


def _evidence(record: SentenceRecord, cited: bool) -> Evidence:
    return Evidence(**{**record.record_fields(), "score": round(record.score, 4)}, cited=cited)
