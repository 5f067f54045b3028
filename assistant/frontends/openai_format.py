"""An Answer in OpenAI's chat-completions shapes (pure functions, no web framework): the
assistant message is Markdown (the answer with its [n] markers, then a Sources block), and the
structured citations ride along in extra fields (`citations`, `answered`) that OpenAI clients
keep (the openai client's `model_extra`). Streams are OpenAI's chunk objects as server-sent
events, ending with `[DONE]`.

A stream is built from any iterable of text pieces: today the checked answer cut into pieces
(`text_pieces`); a model's token stream can feed the same `stream_chunks` later."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from core.types import Answer, Citation
from ingest.tokens import tiktoken_counter

MODEL = "news-assistant"
LLM_MODEL = "news-assistant-llm"
OWNER = "news-assistant"
PIECE_CHARS = 24  # about what a model's token stream sends per chunk, a few words


def model_name(settings: Any) -> str:
    """The model the server offers: "news-assistant-llm" when an LLM writes the answers
    (`answer.mode == "llm"`), else "news-assistant" (extractive)."""
    mode = getattr(getattr(settings, "answer", None), "mode", "extractive")
    return LLM_MODEL if mode == "llm" else MODEL


def models_list(name: str, created: int) -> dict[str, Any]:
    """`GET /v1/models`."""
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": created, "owned_by": OWNER}],
    }


def answer_markdown(answer: Answer) -> str:
    """The answer as the assistant message: its text, then its sources numbered as the
    markers are ("Nearest sentences" when the articles do not say)."""
    if not answer.citations:
        return answer.text
    heading = "Sources" if answer.answered else "Nearest sentences"
    lines = [source_line(c) for c in answer.citations]
    return f"{answer.text}\n\n**{heading}**\n\n" + "\n".join(lines)


def source_line(c: Citation) -> str:
    """`[1] Title — Source, 2018-06-29: “the sentence”` (one Markdown list line)."""
    where = ", ".join(part for part in (c.source, c.date) if part)
    title = _inline(c.title) + (f" — {_inline(where)}" if where else "")
    return f"- [{c.number}] {title}: “{_inline(c.sentence)}”"


def _inline(text: str) -> str:
    """Text kept on one Markdown line (a stored sentence never holds a line break, a title
    might)."""
    return re.sub(r"\s*\n\s*", " ", text).strip()


def citations_json(answer: Answer) -> list[dict[str, Any]]:
    return [asdict(c) for c in answer.citations]


@dataclass(frozen=True)
class Reply:
    """What every chunk and the completion of one reply share."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}


def extras(answer: Answer) -> dict[str, Any]:
    """This server's additions to a completion (and to a stream's last chunk)."""
    return {"answered": answer.answered, "citations": citations_json(answer)}


def completion(
    reply: Reply, answer: Answer, prompt: Iterable[str], content: str | None = None
) -> dict[str, Any]:
    """A `chat.completion` object for `answer` (`content`: its Markdown unless given);
    `prompt` holds the messages' texts, for the token counts."""
    content = answer_markdown(answer) if content is None else content
    message = {"role": "assistant", "content": content, "refusal": None}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    usage = token_usage(prompt, content)
    return reply.head("chat.completion") | {"choices": [choice], "usage": usage} | extras(answer)


def token_usage(prompt: Iterable[str], content: str) -> dict[str, int]:
    """Token counts in OpenAI's cl100k encoding (what clients budget with)."""
    count = tiktoken_counter()
    asked, said = sum(count(text) for text in prompt), count(content)
    return {"prompt_tokens": asked, "completion_tokens": said, "total_tokens": asked + said}


def text_pieces(text: str, size: int = PIECE_CHARS) -> Iterator[str]:
    """`text` in pieces of whole words (with the spaces after them) of about `size`
    characters; joined they give `text` back exactly."""
    piece = ""
    for word in re.findall(r"\S+\s*|\s+", text):
        piece += word
        if len(piece) >= size:
            yield piece
            piece = ""
    if piece:
        yield piece


def stream_chunks(
    reply: Reply, pieces: Iterable[str], ending: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    """`chat.completion.chunk` objects: the role, one per text piece, then the finish with
    `ending` (this server's extra fields) merged into the last chunk."""
    yield _chunk(reply, {"role": "assistant", "content": ""})
    for piece in pieces:
        yield _chunk(reply, {"content": piece})
    yield _chunk(reply, {}, finish_reason="stop") | dict(ending)


def _chunk(reply: Reply, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return reply.head("chat.completion.chunk") | {"choices": [choice]}


def server_sent_events(events: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """Each event as an SSE `data:` line, then OpenAI's `data: [DONE]`."""
    for event in events:
        yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"
