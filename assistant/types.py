"""The one result type every front end uses: an Answer with its Citations and Evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """One cited source sentence, verbatim; `number` is the [n] marker used in the answer."""

    number: int
    article_id: str
    title: str
    source: str
    url: str
    date: str
    sentence_index: int
    start: int
    end: int
    sentence: str
    speaker: str = ""


@dataclass(frozen=True)
class Evidence:
    """A sentence the answerer considered, with its retrieval score (cited or not)."""

    article_id: str
    title: str
    source: str
    date: str
    sentence_index: int
    start: int
    end: int
    sentence: str
    score: float
    cited: bool = False


@dataclass
class Answer:
    """What `Assistant.ask` returns. `answered` is False when the articles do not say; then
    `text` says so and `evidence` still shows the nearest sentences."""

    question: str
    text: str
    answered: bool
    citations: list[Citation] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    language: str = "en"
    kind: str = "other"
    short_answer: str = ""
    confidence: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
