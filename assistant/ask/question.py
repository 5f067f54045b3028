"""Understand a question once, at the start of the pipeline: check it can be asked (else
QuestionError saying how to fix it), then its language, the kind of answer it wants, its
content words, and how a follow-up borrows context from the conversation before it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import QuestionError
from core.language import detect_language
from core.lexicon import AR_STOPWORDS, EN_STOPWORDS, ar_stem, expand_en
from core.normalize import normalize, strip_marks, words

MAX_QUESTION_CHARS = 2000

_LEAD = r"^\W*(?:(?:and|so|but|then|also)\s+)?"
_KINDS_EN = (
    ("count", re.compile(r"\bhow (many|much)\b|\bwhat (number|toll)\b|\bdeath toll\b")),
    (
        "who",
        re.compile(rf"{_LEAD}(who|whom)\b|\bwhich (group|country|force|side|organi[sz]ation)\b"),
    ),
    ("when", re.compile(rf"{_LEAD}when\b|\bwhat (year|date|day|time)\b|\bwhich (year|day)\b")),
    ("where", re.compile(rf"{_LEAD}where\b|\bwhich (town|city|village|area|region|country)\b")),
)
_KINDS_AR = (
    ("count", re.compile(r"(^|\s)(كم|ما عدد|عدد)(\s|$)|حصيله")),
    ("who", re.compile(r"^\W*(و)?(من|مَن)\s")),
    ("when", re.compile(r"(^|\s)متي(\s|$)|في اي (عام|سنه|يوم|تاريخ)")),
    ("where", re.compile(r"(^|\s)(اين|في اي (مدينه|بلده|منطقه|مكان))(\s|$)")),
)
_NOT_ACTOR_EN = re.compile(
    rf"{_LEAD}(who|whom)\s+(is|are|was|were|did|does|do|has|have|had|will|would|can|could)\b"
)
_NOT_ACTOR_AR = re.compile(r"^\W*(و)?(من|مَن)\s+(هو|هي|هم|كان|كانت)(\s|$)")
_FOLLOW_UP_EN = re.compile(r"^\W*(and|also|what about|how about|then)\b|\b(they|them|it|he|she|"
                           r"his|her|its|their|those|that one)\b")  # fmt: skip
_FOLLOW_UP_AR = re.compile(r"^\W*(و|ماذا عن|وماذا)|(\s|^)(هم|هو|هي|ذلك|تلك|هؤلاء)(\s|$)")


@dataclass(frozen=True)
class Question:
    """A question as the answerer sees it. `search_text` is what retrieval embeds (the question,
    plus the previous question for a follow-up, without Arabic vowel marks: a fully vowelled
    question embeds far from the unvowelled text articles are written in); `terms` are its
    content words, normalised and, for Arabic, stemmed; `ar_terms` adds Arabic stems for
    English words from the lexicon; `exact_terms` are the terms with alef maqsura kept apart
    from ya (same order). A follow-up keeps the `previous` question it leans on, so that its
    answer stays with the article that question was about."""

    text: str
    language: str
    kind: str
    terms: tuple[str, ...]
    ar_terms: tuple[str, ...]
    search_text: str
    exact_terms: tuple[str, ...] = ()
    previous: Question | None = None

    @property
    def search_terms(self) -> tuple[str, ...]:
        """Content words of the search text: the question's, plus a follow-up's context."""
        return content_words(self.search_text)


def read_question(text: str, history: Sequence[str] = ()) -> Question:
    """The checked and analysed question; `history` holds earlier user questions, oldest
    first. Raises QuestionError when it cannot be asked as it is."""
    return analyse(check_question(text), list(history))


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


def history_questions(messages: Sequence[dict[str, str]]) -> tuple[str, list[str]]:
    """Split chat messages into (the last user question, earlier user questions)."""
    asked = [m["content"] for m in messages if m.get("role") == "user" and m.get("content")]
    if not asked:
        raise QuestionError("the conversation has no user message to answer")
    return asked[-1], asked[:-1]


def analyse(text: str, history: list[str] | None = None) -> Question:
    """Analyse `text`; `history` holds earlier user questions, oldest first."""
    language = detect_language(text) or "en"
    search_text = strip_marks(text)
    previous = None
    if history and is_follow_up(text, language):
        search_text = f"{strip_marks(history[-1])} {search_text}"
        previous = analyse(history[-1], history[:-1])
    terms = content_words(text)
    ar_terms = tuple(stem for term in terms for stem in expand_en(term))
    kind = question_kind(text, language)
    exact = content_words(text, fold_ya=False)
    return Question(text, language, kind, terms, ar_terms, search_text, exact, previous)


def question_kind(text: str, language: str) -> str:
    """One of "count", "who", "when", "where", "other"."""
    norm = normalize(text)
    for kind, pattern in _KINDS_AR if language == "ar" else _KINDS_EN:
        if pattern.search(norm):
            return kind
    return "other"


def asks_for_actor(question: Question) -> bool:
    """Does a who-question ask who did its verb ("who carried out the strike?"), rather than
    who someone is ("who was the commander?"), who was acted on ("who was killed?") or an
    object ("who did the army arrest?")?"""
    if question.kind != "who":
        return False
    pattern = _NOT_ACTOR_AR if question.language == "ar" else _NOT_ACTOR_EN
    return not pattern.search(normalize(question.text))


_NAME = re.compile(r"(?<=\s)[A-Z][\w'-]*")


def subject_names(question: Question) -> tuple[str, ...]:
    """The names an English question is about (capitalised words past its first: "Douma" in
    "How many did the Douma strike kill?"), normalised; none for Arabic, which has no case."""
    names = [normalize(m.group()) for m in _NAME.finditer(question.text)]
    return tuple(n for n in names if n not in EN_STOPWORDS)


def content_words(text: str, *, fold_ya: bool = True) -> tuple[str, ...]:
    """Normalised (Arabic: stemmed) words of `text` that are not question words or stopwords.
    `fold_ya=False` gives the same words with alef maqsura kept apart (see `normalize`)."""
    kept = []
    for word, exact in zip(words(text), words(text, fold_ya=False), strict=True):
        skip = 1 if word.startswith("و") and word[1:] in AR_STOPWORDS else 0
        bare = word[skip:]
        if bare in AR_STOPWORDS or bare in EN_STOPWORDS:
            continue
        form = bare if fold_ya else exact[skip:]
        kept.append(ar_stem(form) if detect_language(form) == "ar" else form)
    return tuple(kept)


def is_follow_up(text: str, language: str) -> bool:
    """Does `text` lean on the conversation (starts with "and", uses a pronoun, or is short)?"""
    norm = normalize(text)
    pattern = _FOLLOW_UP_AR if language == "ar" else _FOLLOW_UP_EN
    return bool(pattern.search(norm)) or len(content_words(text)) <= 1
