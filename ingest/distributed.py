"""Ingestion spread over a Ray cluster (the `ray` extra): Ray tasks load the files, a pool of
Ray actors (one per worker CPU, each building the embedder once) cut the articles into
sentences and chunks, embed them and write them to a Chroma server. The driver reads the loaded
articles in order and makes the decisions of `Ingestor` (skip what is stored or repeated by
content hash; of two articles with one id the later wins), with a bounded number of batches in
flight (`ray.wait`).

The guarantees are the pipeline's: the driver sweeps what a killed run left
(`remove_orphans`) before any worker writes; each article is written by one worker, its
parts first and its record last, so a record still means "complete"; a rewrite of an id waits
for the earlier write of that id. Only a Chroma server is shared by processes on several
machines: an embedded store folder is refused. A run that is killed or fails leaves at most
orphan parts, which the next run sweeps; stored articles are then skipped.
"""

from __future__ import annotations

import platform
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from core.chroma import open_store
from core.embedder import build_embedder, use_threads
from core.errors import ClusterError, NewsAssistantError, StoreError
from core.settings import Settings
from core.store import ArticleStore
from core.types import Article
from ingest.load import LoadFailure, LoadNote, LoadResult, input_files, load_file, with_defaults
from ingest.pipeline import IngestSummary, admit, embed_batch, merge, prepare, write_batch

RAY_EXTRA = "pip install 'news-assistant[ray]'"
LOAD_GROUP = 64  # files per loading task
LOAD_BATCH = 32  # loader results per object a loading task yields
LOAD_AHEAD = 4  # objects a loading task may run ahead of the driver (Ray's backpressure)
LOAD_TASKS = 2  # loading tasks running at once: the next group loads while one is read
WORKER_CPUS = 1  # each actor holds one CPU of the cluster and gives torch one thread
QUEUED_PER_WORKER = 2  # batches on each actor: one being embedded, one waiting for it

Progress = Callable[[IngestSummary], None]


@dataclass(frozen=True)
class RayTarget:
    """A running cluster's `address` ("auto", "ray://HEAD:10001"), or None to start a local
    cluster with `cpus` CPUs (None: one per core)."""

    address: str | None
    cpus: int | None = None


def ray_target(text: str) -> RayTarget:
    """Read an --ray value: "local" or "local:N" starts a cluster here with N CPUs; anything
    else ("auto", "ray://HEAD:10001", "HOST:6379") is the address of a running one."""
    name, _, count = text.strip().partition(":")
    if name != "local":
        if not text.strip():
            raise ClusterError("empty --ray address: give auto, ray://HEAD:10001 or local:N")
        return RayTarget(text.strip())
    if count and not (count.isdigit() and int(count) >= 1):
        raise ClusterError(f"{text!r}: write local:N with N a whole number of CPUs, e.g. local:2")
    return RayTarget(None, int(count) if count else None)


def ingest_on_ray(
    paths: Sequence[str | Path],
    settings: Settings,
    *,
    address: str = "local",
    workers: int | None = None,
    defaults: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Ingest files, folders and globs into the Chroma server at `settings.store.url` with
    `workers` Ray actors (default: one per CPU of the cluster) on the cluster at `address`
    (see `ray_target`; a Ray connection this process already has is used as it is). Every
    worker must see `paths` at the same place and reach the server. Returns the summary
    `Assistant.ingest` returns."""
    if not settings.store.url:
        raise StoreError(
            "ingesting with --ray needs a Chroma server that every worker reaches (an embedded "
            "store folder belongs to one machine): start `chroma run --host 0.0.0.0 --port 8000 "
            "--path DIR` and pass --url http://HOST:8000"
        )
    ray = _import_ray()
    with _connected(ray, ray_target(address)):
        count = _worker_count(ray, workers)
        store = open_store(settings.store)
        try:
            driver = _Driver(ray, store, settings, count)
            items = with_defaults(_loaded(ray, paths, settings.ingest.max_bytes), defaults or {})
            return driver.run(items, progress)
        finally:
            store.close()


def _worker_count(ray: ModuleType, asked: int | None) -> int:
    """`asked`, or one worker per CPU of the cluster; more than its CPUs would wait forever."""
    cpus = int(ray.cluster_resources().get("CPU", 0)) // WORKER_CPUS
    if cpus < 1 or (asked or 0) > cpus:
        raise ClusterError(
            f"the Ray cluster has {cpus} CPUs for workers: give --ray-workers {max(cpus, 1)} or "
            "fewer, or add nodes (`ray start --address HEAD:6379` on each)"
        )
    return asked or cpus


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(f"ingesting with --ray needs Ray: {RAY_EXTRA}") from exc
    return ray


@contextmanager
def _connected(ray: ModuleType, target: RayTarget) -> Iterator[None]:
    """Connect to the cluster (or start a local one) for the run, and disconnect after."""
    if ray.is_initialized():
        yield
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    try:
        if target.address is None:
            ray.init(num_cpus=target.cpus, **options)
        else:
            ray.init(address=target.address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = target.address or "a local cluster"
        raise ClusterError(
            f"cannot start or reach the Ray cluster at {where} ({exc}); start one with "
            "`ray start --head` and pass --ray auto (on its machine) or --ray ray://HEAD:10001, "
            "or use --ray local:N"
        ) from exc
    try:
        yield
    finally:
        ray.shutdown()


# --- loading: Ray tasks, read in order ---------------------------------------------------------

FileOrFailure = tuple[str, str] | LoadFailure  # (absolute path, origin) or why there is none


def _loaded(ray: ModuleType, paths: Sequence[str | Path], max_bytes: int) -> Iterator[LoadResult]:
    """Every loader result of `paths`, in `load_paths`' order, loaded by Ray tasks (groups of
    LOAD_GROUP files, LOAD_TASKS groups at once, each streaming its results)."""
    task = ray.remote(num_cpus=0, _generator_backpressure_num_objects=LOAD_AHEAD)(load_files)
    running: deque[Any] = deque()
    for group in _groups(input_files(paths), LOAD_GROUP):
        running.append(task.remote(group, max_bytes))
        if len(running) >= LOAD_TASKS:
            yield from _read(ray, running.popleft())
    while running:
        yield from _read(ray, running.popleft())


def _groups(items: Iterable[Path | LoadFailure], size: int) -> Iterator[list[FileOrFailure]]:
    group: list[FileOrFailure] = []
    for item in items:
        group.append(item if isinstance(item, LoadFailure) else (str(item.absolute()), str(item)))
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _read(ray: ModuleType, results: Any) -> Iterator[LoadResult]:
    for ref in results:
        yield from _get(ray, ref)


def load_files(files: list[FileOrFailure], max_bytes: int) -> Iterator[list[LoadResult]]:
    """(A Ray task.) The loader results of `files`, LOAD_BATCH at a time; failures pass."""
    batch: list[LoadResult] = []
    for item in files:
        for result in [item] if isinstance(item, LoadFailure) else _load_one(*item, max_bytes):
            batch.append(result)
            if len(batch) == LOAD_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _load_one(path: str, origin: str, max_bytes: int) -> Iterator[LoadResult]:
    if not Path(path).exists():
        yield LoadFailure(
            origin,
            f"not found on the Ray node {platform.node()}: every node must see the input "
            "files at the same path (a shared folder), or ingest without --ray",
        )
        return
    yield from load_file(Path(path), max_bytes=max_bytes, origin=origin)


# --- splitting, embedding and writing: Ray actors ----------------------------------------------


class IngestWorker:
    """(A Ray actor, one per worker CPU.) Builds the embedder once and a client of the Chroma
    server; splits, embeds and writes the batches it is given, with `threads` torch threads."""

    def __init__(self, settings: Settings, threads: int) -> None:
        self.plan = settings.chunks
        self.threads = threads
        self.embedder = build_embedder(settings.embedder)
        self.store = open_store(settings.store)
        self.bound = False

    def identity(self) -> tuple[str, int]:
        return self.embedder.name, self.embedder.dim

    def ingest(self, jobs: list[tuple[Article, bool]]) -> IngestSummary:
        """Store (article, rewrite) pairs; returns what was written and what failed."""
        if not self.bound:
            self.store.bind_embedder(self.embedder.name, self.embedder.dim)
            self.bound = True
        summary, pending = IngestSummary(), []
        for article, rewrite in jobs:
            try:
                prepared = prepare(article, self.embedder, self.plan)
            except NewsAssistantError as exc:
                summary.failures.append(LoadFailure(article.origin or article.id, str(exc)))
                continue
            pending.append(replace(prepared, rewrite=rewrite))
        if pending:
            use_threads(self.threads)
            merge(summary, write_batch(self.store, pending, embed_batch(pending, self.embedder)))
        return summary


@dataclass
class _Batch:
    worker: int
    articles: list[Article]


class _Driver:
    """Reads the loaded articles, decides what to store and hands batches to the actors."""

    def __init__(self, ray: ModuleType, store: ArticleStore, settings: Settings, workers: int):
        self.ray = ray
        self.store = store
        self.batch = settings.ingest.ray_batch_articles
        actor = ray.remote(IngestWorker).options(
            num_cpus=WORKER_CPUS, max_restarts=2, max_task_retries=2
        )
        self.workers = [actor.remote(settings, WORKER_CPUS) for _ in range(workers)]
        self.queued = [0] * workers
        self.flying: dict[Any, _Batch] = {}  # task ref -> its batch, until counted
        self.pending: list[tuple[Article, bool]] = []  # (article, rewrite) not yet sent
        self.sent: dict[str, str] = {}  # id -> content hash sent this run
        self.writing: dict[str, Any] = {}  # id -> task ref writing it
        self.hashes: dict[str, str] = {}  # content hash -> id, pending or being written
        self.progress: Progress | None = None

    def run(self, items: Iterable[LoadResult], progress: Progress | None) -> IngestSummary:
        try:
            return self._run(items, progress)
        finally:
            for worker in self.workers:  # a batch still running is cut short: swept next run
                self.ray.kill(worker)

    def _run(self, items: Iterable[LoadResult], progress: Progress | None) -> IngestSummary:
        summary = IngestSummary()
        self.progress = progress
        name, dim = _get(self.ray, self.workers[0].identity.remote())
        with self.store.writing():
            self.store.bind_embedder(name, dim)
            self.store.check_schema()
            self.store.remove_orphans()  # before any worker writes
            for item in items:
                if isinstance(item, LoadNote):
                    summary.notes.append(item)
                    continue
                summary.taken += 1
                self._take(item, summary)
                self._show(summary)
            self._send(summary)
            while self.flying:
                self._count_next(summary)
        summary.seconds = time.perf_counter() - summary.started
        self._show(summary)
        return summary

    def _show(self, summary: IngestSummary) -> None:
        if self.progress is not None:
            self.progress(summary)

    def _take(self, item: Article | LoadFailure, summary: IngestSummary) -> None:
        """Ingestor._take's decisions, with the splitting left to the workers."""
        taken = admit(item, summary, self._earlier_hash, self._twin)
        if taken is None:
            return
        article = taken.article
        if taken.replaces:
            self.hashes = {h: i for h, i in self.hashes.items() if i != article.id}
            self.pending = [(a, r) for a, r in self.pending if a.id != article.id]
        self.pending.append((article, article.id in self.sent))
        self.hashes[taken.content_hash] = article.id
        if len(self.pending) >= self.batch:
            self._send(summary)

    def _earlier_hash(self, article_id: str) -> str | None:
        for article, _ in reversed(self.pending):
            if article.id == article_id:
                return article.content_hash
        return self.sent.get(article_id)

    def _twin(self, article_id: str, content_hash: str) -> str | None:
        if content_hash in self.hashes:
            return self.hashes[content_hash]
        if self.store.stored_hash(article_id) == content_hash:
            return article_id
        return self.store.article_with_hash(content_hash)

    def _send(self, summary: IngestSummary) -> None:
        jobs, self.pending = self.pending, []
        if not jobs:
            return
        for ref in {self.writing[a.id] for a, _ in jobs if a.id in self.writing}:
            self._count(ref, summary)  # a rewrite waits for the earlier write of its id
        while len(self.flying) >= QUEUED_PER_WORKER * len(self.workers):
            self._count_next(summary)
        worker = min(range(len(self.workers)), key=self.queued.__getitem__)
        ref = self.workers[worker].ingest.remote(jobs)
        self.queued[worker] += 1
        self.flying[ref] = _Batch(worker, [a for a, _ in jobs])
        for article, _ in jobs:
            self.sent[article.id] = article.content_hash
            self.writing[article.id] = ref

    def _count_next(self, summary: IngestSummary) -> None:
        done, _ = self.ray.wait(list(self.flying), num_returns=1)
        self._count(done[0], summary)

    def _count(self, ref: Any, summary: IngestSummary) -> None:
        """Add a finished batch's counts and failures to `summary`."""
        merge(summary, _get(self.ray, ref))
        batch = self.flying.pop(ref)
        self.queued[batch.worker] -= 1
        for article in batch.articles:
            if self.writing.get(article.id) is ref:
                del self.writing[article.id]
            if self.hashes.get(article.content_hash) == article.id:
                del self.hashes[article.content_hash]
        self._show(summary)


def _get(ray: ModuleType, ref: Any) -> Any:
    """`ray.get`, with the project's own errors raised as they are and a lost worker as a
    ClusterError that says how to go on."""
    from ray.exceptions import RayActorError, RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as exc:
        if isinstance(exc.cause, NewsAssistantError):
            raise exc.cause from None
        raise
    except RayActorError as exc:
        raise ClusterError(
            f"a Ray worker died or could not start ({exc}); run the same command again: stored "
            "articles are skipped"
        ) from exc
