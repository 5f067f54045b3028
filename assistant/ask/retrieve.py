"""Retrieval: pool the candidate sentences for a question with their raw scores (no ranking;
see rerank.py): the sentences nearest the question, the sentences of the nearest chunks (their
chunk's similarity), and BM25 hits over normalised words (their BM25 score).

Where BM25 finds nothing (an English question over Arabic articles) it adds nothing. A
sentence that states nothing (a question; a line that is only an e-mail address or a link:
`says_nothing`) is never a candidate.

A store holding articles in several languages is searched once more for each language other
than the question's (dense sentences and chunks, limited to that language), so that an English
question's pool holds Arabic sentences too: e5 finds sentences of the question's language more
similar than the same content in another language, and one search over everything fills up
with unrelated sentences of the question's language. Each candidate then carries its
language's level for the question (`baseline`: see `language_levels`), so that sentences of
different languages are compared by how far they stand above their own language's candidates.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import numpy as np

from assistant.ask.lexical import LexicalIndex, refreshed
from assistant.ask.lexical_saved import Searchable, saved_index
from assistant.ask.question import Question
from assistant.ask.select import Background
from core.settings import RetrievalSettings
from core.store import ArticleStore
from core.types import Filters, SentenceRecord

Pool = dict[tuple[str, int], SentenceRecord]
LEVEL_TOP = 10  # candidates whose mean similarity is their language's level
_CONTACT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|https?://\S+|www\.\S+")  # e-mail, link
_WORD = re.compile(r"[^\W_]{2,}")
LABEL_WORDS = 6  # "To contact the writer:", "لمراسلة الكاتب:", "Follow us:"
_CLOSERS = " \t\n\"'”’»)]"


def says_nothing(sentence: str) -> bool:
    """A sentence that states nothing, so is never evidence: a question ("يا ترى ما هي
    مقاييس التبرج مثلا؟", as opinion pieces ask; a question looks near any question asked of
    the store), or a line that is only a contact or a link with at most a label before it
    ("لمراسلة الكاتب: ralmotere@alriyadh.net", as news articles end; its Latin letters look
    near any English question). A statement that gives a contact or cites a link stays."""
    if sentence.rstrip(_CLOSERS).endswith(("?", "؟")):
        return True
    if not _CONTACT.search(sentence):
        return False
    rest = _CONTACT.sub(" ", sentence).strip(" \t-–—|.,;()[]")
    words = _WORD.findall(rest)
    return len(words) < 2 or (rest.endswith((":", "：")) and len(words) <= LABEL_WORDS)


class Retriever(Protocol):
    """Finds the candidate sentences for a question."""

    def retrieve(
        self, question: Question, vector: np.ndarray, filters: Filters
    ) -> list[SentenceRecord]:
        """Candidates with their `dense`, `chunk` and `lexical` scores, in no particular order;
        `vector` is the question's embedding."""
        ...


class HybridRetriever:
    """Dense sentences, dense chunks and BM25 from one store, with one more dense search for
    each stored language other than the question's when there are several (`searches`). The
    BM25 index is the store's saved one when it has a `lexical_dir`
    (assistant/ask/lexical_saved.py), else built in memory on first use and rebuilt when the
    store's sentence count changes (see `lexical_index`). Without `background` (or with
    `per_language` off), every `baseline` stays 0."""

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
        searches = self.searches(filters, question.language)
        pool: Pool = {}
        for where in searches:
            pool.update((r.key, r) for r in self.store.query_sentences(vector, cfg.dense_k, where))
        chunk_scores = self._chunk_scores(vector, searches)
        for r in self.lexical_index().search(question.search_terms, cfg.lexical_k, filters.allows):
            pool[r.key] = pool.get(r.key, r).scored(lexical=r.lexical)
        pool = {key: r for key, r in pool.items() if not says_nothing(r.sentence)}
        self._fill_dense(vector, pool)
        scored = [r.scored(chunk=chunk_scores.get(key, 0.0)) for key, r in pool.items()]
        scored = self._with_baselines(question, vector, scored)
        return self.store.complete_only(scored)  # never a killed or unfinished ingest's parts

    def searches(self, filters: Filters, language: str = "") -> list[Filters]:
        """The filters of each dense search: `filters` alone, unless the store holds several
        languages (and the question is not limited to one); then one search limited to each
        language other than the question's `language`, beside the unlimited search (which
        the question's own language fills: e5 rates it higher), so the question's own language
        is not searched on its own. Each language's parts have a collection of their own
        (core/chroma_parts.py), so a search limited to one costs no more than the unlimited
        one."""
        if filters.language or not self.settings.per_language:
            return [filters]
        languages = self.store.languages()
        if len(languages) < 2:
            return [filters]
        others = [dataclasses.replace(filters, language=lang) for lang in languages]
        if language not in languages:
            return others
        return [filters] + [where for where in others if where.language != language]

    def lexical_index(self) -> LexicalIndex | Searchable:
        """The BM25 index: the saved one, caught up with the store (see
        `SavedLexicalIndex.current`); else one in memory, rebuilt when the store's sentence
        count has changed. One thread rebuilds at a time (reading only the new sentences'
        words); questions asked meanwhile use the index as it was, so an ingest beside them
        (the server's) does not make every question rebuild it. Only the first use waits for a
        build."""
        if self._saved is not None:
            return self._saved.current()
        return refreshed(
            self._rebuilding,
            self._lexical,
            lambda _: self.store.count_sentences() == self._lexical_count,
            self._rebuilt,
        )

    def _rebuilt(self) -> LexicalIndex:
        """The in-memory index, rebuilt unless another thread did so meanwhile."""
        count = self.store.count_sentences()
        if self._lexical is None or count != self._lexical_count:
            known = self._lexical.words if self._lexical is not None else None
            self._lexical = LexicalIndex(self.store.iter_sentences(), known)
            self._lexical_count = count
        return self._lexical

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
        self, question: Question, vector: np.ndarray, records: list[SentenceRecord]
    ) -> list[SentenceRecord]:
        """Each record with its language's level for this question (`language_levels`)."""
        if self.background is None or not self.settings.per_language:
            return records
        background = self.background
        languages = {r.language for r in records}
        unrelated = {lang: background.similarity(vector, lang) for lang in languages}
        levels = language_levels(records, unrelated, question.language, self.stray_languages())
        return [r.scored(baseline=levels[r.language]) for r in records]

    def stray_languages(self) -> set[str]:
        """The stored languages with fewer sentences than `few_sentences`."""
        sizes = self.store.language_sizes()
        return {lang for lang, n in sizes.items() if n < self.settings.few_sentences}


def language_levels(
    records: Sequence[SentenceRecord],
    unrelated: Mapping[str, float],
    own: str,
    stray: Collection[str],
) -> dict[str, float]:
    """The similarity each language's candidates reach for the question: the mean of its
    `LEVEL_TOP` most similar. Candidates are compared across languages by how far they stand
    above their language's level: the one that answers stands out of its language's
    candidates, while the best of many unrelated sentences of the question's language is
    only as similar as its neighbours. A `stray` language (a few articles in the store: see
    `few_sentences`) has a low level, its best sentences being unrelated to the question, and
    its sentences would otherwise be lifted over the answer: its level is never taken as
    lower, against the question's own, than the question's similarity to unrelated sentences
    of each (`unrelated`, the background) says. Any other language keeps its own level: the
    background does not show how much lower e5 rates the related sentences of another
    language (an English question's background is about as similar in Arabic as in English,
    while its Arabic candidates' level runs about 0.035 below its English one; this floor
    lifted the Arabic level over the answer on 99.6% of XQuAD-R's English questions beside
    English news, issue 17)."""
    levels = {}
    for lang in {r.language for r in records}:
        top = sorted((r.dense for r in records if r.language == lang), reverse=True)[:LEVEL_TOP]
        levels[lang] = float(np.mean(top))
    if own not in levels:
        return levels
    return {
        lang: max(level, levels[own] + unrelated[lang] - unrelated[own]) if lang in stray else level
        for lang, level in levels.items()
    }
