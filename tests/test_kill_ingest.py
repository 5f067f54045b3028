"""Resumability against real kills: a `news-assistant ingest` process is SIGKILLed at several
points (starting up, inside its first batches, mid-run, in reruns that first sweep what the
last kill left; five on an embedded store, three on a server), started again each time; after
each kill no record lacks a part, and the run that finally finishes leaves every article
exactly once, the parts of a clean ingest and no orphan parts."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from conftest import Backend
from test_store_processes import articles_file, cli

from core.chroma import ChromaStore
from core.embedder import HashingEmbedder
from core.settings import Settings
from core.store_audit import audit

N_ARTICLES = 300
SMALL_BATCHES = {"NEWS_ASSISTANT_INGEST__BATCH_CHUNKS": "8"}


def clean_counts(tmp_path: Path, data: Path) -> tuple[int, int, int]:
    """(articles, chunks, sentences) of one uninterrupted ingest of `data` in this process."""
    from assistant.api import Assistant, with_location

    settings = with_location(Settings(), str(tmp_path / "clean"))
    assistant = Assistant(settings, embedder=HashingEmbedder())
    summary = assistant.ingest([data])
    assert summary.failed == 0
    store = assistant.store
    counts = (store.count_articles(), store.count_chunks(), store.count_sentences())
    store.close()
    return counts


def wait_then_kill(proc: subprocess.Popen[str], ready: Callable[[], bool], limit: float) -> bool:
    """SIGKILL `proc` as soon as `ready()` holds (polled), or after `limit` seconds; False when
    it had already finished by itself."""
    deadline = time.monotonic() + limit
    while not ready() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return not finished


def location(backend: Backend) -> str:
    return backend.url or str(backend.path)


def test_an_ingest_killed_at_several_points_ends_with_each_article_once(
    backend: Backend, tmp_path: Path
) -> None:
    data = articles_file(tmp_path / "articles.jsonl", 0, N_ARTICLES)
    env = {**SMALL_BATCHES, "NEWS_ASSISTANT_STORE__COLLECTION": backend.collection}
    store = ChromaStore(backend.client(), backend.collection)
    args = ("ingest", str(data), "--store", location(backend))

    def stored() -> tuple[int, int]:
        return store.count_articles(), store.count_sentences()

    # Points: before anything is written; in the first batches; mid-run, twice more, each in
    # a rerun that first sweeps what the kill before it left; then a run that finishes.
    before = stored()
    points: list[Callable[[], bool]] = [
        lambda: False,  # killed 0.5 s in: starting up
        lambda: stored()[1] > before[1],  # inside its first writes
        lambda: stored()[0] >= N_ARTICLES // 3,
        lambda: stored()[1] > marks[-1][1] + 40,  # some batches past where it resumed
        lambda: stored()[0] >= 2 * N_ARTICLES // 3,
    ]
    limits = [0.5, 60, 60, 60, 60]
    if backend.kind == "server":  # three of the points there: each run costs seconds
        points, limits = points[1:3] + points[4:], limits[1:3] + limits[4:]
    marks = [before]
    killed = 0
    for ready, limit in zip(points, limits, strict=True):
        marks.append(stored())
        killed += wait_then_kill(cli(*args, **env), ready, limit)
        assert audit(store).incomplete == 0  # a record never comes before its parts
    assert killed == len(points)  # every run was killed before it could finish
    assert 0 < stored()[0] < N_ARTICLES

    final = cli(*args, **env)
    _, errors = final.communicate(timeout=120)
    assert final.returncode == 0, errors
    got = audit(store)
    store.close()
    assert set(got.ids) == {f"a{i}" for i in range(N_ARTICLES)}
    assert max(got.ids.values()) == 1 and got.duplicates == 0
    assert got.orphans == 0 and got.incomplete == 0
    assert (got.articles, got.chunks, got.sentences) == clean_counts(tmp_path, data)
