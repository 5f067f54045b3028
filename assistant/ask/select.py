"""Evidence selection: whether the ranked evidence is strong enough to answer. Today's
selector is a logistic model over five signals of the ranked sentences, fitted on training data
only (qa-train: questions about stored paragraphs must be answered, questions about others must
not; training/abstention.py); its weights live in settings (`abstention`).

The signals are taken for each language's candidates apart (a store of Arabic and English
news), and the evidence answers when one language's does. Signals: the best sentence's cosine
similarity to the question; its margin over the question's median similarity to neutral
sentences on other topics in that language (data/background.txt: a real match stands out from
that, a question about something else does not); the share of the question's content words
found in the top sentences; the number of those words; and whether the language is another
than the question's (cross-lingual similarities run lower, by a pair's own amount:
`cross_pairs`). When the trained reader read the best sentences, its best has-answer
probability is a signal too, with weights of its own (`reader_weights`). The weights are for
one embedder (`abstention.fitted_for`); another one needs a refit, and a warning says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import ClassVar, NamedTuple, Protocol

import numpy as np

from assistant.ask.question import Question
from core.embedder import Embedder
from core.language import detect_language
from core.lexicon import expand_en, stem_match
from core.settings import AbstentionSettings
from core.spans import tokens
from core.types import SentenceRecord

log = logging.getLogger(__name__)

Features = tuple[float, ...]


@dataclass(frozen=True)
class Selection:
    """The ranked evidence (best first; what an answerer is given) and whether it answers;
    `answering`, the languages whose evidence answers (empty: no language apart)."""

    ranked: list[SentenceRecord]
    confidence: float
    answerable: bool
    answering: frozenset[str] = frozenset()

    def quotable(self) -> list[SentenceRecord]:
        """The ranked sentences an answer quotes from: those of the answering languages (an
        English question answered by Arabic evidence quotes the Arabic sentences, not the
        unrelated English ones ranked above them)."""
        chosen = [r for r in self.ranked if r.language in self.answering]
        return chosen if chosen else list(self.ranked)


class EvidenceSelector(Protocol):
    """Decides whether the ranked evidence answers the question."""

    def select(
        self, question: Question, vector: np.ndarray, ranked: Sequence[SentenceRecord]
    ) -> Selection: ...


class Background:
    """How similar unrelated sentences of one language look to a question, for this embedder.
    The background is embedded once per model (name and dimension, as a store knows its
    embedder) and process, however many stores are opened."""

    _vectors: ClassVar[dict[tuple[str, int], np.ndarray]] = {}

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def similarity(self, vector: np.ndarray, language: str) -> float:
        """Median cosine similarity of `vector` (a normalised question) to the background
        sentences in `language` (to all of them for a language the background lacks)."""
        key = (self.embedder.name, self.embedder.dim)
        if key not in self._vectors:
            self._vectors[key] = self.embedder.embed_passages(background_sentences())
        languages = background_languages()
        rows = [i for i, lang in enumerate(languages) if lang == language]
        vectors = self._vectors[key][rows] if rows else self._vectors[key]
        return float(np.median(vectors @ vector))


def background_sentences() -> list[str]:
    text = files("assistant").joinpath("data/background.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


@cache
def background_languages() -> tuple[str, ...]:
    return tuple(detect_language(sentence) for sentence in background_sentences())


@dataclass(frozen=True)
class Calibration:
    """The logistic model over the signals and the confidence it must reach to answer."""

    weights: tuple[float, ...]
    bias: float
    min_confidence: float

    def confidence(self, features: Features) -> float:
        """Probability-like score in [0, 1] that the evidence answers the question."""
        if not features:
            return 0.0
        z = self.bias + sum(w * f for w, f in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def answers(self, features: Features) -> bool:
        return self.confidence(features) >= self.min_confidence


class Signals(NamedTuple):
    """What the evidence model decides on, for the candidates of one language: the best
    sentence's similarity, its margin over the background, the coverage of the question's
    words, their number (at most 10), whether the language is another than the question's,
    the reader's best has-answer probability (-1 when the reader read none) and the
    language."""

    dense: float
    margin: float
    coverage: float
    words: float
    cross: float
    read: float = -1.0
    language: str = ""

    def values(self, reading: bool) -> Features:
        """The model's inputs, with the reader's probability (before `cross`) when `reading`."""
        base = (self.dense, self.margin, self.coverage, self.words)
        return (*base, self.read, self.cross) if reading else (*base, self.cross)


class EvidenceModel:
    """Logistic weights over (dense, margin, coverage, words, cross): `words` matters since
    short questions match their sentences with lower similarity than long ones; `cross`
    since cross-lingual similarities run lower, by how much depends on the pair of languages
    (`cross_pairs`). With `reader_weights`, questions whose best sentences the reader read, in
    the question's language, are decided on its has-answer probability too.

    The evidence of each language is decided on its own: in a store of Arabic and English
    news, the Arabic candidates of a question answer it or not whatever English articles sit
    beside them (adding articles in another language never makes a question refused that
    was answered), and an unrelated English sentence that happens to stand out of its
    language's candidates is judged as cross-lingual evidence for an Arabic question, with
    that pair's weight. The answer quotes the sentences of the languages whose evidence
    answers (`Selection.quotable`); the ranking is left as it is."""

    def __init__(
        self, settings: AbstentionSettings, background: Background, min_confidence: float
    ) -> None:
        self.settings = settings
        self.background = background
        self.calibration = Calibration(settings.weights, settings.bias, min_confidence)
        self.paired = pair_models(
            settings.weights, settings.bias, settings.cross_pairs, min_confidence
        )
        self.reading = (
            Calibration(settings.reader_weights, settings.reader_bias, min_confidence)
            if settings.reader_weights
            else None
        )
        name = background.embedder.name
        if name != settings.fitted_for:
            log.warning(
                "the abstention weights were fitted for the embedder %s, not %s: answers may "
                "be refused or given wrongly; refit them with `make fit-abstention` "
                "and set NEWS_ASSISTANT_ABSTENTION__WEIGHTS, __BIAS, __CROSS_PAIRS and "
                "__FITTED_FOR",
                settings.fitted_for,
                name,
            )

    def select(
        self, question: Question, vector: np.ndarray, ranked: Sequence[SentenceRecord]
    ) -> Selection:
        found = self.signals(question, vector, ranked)
        if not found:
            return Selection(list(ranked), 0.0, False)
        confidence = {lang: self.confidence(question, s) for lang, s in found.items()}
        bar = self.calibration.min_confidence
        answering = frozenset(lang for lang, c in confidence.items() if c >= bar)
        return Selection(list(ranked), max(confidence.values()), bool(answering), answering)

    def confidence(self, question: Question, found: Signals) -> float:
        """How sure the evidence of one language answers: the reader's weights where the
        reader read it in the question's language (it was trained on same-language pairs
        only: across languages its probability says little, about 0.01-0.05 even for the
        right sentence), else the base weights with the language pair's cross weight."""
        if self.reading is not None and found.read >= 0 and not found.cross:
            return self.reading.confidence(found.values(reading=True))
        return self.model_for(f"{question.language}>{found.language}").confidence(
            found.values(reading=False)
        )

    def model_for(self, pair: str) -> Calibration:
        """The base model with `pair`'s cross weight ("en>ar": an English question over Arabic
        evidence; a pair without one of its own takes the last of `weights`)."""
        return self.paired.get(pair, self.calibration)

    def signals(
        self, question: Question, vector: np.ndarray, ranked: Sequence[SentenceRecord]
    ) -> dict[str, Signals]:
        """The signals of each language's candidates (ranked best first): the most similar of
        its top `pool`, its top three for coverage; empty when there are no candidates."""
        by_language: dict[str, list[SentenceRecord]] = {}
        for record in ranked:
            mine = by_language.setdefault(record.language, [])
            if len(mine) < self.settings.pool:
                mine.append(record)
        return {lang: self._signals(question, vector, pool) for lang, pool in by_language.items()}

    def _signals(
        self, question: Question, vector: np.ndarray, pool: Sequence[SentenceRecord]
    ) -> Signals:
        best = max(pool, key=lambda c: c.dense)
        background = self.background.similarity(vector, best.language)
        return Signals(
            dense=best.dense,
            margin=best.dense - background,
            coverage=coverage(question, pool[:3]),
            words=float(min(10, len(question.search_terms))),
            cross=0.0 if best.language == question.language else 1.0,
            read=max(r.has_answer for r in pool),
            language=best.language,
        )


def pair_models(
    weights: Sequence[float], bias: float, cross_pairs: Mapping[str, float], min_confidence: float
) -> dict[str, Calibration]:
    """The model of each language pair that has a cross weight of its own: the base weights
    with that weight in place of the last (`cross`)."""
    return {
        pair: Calibration((*weights[:-1], cross), bias, min_confidence)
        for pair, cross in cross_pairs.items()
    }


def coverage(question: Question, top: Sequence[SentenceRecord]) -> float:
    """Share of the question's content words found (as stems, or lexicon translations) in the
    sentences of `top` together (evidence for a question is often spread over two sentences)."""
    if not question.search_terms:
        return 0.0
    found = {tok.norm for candidate in top for tok in tokens(candidate.sentence)}
    return terms_held(question.search_terms, found) / len(question.search_terms)


def terms_held(terms: Sequence[str], found: Collection[str]) -> int:
    """How many of `terms` (normalised question words) the normalised words `found` hold, each
    as its stem or, for an English word, as one of its Arabic lexicon forms."""
    groups = [(term, *expand_en(term)) for term in terms]
    return sum(any(stem_match(w, s) for w in found for s in group) for group in groups)
