"""Torch threads per use: the settings, and asking and ingesting each setting its own count in
one process (torch's count is process-wide), checked inside the embedder's calls."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from assistant.api import Assistant, with_location
from core.embedder import HashingEmbedder
from core.settings import EmbedderSettings, Settings


class CountingEmbedder(HashingEmbedder):
    """Records torch's thread count at every call, by kind."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int]] = []

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.append(("passages", torch.get_num_threads()))
        return super().embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.append(("queries", torch.get_num_threads()))
        return super().embed_passages(texts)


@pytest.fixture(autouse=True)
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_defaults_one_thread_to_ask_and_every_core_to_ingest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NEWS_ASSISTANT_EMBEDDER__THREADS", raising=False)
    embedder = EmbedderSettings()
    assert (embedder.ask_threads, embedder.ingest_threads, embedder.threads) == (1, 0, None)
    assert embedder.threads_for("ask") == 1
    assert embedder.threads_for("ingest") == (os.cpu_count() or 1)


def test_thread_settings_parse_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWS_ASSISTANT_EMBEDDER__ASK_THREADS", "3")
    monkeypatch.setenv("NEWS_ASSISTANT_EMBEDDER__INGEST_THREADS", "5")
    embedder = Settings().embedder
    assert (embedder.threads_for("ask"), embedder.threads_for("ingest")) == (3, 5)
    monkeypatch.setenv("NEWS_ASSISTANT_EMBEDDER__THREADS", "2")  # the old setting sets both
    embedder = Settings().embedder
    assert (embedder.threads_for("ask"), embedder.threads_for("ingest")) == (2, 2)


def test_asking_and_ingesting_each_set_their_threads_in_one_process(tmp_path: Path) -> None:
    settings = with_location(Settings(), str(tmp_path / "store"))
    threads = {"ask_threads": 1, "ingest_threads": 2, "threads": None}
    settings.embedder = settings.embedder.model_copy(update=threads)
    embedder = CountingEmbedder()
    assistant = Assistant(settings, embedder=embedder)
    (tmp_path / "a.txt").write_text("Bridge story\nThe bridge over the river was closed.\n")
    for round_ in range(2):  # ingest, ask, ingest, ask: each use sets its own, whatever came before
        torch.set_num_threads(3)
        embedder.seen.clear()
        (tmp_path / "a.txt").write_text(f"Bridge story\nThe bridge was closed {round_} times.\n")
        assistant.ingest([tmp_path / "a.txt"])
        assert embedder.seen and set(embedder.seen) == {("passages", 2)}
        torch.set_num_threads(3)
        embedder.seen.clear()
        assistant.ask("Was the bridge closed?")
        assert ("queries", 1) in embedder.seen
        assert {count for _kind, count in embedder.seen} == {1}
