"""The LLM answerer: a LangChain chat model writes the answer from the selected evidence, shown
to it as numbered sentences under their article's title, source and date, citing them as [n];
the citations become draft markers, and the citation checker (check.py, support.py) keeps only
what the cited sentences carry. Also the follow-up rewriter, which turns "and how many were
injured?" into a question that stands alone, from a bounded part of the conversation."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from assistant.ask.chat_models import backend_errors
from assistant.ask.draft import Claim, Draft, marker
from assistant.ask.extractive import abstain
from assistant.ask.prompts import load_prompt
from assistant.ask.question import Question
from assistant.ask.select import Selection
from core.errors import LLMError
from core.normalize import normalize
from core.settings import LLMSettings
from core.types import SentenceRecord

NO_ANSWER = "NOT IN THE ARTICLES"
LANGUAGES = {"ar": "Arabic", "en": "English"}
MAX_TURN_CHARS = 600  # of each earlier message the rewriter sees
_CITATION = re.compile(r"\[\s*(\d+(?:\s*[,،;-]\s*\d+)*)\s*\]")
_PRIVATE = re.compile("[\ue000-\uf8ff]")  # draft markers are private-use characters
_FENCE = re.compile(r"</?\s*sentences\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Numbered:
    """The evidence as the model sees it: sentence n is `records[n - 1]`."""

    records: tuple[SentenceRecord, ...]
    text: str


def numbered(ranked: Sequence[SentenceRecord]) -> Numbered:
    """The sentences grouped by article (articles in the order of their best sentence, each
    article's sentences in reading order), numbered from 1, one per line under a line naming
    the article's title, source and date. Article text is flattened to one line and cannot
    close the block it is shown in."""
    articles: dict[str, list[SentenceRecord]] = {}
    for record in ranked:
        articles.setdefault(record.article_id, []).append(record)
    records: list[SentenceRecord] = []
    lines: list[str] = []
    for group in articles.values():
        lines.append(_heading(group[0]))
        for record in sorted(group, key=lambda r: r.sentence_index):
            records.append(record)
            lines.append(f"[{len(records)}] {_flat(record.sentence)}")
    return Numbered(tuple(records), "\n".join(lines))


def _heading(record: SentenceRecord) -> str:
    about = ", ".join(_flat(part) for part in (record.source, record.date) if part)
    return f"Article: “{_flat(record.title)}”" + (f" ({about})" if about else "")


def _flat(text: str) -> str:
    return " ".join(_FENCE.sub(" ", _PRIVATE.sub("", text)).split())


def answer_messages(question: Question, shown: Numbered) -> list[BaseMessage]:
    language = LANGUAGES.get(question.language, "English")
    system = load_prompt("answer", "system").render(language=language, no_answer=NO_ANSWER)
    user = load_prompt("answer", "user").render(
        evidence=shown.text, question=_flat(question.text), language=language
    )
    return [SystemMessage(system), HumanMessage(user)]


class LLMAnswerer:
    """Writes answers with a chat model (streamed); see the module docstring."""

    mode = "llm"

    def __init__(self, model: BaseChatModel, settings: LLMSettings | None = None) -> None:
        self.model = model
        self.settings = settings or LLMSettings()

    def draft(self, question: Question, selection: Selection, k: int) -> Draft:
        *_, last = self.stream(question, selection, k)
        assert isinstance(last, Draft)
        return last

    def stream(self, question: Question, selection: Selection, k: int) -> Iterator[str | Draft]:
        """The model's text as it comes, then the draft. Weak evidence is not sent: the
        answer then says the articles do not say, as the extractive one does."""
        ranked = selection.quotable()[:k]
        if not selection.answerable or not ranked:
            yield abstain(question, selection.ranked[:k])
            return
        shown = numbered(ranked)
        parts: list[str] = []
        for text in self._tokens(answer_messages(question, shown)):
            parts.append(text)
            yield text
        yield written_draft("".join(parts), shown, question, ranked)

    def _tokens(self, messages: list[BaseMessage]) -> Iterator[str]:
        try:
            for chunk in self.model.stream(messages):
                if isinstance(chunk.content, str) and chunk.content:
                    yield chunk.content
        except backend_errors() as exc:
            raise unreachable(self.settings, exc) from exc


def unreachable(settings: LLMSettings, exc: BaseException) -> LLMError:
    """The error for a model that did not answer, naming the backend and how to fix it."""
    fix = (
        "is the server running there? (--base-url URL, NEWS_ASSISTANT_ANSWER__LLM__BASE_URL)"
        if settings.backend != "llama"
        else "check the GGUF file (--gguf PATH)"
    )
    return LLMError(f"the language model ({settings.describe()}) did not answer: {exc}; {fix}")


def written_draft(
    reply: str, shown: Numbered, question: Question, ranked: Sequence[SentenceRecord]
) -> Draft:
    """The model's reply as a draft: each [n] a marker of the claim resting on sentence n
    (numbers it was not given become markers without a claim, which the checker drops); a
    reply saying the evidence does not answer becomes "the articles do not say"."""
    reply = _PRIVATE.sub("", reply).strip()
    if not reply or normalize(NO_ANSWER) in normalize(reply)[: len(NO_ANSWER) + 20]:
        return abstain(question, ranked)
    cited: set[int] = set()

    def markers(match: re.Match[str]) -> str:
        numbers = _cited_numbers(match.group(1))
        cited.update(numbers)
        return "".join(marker(n) for n in numbers)

    text = _CITATION.sub(markers, reply)
    claims = tuple(
        Claim(n, shown.records[n - 1].id, "") for n in sorted(cited) if 1 <= n <= len(shown.records)
    )
    return Draft(text, claims, answered=True, written=True)


def _cited_numbers(listed: str) -> list[int]:
    """ "2, 3" -> [2, 3]; "2-4" -> [2, 3, 4]."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,،;]\s*", listed):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        numbers += list(range(first, min(last, first + 20) + 1))
    return numbers


class FollowUpRewriter:
    """Rewrites a follow-up into a question that stands alone, with the chat model, from the
    last `max_history_turns` exchanges (each message cut to MAX_TURN_CHARS)."""

    def __init__(self, model: BaseChatModel, settings: LLMSettings | None = None) -> None:
        self.model = model
        self.settings = settings or LLMSettings()

    def rewrite(self, question: Question, turns: Sequence[dict[str, str]]) -> str:
        """The standalone form of `question`; the question itself when there is no history
        or the model's reply is empty."""
        recent = bounded(turns, self.settings.max_history_turns)
        if not recent:
            return question.text
        language = LANGUAGES.get(question.language, "English")
        messages = [
            SystemMessage(load_prompt("rewrite", "system").render(language=language)),
            HumanMessage(
                load_prompt("rewrite", "user").render(history=recent, question=_flat(question.text))
            ),
        ]
        try:
            reply = self.model.invoke(messages).content
        except backend_errors() as exc:
            raise unreachable(self.settings, exc) from exc
        lines = [line for line in str(reply).strip().splitlines() if line.strip()]
        rewritten = lines[0].strip().strip("\"'«»“”") if lines else ""
        too_long = len(rewritten) > 3 * len(question.text) + 200
        return question.text if not rewritten or too_long else rewritten


def bounded(turns: Sequence[dict[str, str]], max_turns: int) -> str:
    """The last `max_turns` exchanges as "User: ..." / "Assistant: ..." lines."""
    kept = list(turns)[-2 * max_turns :] if max_turns else []
    names = {"user": "User", "assistant": "Assistant"}
    return "\n".join(
        f"{names[t['role']]}: {_flat(t['content'])[:MAX_TURN_CHARS]}"
        for t in kept
        if t.get("role") in names and t.get("content")
    )
