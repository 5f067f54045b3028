"""Background ingestion for the server: uploaded files become a job with an id, ingested one
job at a time (one writer per store) on a worker thread while questions go on being answered;
each job's progress and summary are read by id. Jobs live in memory: a restarted server
forgets them (what they stored stays stored)."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from assistant.api import with_defaults
from core.errors import NewsAssistantError
from core.types import Article, sha256_hex
from ingest.load import LoadResult, count_articles, load_paths
from ingest.pipeline import IngestSummary

Status = Literal["queued", "running", "done", "failed", "cancelled"]
KEPT_JOBS = 200  # finished jobs remembered; the oldest are forgotten first


class Ingesting(Protocol):
    """What a job needs of `assistant.api.Assistant`."""

    def ingest_articles(
        self, articles: Iterator[LoadResult], *, progress: Callable[[IngestSummary], None]
    ) -> IngestSummary: ...


class Cancelled(NewsAssistantError):
    """The server is stopping: the job ends after the article being written."""


@dataclass(frozen=True)
class Job:
    """One upload's ingestion, as `GET /api/jobs/{id}` shows it."""

    id: str
    files: tuple[str, ...]
    status: Status = "queued"
    total: int = 0  # articles expected (counted before ingesting)
    seen: int = 0  # articles read so far
    stored: int = 0
    summary: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "files": list(self.files),
            "progress": {"total": self.total, "seen": self.seen, "stored": self.stored},
            "summary": self.summary,
            "error": self.error,
            "created": self.created,
            "finished": self.finished,
        }


def summary_json(summary: IngestSummary) -> dict[str, Any]:
    """An ingest summary as JSON (the counts `ingest` prints, and each failure's reason)."""
    return {
        "articles": summary.articles,
        "sentences": summary.sentences,
        "chunks": summary.chunks,
        "unchanged": summary.unchanged,
        "replaced": summary.replaced,
        "duplicates": [str(d) for d in summary.duplicates],
        "failed": summary.failed,
        "failures": [{"file": f.origin, "reason": f.reason} for f in summary.failures],
        "notes": [{"file": n.origin, "note": n.message} for n in summary.notes],
        "seconds": round(summary.seconds, 2),
    }


class IngestJobs:
    """Runs uploads' ingestion one at a time on a worker thread; `max_bytes` limits each file."""

    def __init__(self, assistant: Ingesting, *, max_bytes: int) -> None:
        self.assistant = assistant
        self.max_bytes = max_bytes
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")

    def submit(self, folder: Path, defaults: dict[str, str]) -> Job:
        """Queue the files saved in `folder` (removed once ingested)."""
        names = tuple(sorted(p.name for p in folder.iterdir()))
        job = Job(id=uuid.uuid4().hex, files=names)
        self._set(job)
        self._worker.submit(self._run, job.id, folder, defaults)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def wait(self, job: Job, timeout: float | None = None) -> Job:
        """`job` once it has ended (or as it is after `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while job.finished is None:
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.05)
            job = self.get(job.id) or job
        return job

    def close(self) -> None:
        """Stop: queued jobs are cancelled, a running one after its current article."""
        self._stopping.set()
        self._worker.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for job in self._jobs.values():
                if job.finished is None:
                    self._jobs[job.id] = replace(job, status="cancelled", finished=time.time())

    def _set(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job
            done = [j for j in self._jobs.values() if j.finished is not None]
            for old in done[: max(0, len(self._jobs) - KEPT_JOBS)]:
                del self._jobs[old.id]

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def _run(self, job_id: str, folder: Path, defaults: dict[str, str]) -> None:
        try:
            self._ingest(job_id, folder, defaults)
        except Cancelled:
            self._update(job_id, status="cancelled", finished=time.time())
        except Exception as exc:  # the job says what failed; the server keeps serving
            message = str(exc) if isinstance(exc, NewsAssistantError) else type(exc).__name__
            self._update(job_id, status="failed", error=message, finished=time.time())
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _ingest(self, job_id: str, folder: Path, defaults: dict[str, str]) -> None:
        files = sorted(folder.iterdir())
        total = count_articles(files, max_bytes=self.max_bytes)
        self._update(job_id, status="running", total=total)

        def progress(summary: IngestSummary) -> None:
            if self._stopping.is_set():
                raise Cancelled("the server is stopping")
            self._update(job_id, seen=summary.seen, stored=summary.articles)

        items = _uploaded(load_paths(files, max_bytes=self.max_bytes), defaults, folder)
        summary = self.assistant.ingest_articles(items, progress=progress)
        self._update(
            job_id,
            status="done",
            seen=summary.seen,
            stored=summary.articles,
            summary=summary_json(summary),
            finished=time.time(),
        )


def _uploaded(
    items: Iterator[LoadResult], defaults: dict[str, str], folder: Path
) -> Iterator[LoadResult]:
    """The loaded items with `defaults` filled in (as `Assistant.ingest` does), each origin
    starting at the uploaded file's name rather than the folder it was saved in, and each
    article whose id came from its saved path (a one-article file without id or url) given an
    id from its uploaded name instead: uploading an edited file again replaces it, as
    ingesting an edited file from one path does."""
    for item in with_defaults(items, defaults):
        name = item.origin.removeprefix(f"{folder}/")
        item = replace(item, origin=name)
        if isinstance(item, Article) and item.id == _path_id(folder / name):
            item = replace(item, id=sha256_hex(f"upload:{name}")[:16])
        yield item


def _path_id(path: Path) -> str:
    """The id the loader gives an article known only by the file it came from."""
    return sha256_hex(str(path.resolve()))[:16]
