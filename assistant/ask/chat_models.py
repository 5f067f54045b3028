"""The chat models of the LLM answer mode, built from settings (`answer.llm`): a GGUF file run
in-process by llama-cpp-python (a thin LangChain wrapper, `LlamaCppChat`), an Ollama server
(langchain-ollama) or any OpenAI-compatible endpoint (langchain-openai). Each backend is an
optional extra; the packages are imported here only, and a missing one is an LLMError naming
the extra to install."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from core.errors import LLMError
from core.settings import LLMSettings

DEFAULT_MODELS = {"ollama": "qwen2.5:1.5b", "openai": "default"}
BACKEND_ERRORS = (("httpx", "HTTPError"), ("openai", "OpenAIError"), ("ollama", "ResponseError"))
EXTRAS = {"llama": "llama_cpp", "ollama": "langchain_ollama", "openai": "langchain_openai"}


def build_chat_model(settings: LLMSettings) -> BaseChatModel:
    """The chat model `settings` name; LLMError when its extra is not installed or a
    setting it needs is missing."""
    _require(settings.backend)
    if settings.backend == "llama":
        return _llama(settings)
    if settings.backend == "ollama":
        return _ollama(settings)
    return _openai(settings)


def _require(backend: str) -> None:
    try:
        importlib.import_module(EXTRAS[backend])
    except ImportError as exc:
        raise LLMError(
            f"the {backend} backend needs {EXTRAS[backend].replace('_', '-')}: "
            f"pip install 'news-assistant[{backend}]' ({exc})"
        ) from exc


def _llama(settings: LLMSettings) -> BaseChatModel:
    if settings.gguf is None:
        raise LLMError(
            "the llama backend needs a GGUF file: pass --gguf PATH "
            "(or set NEWS_ASSISTANT_ANSWER__LLM__GGUF)"
        )
    if not settings.gguf.is_file():
        raise LLMError(f"no GGUF file at {settings.gguf}: check --gguf PATH")
    return LlamaCppChat(
        model_path=str(settings.gguf),
        n_ctx=settings.context,
        n_threads=settings.threads or None,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )


def _ollama(settings: LLMSettings) -> BaseChatModel:
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=settings.model or DEFAULT_MODELS["ollama"],
        base_url=settings.url(),
        temperature=settings.temperature,
        num_predict=settings.max_tokens,
        client_kwargs={"timeout": settings.timeout},
    )


def _openai(settings: LLMSettings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    url = settings.url() or ""
    # langchain-openai sends only `max_completion_tokens`; local servers (llama-cpp-python's)
    # read the older `max_tokens`, so both go to any server but OpenAI's own.
    older = {} if "api.openai.com" in url else {"max_tokens": settings.max_tokens}
    return ChatOpenAI(
        model=settings.model or DEFAULT_MODELS["openai"],
        base_url=url,
        api_key=settings.api_key() or "not-needed",
        temperature=settings.temperature,
        max_completion_tokens=settings.max_tokens,
        timeout=settings.timeout,
        max_retries=0,
        extra_body=older or None,
    )


def backend_errors() -> tuple[type[BaseException], ...]:
    """What a chat model raises when its server is unreachable or refuses a request; the
    answerer turns these into an LLMError (and the answer falls back to extractive)."""
    found: list[type[BaseException]] = [OSError, TimeoutError]
    for module, name in BACKEND_ERRORS:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except ImportError:
            continue
    return tuple(found)


class LlamaCppChat(BaseChatModel):
    """A GGUF chat model run in this process by llama-cpp-python, loaded on first use; one
    completion at a time (the web UI answers in threads; a llama context is not shared)."""

    model_path: str
    n_ctx: int = 4096
    n_threads: int | None = None
    temperature: float = 0.0
    max_tokens: int = 400
    _llama: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def _client(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            try:
                self._llama = Llama(
                    model_path=self.model_path,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    verbose=False,
                )
            except ValueError as exc:  # llama-cpp-python's "Failed to load model from file"
                raise LLMError(
                    f"cannot load {self.model_path}: {exc} (is it a GGUF file?)"
                ) from exc
        return self._llama

    def close(self) -> None:
        """Free the model now (it is loaded again on the next use)."""
        if self._llama is not None:
            self._llama.close()
            self._llama = None

    def _completion(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool) -> Any:
        return self._client().create_chat_completion(
            messages=[_as_dict(m) for m in messages],
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            stop=stop,
            stream=stream,
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:
            out = self._completion(messages, stop, stream=False)
        text = out["choices"][0]["message"]["content"] or ""
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        with self._lock:
            for part in self._completion(messages, stop, stream=True):
                text = part["choices"][0]["delta"].get("content")
                if text:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager is not None:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk


_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def _as_dict(message: BaseMessage) -> dict[str, str]:
    return {"role": _ROLES.get(message.type, "user"), "content": str(message.content)}
