"""The store keeps each language's chunks and sentences in collections of their own, so that a
search limited to a language needs no Chroma filter; a store of the older layout (every part in
one collection) is read the same and moved over by `spread_languages`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from test_store import DIM, Built, sample, write

import core.chroma_parts as parts_module
from core.chroma import ChromaStore
from core.store_audit import audit
from core.types import Filters

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from conftest import Backend


@pytest.fixture
def bound(store: ChromaStore) -> ChromaStore:
    store.bind_embedder("test-model", DIM)
    return store


def mixed() -> list[Built]:
    """Two Arabic articles, two English ones and one of no known language."""
    return [
        sample("ar1", n=4, language="ar", seed=1),
        sample("ar2", n=3, language="ar", seed=2),
        sample("en1", n=5, language="en", seed=3),
        sample("en2", n=2, language="en", seed=4),
        sample("xx1", n=2, language="", seed=5),
    ]


def names(store: ChromaStore, kind: str) -> dict[str, int]:
    """Each collection's count, by its name less the store's."""
    return {c.name.removeprefix(store.name): c.count() for c in store.collections(kind)}


def searched(store: ChromaStore, vector: np.ndarray, filters: Filters) -> list[str]:
    return [r.id for r in store.query_sentences(vector, 6, filters)]


def everything(store: ChromaStore, vector: np.ndarray) -> dict[str, list[str]]:
    """What each kind of search finds, to compare two layouts."""
    return {
        lang: searched(store, vector, Filters(language=lang)) for lang in ("", "ar", "en", "fr")
    } | {
        "chunks": [c.id for c in store.query_chunks(vector, 4, Filters())],
        "source": searched(store, vector, Filters(source="WIRE", language="ar")),
        "article": searched(store, vector, Filters(article_id="en1")),
    }


def test_each_language_has_its_own_collections(bound: ChromaStore) -> None:
    for built in mixed():
        write(bound, built)

    assert names(bound, "sentences") == {
        "-sentences-ar": 7,
        "-sentences-en": 7,
        "-sentences": 2,  # no known language
    }
    assert names(bound, "chunks") == {"-chunks-ar": 4, "-chunks-en": 4, "-chunks": 1}
    assert bound.count_sentences() == 16 and bound.count_chunks() == 9


def test_searches_merge_the_languages_nearest_first(bound: ChromaStore) -> None:
    built = mixed()
    for b in built:
        write(bound, b)
    vectors = np.concatenate([b[4] for b in built])
    query = vectors[2] + 0.5 * vectors[9]  # an Arabic sentence, then an English one

    found = bound.query_sentences(query, 16, Filters())
    assert len(found) == 16
    assert [r.dense for r in found] == sorted((r.dense for r in found), reverse=True)
    expected = np.sort(vectors @ query / np.linalg.norm(query))[::-1]
    assert np.allclose([r.dense for r in found], expected, atol=1e-4)
    assert {r.language for r in bound.query_sentences(query, 16, Filters(language="ar"))} == {"ar"}
    assert {r.article_id for r in bound.query_sentences(query, 9, Filters(language="en"))} == {
        "en1",
        "en2",
    }
    assert bound.query_sentences(query, 5, Filters(language="fr")) == []


def test_reads_by_id_find_parts_in_any_language(bound: ChromaStore) -> None:
    built = mixed()
    for b in built:
        write(bound, b)
    keys = [(b[0].id, b[0].content_hash, 1) for b in built]

    got = bound.get_sentences(keys)
    assert [r.article_id for r in got] == ["ar1", "ar2", "en1", "en2", "xx1"]
    vectors = bound.sentence_vectors([r.id for r in got])
    assert np.allclose(vectors[got[0].id], built[0][4][1], atol=1e-6)
    bound.set_speakers("ar2", ["", "the minister", ""])
    assert [r.speaker for r in bound.get_sentences(keys[1:2])] == ["the minister"]
    assert sorted({r.language for r in bound.iter_sentences()}) == ["", "ar", "en"]


def test_replacing_or_deleting_an_article_clears_every_language(bound: ChromaStore) -> None:
    write(bound, sample("a1", n=4, language="en"))
    write(bound, sample("a1", n=3, language="ar", title="now in Arabic"))  # new text, new language

    assert names(bound, "sentences") == {
        "-sentences-ar": 3,
        "-sentences-en": 0,
        "-sentences": 0,
    }
    assert bound.delete_article("a1")
    assert bound.count_sentences() == 0 and bound.count_chunks() == 0


@pytest.fixture
def older(bound: ChromaStore, monkeypatch: pytest.MonkeyPatch) -> ChromaStore:
    """A store written the older way: every part in the base collections."""
    with monkeypatch.context() as patch:
        patch.setattr(parts_module, "language_key", lambda language: parts_module.BASE)
        for built in mixed():
            write(bound, built)
    assert names(bound, "sentences") == {"-sentences": 16}
    return bound


def test_an_older_store_is_read_the_same_and_moved_over(older: ChromaStore) -> None:
    vector = np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)
    before = everything(older, vector)

    told: list[tuple[int, int]] = []
    assert older.spread_languages(lambda done, total: told.append((done, total))) == 14 + 8
    assert told[-1] == (16 + 9, 16 + 9)  # xx1's 2 sentences and chunk looked at, and kept
    assert names(older, "sentences") == {
        "-sentences-ar": 7,
        "-sentences-en": 7,
        "-sentences": 2,
    }
    assert everything(older, vector) == before
    assert older.spread_languages() == 0
    assert older.remove_orphans() == 0
    assert before[""] and before["ar"] and before["article"]


def test_a_stopped_move_is_finished_by_running_it_again(
    older: ChromaStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after writing a page to its language's collection, before deleting it from the
    base one: the parts are in both; they are found once, and a second run moves the rest."""
    monkeypatch.setattr(older, "_batch", 2)
    base = older.collections("sentences")[-1]
    real_delete = type(base).delete
    calls = {"n": 0}

    def stop_on_sixth_delete(self: object, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 6:  # the chunks' four, then one of the Arabic sentences' four
            raise KeyboardInterrupt
        real_delete(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(type(base), "delete", stop_on_sixth_delete)
    with pytest.raises(KeyboardInterrupt):
        older.spread_languages()
    monkeypatch.undo()

    assert older.count_sentences() == 16 + 5  # 5 Arabic ones in both
    vector = np.ones(DIM, dtype=np.float32)
    found = [r.id for r in older.query_sentences(vector, 16, Filters())]
    assert len(found) == len(set(found)) == 16
    assert len(older.get_sentences([("ar1", mixed()[0][0].content_hash, 0)])) == 1
    assert older.spread_languages() > 0
    assert older.remove_orphans() == 0
    assert (older.count_sentences(), older.count_chunks()) == (16, 9)
    assert audit(older).orphans == 0


def test_copies_left_in_both_are_dropped_from_the_base(
    older: ChromaStore, raw_client: ClientAPI, backend: Backend
) -> None:
    base = raw_client.get_collection(f"{backend.collection}-sentences")
    got = base.get(include=["embeddings", "documents", "metadatas"])
    arabic = [n for n, meta in enumerate(got["metadatas"] or []) if meta["language"] == "ar"]
    target = raw_client.get_or_create_collection(
        f"{backend.collection}-sentences-ar", configuration={"hnsw": {"space": "cosine"}}
    )
    target.upsert(
        ids=[got["ids"][n] for n in arabic],
        embeddings=np.asarray(got["embeddings"])[arabic],
        documents=[(got["documents"] or [])[n] for n in arabic],
        metadatas=[(got["metadatas"] or [])[n] for n in arabic],
    )

    assert older.count_sentences() == 16 + 7
    assert older.remove_orphans() == 7
    assert names(older, "sentences") == {"-sentences-ar": 7, "-sentences": 9}


def test_a_search_limited_to_a_language_needs_no_filter_in_its_collection(
    bound: ChromaStore,
) -> None:
    """What makes it fast: Chroma filters by metadata before its vector index, at a cost
    growing with the collection; the language's own collection is searched unfiltered."""
    for built in mixed():
        write(bound, built)
    parts = bound._sentences

    searched = bound._searched(parts, Filters(language="ar"))
    assert [(c.name.removeprefix(bound.name), where) for c, where in searched] == [
        ("-sentences", {"language": "ar"}),  # articles of no plain language code, or older
        ("-sentences-ar", None),
    ]
    limited = bound._searched(parts, Filters(language="ar", source="wire"))
    assert limited[1][1] == {"source": {"$in": ["wire"]}}
    assert all(where is None for _, where in bound._searched(parts, Filters()))


def test_the_sentences_of_each_language_are_counted_from_the_records(bound: ChromaStore) -> None:
    for built in mixed():
        write(bound, built)
    assert bound.language_sizes() == {"ar": 7, "en": 7, "": 2}
    bound.delete_article("en1")
    assert bound.language_sizes() == {"ar": 7, "en": 2, "": 2}
