"""The segments of the saved BM25 index (assistant/ask/lexical_saved.py): for the sentences of
a batch of articles, their words' counts by word id (sorted word ids, a pointer to each word's
run, sentence numbers, counts), their lengths, their article's number and their index in it,
each a .npy file read memory-mapped. Built from words, merged without dead articles."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np

_ARRAYS = ("terms", "indptr", "docs", "tfs", "lengths", "doc_article", "doc_index")


class UnreadableIndex(Exception):
    """The saved files cannot be read as an index (corrupt, half-deleted, another format)."""


class Segment:
    """One segment's arrays, memory-mapped."""

    def __init__(self, segment_id: int, folder: Path) -> None:
        self.id = segment_id
        try:
            arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        except (OSError, ValueError) as exc:
            raise UnreadableIndex(f"segment {folder.name}: {exc}") from exc
        self.terms, self.indptr = arrays["terms"], arrays["indptr"]
        self.docs, self.tfs, self.lengths = arrays["docs"], arrays["tfs"], arrays["lengths"]
        self.doc_article, self.doc_index = arrays["doc_article"], arrays["doc_index"]
        n = len(self.lengths)
        if len(self.indptr) != len(self.terms) + 1 or len(self.doc_article) != n:
            raise UnreadableIndex(f"segment {folder.name}: arrays of mismatched lengths")

    def __len__(self) -> int:
        return len(self.lengths)

    def postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(sentence numbers, counts) of one word in this segment."""
        i = int(np.searchsorted(self.terms, term_id))
        if i == len(self.terms) or int(self.terms[i]) != term_id:
            return _NONE, _NONE
        lo, hi = int(self.indptr[i]), int(self.indptr[i + 1])
        return np.asarray(self.docs[lo:hi]), np.asarray(self.tfs[lo:hi])


_NONE = np.zeros(0, dtype=np.int32)


def segment_arrays(
    words: list[list[list[str]]], nums: list[int], vocab: dict[str, int]
) -> dict[str, np.ndarray]:
    """The arrays of a segment over these articles' sentences (their words by sentence)."""
    term_rows: list[int] = []
    doc_rows: list[int] = []
    tf_rows: list[int] = []
    lengths: list[int] = []
    doc_article: list[int] = []
    doc_index: list[int] = []
    for num, sentences in zip(nums, words, strict=True):
        for index, sentence in enumerate(sentences):
            doc = len(lengths)
            for word, tf in Counter(sentence).items():
                term_rows.append(vocab[word])
                doc_rows.append(doc)
                tf_rows.append(tf)
            lengths.append(len(sentence))
            doc_article.append(num)
            doc_index.append(index)
    return by_term(
        np.array(term_rows, dtype=np.int32),
        np.array(doc_rows, dtype=np.int32),
        np.minimum(np.array(tf_rows, dtype=np.int64), np.iinfo(np.uint16).max).astype(np.uint16),
        {
            "lengths": np.array(lengths, dtype=np.int32),
            "doc_article": np.array(doc_article, dtype=np.int32),
            "doc_index": np.array(doc_index, dtype=np.int32),
        },
    )


def by_term(
    terms: np.ndarray, docs: np.ndarray, tfs: np.ndarray, per_doc: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Postings sorted by word, then sentence, with the pointers of each word's run."""
    order = np.lexsort((docs, terms))
    terms, docs, tfs = terms[order], docs[order], tfs[order]
    unique, starts = np.unique(terms, return_index=True)
    indptr = np.append(starts, len(terms)).astype(np.int64)
    return {"terms": unique, "indptr": indptr, "docs": docs, "tfs": tfs, **per_doc}


def live_rows(segment: Segment, dead: np.ndarray) -> dict[str, np.ndarray]:
    """A segment's postings as (word, sentence, count) rows, and its per-sentence arrays,
    without the sentences of dead articles (renumbered)."""
    keep = ~np.isin(np.asarray(segment.doc_article), dead)
    renumber = np.cumsum(keep) - 1
    counts = np.diff(np.asarray(segment.indptr))
    terms = np.repeat(np.asarray(segment.terms), counts)
    docs = np.asarray(segment.docs)
    kept = keep[docs]
    return {
        "term_rows": terms[kept],
        "doc_rows": renumber[docs[kept]].astype(np.int32),
        "tf_rows": np.asarray(segment.tfs)[kept],
        "lengths": np.asarray(segment.lengths)[keep],
        "doc_article": np.asarray(segment.doc_article)[keep],
        "doc_index": np.asarray(segment.doc_index)[keep],
    }


def concat_segments(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    offsets = np.cumsum([0] + [len(p["lengths"]) for p in parts])[:-1]
    return by_term(
        np.concatenate([p["term_rows"] for p in parts]).astype(np.int32),
        np.concatenate([p["doc_rows"] + o for p, o in zip(parts, offsets, strict=True)]),
        np.concatenate([p["tf_rows"] for p in parts]).astype(np.uint16),
        {
            name: np.concatenate([p[name] for p in parts])
            for name in ("lengths", "doc_article", "doc_index")
        },
    )


def write_segment(folder: Path, segment_id: int, arrays: dict[str, np.ndarray]) -> None:
    """Write a segment's arrays under a temporary name and rename it into place (inside the
    transaction that registers the segment, so that no other writer sweeps it meanwhile)."""
    final = folder / f"seg-{segment_id}"
    partial = folder / f"seg-{segment_id}.tmp"
    for leftover in (final, partial):
        shutil.rmtree(leftover, ignore_errors=True)
    partial.mkdir()
    for name, array in arrays.items():
        np.save(partial / f"{name}.npy", array)
    partial.rename(final)
