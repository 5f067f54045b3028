"""Ray ingest benchmark (not a test): the same SaudiNewsNet articles ingested with the real
default embedder into a `chroma run` server on 127.0.0.1 (started here, in a temporary
folder), by a local Ray cluster of 1 then 2 workers (one CPU and one torch thread each), and
by the plain single-process ingest for reference; each run into a fresh collection.

    .venv/bin/python scripts/bench_ray.py [--data FILE] [--limit 100] [--workers 1,2]
                                          [--plain-threads 1,2]

Reported per run: wall seconds (a Ray run: its workers starting and loading the model
included, the cluster already up; a plain run: the model loaded beforehand, so excluded) and
articles/s over it, and the steady rate: articles/s from the first written batch to the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

from assistant.api import Assistant, with_location
from core.settings import Settings
from ingest.distributed import ingest_on_ray
from ingest.pipeline import IngestSummary

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "saudinewsnet" / "sample_1000.jsonl"
CHROMA = Path(sys.executable).parent / "chroma"


@dataclass
class Run:
    name: str
    summary: IngestSummary
    wall_s: float
    steady: float  # articles/s from the first written batch to the end

    def line(self) -> str:
        s = self.summary
        return (
            f"  {self.name:<24} {s.articles:>4} articles  {s.sentences:>5} sentences  "
            f"{s.chunks:>5} chunks  failed {s.failed}  {self.wall_s:7.1f} s  "
            f"{s.articles / self.wall_s:5.2f} articles/s  (steady {self.steady:5.2f})"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    """A `chroma run` on a free port of 127.0.0.1 with its data in `folder`; stopped after."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (folder / "chroma.log").open("wb")
    command = [str(CHROMA), "run", "--path", str(folder / "data"), "--host", "127.0.0.1"]
    proc = subprocess.Popen([*command, "--port", str(port)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{url}/api/v2/heartbeat"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"`chroma run` did not come up: see {folder / 'chroma.log'}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def first_lines(data: Path, limit: int, out: Path) -> Path:
    with data.open(encoding="utf-8-sig") as source:
        lines = [line for line in source if line.strip()][:limit]
    out.write_text("".join(lines), encoding="utf-8")
    return out


def settings_for(url: str, collection: str, threads: int = 1) -> Settings:
    settings = with_location(Settings(), url)
    store = settings.store.model_copy(update={"collection": collection})
    embedder = settings.embedder.model_copy(update={"ingest_threads": threads})
    return settings.model_copy(update={"store": store, "embedder": embedder})


class Clock:
    """A progress callback that notes when the first articles were written."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: tuple[float, int] | None = None

    def __call__(self, summary: IngestSummary) -> None:
        if self.first is None and summary.articles:
            self.first = (time.perf_counter(), summary.articles)

    def steady(self, summary: IngestSummary) -> float:
        if self.first is None:
            return 0.0
        at, done = self.first
        elapsed = time.perf_counter() - at
        return (summary.articles - done) / elapsed if elapsed > 0 else 0.0


def plain(url: str, data: Path, threads: int) -> Run:
    assistant = Assistant(settings_for(url, f"plain-{threads}", threads))
    assistant.embedder.embed_passages(["warm-up"])  # the model loads outside the clock
    clock = Clock()
    summary = assistant.ingest([data], progress=clock)
    wall = time.perf_counter() - clock.started
    assistant.store.close()
    name = f"plain, {threads} torch thread{'s' if threads > 1 else ''}"
    return Run(name, summary, wall, clock.steady(summary))


def on_ray(url: str, data: Path, workers: int) -> Run:
    import ray

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        clock = Clock()
        settings = settings_for(url, f"ray-{workers}")
        summary = ingest_on_ray([data], settings, workers=workers, progress=clock)
        wall = time.perf_counter() - clock.started
    finally:
        ray.shutdown()
    name = f"Ray, {workers} worker{'s' if workers > 1 else ''}"
    return Run(name, summary, wall, clock.steady(summary))


def numbers(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a JSONL of articles")
    parser.add_argument("--limit", type=int, default=100, help="first N articles (100)")
    parser.add_argument("--workers", type=numbers, default=[1, 2], help="Ray workers (1,2)")
    parser.add_argument("--plain-threads", type=numbers, default=[1, 2], help="plain runs' threads")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        folder = Path(tmp)
        data = first_lines(args.data, args.limit, folder / "articles.jsonl")
        runs: list[Callable[[str], Run]] = [
            *(lambda url, t=t: plain(url, data, t) for t in args.plain_threads),
            *(lambda url, w=w: on_ray(url, data, w) for w in args.workers),
        ]
        print(f"ray ingest benchmark: {args.limit} articles of {args.data}, {os.cpu_count()} cores")
        with chroma_server(folder) as url:
            for run in runs:
                print(run(url).line(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
