"""Giving freed memory back to the operating system between embedding batches.

Encoding a batch allocates and frees hundreds of MB of activations; glibc's allocator keeps
what torch freed in its heaps (its mmap threshold grows to the largest block freed), and the
heaps fragment: measured here, peak RSS of the bare e5 embedder rose from 1.37 to 1.73 GB over
24 batches of 96 texts, and an ingest of 400 articles peaked 360 MB above one of 100.
`malloc_trim` after each batch hands the free pages back. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    return trim if callable(trim) else None


def release_free_memory() -> None:
    """Return the allocator's free pages to the operating system (glibc), else nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
