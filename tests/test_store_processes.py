"""An embedded store shared with other, real processes: asking keeps working while and after
another process ingests, a second writer is refused with a clear message, and a killed ingest
leaves nothing that is ever cited."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assistant.api import Assistant, with_location
from core.embedder import HashingEmbedder
from core.errors import StoreError
from core.settings import Settings

CITIES = ["Aleppo", "Homs", "Idlib", "Raqqa", "Hama", "Daraa", "Latakia", "Tartus"]
HASHING = {"NEWS_ASSISTANT_EMBEDDER__MODEL": "hashing", "ANONYMIZED_TELEMETRY": "False"}


def articles_file(path: Path, first: int, count: int) -> Path:
    """`count` small articles, ids a{first}..., each about one numbered strike."""
    lines = []
    for i in range(first, first + count):
        city = CITIES[i % len(CITIES)]
        text = (
            f"An air strike numbered {i} hit a market in {city}. "
            f"Officials said {i % 40 + 3} people were killed in strike {i}. "
            f"Rescue teams searched the rubble in {city} through the night."
        )
        lines.append(json.dumps({"id": f"a{i}", "title": f"Strike {i}", "content": text}))
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(*args: str, **env: str) -> subprocess.Popen[str]:
    """The real `news-assistant` command in another process, on the hashing embedder."""
    return subprocess.Popen(
        [sys.executable, "-m", "assistant.frontends.cli", *args],
        env={**os.environ, **HASHING, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def open_assistant(folder: Path) -> Assistant:
    return Assistant(with_location(Settings(), str(folder)), embedder=HashingEmbedder())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "store"


def test_asking_works_after_another_process_ingests(folder: Path, tmp_path: Path) -> None:
    early = open_assistant(folder)
    early.ingest([articles_file(tmp_path / "first.jsonl", 0, 20)])
    assert early.ask("How many people were killed in strike 3?").evidence

    other = cli(
        "ingest", str(articles_file(tmp_path / "more.jsonl", 20, 300)), "--store", str(folder)
    )
    _, errors = other.communicate(timeout=120)
    assert other.returncode == 0, errors

    late = open_assistant(folder)  # a new Assistant in the same process sees the same
    asked = 0
    for i in range(20, 320, 30):
        for assistant in (early, late):
            answer = assistant.ask(f"How many people were killed in strike {i}?")
            asked += 1
            assert f"a{i}" in {e.article_id for e in answer.evidence}, answer.evidence
    assert asked == 20
    assert early.store.count_articles() == late.store.count_articles() == 320


def test_a_second_writer_is_refused_and_the_first_write_is_whole(
    folder: Path, tmp_path: Path
) -> None:
    assistant = open_assistant(folder)
    assistant.ingest([articles_file(tmp_path / "first.jsonl", 0, 5)])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from core.store_folder import FolderWatch\n"
            "from pathlib import Path\n"
            "with FolderWatch(Path(sys.argv[1])).writing():\n"
            "    print('locked', flush=True)\n"
            "    time.sleep(60)\n",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match="another process is writing to the store"):
            assistant.ingest([articles_file(tmp_path / "more.jsonl", 5, 5)])
        assert assistant.ask("How many people were killed in strike 2?").evidence  # reads go on
    finally:
        holder.kill()
        holder.communicate(timeout=10)
    assert assistant.ingest([tmp_path / "more.jsonl"]).articles == 5  # the lock died with it


def test_a_killed_ingest_is_never_cited_and_a_rerun_completes(folder: Path, tmp_path: Path) -> None:
    assistant = open_assistant(folder)
    assistant.ingest([articles_file(tmp_path / "first.jsonl", 0, 10)])
    more = articles_file(tmp_path / "more.jsonl", 10, 400)
    ingest = cli(
        "ingest", str(more), "--store", str(folder), NEWS_ASSISTANT_INGEST__BATCH_CHUNKS="8"
    )
    deadline = time.monotonic() + 60
    while assistant.store.count_sentences() <= 30 and time.monotonic() < deadline:
        time.sleep(0.02)  # killed once it has written some batches, mid-run
    ingest.send_signal(signal.SIGKILL)
    ingest.communicate(timeout=10)

    stored = {a.id for a in assistant.articles()}
    assert 10 <= len(stored) < 410
    for i in range(10, 410, 20):
        answer = assistant.ask(f"How many people were killed in strike {i}?")
        assert {c.article_id for c in answer.citations} <= stored
        assert {e.article_id for e in answer.evidence} <= stored

    summary = assistant.ingest([more])  # the rerun resumes: what was stored is unchanged
    assert summary.articles + summary.unchanged == 400 and summary.failed == 0
    assert assistant.store.count_articles() == 410
    assert assistant.store.remove_orphans() == 0


def test_this_processes_writes_through_another_client_keep_both_working(folder: Path) -> None:
    """A LangChain Chroma (any chromadb client) on the same folder in this process writes;
    that is not another process: neither client is restarted under the other."""
    import numpy as np

    from core.chroma import connect

    store = open_assistant(folder).store
    assert store.count_articles() == 0
    extra = connect(path=folder).get_or_create_collection("langchain", embedding_function=None)
    extra.add(ids=["x"], embeddings=np.ones((1, 8), dtype=np.float32), documents=["x"])
    assert store.count_articles() == 0
    extra.add(ids=["y"], embeddings=np.ones((1, 8), dtype=np.float32), documents=["y"])
    assert extra.count() == 2 and store.count_sentences() == 0
