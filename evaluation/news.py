"""News subsets for the evaluation's distractors and latency stores.

SaudiNewsNet (Arabic) ships as one zip per day (`YYYY-MM-DD.zip`, each holding a JSON array); a
folder of those zips or a JSONL file both work; its subset is the first n distinct articles
(days in order, articles in file order, duplicates by url dropped). BBC News (English) is a
folder of one .txt per article in one folder per category; its subset takes the categories in
turn (files sorted by name). Both are deterministic, so a store built from one can be reused.
"""

from __future__ import annotations

import itertools
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant import Article, load_paths


def news_items(source: Path) -> Iterator[dict[str, Any]]:
    """Articles (raw JSON objects with text) from a JSONL file, a zip, or a folder of zips."""
    if source.is_dir():
        for path in sorted(source.glob("*.zip")):
            yield from _zip_items(path)
    elif source.suffix.lower() == ".zip":
        yield from _zip_items(source)
    else:
        with source.open(encoding="utf-8-sig") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def _zip_items(path: Path) -> Iterator[dict[str, Any]]:
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist()):
            if name.lower().endswith(".json"):
                yield from json.loads(archive.read(name).decode("utf-8-sig"))


def file_articles(path: Path) -> list[Article]:
    """Every article in a news file, whatever its size (the file is ours, not a user's)."""
    items = load_paths([path], max_bytes=1 << 34)
    return [item for item in items if isinstance(item, Article)]


def write_subset(source: Path, n: int, out: Path) -> Path:
    """Write the first `n` distinct articles with text from `source` to `out` (JSONL)."""
    seen: set[str] = set()
    rows: list[str] = []
    for item in news_items(source):
        key = str(item.get("url") or item.get("content", ""))[:500]
        if not str(item.get("content", "")).strip() or key in seen:
            continue
        seen.add(key)
        rows.append(json.dumps(item, ensure_ascii=False))
        if len(rows) == n:
            break
    if len(rows) < n:
        raise ValueError(f"{source} holds only {len(rows)} articles with text; asked for {n}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists() or out.read_text(encoding="utf-8") != "\n".join(rows) + "\n":
        out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def spread_files(folder: Path, n: int, pattern: str = "*.txt") -> list[Path]:
    """`n` files of `folder`'s subfolders (categories), taking one from each in turn, each
    subfolder's files sorted by name; files directly in `folder` count as one category."""
    groups: dict[Path, list[Path]] = {}
    for path in sorted(folder.rglob(pattern)):
        groups.setdefault(path.parent, []).append(path)
    rounds = itertools.zip_longest(*groups.values())
    chosen = [path for row in rounds for path in row if path is not None][:n]
    if len(chosen) < n:
        raise ValueError(f"{folder} holds only {len(chosen)} {pattern} files; asked for {n}")
    return chosen
