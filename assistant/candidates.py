"""A sentence that retrieval proposes as evidence, with its scores and its article's metadata."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Candidate:
    """One sentence of one stored article. `score` is the fused ranking score; `dense` its
    cosine similarity to the question (what abstention is decided on)."""

    id: str
    article_id: str
    sentence_index: int
    start: int
    end: int
    text: str
    title: str
    source: str
    url: str
    date: str
    language: str
    dense: float = 0.0
    lexical: float = 0.0
    chunk: float = 0.0
    score: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        return (self.article_id, self.sentence_index)

    def scored(self, **scores: float) -> Candidate:
        return replace(self, **scores)  # type: ignore[arg-type]
