"""The JSON bodies the server reads: a question's filters, `POST /api/ask`, and OpenAI's chat
request (`POST /v1/chat/completions`). Fields OpenAI clients send that an extractive answer
has no use for (temperature, max_tokens, ...) are accepted and ignored."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.types import Filters


class FilterFields(BaseModel):
    """What a question may be limited to (all optional; dates YYYY-MM-DD, inclusive)."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(None, description="Only articles from this source (any case).")
    article_id: str | None = Field(None, description="Only this article.")
    since: date | None = Field(None, description="Only articles dated on or after this day.")
    until: date | None = Field(None, description="Only articles dated on or before this day.")

    @model_validator(mode="after")
    def _in_order(self) -> FilterFields:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until}): swap them")
        return self

    def filters(self) -> Filters | None:
        found = Filters(
            source=self.source or None,
            article_id=self.article_id or None,
            since=self.since.isoformat() if self.since else None,
            until=self.until.isoformat() if self.until else None,
        )
        return found or None


class AskBody(BaseModel):
    """`POST /api/ask`: a question, how many evidence sentences, filters, earlier questions."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description='e.g. "Who carried out the strike?"')
    k: int | None = Field(None, ge=1, le=50, description="Evidence sentences (default: settings).")
    filters: FilterFields | None = None
    history: list[str] = Field(default_factory=list, description="Earlier questions, oldest first.")


class TextPart(BaseModel):
    """One part of a message's content given as a list (OpenAI's content parts)."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatBody(BaseModel):
    """OpenAI's chat request; `k` and `filters` are this server's own additions (the openai
    client sends them with `extra_body`)."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="One answer per request.")
    k: int | None = Field(None, ge=1, le=50)
    filters: FilterFields | None = None

    def conversation(self) -> list[dict[str, str]]:
        """The user and assistant messages as `Assistant.chat` reads them (the last user
        message is the question; system prompts have no say in an extractive answer)."""
        said = (m for m in self.messages if m.role in ("user", "assistant"))
        return [{"role": m.role, "content": m.text()} for m in said]
