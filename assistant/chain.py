"""LangChain faces of the assistant: a retriever that returns one Document per evidence
sentence (with its citation metadata), and the answer pipeline as a Runnable, so users can
compose them with the rest of LangChain."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import ConfigDict

from assistant.ask.question import read_question
from core.types import Answer, Filters

if TYPE_CHECKING:
    from assistant.api import Assistant


class NewsRetriever(BaseRetriever):
    """Hybrid (dense + BM25) sentence retrieval over the assistant's store."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    assistant: Any
    k: int = 8
    filters: Filters | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        ranked = self.assistant.pipeline().rank(read_question(query), self.filters)
        return [
            Document(
                page_content=r.sentence,
                metadata={k: v for k, v in asdict(r).items() if k != "sentence"},
            )
            for r in ranked[: self.k]
        ]


def answer_runnable(assistant: Assistant) -> Runnable[Any, Answer]:
    """A Runnable taking a question string, or {"question": ...} / {"messages": [...]}, and
    returning an Answer."""

    def run(value: Any) -> Answer:
        if isinstance(value, str):
            return assistant.ask(value)
        if "messages" in value:
            return assistant.chat(value["messages"], filters=value.get("filters"))
        return assistant.ask(value["question"], filters=value.get("filters"))

    return RunnableLambda(run, name="news-assistant-answer")
