"""The reader's place in the pipeline, with a fake reader (the model itself is tested in
test_reader_training.py): it reranks the best sentences by its has-answer probability, the
answer states the spans it points out, and without weights the rules answer (with a warning)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import SAMPLE_ARTICLE, AlwaysAnswers

from assistant import Assistant, HashingEmbedder, Settings
from assistant.ask.pipeline import default_selector
from assistant.ask.read import ReadingReranker, build_reader
from assistant.ask.rerank import FusionReranker
from core.chroma import ChromaStore
from core.reader_model import ReaderPair, Reading
from core.settings import EmbedderSettings, ReaderSettings

OBSERVATORY = 'وقال "المرصد السوري لحقوق الإنسان"'


class FakeReader:
    """Says a sentence holding one of `words` answers (with that word's probability, 0.97 by
    default), pointing at the word; the others do not."""

    def __init__(self, *words: str, probability: dict[str, float] | None = None) -> None:
        self.words = words
        self.probability = probability or {}
        self.asked: list[ReaderPair] = []

    def read(self, pairs: Sequence[ReaderPair]) -> list[Reading]:
        self.asked += pairs
        return [self._reading(p.sentence) for p in pairs]

    def _reading(self, sentence: str) -> Reading:
        for word in self.words:
            at = sentence.find(word)
            if at >= 0:
                return Reading(self.probability.get(word, 0.97), at, at + len(word), 9.0)
        return Reading(0.05, 0, 4, 0.0)


@pytest.fixture
def stored(store: ChromaStore) -> ChromaStore:
    Assistant(Settings(), store=store, embedder=HashingEmbedder()).ingest([SAMPLE_ARTICLE])
    return store


def reading_assistant(store: ChromaStore, reader: FakeReader) -> Assistant:
    """The reader over the hashing embedder, whose similarities the abstention model was not
    fitted for: the selector always answers (what is said is the subject here)."""
    settings = Settings()
    embedder = HashingEmbedder()
    deep = settings.reader.model_copy(update={"depth": 8})  # the sample's sentences, all read
    reranker = ReadingReranker(FusionReranker(settings.retrieval), reader, store, deep)
    selector = AlwaysAnswers(default_selector(settings, embedder))
    return Assistant(settings, store=store, embedder=embedder, reranker=reranker, selector=selector)


def test_the_reader_reranks_and_its_span_is_stated_first(stored: ChromaStore) -> None:
    reader = FakeReader("28 مدنياً")
    answer = reading_assistant(stored, reader).ask("كم عدد القتلى المدنيين؟")
    assert answer.evidence[0].sentence.startswith(OBSERVATORY)
    assert answer.evidence[0].has_answer == pytest.approx(0.97)
    assert answer.short_answer == "28 مدنياً"
    assert answer.text.splitlines()[:3] == [  # the rules give the figures of the other voices
        "الأرقام بحسب كل مصدر:",
        "- بحسب المرصد السوري لحقوق الإنسان: «28 مدنياً» [1]",
        "- بحسب مصادر محلية: «أكثر من 30 شخصاً» [2]",
    ]
    cited = answer.citations[0]
    assert cited.sentence[cited.part_start : cited.part_end] == "28 مدنياً"  # to point it out
    assert len(reader.asked) == 8
    first = next(p for p in reader.asked if p.sentence.startswith(OBSERVATORY))
    assert first.previous.startswith("وقالت مصادر محلية") and first.next.startswith("وأضاف")


def test_a_count_gives_each_sources_figure_and_the_best_as_the_short_answer(
    stored: ChromaStore,
) -> None:
    reader = FakeReader("28 مدنياً", "30 شخصاً", probability={"30 شخصاً": 0.8})
    answer = reading_assistant(stored, reader).ask("كم عدد القتلى المدنيين؟")
    assert answer.short_answer == "28 مدنياً"
    lines = answer.text.splitlines()
    assert lines[1] == "- بحسب المرصد السوري لحقوق الإنسان: «28 مدنياً» [1]"
    assert "«30 شخصاً» [2]" in lines[2] and "مصادر محلية" in lines[2]


def test_a_count_read_in_one_voice_only_states_that_voice(stored: ChromaStore) -> None:
    reader = FakeReader("أكثر من 30 شخصاً")
    answer = reading_assistant(stored, reader).ask("كم عدد القتلى المدنيين؟")
    assert answer.short_answer == "أكثر من 30 شخصاً"
    lines = answer.text.splitlines()
    assert lines[1] == "- بحسب مصادر محلية: «أكثر من 30 شخصاً» [1]"
    assert len(lines) == 1 + len(answer.citations) and len(answer.citations) > 1
    assert all("مصادر محلية" not in line for line in lines[2:])  # each voice once


def test_a_figure_read_about_an_earlier_event_says_when(stored: ChromaStore) -> None:
    answer = reading_assistant(stored, FakeReader("ثمانية مدنيين")).ask("كم عدد القتلى المدنيين؟")
    assert answer.short_answer == "ثمانية مدنيين"
    assert "«ثمانية مدنيين … أواخر يونيو/حزيران الماضي» [1]" in answer.text.splitlines()[1]


def test_other_questions_state_only_the_best_span(stored: ChromaStore) -> None:
    reader = FakeReader("28 مدنياً", "30 شخصاً", probability={"30 شخصاً": 0.8})
    answer = reading_assistant(stored, reader).ask("من قتل في الغارة؟")
    assert answer.short_answer == "28 مدنياً"
    assert len(answer.citations) == 1


def test_when_the_reader_finds_nothing_the_rules_answer(stored: ChromaStore) -> None:
    answer = reading_assistant(stored, FakeReader("no such words")).ask("من نفذ الغارة؟")
    first = answer.citations[0]
    assert "نفذ" in answer.short_answer and answer.short_answer != first.sentence  # the actor rule


def test_no_weights_means_the_rules_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = ReaderSettings(enabled=True, weights=tmp_path / "none.safetensors")
    with caplog.at_level(logging.WARNING):
        assert build_reader(missing, EmbedderSettings(cache_dir=tmp_path)) is None
    assert "no reader weights" in caplog.text
    assert build_reader(ReaderSettings(enabled=False), EmbedderSettings()) is None
