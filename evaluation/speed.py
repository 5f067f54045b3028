"""Speed: ingestion throughput against the bare embedder on the same texts, and query latency.

Ingestion: the pipeline (loading excluded; sentences, chunks, token counts, embedding, Chroma
writes) is timed, then the bare embedder encodes exactly the texts the pipeline embedded, in
the same calls and order, in the same process. The ratio is pipeline texts/s over bare texts/s:
1.0 means the pipeline costs nothing beyond encoding.

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

from assistant.api import Assistant
from ingest.articles import Article
from ingest.embedder import Embedder
from ingest.errors import NewsAssistantError
from ingest.pipeline import ChunkPlan, IngestSummary, Prepared, prepare

ENGLISH_QUESTIONS = [
    "How many people were injured?", "Who announced the decision?", "When will the project open?",
    "Where did the accident happen?", "How much did the project cost?",
    "What did the minister say about the budget?", "Who won the match?",
    "How many students took the exam?", "What caused the fire?", "Which city hosted the event?",
]  # fmt: skip


def pipeline_batches(
    articles: Sequence[Article], embedder: Embedder, plan: ChunkPlan, batch_chunks: int
) -> list[list[str]]:
    """The texts of every `embed_passages` call the pipeline makes, in order.

    Mirrors `Ingestor`: skip an article already taken (same id and hash) or pending (same
    hash), skip articles `prepare` rejects, flush once the pending chunks reach `batch_chunks`,
    and embed each flush as chunk texts then sentence texts, article by article.
    """
    batches: list[list[str]] = []
    pending: list[Prepared] = []
    taken: dict[str, str] = {}

    def flush() -> None:
        if pending:
            batches.append([t for p in pending for t in _texts(p)])
            pending.clear()

    for article in articles:
        in_pending = any(p.article.content_hash == article.content_hash for p in pending)
        if taken.get(article.id) == article.content_hash or in_pending:
            continue
        try:
            pending.append(prepare(article, embedder, plan))
        except NewsAssistantError:
            continue
        taken[article.id] = article.content_hash
        if sum(len(p.chunks) for p in pending) >= batch_chunks:
            flush()
    flush()
    return batches


def _texts(prepared: Prepared) -> list[str]:
    return [c.text for c in prepared.chunks] + [s.text for s in prepared.sentences]


def measure_ingest(
    assistant: Assistant,
    articles: Sequence[Article],
    progress: Callable[[IngestSummary], None] | None = None,
) -> dict[str, Any]:
    """Ingest `articles` into the assistant's (fresh) store, then encode the same texts bare."""
    embedder = assistant.embedder
    embedder.embed_passages(["warm-up"])
    started = time.perf_counter()
    summary = assistant.ingest_articles(articles, progress=progress)
    pipeline_s = time.perf_counter() - started
    settings = assistant.settings
    plan = ChunkPlan(budget=settings.chunks.budget, overlap=settings.chunks.overlap)
    batches = pipeline_batches(articles, embedder, plan, settings.ingest.batch_chunks)
    texts = sum(len(b) for b in batches)
    started = time.perf_counter()
    for batch in batches:
        embedder.embed_passages(batch)
    bare_s = time.perf_counter() - started
    return {
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
    ordered = sorted(latencies)
    return {
        "articles": assistant.store.count_articles(),
        "sentences": assistant.store.count_sentences(),
        "questions": len(ordered),
        "answered": answered,
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[max(0, round(0.95 * len(ordered)) - 1)],
        "max_ms": ordered[-1],
    }
