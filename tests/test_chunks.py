"""Chunking: whole sentences within the budget, one sentence of overlap, nothing truncated."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ingest.chunks import chunk_sentences, fit_sentences
from ingest.sentences import split_sentences
from ingest.tokens import tiktoken_counter

SAMPLE = Path(__file__).parent.parent / "data" / "sample" / "airstrike-deir-ez-zor.ar.txt"


def word_count(text: str) -> int:
    return len(text.split())


def test_tiktoken_encoding_loads_offline() -> None:
    count = tiktoken_counter()
    assert count("hello world") == 2
    assert count("قتل 54 شخصاً") > 3


def test_sample_chunks_are_whole_sentences_within_budget() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    sentences = split_sentences(text)
    count = tiktoken_counter()
    chunks = chunk_sentences(text, sentences, budget=256, count=count)
    assert chunks[0].sentences[0].index == 0
    assert chunks[-1].sentences[-1].index == len(sentences) - 1
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.start == chunk.sentences[0].start and chunk.end == chunk.sentences[-1].end
        if len(chunk.sentences) > 1:
            assert sum(count(s.text) + 1 for s in chunk.sentences) <= 256
    for before, after in itertools.pairwise(chunks):
        shared = {s.index for s in before.sentences} & {s.index for s in after.sentences}
        assert len(shared) <= 1
        assert after.sentences[0].index <= before.sentences[-1].index + 1


def test_overlap_of_one_sentence() -> None:
    text = "a b. c d. e f. g h."
    chunks = chunk_sentences(text, split_sentences(text), budget=6, count=word_count, overlap=1)
    assert [c.text for c in chunks] == ["a b. c d.", "c d. e f.", "e f. g h."]


def test_no_overlap() -> None:
    text = "a b. c d. e f. g h."
    chunks = chunk_sentences(text, split_sentences(text), budget=6, count=word_count, overlap=0)
    assert [c.text for c in chunks] == ["a b. c d.", "e f. g h."]


def test_model_limit_is_respected_as_well_as_budget() -> None:
    text = "a b. c d. e f."
    chunks = chunk_sentences(
        text,
        split_sentences(text),
        budget=100,
        count=word_count,
        overlap=0,
        model_limit=6,
        model_count=word_count,
    )
    assert [c.text for c in chunks] == ["a b. c d.", "e f."]


def test_long_sentence_split_at_clauses_never_truncated() -> None:
    clause = "قال المرصد إن عدد القتلى ارتفع"
    text = "، ".join([clause] * 12) + "."
    pieces = fit_sentences(text, split_sentences(text), max_tokens=15, count=word_count)
    assert len(pieces) > 1
    assert all(word_count(p.text) <= 15 for p in pieces)
    assert [p.index for p in pieces] == list(range(len(pieces)))
    for p in pieces:
        assert text[p.start : p.end] == p.text
    covered = "".join(ch for p in pieces for ch in p.text if not ch.isspace())
    assert covered == "".join(ch for ch in text if not ch.isspace())


def test_long_run_without_clauses_splits_at_spaces() -> None:
    text = " ".join(f"w{i}" for i in range(40))
    pieces = fit_sentences(text, split_sentences(text), max_tokens=7, count=word_count)
    assert all(word_count(p.text) <= 7 for p in pieces)
    assert " ".join(p.text for p in pieces) == text


def test_bad_budget() -> None:
    with pytest.raises(ValueError, match="budget"):
        chunk_sentences("a.", split_sentences("a."), budget=0, count=word_count)


def test_fitting_ends_when_one_character_is_over_the_limit() -> None:
    text = "ab, cd"
    pieces = fit_sentences(text, split_sentences(text), max_tokens=5, count=lambda t: 10 * len(t))
    assert [p.text for p in pieces] == ["a", "b", ",", "c", "d"]
    assert all(text[p.start : p.end] == p.text for p in pieces)
