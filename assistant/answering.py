"""The extractive answerer: question -> evidence sentences -> Answer, with timings.

It checks the question first (empty, too long, no words, unsupported script) and raises
QuestionError with a message that says how to fix it; "the articles do not say" is an Answer
with answered=False, never an exception.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence

from assistant.abstain import Background, EvidenceModel
from assistant.candidates import Candidate
from assistant.compose import compose
from assistant.extract import speakers
from assistant.questions import MAX_QUESTION_CHARS, analyse
from assistant.retrieve import Filters, Retriever
from assistant.types import Answer
from ingest.errors import NewsAssistantError
from ingest.language import detect_language
from ingest.normalize import words
from ingest.store import ArticleStore


class QuestionError(NewsAssistantError):
    """The question cannot be asked as it is."""


def check_question(text: str) -> str:
    """The question stripped, or QuestionError saying what is wrong with it."""
    stripped = text.strip()
    if not stripped:
        raise QuestionError(
            'the question is empty: ask something, e.g. "Who carried out the strike?"'
        )
    if len(stripped) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is {len(stripped):,} characters long; keep it under "
            f"{MAX_QUESTION_CHARS:,} (ask about one thing at a time)"
        )
    if not words(stripped):
        raise QuestionError("the question has no words, only punctuation or symbols: ask in words")
    if not detect_language(stripped):
        raise QuestionError(
            "the question is in a language the assistant does not read: ask in Arabic or English"
        )
    return stripped


class Answerer:
    """Answers questions from one store's sentences; remembers each article's speakers."""

    def __init__(
        self,
        store: ArticleStore,
        retriever: Retriever,
        *,
        model: EvidenceModel | None = None,
        min_confidence: float = 0.5,
    ) -> None:
        self.store = store
        self.retriever = retriever
        self.model = model or EvidenceModel()
        self.min_confidence = min_confidence
        self.background = Background(retriever.embedder)
        self._speakers: OrderedDict[str, list[str]] = OrderedDict()

    def answer(
        self,
        text: str,
        *,
        history: Sequence[str] = (),
        k: int = 8,
        filters: Filters | None = None,
    ) -> Answer:
        started = time.perf_counter()
        question = analyse(check_question(text), list(history))
        vector = self.retriever.embed(question)
        ranked = self.retriever.search(question, filters=filters, vector=vector)
        retrieved = time.perf_counter()
        confidence = self.model.confidence(question, ranked, self.background.similarity(vector))
        answerable = confidence >= self.min_confidence
        answer = compose(question, ranked, self.speaker_of, answerable=answerable, k=k)
        answer.confidence = round(confidence, 3)
        done = time.perf_counter()
        answer.timings = {
            "retrieve_ms": round((retrieved - started) * 1000, 1),
            "compose_ms": round((done - retrieved) * 1000, 1),
            "total_ms": round((done - started) * 1000, 1),
        }
        return answer

    def speaker_of(self, candidate: Candidate) -> str:
        """Who the candidate sentence reports, read in the context of its article."""
        found = self._article_speakers(candidate)
        return found[candidate.sentence_index] if candidate.sentence_index < len(found) else ""

    def _article_speakers(self, candidate: Candidate) -> list[str]:
        version = candidate.id.rsplit(":", 1)[0]  # article id and content hash
        if version in self._speakers:
            self._speakers.move_to_end(version)
            return self._speakers[version]
        article = self.store.get_article(candidate.article_id)
        texts = [article.text[s:e] for s, e in article.sentence_spans] if article else []
        self._speakers[version] = found = speakers(texts)
        if len(self._speakers) > 256:
            self._speakers.popitem(last=False)
        return found


def history_questions(messages: Sequence[dict[str, str]]) -> tuple[str, list[str]]:
    """Split chat messages into (the last user question, earlier user questions)."""
    asked = [m["content"] for m in messages if m.get("role") == "user" and m.get("content")]
    if not asked:
        raise QuestionError("the conversation has no user message to answer")
    return asked[-1], asked[:-1]


__all__ = ["Answerer", "QuestionError", "check_question", "history_questions"]
