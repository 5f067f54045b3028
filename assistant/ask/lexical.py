"""BM25 over every stored sentence (bm25s), on normalised, lightly stemmed words, so that an
Arabic question finds Arabic sentences whatever their diacritics, hamza or ta marbuta forms."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from assistant.ask.question import content_words
from core.types import SentenceRecord

if TYPE_CHECKING:
    import bm25s

T = TypeVar("T")


class LexicalIndex:
    """An in-memory BM25 index over stored sentences (with their article metadata). `known`
    holds the words of sentences already read, by sentence id (an earlier index's `words`):
    a rebuild reads only the new sentences' words."""

    def __init__(
        self, sentences: Iterable[SentenceRecord], known: Mapping[str, list[str]] | None = None
    ) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        known = known or {}
        self.sentences: list[SentenceRecord] = list(sentences)
        self.words = {s.id: known.get(s.id) or _words(s.sentence) for s in self.sentences}
        self._bm25: bm25s.BM25 | None = None
        corpus = [self.words[s.id] for s in self.sentences]
        if corpus:
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)

    def __len__(self) -> int:
        return len(self.sentences)

    def search(
        self, terms: Sequence[str], k: int, allowed: Callable[[SentenceRecord], bool] | None = None
    ) -> list[SentenceRecord]:
        """Up to `k` sentences sharing words with `terms` (and `allowed`), best first, with
        `lexical` set to their BM25 score."""
        if self._bm25 is None or not terms or k <= 0:
            return []
        scores = np.asarray(self._bm25.get_scores(list(terms)))
        found: list[SentenceRecord] = []
        for i in np.argsort(-scores):
            if scores[i] <= 0 or len(found) == k:
                break
            if allowed is None or allowed(self.sentences[i]):
                found.append(self.sentences[i].scored(lexical=float(scores[i])))
        return found


def refreshed(
    lock: threading.Lock, index: T | None, fresh: Callable[[T], bool], refresh: Callable[[], T]
) -> T:
    """`index` while `fresh(index)`; else `refresh()`, by one thread at a time: questions
    asked meanwhile get `index` as it was, so an ingest beside them (the server's) does not
    make every question rebuild it. Only the first use (no `index` yet) waits."""
    if index is not None and fresh(index):
        return index
    if index is not None and not lock.acquire(blocking=False):
        return index  # another thread is refreshing it
    if index is None:
        lock.acquire()
    try:
        return refresh()
    finally:
        lock.release()


def _words(sentence: str) -> list[str]:
    return list(content_words(sentence)) or ["\u2205"]
