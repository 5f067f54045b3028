"""Retrieval: pool the candidate sentences for a question with their raw scores (no ranking;
see rerank.py): the sentences nearest the question, the sentences of the nearest chunks (their
chunk's similarity), and BM25 hits over normalised words (their BM25 score).

Where BM25 finds nothing (an English question over Arabic articles) it adds nothing.

A store holding articles in several languages is searched once per language (dense sentences
and chunks), so that an English question's pool holds Arabic sentences too: e5 finds sentences
of the question's language more similar than the same content in another language, and one
search over everything fills up with unrelated sentences of the question's language. Each
candidate carries the similarity unrelated sentences of its language have to the question
(`baseline`, from the background sentences), so that scores of different languages can be
compared by their margin over it.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Protocol

import numpy as np

from assistant.ask.lexical import LexicalIndex
from assistant.ask.lexical_saved import Searchable, saved_index
from assistant.ask.question import Question
from assistant.ask.select import Background
from core.settings import RetrievalSettings
from core.store import ArticleStore
from core.types import Filters, SentenceRecord

Pool = dict[tuple[str, int], SentenceRecord]


class Retriever(Protocol):
    """Finds the candidate sentences for a question."""

    def retrieve(
        self, question: Question, vector: np.ndarray, filters: Filters
    ) -> list[SentenceRecord]:
        """Candidates with their `dense`, `chunk` and `lexical` scores, in no particular order;
        `vector` is the question's embedding."""
        ...


class HybridRetriever:
    """Dense sentences, dense chunks and BM25 from one store, each dense search per stored
    language when there are several. The BM25 index is the store's saved one when it has a
    `lexical_dir` (assistant/ask/lexical_saved.py), else built in memory on first use and
    rebuilt when the store's sentence count changes (see `lexical_index`). Without
    `background`, every `baseline` stays 0."""

    def __init__(
        self,
        store: ArticleStore,
        settings: RetrievalSettings,
        background: Background | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.background = background
        self._lexical: LexicalIndex | None = None
        self._lexical_count = -1
        self._rebuilding = threading.Lock()
        self._saved = saved_index(store)

    def retrieve(
        self, question: Question, vector: np.ndarray, filters: Filters
    ) -> list[SentenceRecord]:
        cfg = self.settings
        searches = self.searches(filters)
        pool: Pool = {}
        for where in searches:
            pool.update((r.key, r) for r in self.store.query_sentences(vector, cfg.dense_k, where))
        chunk_scores = self._chunk_scores(vector, searches)
        for r in self.lexical_index().search(question.search_terms, cfg.lexical_k, filters.allows):
            pool[r.key] = pool.get(r.key, r).scored(lexical=r.lexical)
        self._fill_dense(vector, pool)
        scored = [r.scored(chunk=chunk_scores.get(key, 0.0)) for key, r in pool.items()]
        scored = self._with_baselines(vector, scored)
        return self.store.complete_only(scored)  # never a killed or unfinished ingest's parts

    def searches(self, filters: Filters) -> list[Filters]:
        """The filters of each dense search: one per stored language when the store holds
        several (and the question is not limited to one), else `filters` alone."""
        if filters.language or not self.settings.per_language:
            return [filters]
        languages = self.store.languages()
        if len(languages) < 2:
            return [filters]
        return [dataclasses.replace(filters, language=lang) for lang in languages]

    def lexical_index(self) -> LexicalIndex | Searchable:
        """The BM25 index: the saved one, caught up with the store (see
        `SavedLexicalIndex.current`); else one in memory, rebuilt when the store's sentence
        count has changed. One thread rebuilds at a time (reading only the new sentences'
        words); questions asked meanwhile use the index as it was, so an ingest beside them
        (the server's) does not make every question rebuild it. Only the first use waits for a
        build."""
        if self._saved is not None:
            return self._saved.current()
        index = self._lexical
        if index is not None and self.store.count_sentences() == self._lexical_count:
            return index
        if index is not None and not self._rebuilding.acquire(blocking=False):
            return index  # another thread is rebuilding it
        if index is None:
            self._rebuilding.acquire()
        try:
            count = self.store.count_sentences()
            if self._lexical is None or count != self._lexical_count:
                known = self._lexical.words if self._lexical is not None else None
                self._lexical = LexicalIndex(self.store.iter_sentences(), known)
                self._lexical_count = count
            return self._lexical
        finally:
            self._rebuilding.release()

    def _chunk_scores(
        self, vector: np.ndarray, searches: list[Filters]
    ) -> dict[tuple[str, int], float]:
        scores: dict[tuple[str, int], float] = {}
        for where in searches:
            for chunk in self.store.query_chunks(vector, self.settings.chunk_k, where):
                for span in chunk.sentences:
                    key = (chunk.article_id, span.index)
                    scores[key] = max(scores.get(key, 0.0), chunk.score)
        return scores

    def _fill_dense(self, vector: np.ndarray, pool: Pool) -> None:
        """The similarity of pooled sentences that only BM25 found, from their stored vectors."""
        missing = {r.id: key for key, r in pool.items() if r.dense == 0.0}
        if not missing:
            return
        for record_id, stored in self.store.sentence_vectors(list(missing)).items():
            key = missing[record_id]
            pool[key] = pool[key].scored(dense=float(stored @ vector))

    def _with_baselines(
        self, vector: np.ndarray, records: list[SentenceRecord]
    ) -> list[SentenceRecord]:
        """Each record with the question's similarity to unrelated sentences of its language."""
        if self.background is None or not self.settings.per_language:
            return records
        background = self.background
        baselines = {
            lang: background.similarity(vector, lang) for lang in {r.language for r in records}
        }
        return [r.scored(baseline=baselines[r.language]) for r in records]
