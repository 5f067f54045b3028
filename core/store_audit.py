"""A full check of what a Chroma store holds, record by record and part by part: the articles
stored (and how often), the parts a complete record claims, the orphan parts no record claims,
records missing some of their parts, and records sharing content. For resumability checks
(tests/test_kill_ingest.py, scripts/kill_ingest.py); it reads every record's metadata, so it
is not for large stores."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.chroma import ChromaStore

PARTS = ("chunks", "sentences")


@dataclass(frozen=True)
class Audit:
    """What a store holds; `orphans`, `incomplete` and `duplicates` are 0 in a sound store."""

    ids: Counter[str]  # article id -> records with it (Chroma keeps ids unique: 1 each)
    chunks: int
    sentences: int
    orphans: int  # parts whose article has no record, or a record for other content
    incomplete: int  # records with fewer parts than they claim
    duplicates: int  # records whose content hash another record also has

    @property
    def articles(self) -> int:
        return sum(self.ids.values())


def audit(store: ChromaStore) -> Audit:
    """Read every record and part of `store` and count what is sound and what is not."""
    store.count_articles()  # reconnects first when another process wrote to an embedded store
    records = _metadatas(store, "articles")
    owned = {(i, str(m.get("content_hash"))) for i, m in records}
    claimed = Counter({i: _int(m, "n_chunks") + _int(m, "n_sentences") for i, m in records})
    present: Counter[str] = Counter()
    orphans, sizes = 0, []
    for kind in PARTS:
        parts = _metadatas(store, kind)
        sizes.append(len(parts))
        for _, meta in parts:
            owner = (str(meta.get("article_id")), str(meta.get("content_hash")))
            if owner in owned:
                present[owner[0]] += 1
            else:
                orphans += 1
    hashes = Counter(h for _, h in owned)
    return Audit(
        ids=Counter(i for i, _ in records),
        chunks=sizes[0],
        sentences=sizes[1],
        orphans=orphans,
        incomplete=sum(present[i] < n for i, n in claimed.items()),
        duplicates=sum(n for n in hashes.values() if n > 1),
    )


def _metadatas(store: ChromaStore, kind: str) -> list[tuple[str, Mapping[str, Any]]]:
    if kind == "articles":
        collections = [store.client.get_collection(f"{store.name}-{kind}", embedding_function=None)]
    else:
        collections = store.collections(kind)
    rows: list[tuple[str, Mapping[str, Any]]] = []
    for collection in collections:
        got = collection.get(include=["metadatas"])
        rows.extend(zip(got["ids"], got["metadatas"] or [], strict=True))
    return rows


def _int(meta: Mapping[str, Any], key: str) -> int:
    value = meta.get(key)
    return int(value) if isinstance(value, int | float) else 0
