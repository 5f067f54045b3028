"""Speed: ingestion throughput against the bare embedder on the same texts, and query latency.

Ingestion: the pipeline (loading excluded; sentences, chunks, token counts, embedding, Chroma
writes) is timed with its embedder wrapped in a `RecordingEmbedder`, then the bare embedder
encodes exactly the texts the pipeline embedded, in the same calls and order, in the same
process. The ratio is pipeline texts/s over bare texts/s: 1.0 means the pipeline costs
nothing beyond encoding.

Latency: `Assistant.ask` end to end (embedding the question included), embedder and BM25 index
loaded first; p50 and p95 over news-like questions.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant import Article, Assistant, Embedder, IngestSummary

ENGLISH_QUESTIONS = [
    "How many people were injured?", "Who announced the decision?", "When will the project open?",
    "Where did the accident happen?", "How much did the project cost?",
    "What did the minister say about the budget?", "Who won the match?",
    "How many students took the exam?", "What caused the fire?", "Which city hosted the event?",
]  # fmt: skip


class RecordingEmbedder:
    """An embedder that passes every call through and, while `recording`, keeps the texts of
    each `embed_passages` call (or of every `every`-th call, a sample for long runs), so the
    bare embedder can be timed on exactly those calls."""

    def __init__(self, inner: Embedder, every: int = 1) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.calls: list[list[str]] = []
        self.recording = False
        self.every = every
        self.seen = 0
        self.texts = 0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if self.recording:
            self.seen += 1
            self.texts += len(texts)
            if (self.seen - 1) % self.every == 0:
                self.calls.append(list(texts))
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)


def measure_ingest(
    build: Callable[[Embedder], Assistant],
    embedder: Embedder,
    articles: Sequence[Article],
    progress: Callable[[IngestSummary], None] | None = None,
) -> tuple[Assistant, dict[str, Any]]:
    """Ingest `articles` through the assistant `build` makes over a fresh store with `embedder`
    wrapped in a recorder, then encode the same texts with the bare `embedder`. Returns that
    assistant (its recorder stopped: a pass-through) and the figures."""
    embedder.embed_passages(["warm-up"])
    recorder = RecordingEmbedder(embedder)
    assistant = build(recorder)
    recorder.recording = True
    started = time.perf_counter()
    summary = assistant.ingest_articles(articles, progress=progress)
    pipeline_s = time.perf_counter() - started
    recorder.recording = False
    texts = sum(len(call) for call in recorder.calls)
    started = time.perf_counter()
    for call in recorder.calls:
        embedder.embed_passages(call)
    bare_s = time.perf_counter() - started
    return assistant, {
        "articles": summary.articles,
        "unchanged": summary.unchanged,
        "failed": summary.failed,
        "sentences": summary.sentences,
        "chunks": summary.chunks,
        "texts": texts,
        "texts_match_store": texts == summary.sentences + summary.chunks,
        "pipeline_s": pipeline_s,
        "bare_s": bare_s,
        "pipeline_texts_per_s": texts / pipeline_s if pipeline_s else 0.0,
        "bare_texts_per_s": texts / bare_s if bare_s else 0.0,
        "ratio": bare_s / pipeline_s if pipeline_s else 0.0,
    }


def news_questions(path: Path, n: int) -> list[str]:
    """n news-like questions: half Arabic ones made from the titles in a JSONL file, half
    English ones, interleaved."""
    titles = []
    with path.open(encoding="utf-8-sig") as lines:
        for line in lines:
            title = str(json.loads(line).get("title") or "").strip() if line.strip() else ""
            if title:
                titles.append(f"ماذا حدث بشأن {title}؟")
    arabic = titles[: n // 2]
    english = [ENGLISH_QUESTIONS[i % len(ENGLISH_QUESTIONS)] for i in range(n - len(arabic))]
    mixed = [q for pair in zip(arabic, english, strict=False) for q in pair]
    return mixed + english[len(arabic) :]


def measure_latency(
    assistant: Assistant, questions: Sequence[str], step: Callable[[], None] | None = None
) -> dict[str, Any]:
    """p50/p95/max of `Assistant.ask` over `questions`, after one untimed warm-up question."""
    assistant.ask(questions[0])  # loads the embedder, builds the BM25 index and background
    latencies, answered = [], 0
    for question in questions:
        started = time.perf_counter()
        answer = assistant.ask(question)
        latencies.append((time.perf_counter() - started) * 1000)
        answered += answer.answered
        if step is not None:
            step()
    return {
        "articles": assistant.store.count_articles(),
        "sentences": assistant.store.count_sentences(),
        "questions": len(latencies),
        "answered": answered,
        **percentiles(latencies),
    }


def percentiles(latencies: Sequence[float]) -> dict[str, float]:
    """p50, p95 (nearest rank) and max of latencies in ms."""
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[max(0, round(0.95 * len(ordered)) - 1)],
        "max_ms": ordered[-1],
    }
