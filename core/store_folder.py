"""An embedded store folder shared by several processes: one writer at a time, and readers that
notice what another process wrote.

- Writing takes an exclusive lock on the folder (`.news-assistant.lock`, an OS file lock, so a
  killed writer never leaves it behind). Inside one process it is shared: the UI's threads, or
  an ingest and its writer thread, do not wait for each other.
- Chroma's embedded client keeps each collection's vector index in memory, once per process,
  and never reloads it: after another process writes, queries fail ("Error finding id") or
  miss the new parts. Every write that holds the lock ends by recording its process id and
  time in `.news-assistant.writes`, so before each operation a store reads that line; when
  another process wrote, the folder's generation goes up, this process's Chroma system for
  the folder is restarted once, and every store on the folder reconnects. (Writes by this
  process through other clients, such as a LangChain Chroma on the same folder, are not
  taken for another process's.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import StoreError

log = logging.getLogger(__name__)

LOCK_NAME = ".news-assistant.lock"
WRITES_NAME = ".news-assistant.writes"  # "PID TIME_NS" of the last write that held the lock
WRITE_WAIT_S = 2.0  # how long a writer waits for another process's write to end

Stamp = str


@dataclass
class _Folder:
    """What this process knows about one folder (shared by every store opened on it)."""

    stamp: Stamp | None = None
    generation: int = 0
    restarted: int = 0  # the generation the Chroma system was last restarted for
    writers: int = 0
    guard: threading.Lock = field(default_factory=threading.Lock)


_FOLDERS: dict[Path, _Folder] = {}
_FOLDERS_GUARD = threading.Lock()


def _shared(path: Path) -> _Folder:
    with _FOLDERS_GUARD:
        return _FOLDERS.setdefault(path, _Folder())


def _stamp(path: Path) -> Stamp:
    try:
        return (path / WRITES_NAME).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _by_another_process(stamp: Stamp) -> bool:
    return bool(stamp) and stamp.split(" ")[0] != str(os.getpid())


def _record_write(path: Path) -> Stamp:
    stamp = f"{os.getpid()} {time.time_ns()}"
    partial = path / f"{WRITES_NAME}.{os.getpid()}"
    try:
        partial.write_text(stamp, encoding="ascii")
        os.replace(partial, path / WRITES_NAME)
    except OSError:  # a read-only folder: readers fall back on Chroma's errors
        return _stamp(path)
    return stamp


class FolderWatch:
    """One store's view of its folder: `writing()` around writes, `stale()` before every
    operation, `restart_once()` and `reconnected()` when it was."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self._folder = _shared(self.path)
        self._generation = self._folder.generation

    def seen(self) -> None:
        """Take the folder as it is now as this process's own state (after opening it)."""
        with self._folder.guard:
            self._folder.stamp = _stamp(self.path)

    def stale(self) -> bool:
        """True when another process wrote since this store last connected (or was told to
        reconnect by `invalidate`)."""
        folder = self._folder
        with folder.guard:
            if folder.writers == 0:
                now = _stamp(self.path)
                if folder.stamp is not None and now != folder.stamp and _by_another_process(now):
                    folder.generation += 1
                    log.info("%s changed on disk (another process wrote): reconnecting", self.path)
                folder.stamp = now
            return self._generation != folder.generation

    def invalidate(self) -> None:
        """Force every store on the folder to reconnect (after Chroma failed to read)."""
        with self._folder.guard:
            self._folder.generation += 1

    def restart_once(self, restart: Callable[[], None]) -> None:
        """Call `restart()` unless another store of this process already did for this
        generation."""
        folder = self._folder
        with folder.guard:
            if folder.restarted < folder.generation:
                folder.restarted = folder.generation
                restart()

    def reconnected(self) -> None:
        self._generation = self._folder.generation

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the folder's write lock (waiting WRITE_WAIT_S for another process's write to
        end, then StoreError) and count this process's writes, so they are not taken for
        another process's."""
        import filelock

        lock = filelock.FileLock(
            self.path / LOCK_NAME, timeout=WRITE_WAIT_S, thread_local=False, is_singleton=True
        )
        try:
            lock.acquire()
        except filelock.Timeout:
            raise StoreError(
                f"another process is writing to the store at {self.path} (an ingest, delete or "
                "reindex); wait for it to finish and run this again"
            ) from None
        try:
            with self._folder.guard:
                self._folder.writers += 1
            try:
                yield
            finally:
                with self._folder.guard:
                    self._folder.writers -= 1
                    self._folder.stamp = _record_write(self.path)
        finally:
            lock.release()
