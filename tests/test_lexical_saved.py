"""The BM25 index saved beside an embedded store: the same rankings as bm25s, kept up to date
by ingests in batches, deletes and replacements, other processes (killed ones included), and
rebuilt when its files are damaged (the hashing embedder: no model)."""

from __future__ import annotations

import logging
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from test_store_processes import articles_file, cli

from assistant.api import Assistant, with_location
from assistant.ask import lexical_saved
from assistant.ask.lexical import LexicalIndex
from assistant.ask.lexical_saved import SavedLexicalIndex, Snapshot, saved_index
from core.chroma import lexical_dir
from core.embedder import HashingEmbedder
from core.settings import IngestSettings, Settings, StoreSettings
from core.types import Article, Filters

WORDS = (
    "harbour ferry storm minister budget oil price market strike rescue council school "
    "hospital bridge railway drought harvest election court festival museum airport desert "
    "pipeline refinery tanker convoy border village"
).split()
QUERIES = [["ferry", "harbour"], ["oil", "price", "market"], ["court"], ["storm", "storm"]]


def corpus(n: int, seed: int = 7) -> list[Article]:
    """`n` articles of 2-4 sentences of 3-12 words drawn from WORDS (deterministic)."""
    rng = random.Random(seed)
    articles = []
    for i in range(n):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))).capitalize() + "."
            for _ in range(rng.randint(2, 4))
        ]
        source = "Reuters" if i % 3 else "AFP"
        date = f"2024-0{1 + i % 9}-1{i % 10}"
        articles.append(
            Article(f"a{i}", f"Title {i}", " ".join(sentences), source=source, date=date)
        )
    return articles


def open_assistant(folder: Path, batch_chunks: int = 256) -> Assistant:
    settings = with_location(
        Settings(ingest=IngestSettings(batch_chunks=batch_chunks)), str(folder)
    )
    return Assistant(settings, embedder=HashingEmbedder())


def index_of(assistant: Assistant) -> SavedLexicalIndex:
    index = saved_index(assistant.store)
    assert index is not None
    return index


def hits(assistant: Assistant, terms: list[str], k: int = 1000, **filters: str) -> dict[str, float]:
    snapshot = index_of(assistant).current()
    assert isinstance(snapshot, Snapshot)  # the saved index, not one in memory
    found = snapshot.search(terms, k, Filters(**filters).allows)
    assert [r.lexical for r in found] == sorted((r.lexical for r in found), reverse=True)
    return {r.id: r.lexical for r in found}


def bm25s_hits(assistant: Assistant, terms: list[str], **filters: str) -> dict[str, float]:
    found = LexicalIndex(assistant.store.iter_sentences()).search(
        terms, 1000, Filters(**filters).allows
    )
    return {r.id: r.lexical for r in found}


def same_scores(saved: dict[str, float], reference: dict[str, float]) -> None:
    assert saved.keys() == reference.keys()
    for key, score in reference.items():
        assert saved[key] == pytest.approx(score, rel=1e-5)


def test_rankings_and_scores_agree_with_bm25s(tmp_path: Path) -> None:
    assistant = open_assistant(tmp_path / "store")
    assistant.ingest_articles(corpus(40))
    for terms in QUERIES:
        same_scores(hits(assistant, terms), bm25s_hits(assistant, terms))
    assert len(index_of(assistant).current()) == assistant.store.count_sentences()


def test_filters_apply_before_the_store_is_read(tmp_path: Path) -> None:
    assistant = open_assistant(tmp_path / "store")
    assistant.ingest_articles(corpus(40))
    for filters in ({"source": "afp"}, {"since": "2024-03-01", "until": "2024-05-31"}):
        saved = hits(assistant, ["ferry", "oil"], **filters)
        assert saved and saved.keys() == bm25s_hits(assistant, ["ferry", "oil"], **filters).keys()
    assert hits(assistant, ["ferry"], 3, article_id="a5").keys() <= {
        r.id for r in assistant.store.iter_sentences() if r.article_id == "a5"
    }


def test_batches_and_merges_give_the_index_one_batch_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lexical_saved, "MAX_SEGMENTS", 3)
    articles = corpus(30)
    whole = open_assistant(tmp_path / "whole")
    whole.ingest_articles(articles)
    batched = open_assistant(tmp_path / "batched", batch_chunks=2)
    batched.ingest_articles(articles[:20])
    batched.ingest_articles(articles[20:])

    with index_of(batched).connect() as db:
        segments = db.execute("SELECT count(*) FROM segments").fetchone()[0]
    assert 2 <= segments <= 3  # many batches, merged
    for terms in QUERIES:
        assert hits(batched, terms) == pytest.approx(hits(whole, terms), rel=1e-6)
        same_scores(hits(batched, terms), bm25s_hits(batched, terms))


def test_deleted_and_replaced_articles_leave_the_hits(tmp_path: Path) -> None:
    assistant = open_assistant(tmp_path / "store")
    extra = [
        Article("gone", "Gone", "The zeppelin landed in the desert."),
        Article("changed", "Changed", "The gondola crossed the lagoon at dawn."),
    ]
    assistant.ingest_articles([*corpus(10), *extra])
    assert {i.split(":")[0] for i in hits(assistant, ["zeppelin", "gondola"])} == {
        "gone",
        "changed",
    }

    assert assistant.delete("gone")
    replaced = Article("changed", "Changed", "The hovercraft crossed the lagoon at dusk.")
    assistant.ingest_articles([replaced])
    assert hits(assistant, ["zeppelin", "gondola"]) == {}
    now = hits(assistant, ["hovercraft", "lagoon"])
    assert [i.split(":")[:2] for i in now] == [["changed", replaced.content_hash[:12]]]
    same_scores(hits(assistant, ["lagoon", "desert"]), bm25s_hits(assistant, ["lagoon", "desert"]))


def test_a_damaged_index_is_rebuilt_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assistant = open_assistant(tmp_path / "store")
    assistant.ingest_articles(corpus(20))
    expected = hits(assistant, ["ferry", "oil"])
    folder = index_of(assistant).folder
    (folder / "seg-1" / "docs.npy").write_bytes(b"\x93NUMPY half a file")
    (folder / "seg-77.tmp").mkdir()  # a segment a killed writer left unfinished
    fresh = SavedLexicalIndex(folder, assistant.store)  # as a new process opens it
    with caplog.at_level(logging.WARNING, logger="assistant.ask.lexical_saved"):
        found = fresh.current().search(["ferry", "oil"], 1000)
    assert "rebuilding it from the store" in caplog.text
    assert {r.id: r.lexical for r in found} == pytest.approx(expected, rel=1e-6)
    assert not (folder / "seg-77.tmp").exists()

    (folder / "index.sqlite").write_bytes(b"not a database at all" * 100)
    for leftover in folder.glob("index.sqlite-*"):
        leftover.unlink()
    again = SavedLexicalIndex(folder, assistant.store)
    assert {r.id for r in again.current().search(["ferry", "oil"], 1000)} == expected.keys()


def test_questions_during_a_catch_up_use_the_index_as_it_was(tmp_path: Path) -> None:
    assistant = open_assistant(tmp_path / "store")
    assistant.ingest_articles(corpus(5))
    index = index_of(assistant)
    old = index.current()
    assistant.delete("a1")
    index._updating.acquire()  # as a thread catching up holds it
    try:
        assert index.current() is old
    finally:
        index._updating.release()
    assert index.current() is not old and len(index.current()) < len(old)


def test_another_process_ingest_killed_mid_way_is_picked_up_and_a_rerun_completes(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "store"
    assistant = open_assistant(folder)
    assistant.ingest([articles_file(tmp_path / "first.jsonl", 0, 10)])
    assert hits(assistant, ["strike", "market"])
    more = articles_file(tmp_path / "more.jsonl", 10, 400)
    ingest = cli(
        "ingest", str(more), "--store", str(folder), NEWS_ASSISTANT_INGEST__BATCH_CHUNKS="8"
    )
    deadline = time.monotonic() + 60
    while assistant.store.count_articles() <= 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    ingest.send_signal(signal.SIGKILL)
    ingest.communicate(timeout=10)

    stored = {a.id for a in assistant.articles()}
    assert 40 < len(stored) < 410
    found = hits(assistant, ["strike", "rubble"])
    assert {i.split(":")[0] for i in found} == stored  # what it stored, all of it
    assistant.ingest([more])
    found = hits(assistant, ["strike", "rubble"])
    assert len({i.split(":")[0] for i in found}) == 410
    index = index_of(assistant)
    with index.connect() as db:  # the batches written here kept the index in step
        (synced,) = db.execute("SELECT value FROM state WHERE key = 'revision'").fetchone()
        live = db.execute("SELECT count(*) FROM articles WHERE live").fetchone()[0]
    assert synced == assistant.store.revision() and live == 410


def test_hits_come_best_first_past_the_partial_sort() -> None:
    scores = np.random.default_rng(3).permutation(100).astype(np.float32)
    parts = list(lexical_saved._best_first(scores, 3))  # 24 from a partial sort, then the rest
    assert np.concatenate(parts).tolist() == np.argsort(-scores).tolist()
    assert {len(p) for p in parts[:-1]} == {3}


def test_where_the_index_lives(tmp_path: Path) -> None:
    embedded = StoreSettings(path=tmp_path / "store", collection="news")
    assert lexical_dir(embedded) == tmp_path / "store" / ".news-assistant-lexical" / "news"
    server = StoreSettings(url="http://127.0.0.1:8000", lexical_dir=tmp_path / "cache")
    other = server.model_copy(update={"collection": "other"})
    assert lexical_dir(server).parent == lexical_dir(other).parent == tmp_path / "cache"
    assert lexical_dir(server) != lexical_dir(other)


def test_a_new_store_s_index_follows_its_ingests_without_catching_up(tmp_path: Path) -> None:
    assistant = open_assistant(tmp_path / "store", batch_chunks=4)
    assistant.ingest_articles(corpus(10))
    index = index_of(assistant)
    with index.connect() as db:
        (synced,) = db.execute("SELECT value FROM state WHERE key = 'revision'").fetchone()
    assert synced == assistant.store.revision()  # the first question reads no article list
