"""The chunks or the sentences of a Chroma store, one collection per article language.

Chroma applies a metadata filter before its vector index, at a cost that grows with the
collection: over the 275,288 sentences of all SaudiNewsNet, a search limited to one language
took 0.4-2 s against 10 ms unlimited (scripts/bench_query_scale.py). Retrieval searches each
stored language on its own (assistant/ask/retrieve.py), so each language's parts have a
collection of their own, `<store>-<kind>-<language>` ("news-sentences-ar"), where a search
limited to that language is an unlimited one. Parts of an article whose language is not a plain
code ("", or one a loader made up) stay in `<store>-<kind>`, the base collection; a store
written before this layout keeps every part there until `spread` moves them (through
`news-assistant reindex`); reading works either way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import Include

_CODE = re.compile(r"[a-z]{2,3}")  # "ar", "en", "fil": a language with a collection of its own
BASE = ""  # the key of the base collection


def language_key(language: str) -> str:
    """The collection key of an article language: the language itself when it is a plain
    code, else BASE."""
    return language if _CODE.fullmatch(language) else BASE


class LanguageParts:
    """One kind of part (chunks or sentences) of one store: the base collection and one
    collection per language, opened by `opener(name)` (which creates a missing one)."""

    def __init__(self, client: ClientAPI, base: str, opener: Callable[[str], Collection]) -> None:
        self._client = client
        self._base = base
        self._open = opener
        self._by_key: dict[str, Collection] = {BASE: opener(base)}

    @property
    def base(self) -> Collection:
        return self._by_key[BASE]

    def of(self, language: str) -> Collection:
        """The collection for `language`'s parts, created on first use."""
        key = language_key(language)
        if key not in self._by_key:
            self._by_key[key] = self._open(f"{self._base}-{key}")
        return self._by_key[key]

    def existing(self) -> dict[str, Collection]:
        """Every collection of these parts in the store (also those another process made),
        by key: the languages first, sorted, then BASE."""
        prefix = f"{self._base}-"
        for found in self._client.list_collections():
            key = found.name.removeprefix(prefix)
            if found.name.startswith(prefix) and _CODE.fullmatch(key) and key not in self._by_key:
                self._by_key[key] = self._open(found.name)
        keys = [*sorted(k for k in self._by_key if k != BASE), BASE]
        return {k: self._by_key[k] for k in keys}

    def count(self) -> int:
        return sum(c.count() for c in self.existing().values())

    def get(self, ids: Sequence[str], include: Include) -> dict[str, list[Any]]:
        """The parts with these ids wherever they are: "ids" and each field of `include`, one
        row per part found (an id found twice, in a spread that was stopped, counts once)."""
        rows: dict[str, list[Any]] = {"ids": [], **{field: [] for field in include}}
        seen: set[str] = set()
        if not ids:
            return rows
        for collection in self.existing().values():
            got = collection.get(ids=list(ids), include=include)
            for n, part_id in enumerate(got["ids"]):
                if part_id in seen:
                    continue
                seen.add(part_id)
                rows["ids"].append(part_id)
                for field in include:
                    rows[field].append(got[field][n])  # type: ignore[typeddict-item]
        return rows

    def holding(self, ids: Sequence[str]) -> Iterable[tuple[Collection, list[str]]]:
        """Each collection with those of `ids` it holds."""
        for collection in self.existing().values():
            held = collection.get(ids=list(ids), include=[])["ids"] if ids else []
            if held:
                yield collection, held


def by_language(metas: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
    """The row numbers of each collection key, from each row's "language"."""
    groups: dict[str, list[int]] = {}
    for n, meta in enumerate(metas):
        language = meta.get("language")
        groups.setdefault(language_key(language if isinstance(language, str) else ""), []).append(n)
    return groups
