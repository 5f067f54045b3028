"""ChromaStore against a persistent folder and a real `chroma run` server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from conftest import Backend, OpenStore, free_port

import core.chroma as store_module
from core.chroma import ChromaStore, connect, open_store
from core.errors import StoreError
from core.settings import StoreSettings
from core.store import SentenceSpan
from core.types import Article, Chunk, Filters, Sentence, date_ord

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

DIM = 8
MODEL = "test-model"

Built = tuple[Article, list[Sentence], list[Chunk], np.ndarray, np.ndarray]


def build(
    article_id: str,
    sentences: list[str],
    *,
    title: str = "",
    source: str = "wire",
    date: str = "2024-03-05",
    per_chunk: int = 2,
    seed: int = 0,
    language: str = "en",
) -> Built:
    """An article, its sentences, chunks of `per_chunk` sentences, and unit vectors (dim 8)
    for the chunks and for the sentences."""
    text = " ".join(sentences)
    sents: list[Sentence] = []
    for i, sentence in enumerate(sentences):
        start = text.index(sentence, sents[-1].end if sents else 0)
        sents.append(Sentence(i, start, start + len(sentence), sentence))
    groups = [tuple(sents[i : i + per_chunk]) for i in range(0, len(sents), per_chunk)]
    chunks = [
        Chunk(j, g[0].start, g[-1].end, text[g[0].start : g[-1].end], g)
        for j, g in enumerate(groups)
    ]
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(chunks), DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sentence_vectors = rng.normal(size=(len(sents), DIM))
    sentence_vectors /= np.linalg.norm(sentence_vectors, axis=1, keepdims=True)
    article = Article(
        id=article_id,
        title=title or article_id,
        text=text,
        source=source,
        date=date,
        language=language,
        url=f"https://example.org/{article_id}",
        origin="test",
    )
    return article, sents, chunks, vectors.astype(np.float32), sentence_vectors.astype(np.float32)


def sample(article_id: str = "a1", n: int = 5, **kwargs: Any) -> Built:
    words = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel"]
    sentences = [f"{words[i % len(words)]} sentence {i} of {article_id}." for i in range(n)]
    return build(article_id, sentences, **kwargs)


def write(store: ChromaStore, built: Built) -> None:
    store.write_article(*built)


@pytest.fixture
def bound(store: ChromaStore) -> ChromaStore:
    store.bind_embedder(MODEL, DIM)
    return store


class _FailingUpsert:
    """A collection whose upsert always fails (a crash while writing the article record)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def upsert(self, **kwargs: Any) -> None:
        raise RuntimeError("injected failure")


class _FailingClient:
    """A chromadb client whose `<name>-articles` collection cannot be written."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_or_create_collection(self, name: str, **kwargs: Any) -> Any:
        collection = self._inner.get_or_create_collection(name, **kwargs)
        return _FailingUpsert(collection) if name.endswith("-articles") else collection


def test_write_list_and_get(bound: ChromaStore) -> None:
    built = sample("a1", title="Zebra news")
    article, sents, chunks = built[:3]
    write(bound, built)
    write(bound, sample("b2", n=2, title="apple news"))

    assert bound.count_articles() == 2
    assert bound.count_chunks() == len(chunks) + 1
    listed = bound.list_articles()
    assert [a.id for a in listed] == ["b2", "a1"]  # by title, case-insensitively
    assert listed[1].n_chunks == 3 and listed[1].n_sentences == 5
    assert listed[1].content_hash == article.content_hash == bound.stored_hash("a1")

    got = bound.get_article("a1")
    assert got is not None
    assert (got.text, got.title, got.source, got.origin) == (
        article.text,
        "Zebra news",
        "wire",
        "test",
    )
    assert got.sentence_spans == tuple((s.start, s.end) for s in sents)
    assert bound.get_article("nope") is None and bound.stored_hash("nope") is None


def test_query_returns_nearest_chunk_with_sentence_spans(bound: ChromaStore) -> None:
    article, _sents, chunks, vectors, _ = built = sample("a1")
    write(bound, built)
    write(bound, sample("other", seed=7))

    hits = bound.query_chunks(vectors[1], k=3)
    assert len(hits) == 3
    top = hits[0]
    assert (top.article_id, top.chunk_index, top.text) == ("a1", 1, chunks[1].text)
    assert top.score == pytest.approx(1.0, abs=1e-5)
    assert hits[1].score <= top.score
    assert top.sentences == tuple(
        SentenceSpan(s.index, s.start, s.end) for s in chunks[1].sentences
    )
    assert all(article.text[s.start : s.end] for s in top.sentences)
    assert article.text[top.char_start : top.char_end] == top.text
    assert (top.sentence_first, top.sentence_last) == (2, 3)
    assert top.date == "2024-03-05" and top.content_hash == article.content_hash


def test_query_on_empty_store_and_k_larger_than_store(bound: ChromaStore) -> None:
    assert bound.query_chunks(np.ones(DIM), k=5) == []
    write(bound, sample("a1", n=2))
    assert len(bound.query_chunks(np.ones(DIM), k=50)) == 1


def test_writing_the_same_article_again_changes_nothing(bound: ChromaStore) -> None:
    built = sample("a1")
    write(bound, built)
    write(bound, built)
    assert (bound.count_articles(), bound.count_chunks()) == (1, 3)


def test_changed_text_replaces_all_old_chunks(bound: ChromaStore) -> None:
    write(bound, sample("a1", n=6))
    new = sample("a1", n=3, title="edited", seed=3)
    write(bound, new)

    assert (bound.count_articles(), bound.count_chunks()) == (1, 2)
    assert bound.stored_hash("a1") == new[0].content_hash
    hits = bound.query_chunks(np.ones(DIM), k=10)
    assert {h.content_hash for h in hits} == {new[0].content_hash}


def test_delete_article(bound: ChromaStore) -> None:
    write(bound, sample("a1"))
    write(bound, sample("b2"))
    assert bound.delete_article("a1") is True
    assert bound.delete_article("a1") is False
    assert (bound.count_articles(), bound.count_chunks()) == (1, 3)
    assert [a.id for a in bound.list_articles()] == ["b2"]


def test_failure_while_writing_the_record_leaves_no_chunks(
    open_more: OpenStore, bound: ChromaStore
) -> None:
    old = sample("a1", n=4)
    write(bound, old)
    failing = open_more(_FailingClient)
    failing.bind_embedder(MODEL, DIM)

    with pytest.raises(RuntimeError, match="injected"):
        failing.write_article(*sample("fresh"))
    with pytest.raises(RuntimeError, match="injected"):
        failing.write_article(*sample("a1", n=6, title="edited"))

    assert bound.stored_hash("fresh") is None
    assert bound.stored_hash("a1") == old[0].content_hash  # the old version is untouched
    assert (bound.count_articles(), bound.count_chunks()) == (1, 2)
    assert bound.remove_orphans() == 0


def test_remove_orphans(backend: Backend, raw_client: ClientAPI, bound: ChromaStore) -> None:
    write(bound, sample("a1"))
    write(bound, sample("b2", n=4))
    raw = raw_client
    raw.get_collection(f"{backend.collection}-articles").delete(ids=["b2"])  # crash before commit
    stale = {"article_id": "a1", "content_hash": "f" * 64, "sentences": "[]"}
    raw.get_collection(f"{backend.collection}-chunks").upsert(
        ids=["a1:ffffffffffff:0"],
        embeddings=np.ones((1, DIM), dtype=np.float32),
        documents=["stale"],
        metadatas=[stale],
    )

    assert bound.count_chunks() == 3 + 2 + 1
    assert bound.remove_orphans() == 3 + 4  # b2's 2 chunks + the stale one, b2's 4 sentences
    assert bound.remove_orphans() == 0
    assert (bound.count_articles(), bound.count_chunks(), bound.count_sentences()) == (1, 3, 5)


def test_records_missing_their_parts_are_dropped(
    backend: Backend, raw_client: ClientAPI, bound: ChromaStore
) -> None:
    """What two writers at once left: a record claiming parts that are not there."""
    write(bound, sample("a1"))
    write(bound, sample("b2", n=4))
    sentences = raw_client.get_collection(f"{backend.collection}-sentences-en")
    [lost] = [
        i for i in sentences.get(include=[])["ids"] if i.startswith("b2:") and i.endswith("s1")
    ]
    sentences.delete(ids=[lost])

    assert bound.remove_orphans() == 1  # b2's record (its other parts go with it)
    assert [a.id for a in bound.list_articles()] == ["a1"]
    assert bound.stored_hash("b2") is None  # so the next ingest stores it again
    assert (bound.count_chunks(), bound.count_sentences()) == (3, 5)
    assert bound.remove_orphans() == 0


def test_other_embedder_is_refused(open_more: OpenStore, bound: ChromaStore) -> None:
    write(bound, sample("a1"))
    again = open_more()
    again.bind_embedder(MODEL, DIM)
    with pytest.raises(
        StoreError, match=r"built with the embedder test-model \(dim 8\).*new --store"
    ):
        again.bind_embedder("other-model", DIM)
    with pytest.raises(StoreError, match="built with the embedder test-model"):
        again.bind_embedder(MODEL, 16)
    with pytest.raises(StoreError, match="EMBEDDER__MODEL=test-model"):
        again.check_embedder("other-model", DIM)
    again.check_embedder(MODEL, DIM)


def test_metadata_filters_pass_through(bound: ChromaStore) -> None:
    write(bound, sample("a1", source="reuters", date="2023-12-31"))
    write(bound, sample("b2", source="afp", date="2024-02-01", seed=1))
    write(bound, sample("c3", source="afp", date="", seed=2))

    by_source = bound.query_chunks(np.ones(DIM), k=20, filters=Filters(source="afp"))
    assert {h.article_id for h in by_source} == {"b2", "c3"}
    recent = bound.query_chunks(np.ones(DIM), k=20, filters=Filters(since="2024-01-01"))
    assert {h.article_id for h in recent} == {"b2"}


def test_pagination_and_batches(monkeypatch: pytest.MonkeyPatch, open_more: OpenStore) -> None:
    monkeypatch.setattr(store_module, "_PAGE", 2)
    monkeypatch.setattr(store_module, "_WRITE_BATCH", 2)
    small = open_more()
    small.bind_embedder(MODEL, DIM)
    for i in range(5):
        write(small, sample(f"art{i}", n=7, seed=i))
    assert [a.id for a in small.list_articles()] == [f"art{i}" for i in range(5)]
    assert small.count_chunks() == 20


def test_bad_input_is_refused(store: ChromaStore) -> None:
    with pytest.raises(RuntimeError, match="bind_embedder"):
        store.write_article(*sample("a1"))
    store.bind_embedder(MODEL, DIM)
    article, sents, chunks, vectors, sentence_vectors = sample("a1")
    with pytest.raises(ValueError, match="8-dim vector per chunk or sentence"):
        store.write_article(article, sents, chunks, vectors[:2], sentence_vectors)
    with pytest.raises(ValueError, match="8-dim vector per chunk or sentence"):
        store.write_article(article, sents, chunks, vectors, sentence_vectors[:2])
    assert store.count_chunks() == 0


def test_unreachable_server_says_how_to_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError, match=rf"{url}.*chroma run --path DIR --port .*NEWS_ASSISTANT"):
        open_store(StoreSettings(url=url))


def test_bad_names_and_urls() -> None:
    with pytest.raises(StoreError, match="bad collection name"):
        ChromaStore(object(), "no spaces")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="not a Chroma URL"):
        open_store(StoreSettings(url="ftp://127.0.0.1:1"))
    with pytest.raises(StoreError, match="no store given"):
        connect()


def test_date_ord() -> None:
    assert date_ord("2024-03-05") == 20240305
    assert date_ord("2024-03-05T10:00:00Z") == 20240305
    assert date_ord("2024/3") == 20240300
    assert date_ord("") == date_ord("March 2024") == 0


def test_sentences_are_stored_queried_and_listed(bound: ChromaStore) -> None:
    built = sample("a1")
    article, sents, _chunks, _vectors, sentence_vectors = built
    write(bound, built)
    write(bound, sample("b2", n=3, seed=3))

    assert bound.count_sentences() == 5 + 3
    hits = bound.query_sentences(sentence_vectors[2], k=2)
    assert (hits[0].article_id, hits[0].sentence_index, hits[0].sentence) == (
        "a1",
        2,
        sents[2].text,
    )
    assert hits[0].dense == pytest.approx(1.0, abs=1e-5)
    assert article.text[hits[0].start : hits[0].end] == hits[0].sentence
    listed = {h.key: h for h in bound.iter_sentences()}
    assert len(listed) == 8 and listed[("b2", 0)].source == "wire"
    vectors = bound.sentence_vectors([hits[0].id, "unknown"])
    assert list(vectors) == [hits[0].id]
    assert np.allclose(vectors[hits[0].id], sentence_vectors[2], atol=1e-6)
    only_b2 = bound.query_sentences(sentence_vectors[2], k=10, filters=Filters(article_id="b2"))
    assert {h.article_id for h in only_b2} == {"b2"}
    assert bound.delete_article("a1")
    assert bound.count_sentences() == 3


def test_a_batch_is_written_whole_or_not_at_all(open_more: OpenStore, bound: ChromaStore) -> None:
    from core.store import ArticleWrite

    batch = [ArticleWrite(*sample(name, n=3, seed=i)) for i, name in enumerate(("x1", "x2"))]
    failing = open_more(_FailingClient)
    failing.bind_embedder(MODEL, DIM)
    with pytest.raises(RuntimeError, match="injected"):
        failing.write_articles(batch)
    assert (bound.count_articles(), bound.count_chunks(), bound.count_sentences()) == (0, 0, 0)

    bound.write_articles(batch)
    assert [a.id for a in bound.list_articles()] == ["x1", "x2"]
    assert (bound.count_chunks(), bound.count_sentences()) == (4, 6)
