"""The record and result types every part shares: an `Article` and the `Sentence`s and
`Chunk`s it is cut into, one stored sentence with its article's metadata and scores
(`SentenceRecord`), the filters a question can carry, and the one result type every front end
uses, an `Answer` with its `Citation`s and `Evidence`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

_DATE = re.compile(r"\s*(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?")
OPEN_END = 99999999  # the date_ord of an unknown end of a range


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Article:
    """One news article: its text exactly as loaded, plus metadata that travels with every sentence.

    `text` is never altered after loading: every sentence offset points into it.
    `id` is stable across edits of the text (explicit id, else url, else where it was loaded
    from, else a hash of the content); `content_hash` changes whenever text or metadata change.
    """

    id: str
    title: str
    text: str
    url: str = ""
    source: str = ""
    date: str = ""
    author: str = ""
    language: str = ""
    origin: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def content_hash(self) -> str:
        parts = [
            self.title,
            self.text,
            self.url,
            self.source,
            self.date,
            self.author,
            self.language,
        ]
        return sha256_hex("\x1f".join(parts))


@dataclass(frozen=True)
class Sentence:
    """One sentence of an article: `article_text[start:end] == text`, always."""

    index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Chunk:
    """Consecutive sentences of one article; `text` is `article_text[start:end]`, verbatim."""

    index: int
    start: int
    end: int
    text: str
    sentences: tuple[Sentence, ...]


@dataclass(frozen=True)
class SentenceRecord:
    """One stored sentence of one article, verbatim (`sentence`), with its article's metadata,
    the speaker read at ingestion, and the scores retrieval gave it: `dense` its cosine
    similarity to the question (what abstention is decided on), `baseline` the level its
    language's candidates reach for the question (retrieve.language_levels; so `margin`,
    dense over baseline, compares sentences of different languages), `lexical` its BM25 score,
    `chunk` the similarity of the best chunk holding it, `score` the fused ranking score; a
    sentence the reader read has `has_answer` (its probability of answering the question, -1
    when not read) and the span `sentence[answer_start:answer_end]` it points out."""

    id: str
    article_id: str
    title: str
    source: str
    url: str
    date: str
    language: str
    sentence_index: int
    start: int
    end: int
    sentence: str
    speaker: str = ""
    dense: float = 0.0
    baseline: float = 0.0
    lexical: float = 0.0
    chunk: float = 0.0
    score: float = 0.0
    has_answer: float = -1.0
    answer_start: int = -1
    answer_end: int = -1

    @property
    def key(self) -> tuple[str, int]:
        """(article id, sentence index): the sentence, whichever version of the article."""
        return (self.article_id, self.sentence_index)

    @property
    def margin(self) -> float:
        """How far the sentence's similarity stands above its language's level."""
        return self.dense - self.baseline

    def scored(self, **scores: float) -> SentenceRecord:
        return replace(self, **scores)  # type: ignore[arg-type]

    @property
    def answer_span(self) -> str:
        """The part the reader points out ("" when it did not read the sentence)."""
        return self.sentence[self.answer_start : self.answer_end] if self.has_answer >= 0 else ""

    def record_fields(self) -> dict[str, Any]:
        """This record's own fields (not those a subclass adds), for building a view of it."""
        return {f.name: getattr(self, f.name) for f in fields(SentenceRecord)}


@dataclass(frozen=True)
class Citation(SentenceRecord):
    """One cited source sentence; `number` is the [n] marker used in the answer, `speaker`
    who the answer says said it ("" when the answer does not attribute it), and
    `sentence[part_start:part_end]` the part of it the answer quotes when that is one piece
    shorter than the sentence (-1, -1 otherwise), for front ends to point it out."""

    number: int = field(default=0, kw_only=True)
    part_start: int = field(default=-1, kw_only=True)
    part_end: int = field(default=-1, kw_only=True)


@dataclass(frozen=True)
class Evidence(SentenceRecord):
    """A sentence the answerer considered (cited or not), best first."""

    cited: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class Unsupported:
    """A sentence of a model-written answer that its sources do not carry, removed from the
    answer: the sentence as written and why (e.g. 'the number 54 is in no sentence it
    cites')."""

    text: str
    reason: str


@dataclass
class Answer:
    """What `Assistant.ask` returns. `answered` is False when the articles do not say; then
    `text` says so and `evidence` still shows the nearest sentences. `mode` is how the text
    was written ("extractive" or "llm"); `unsupported` lists the sentences a model wrote that
    its sources did not carry (removed from `text`); `notes` say what else the reader should
    know (a model that could not be reached and the extractive answer given instead)."""

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
    mode: str = "extractive"
    unsupported: list[Unsupported] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Filters:
    """What a question may be limited to: a source (any case), an article id, a date range
    (ISO dates, inclusive), the articles' language ("ar", "en"). The store turns them into its
    own query; `allows` applies them in memory."""

    source: str | None = None
    article_id: str | None = None
    since: str | None = None
    until: str | None = None
    language: str | None = None

    def __bool__(self) -> bool:
        return bool(self.source or self.article_id or self.since or self.until or self.language)

    def allows(self, record: SentenceRecord) -> bool:
        day = date_ord(record.date)
        return (
            (not self.source or record.source.casefold() == self.source.casefold())
            and (not self.article_id or record.article_id == self.article_id)
            and (not self.language or record.language == self.language)
            and (not self.since or day >= date_ord(self.since))
            and (not self.until or day <= (date_ord(self.until) or OPEN_END))
        )


def date_ord(date: str) -> int:
    """`date` as the int YYYYMMDD (0 = unknown), the form stores compare dates in.

    A missing month or day counts as 00, so "2024" -> 20240000 and "2024-03" -> 20240300.
    """
    match = _DATE.match(date)
    if not match:
        return 0
    year, month, day = (int(part or 0) for part in match.groups())
    return year * 10000 + month * 100 + day
