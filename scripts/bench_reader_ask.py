"""The reader's cost in an ask (not a test): `Assistant.ask` p50/p95 over the same news questions
on the 1,000-article store with the reader off and with each reader variant (backend, depth,
threads, tokens), in one process, the variants asked in turn question by question (so a busy
moment of the machine falls on all), and each variant's added p50 against the reader off.

    .venv/bin/python scripts/bench_reader_ask.py [--small bench-out/store-1k] [--questions 100]

The store and the questions are those of scripts/bench_query_scale.py (ingested once from
SaudiNewsNet's sample_1000.jsonl; half Arabic, half English questions). Each variant gets one
untimed warm-up question first (models load, the reader's ONNX export is made once then).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench_query_scale import ROOT, SAMPLE, small_store, timed

from assistant import Assistant
from core.settings import ReaderSettings
from evaluation.speed import news_questions, percentiles

VARIANTS = {  # name: reader settings (None: the reader off); max_len None: as trained (160)
    "reader off": None,
    "torch depth 8, 1 thread": {"backend": "torch", "depth": 8, "max_len": None},
    "onnx depth 8": {"backend": "onnx", "depth": 8, "max_len": None},
    "onnx depth 2": {"backend": "onnx", "depth": 2, "max_len": None},
    "onnx depth 2, 128 tokens": {"backend": "onnx", "depth": 2, "max_len": 128},
    "onnx depth 2, 96 tokens": {"backend": "onnx", "depth": 2, "max_len": 96},
    "onnx depth 3, 128 tokens": {"backend": "onnx", "depth": 3, "max_len": 128},
    "onnx-int8 depth 2, 128": {"backend": "onnx-int8", "depth": 2, "max_len": 128},
}


def with_reader(base: Assistant, reader: dict[str, object] | None) -> Assistant:
    """An Assistant over `base`'s store with the reader `reader` (off when None)."""
    settings = base.settings
    fields = {"enabled": reader is not None, **(reader or {})}
    update = ReaderSettings.model_validate(settings.reader.model_dump() | fields)
    return Assistant(settings.model_copy(update={"reader": update}), store=base.store)


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    import torch

    torch.set_num_threads(1)  # the torch reader as the pipeline runs it (ask_threads = 1)
    base = small_store(args)
    askers = {name: with_reader(base, reader) for name, reader in VARIANTS.items()}
    questions = news_questions(args.sample, args.questions)
    latencies: dict[str, list[float]] = {name: [] for name in askers}
    answered = dict.fromkeys(askers, 0)
    for assistant in askers.values():
        assistant.ask(questions[0])
    for number, question in enumerate(questions):
        names = list(askers)
        for name in names[number % len(names) :] + names[: number % len(names)]:
            ms, ok = timed(askers[name], question)
            latencies[name].append(ms)
            answered[name] += ok
    return {
        name: {"questions": len(questions), "answered": answered[name], **percentiles(ms)}
        for name, ms in latencies.items()
    }


def report(figures: dict[str, dict[str, float]]) -> None:
    off = figures["reader off"]["p50_ms"]
    print(f"{'variant':<26}{'answered':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'added p50':>11}")
    for name, row in figures.items():
        print(
            f"{name:<26}{row['answered']:>9}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}"
            f"{row['max_ms']:>9.1f}{row['p50_ms'] - off:>11.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--small", type=Path, default=ROOT / "bench-out" / "store-1k")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="JSONL for the store")
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], help="as ingested")
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if not args.sample.is_file():
        parser.error(f"no sample at {args.sample} (pass --sample FILE)")
    figures = run(args)
    report(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
