"""Resumability under SIGKILL (not a test; tests/test_kill_ingest.py is the quick one): run the
real `news-assistant ingest` on a larger input, SIGKILL it at random moments (`--kills`
times: each run once the store holds 10-35% of the articles left more than before, plus a
random 0-0.5 s, so most kills land inside a write; each run resuming what the last left),
let a last run finish, and compare the store with a clean ingest of the same input: articles
expected and stored, chunks, sentences, orphan parts, incomplete records and duplicates.

    .venv/bin/python scripts/kill_ingest.py [--data FILE] [--kills 5] [--seed 15]
                                            [--url http://127.0.0.1:8000]

The hashing embedder keeps it about the pipeline and the store, not the model. Without --url
the store is an embedded folder in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant.api import Assistant, with_location
from core.chroma import ChromaStore, connect
from core.embedder import HashingEmbedder
from core.settings import Settings
from core.store_audit import Audit, audit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "saudinewsnet" / "sample_1000.jsonl"
ENV = {"NEWS_ASSISTANT_EMBEDDER__MODEL": "hashing", "NEWS_ASSISTANT_INGEST__BATCH_CHUNKS": "64"}


def ingest(data: Path, location: str, collection: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, **ENV, "NEWS_ASSISTANT_STORE__COLLECTION": collection}
    command = [sys.executable, "-m", "assistant.frontends.cli", "ingest", str(data)]
    return subprocess.Popen(
        [*command, "--store", location],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def open_store(location: str, collection: str) -> ChromaStore:
    client = connect(url=location) if location.startswith("http") else connect(path=Path(location))
    return ChromaStore(client, collection)


def census(location: str, collection: str) -> Audit:
    store = open_store(location, collection)
    try:
        return audit(store)
    finally:
        store.close()


def wait_for(proc: subprocess.Popen[bytes], location: str, collection: str, target: int) -> int:
    """Wait until the store holds `target` articles (or the run ended); returns how many."""
    store = open_store(location, collection)
    try:
        while (stored := store.count_articles()) < target and proc.poll() is None:
            time.sleep(0.1)
    finally:
        store.close()
    return stored


def clean(data: Path, folder: Path) -> Audit:
    """What one uninterrupted ingest of `data` stores (in this process, same embedder)."""
    settings = with_location(Settings(), str(folder))
    assistant = Assistant(settings, embedder=HashingEmbedder())
    started = time.perf_counter()
    summary = assistant.ingest([data])
    print(
        f"clean ingest: {summary.articles} articles, {summary.failed} failed, "
        f"{len(summary.duplicates)} duplicates in {time.perf_counter() - started:.1f} s"
    )
    assistant.store.close()
    return census(str(folder), settings.store.collection)


def counts(name: str, got: Audit) -> str:
    return (
        f"{name}: articles {got.articles} ({len(got.ids)} ids), chunks {got.chunks}, "
        f"sentences {got.sentences}, orphans {got.orphans}, incomplete {got.incomplete}, "
        f"duplicates {got.duplicates}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="articles to ingest")
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs before the last run")
    parser.add_argument("--seed", type=int, default=15, help="seed of the kill moments")
    parser.add_argument("--url", help="a Chroma server URL (default: an embedded folder)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kill-ingest-") as tmp:
        expected = clean(args.data, Path(tmp) / "clean")
        location = args.url or str(Path(tmp) / "store")
        collection = f"kill{uuid.uuid4().hex[:8]}"
        print(counts("expected", expected))
        for kill in range(1, args.kills + 1):
            stored = census(location, collection).articles
            target = stored + max(1, int((expected.articles - stored) * rng.uniform(0.1, 0.35)))
            late = rng.uniform(0.0, 0.5)
            proc = ingest(args.data, location, collection)
            reached = wait_for(proc, location, collection, target)
            time.sleep(late)
            finished = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            state = "had already finished" if finished else "killed"
            moment = f"{late:.2f} s after {reached} articles were stored ({state})"
            print(counts(f"kill {kill}, {moment}", census(location, collection)))
        proc = ingest(args.data, location, collection)
        _, errors = proc.communicate(timeout=1800)
        got = census(location, collection)
        print(f"last run: exit status {proc.returncode}")
        if proc.returncode not in (0, 1):
            print(errors.decode(errors="replace")[-2000:])
        print(counts("stored", got))
        same = set(got.ids) == set(expected.ids) and max(got.ids.values(), default=1) == 1
        parts = (got.chunks, got.sentences) == (expected.chunks, expected.sentences)
        sound = got.orphans == got.incomplete == got.duplicates == 0
        print(
            f"articles expected/stored {expected.articles}/{got.articles}, each once: {same}; "
            f"parts as a clean ingest: {parts}; no orphans, incomplete or duplicates: {sound}"
        )
        return 0 if same and parts and sound else 1


if __name__ == "__main__":
    sys.exit(main())
