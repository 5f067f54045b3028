"""Ingestion end to end with a fake embedder: idempotent, replaces changed articles, never
half-writes, and reports every bad input with its reason while the rest goes in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Backend

from assistant.api import Assistant
from core.chroma import ChromaStore
from core.embedder import HashingEmbedder
from core.errors import StoreConnectionError, StoreError
from core.settings import Settings

ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "data" / "sample" / "airstrike-deir-ez-zor.ar.txt"


@pytest.fixture
def assistant(store: ChromaStore) -> Assistant:
    return Assistant(Settings(), store=store, embedder=HashingEmbedder())


def test_sample_article_twice_adds_nothing(assistant: Assistant, store: ChromaStore) -> None:
    first = assistant.ingest([SAMPLE])
    assert (first.articles, first.sentences, first.failed) == (1, 17, 0)
    assert first.chunks == store.count_chunks() > 1
    second = assistant.ingest([SAMPLE])
    assert (second.articles, second.chunks, second.unchanged) == (0, 0, 1)
    assert store.count_chunks() == first.chunks
    [stored] = assistant.articles()
    assert stored.title == "airstrike deir ez zor"
    assert stored.n_sentences == 17


def test_changed_article_replaces_all_old_chunks(
    assistant: Assistant, store: ChromaStore, tmp_path: Path
) -> None:
    path = tmp_path / "story.txt"
    path.write_text("Title line\nThe first version says ten people died. It was Monday.\n")
    assistant.ingest([path])
    old_ids = {a.content_hash for a in assistant.articles()}
    path.write_text("Title line\nThe second version says twelve people died.\n")
    summary = assistant.ingest([path])
    assert summary.articles == 1
    [article] = assistant.articles()
    assert article.content_hash not in old_ids
    hits = store.query_chunks(HashingEmbedder().embed_queries(["ten people died"])[0], k=10)
    assert hits and all("second version" in hit.text for hit in hits)


def test_defaults_fill_missing_metadata_only(assistant: Assistant, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps(
            [
                {"title": "A", "content": "One fact.", "source": "Reuters"},
                {"title": "B", "content": "Two facts."},
            ]
        )
    )
    assistant.ingest([tmp_path / "a.json"], defaults={"source": "Local", "date": "2018-07-20"})
    sources = {a.title: (a.source, a.date) for a in assistant.articles()}
    assert sources == {"A": ("Reuters", "2018-07-20"), "B": ("Local", "2018-07-20")}


def test_bad_inputs_are_reported_and_the_rest_ingested(
    assistant: Assistant, tmp_path: Path
) -> None:
    (tmp_path / "good.txt").write_text("Good story\nSomething happened today.\n")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "lines.jsonl").write_text('{"title": "ok", "text": "Fine line."}\n{broken\n')
    (tmp_path / "scripts.html").write_text(
        "<html><head><script>var a = 1;</script><style>p{}</style></head>"
        "<body><nav><a href='/'>Home</a></nav><script>alert(1)</script></body></html>"
    )
    summary = assistant.ingest([tmp_path])
    assert summary.articles == 2
    reasons = {Path(f.origin.split("#")[0].split(":")[0]).name: f.reason for f in summary.failures}
    assert set(reasons) == {"empty.txt", "binary.txt", "lines.jsonl", "scripts.html"}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "JSON" in reasons["lines.jsonl"]
    assert "HTML" in reasons["scripts.html"]


class FailingRecords(ChromaStore):
    """Writes chunks and sentences, then fails writing the article records (the commit
    markers): what a dying server or a full disk does halfway through a batch."""

    def _upsert(self, collection: Any, *args: Any) -> None:
        if collection is self._articles:
            raise StoreError("the server went away while writing the article records")
        super()._upsert(collection, *args)


def test_a_failed_write_is_rolled_back_and_named(
    backend: Backend, assistant: Assistant, tmp_path: Path
) -> None:
    assistant.ingest([SAMPLE])  # stored before: must survive the failed run
    before = (assistant.store.count_articles(), assistant.store.count_sentences())
    for name in ("one", "two"):
        (tmp_path / f"{name}.txt").write_text(f"Story {name}\nA sentence. Another one.\n")
    failing = FailingRecords(backend.client(), backend.collection)
    try:
        broken = Assistant(Settings(), store=failing, embedder=HashingEmbedder())
        summary = broken.ingest([tmp_path])
        assert (summary.articles, summary.failed) == (0, 2)
        assert all("went away" in f.reason for f in summary.failures)
        assert (failing.count_articles(), failing.count_sentences()) == before
        assert failing.count_chunks() == assistant.store.count_chunks()
        assert failing.remove_orphans() == 0  # the rollback left no parts behind
    finally:
        failing.close()


class DroppedConnection(ChromaStore):
    """A server that drops the connection while the article records are written."""

    def _upsert(self, collection: Any, *args: Any) -> None:
        if collection is self._articles:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        super()._upsert(collection, *args)


def test_a_dropped_server_connection_ends_the_run_with_the_fix(
    backend: Backend, tmp_path: Path
) -> None:
    for name in ("one", "two"):
        (tmp_path / f"{name}.txt").write_text(f"Story {name}\nA sentence. Another one.\n")
    dropping = DroppedConnection(backend.client(), backend.collection, location="http://db:8000")
    try:
        broken = Assistant(Settings(), store=dropping, embedder=HashingEmbedder())
        with pytest.raises(StoreConnectionError) as raised:
            broken.ingest([tmp_path])
        assert str(raised.value).startswith(
            "the Chroma server at http://db:8000 stopped answering (RemoteProtocolError: Server "
            "disconnected without sending a response.); check that `chroma run` is still running"
        )
        assert dropping.count_articles() == 0
    finally:
        dropping.close()


class KilledBeforeTheRecords(FailingRecords):
    """What a kill between the parts and the records leaves: parts, no record, no rollback."""

    def _undo_write(self, article_id: str, content_hash: str) -> None:
        return


def test_parts_of_an_incomplete_article_are_never_evidence(
    backend: Backend, assistant: Assistant, tmp_path: Path
) -> None:
    (tmp_path / "kept.txt").write_text("Kept story\nThe bridge over the river was closed.\n")
    assistant.ingest([tmp_path / "kept.txt"])
    (tmp_path / "lost.txt").write_text("Lost story\nThe bridge over the river was closed today.\n")
    killed = KilledBeforeTheRecords(backend.client(), backend.collection)
    try:
        Assistant(Settings(), store=killed, embedder=HashingEmbedder()).ingest(
            [tmp_path / "lost.txt"]
        )
        assert killed.count_sentences() > assistant.store.count_articles()  # orphans are there
    finally:
        killed.close()
    answer = assistant.ask("Was the bridge over the river closed?")
    assert {e.title for e in answer.evidence} == {"Kept story"}
    assert all(c.title == "Kept story" for c in answer.citations)


def _lines(path: Path, *articles: dict[str, str]) -> Path:
    path.write_text("\n".join(json.dumps(a) for a in articles), encoding="utf-8")
    return path


@pytest.mark.parametrize("batch_chunks", [1000, 1], ids=["one batch", "batch per article"])
def test_one_id_twice_in_a_run_keeps_the_later_text(
    store: ChromaStore, tmp_path: Path, batch_chunks: int
) -> None:
    settings = Settings.model_validate({"ingest": {"batch_chunks": batch_chunks}})
    assistant = Assistant(settings, store=store, embedder=HashingEmbedder())
    path = _lines(
        tmp_path / "twice.jsonl",
        {"id": "x1", "title": "First", "content": "The first text of x1."},
        {"id": "y2", "title": "Other", "content": "Another article."},
        {"id": "x1", "title": "Second", "content": "The second text of x1."},
    )
    summary = assistant.ingest([path])
    assert (summary.articles, summary.replaced, summary.failed) == (2, 1, 0)
    assert summary.articles == store.count_articles()
    detail = store.get_article("x1")
    assert detail is not None and detail.text == "The second text of x1."
    again = assistant.ingest([path])  # no DuplicateIDError on a rerun either; the later text wins
    assert (again.replaced, again.failed, store.count_articles()) == (1, 0, 2)
    detail = store.get_article("x1")
    assert detail is not None and detail.text == "The second text of x1."


def test_the_same_content_under_another_id_is_a_duplicate(
    assistant: Assistant, store: ChromaStore, tmp_path: Path
) -> None:
    story = {"title": "Story", "content": "The same words in two files."}
    assistant.ingest([_lines(tmp_path / "a.jsonl", {"id": "a", **story})])
    summary = assistant.ingest(
        [_lines(tmp_path / "b.jsonl", {"id": "b", **story}, {"id": "c", **story})]
    )
    assert (summary.articles, summary.unchanged) == (0, 0)
    assert [(Path(d.origin).name, d.stored_id) for d in summary.duplicates] == [
        ("b.jsonl:1", "a"),
        ("b.jsonl:2", "a"),
    ]
    assert [a.id for a in assistant.articles()] == ["a"]


def test_asking_with_another_embedder_names_the_one_the_store_was_built_with(
    assistant: Assistant, store: ChromaStore
) -> None:
    assistant.ingest([SAMPLE])
    other = Assistant(Settings(), store=store, embedder=HashingEmbedder(dim=32))
    with pytest.raises(StoreError, match=r"built with the embedder hashing-64 \(dim 64\)"):
        other.ask("How many civilians died?")  # was a raw chromadb dimension error
    assert assistant.ask("How many civilians died?").citations  # the right one still asks
