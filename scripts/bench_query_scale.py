"""Query latency against store size (not a test): `Assistant.ask` p50/p95 over the same news
questions on a large store and on a 1,000-article store, in one process, the two stores asked in
turn question by question (so a busy moment of the machine falls on both), and the ratio.

    .venv/bin/python scripts/bench_query_scale.py --store bench-out/store-31k \\
        [--small bench-out/store-1k] [--backend onnx-int8] [--questions 100] [--json PATH]

The small store is ingested from SaudiNewsNet's sample_1000.jsonl on the first run (with the
same embedder settings as the large one: a store answers only questions embedded by the model
that built it) and reused. The questions are `evaluation.speed.news_questions`: half Arabic ones
made from sample titles, half English ones. Each store gets one untimed warm-up question first
(the embedder, the saved BM25 index and the language background are loaded then).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant import Assistant, Settings, with_location
from evaluation.speed import news_questions, percentiles

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT.parent / "shared" / "data" / "saudinewsnet" / "sample_1000.jsonl"


def open_assistant(folder: Path, args: argparse.Namespace) -> Assistant:
    settings = with_location(Settings(), str(folder))
    if args.backend:
        embedder = settings.embedder.model_copy(update={"backend": args.backend})
        settings = settings.model_copy(update={"embedder": embedder})
    return Assistant(settings)


def small_store(args: argparse.Namespace) -> Assistant:
    """The 1,000-article store, ingested once from the sample."""
    assistant = open_assistant(args.small, args)
    if assistant.store.count_articles() < 1000:
        print(f"ingesting {args.sample} into {args.small} (once)", flush=True)
        started = time.perf_counter()
        summary = assistant.ingest([args.sample])
        print(f"  {summary.articles} articles in {time.perf_counter() - started:.0f} s", flush=True)
    return assistant


def timed(assistant: Assistant, question: str) -> tuple[float, bool]:
    started = time.perf_counter()
    answer = assistant.ask(question)
    return (time.perf_counter() - started) * 1000, answer.answered


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    stores = {"small": small_store(args), "large": open_assistant(args.store, args)}
    questions = news_questions(args.sample, args.questions)
    latencies: dict[str, list[float]] = {name: [] for name in stores}
    answered = dict.fromkeys(stores, 0)
    for assistant in stores.values():
        assistant.ask(questions[0])
    for number, question in enumerate(questions):
        order = list(stores) if number % 2 == 0 else list(reversed(stores))
        for name in order:
            ms, ok = timed(stores[name], question)
            latencies[name].append(ms)
            answered[name] += ok
    figures = {}
    for name, assistant in stores.items():
        figures[name] = {
            "articles": assistant.store.count_articles(),
            "sentences": assistant.store.count_sentences(),
            "questions": len(questions),
            "answered": answered[name],
            **percentiles(latencies[name]),
        }
    return figures


def report(figures: dict[str, dict[str, float]]) -> None:
    print(f"{'store':<8}{'articles':>10}{'sentences':>11}{'answered':>10}"
          f"{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")  # fmt: skip
    for name, row in figures.items():
        print(
            f"{name:<8}{row['articles']:>10,}{row['sentences']:>11,}{row['answered']:>10}"
            f"{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}{row['max_ms']:>9.1f}"
        )
    small, large = figures["small"], figures["large"]
    print(
        f"ratio large / small: p50 {large['p50_ms'] / small['p50_ms']:.2f}, "
        f"p95 {large['p95_ms'] / small['p95_ms']:.2f} "
        f"({large['articles'] / small['articles']:.1f}x the articles)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--store", type=Path, required=True, help="the large store folder")
    parser.add_argument("--small", type=Path, default=ROOT / "bench-out" / "store-1k")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="JSONL for the small store")
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], help="as ingested")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if not args.store.is_dir():
        parser.error(f"no store folder at {args.store}")
    if not args.sample.is_file():
        parser.error(f"no sample at {args.sample} (pass --sample FILE)")
    figures = run(args)
    report(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
