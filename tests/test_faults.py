"""Faults while the store is in use, bounded in time: deleting an article while another thread
asks, and a folder whose files change while it is ingested (hypothesis picks the changes).

The other cases of issue 16 live with their code: an article's sentences stored without its
record are never evidence (tests/test_pipeline.py,
test_parts_of_an_incomplete_article_are_never_evidence), a killed ingest is never cited and a
rerun completes (tests/test_store_processes.py, real processes killed with SIGKILL), fuzzed
JSON never raises (tests/test_load.py)."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant.api import Assistant, with_location
from core.chroma import ChromaStore, connect
from core.chroma import _query as chroma_query
from core.embedder import HashingEmbedder
from core.settings import Settings
from core.types import Article
from ingest.load import load_file
from ingest.pipeline import IngestSummary

CITIES = ["Aleppo", "Homs", "Idlib", "Raqqa", "Hama", "Daraa"]
PAUSE = 0.4  # seconds of asking before, between and after the deletes
WINDOW_LIMIT = 10.0  # seconds a delete waits at most for asks inside its window


def open_assistant(folder: Path, store: ChromaStore | None = None) -> Assistant:
    settings = with_location(Settings(), str(folder))
    return Assistant(settings, store=store, embedder=HashingEmbedder())


def strike(i: int, version: int = 0) -> str:
    """A small article about strike `i`; `version` changes its figures."""
    city = CITIES[i % len(CITIES)]
    return (
        f"Strike {i} in {city}\n"
        f"An air strike numbered {i} hit a market in {city}. "
        f"Officials said {i + 3 + version} people were killed in strike {i}. "
        f"Rescue teams searched the rubble in {city} (report {version}).\n"
    )


# --- deleting while asking --------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    started: float
    articles: frozenset[str]  # cited or shown as evidence


def ask_until(
    assistant: Assistant, stop: threading.Event, log: list[Asked], errors: list[str]
) -> None:
    """Ask about every strike in turn until `stop`, logging what each answer rests on."""
    i = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            answer = assistant.ask(f"How many people were killed in strike {i % 6}?")
        except Exception:
            errors.append(traceback.format_exc())
            return
        used = {c.article_id for c in answer.citations} | {e.article_id for e in answer.evidence}
        log.append(Asked(started, frozenset(used)))
        i += 1


class SlowDelete(ChromaStore):
    """Holds a delete between removing an article's record and its parts until two more
    questions have been searched (so at least one ask begins inside that window), noting when
    each record went."""

    def __init__(self, folder: Path) -> None:
        super().__init__(connect(path=folder), "news", location=str(folder), folder=folder)
        self.record_gone: dict[str, float] = {}
        self.searches = 0

    def query_sentences(self, *args: Any, **kwargs: Any) -> Any:
        self.searches += 1  # once per ask, at the start of retrieval
        return super().query_sentences(*args, **kwargs)

    def _delete_parts(self, article_id: str, extra: Mapping[str, Any] | None = None) -> None:
        if extra is None:  # called by delete_article, after the record was deleted
            self.record_gone[article_id] = time.monotonic()
            wanted, deadline = self.searches + 2, time.monotonic() + WINDOW_LIMIT
            while self.searches < wanted and time.monotonic() < deadline:
                time.sleep(0.01)
        super()._delete_parts(article_id, extra)


def test_deleting_while_another_thread_asks(tmp_path: Path) -> None:
    # Protection: delete_article removes the record first, and the retriever keeps only
    # sentences whose record holds their hash (ChromaStore.complete_only, called in
    # HybridRetriever.retrieve), so an article being deleted is never evidence once its record
    # is gone, though its sentences are still there. Checked by making retrieve return its
    # pool unfiltered: asks begun inside the delete window cited the victims and this failed.
    folder = tmp_path / "texts"
    folder.mkdir()
    for i in range(6):
        (folder / f"strike{i}.txt").write_text(strike(i))
    open_assistant(tmp_path / "store").ingest([folder])
    store = SlowDelete(tmp_path / "store")
    assistant = open_assistant(tmp_path / "store", store)
    by_title = {a.title: a.id for a in assistant.articles()}
    victims = [by_title[f"Strike {i} in {CITIES[i]}"] for i in (1, 3, 5)]
    assert victims[0] in {c.article_id for c in assistant.ask("killed in strike 1?").citations}

    stop, log, errors = threading.Event(), list[Asked](), list[str]()
    asker = threading.Thread(target=ask_until, args=(assistant, stop, log, errors), daemon=True)
    asker.start()
    deleted: dict[str, float] = {}
    try:
        for victim in victims:
            time.sleep(PAUSE)
            assert assistant.delete(victim)
            deleted[victim] = time.monotonic()
        time.sleep(PAUSE)
    finally:
        stop.set()
        asker.join(timeout=30)
    assert not asker.is_alive() and not errors
    during = [a for a in log for v in victims if store.record_gone[v] < a.started < deleted[v]]
    after = [(a, v) for a in log for v, at in deleted.items() if a.started > at]
    assert during and after, "no question was asked inside a delete or after one returned"
    assert [(a, v) for a in log for v, at in store.record_gone.items() if a.started > at
            and v in a.articles] == []  # fmt: skip
    assert {a.id for a in assistant.articles()} == set(by_title.values()) - set(victims)


class Racing:
    """A collection whose search finds a record deleted before its metadata was read: Chroma
    then gives None for its document and metadata (chromadb's local executor)."""

    def query(self, **kwargs: Any) -> dict[str, Any]:
        meta = {"article_id": "a", "title": "Kept", "sentence_index": 0}
        return {
            "ids": [["a:s0", "gone:s0"]],
            "documents": [["Kept sentence.", None]],
            "metadatas": [[meta, None]],
            "distances": [[0.1, 0.2]],
        }


def test_a_sentence_deleted_while_it_is_searched_is_left_out() -> None:
    # Found by the test above (an AttributeError on None metadata, about one run in ten);
    # fails without the `meta is not None` filter in core.chroma._query.
    rows = chroma_query(Racing(), np.ones(4, dtype=np.float32), 2, None)  # type: ignore[arg-type]
    assert [row[0] for row in rows] == ["a:s0"]


# --- a folder changed while it is ingested ----------------------------------------------------

ACTIONS = ("add", "remove", "rewrite", "truncate")
Change = tuple[int, str, int, int]  # (after the n-th progress call, action, file, cut bytes)
changes = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(ACTIONS), st.integers(0, 7), st.integers(0, 120)),
    max_size=8,
)


class Changer:
    """The files of a folder, changed at given points of an ingest (its progress callback), with
    the article text of every version each file had (what may be stored for it)."""

    def __init__(self, folder: Path, scratch: Path) -> None:
        self.folder, self.scratch = folder, scratch
        self.versions: dict[str, set[str]] = {}
        self.calls = 0
        self.plan: list[Change] = []
        for i in range(6):
            self.write(i, strike(i).encode())

    def write(self, i: int, data: bytes) -> None:
        name = f"strike{i}.txt"
        (self.folder / name).write_bytes(data)
        copy = self.scratch / name  # loaded under the same name for the same title rules
        copy.write_bytes(data)
        texts = {a.text for a in load_file(copy) if isinstance(a, Article)}
        self.versions.setdefault(name, set()).update(texts)

    def __call__(self, summary: IngestSummary) -> None:
        for when, action, i, cut in self.plan:
            if when == self.calls:
                self.apply(action, i, cut)
        self.calls += 1

    def apply(self, action: str, i: int, cut: int) -> None:
        path = self.folder / f"strike{i}.txt"
        if action == "remove":
            path.unlink(missing_ok=True)
        elif action == "truncate" and path.exists():
            self.write(i, path.read_bytes()[:cut])
        elif action in ("add", "rewrite"):
            self.write(i, strike(i, version=cut + 1).encode())


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=changes)
@example(plan=[(0, "remove", 5, 0), (0, "rewrite", 4, 7), (1, "truncate", 3, 30)])
@example(plan=[(0, "add", 7, 2), (2, "truncate", 5, 0), (3, "rewrite", 0, 0)])
def test_a_folder_changed_while_it_is_ingested(tmp_path: Path, plan: list[Change]) -> None:
    # Protections: each file is read once, whole, in one call (ingest/load.py _read_file), so an
    # article is one version of its file; a file gone or unreadable by the time it is read is a
    # LoadFailure (_regular_file_size turns the OSError into a LoadError), not an exception; a
    # rerun compares content hashes, not ids, so rewritten files are stored again. Checked by
    # letting _regular_file_size's OSError through (the explicit examples raise
    # FileNotFoundError) and by making Ingestor._twin treat any stored id as unchanged (the
    # rerun kept the first versions and the last assertion failed).
    with tempfile.TemporaryDirectory(dir=tmp_path) as tmp:
        root = Path(tmp)
        folder, scratch = root / "texts", root / "scratch"
        folder.mkdir()
        scratch.mkdir()
        changer = Changer(folder, scratch)
        changer.plan = plan
        assistant = open_assistant(root / "store")
        assistant.ingest([folder], progress=changer)  # must not raise
        check_whole(assistant, changer)

        assistant.ingest([folder])  # the rerun, on the folder as it is now
        check_whole(assistant, changer)
        for path in sorted(folder.iterdir()):
            final = [a for a in load_file(path) if isinstance(a, Article)]
            for article in final:
                stored = assistant.store.get_article(article.id)
                assert stored is not None and stored.text == article.text, path.name
        shutil.rmtree(root / "store", ignore_errors=True)


def check_whole(assistant: Assistant, changer: Changer) -> None:
    """Every stored article's text is one version of its file, and every sentence of it there."""
    for listed in assistant.articles():
        stored = assistant.store.get_article(listed.id)
        assert stored is not None
        assert stored.text in changer.versions[Path(stored.origin).name], stored.origin
        assert all(stored.text[a:b] for a, b in stored.sentence_spans)
