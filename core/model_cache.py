"""Model folders in the cache, built or installed beside their target and renamed into place:
the names of those temporary siblings, the removal of ones left by killed processes, and the
rename itself. Shared by the e5 build (core/e5_model.py), the ONNX exports (core/onnx_model.py)
and the EmbeddingGemma install (core/gemma_model.py)."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from core.errors import ModelError

log = logging.getLogger(__name__)


def sibling(target: Path, kind: str) -> Path:
    """A fresh folder name beside `target` for this process: "<name>.<kind>-<pid>-<random>"
    (kind "tmp" for work in progress, "stale" for a folder on its way out)."""
    return target.with_name(f"{target.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def remove_abandoned(target: Path) -> None:
    """Delete temporary siblings of `target` whose process is gone (killed mid-way)."""
    for path in target.parent.glob(f"{target.name}.tmp-*"):
        pid = path.name.removeprefix(f"{target.name}.tmp-").split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            log.info("removing abandoned folder %s", path)
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def publish(work: Path, target: Path, is_current: Callable[[Path], bool]) -> None:
    """Rename the finished folder `work` to `target`, replacing a `target` that is not current;
    a current one another process published first wins (and `work` is left for the caller to
    remove)."""
    if target.exists():
        if is_current(target):
            log.info("%s was built meanwhile by another process; keeping it", target)
            return
        stale = sibling(target, "stale")
        with suppress(FileNotFoundError):  # another process may have moved it already
            os.rename(target, stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(work, target)
    except OSError:
        if not is_current(target):
            raise
        log.info("%s was built meanwhile by another process; keeping it", target)


@contextmanager
def building(target: Path, failed: str, fix: str) -> Iterator[Path]:
    """A temporary sibling of `target` (not yet created) to build a model folder in, removed
    afterwards whether or not it was published. An error other than a ModelError becomes
    the ModelError "`failed` in TARGET: ERROR. Check free disk space and write access to its
    folder, or `fix`"."""
    work = sibling(target, "tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield work
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{failed} in {target}: {exc}. Check free disk space and write access to "
            f"{target.parent}, or {fix}"
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
