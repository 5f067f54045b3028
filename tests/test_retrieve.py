"""The BM25 index of HybridRetriever: rebuilt when the store changes, by one thread at a time,
reading only the new sentences' words (a fake store: no Chroma, no model)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest

from assistant.ask.retrieve import HybridRetriever, says_nothing
from core.settings import RetrievalSettings
from core.store import ArticleStore
from core.types import SentenceRecord


def record(i: int, text: str) -> SentenceRecord:
    fields: dict[str, Any] = dict(title="t", source="", url="", date="", language="en")
    return SentenceRecord(
        f"s{i}", "a", sentence_index=i, start=0, end=len(text), sentence=text, **fields
    )


class Sentences:
    """The two store methods the index reads, over a list that tests add to."""

    def __init__(self, *texts: str) -> None:
        self.rows = [record(i, text) for i, text in enumerate(texts)]
        self.reads = 0

    def count_sentences(self) -> int:
        return len(self.rows)

    def iter_sentences(self) -> Iterator[SentenceRecord]:
        self.reads += 1
        yield from list(self.rows)


def retriever(store: Sentences) -> HybridRetriever:
    return HybridRetriever(cast(ArticleStore, store), RetrievalSettings())


def test_the_index_follows_the_store_and_reuses_known_words() -> None:
    store = Sentences("The harbour reopened on Tuesday.", "Rain is expected.")
    bm25 = retriever(store)
    first = bm25.lexical_index()
    assert bm25.lexical_index() is first and store.reads == 1
    store.rows.append(record(2, "The ferry sailed from the harbour."))
    second = bm25.lexical_index()
    assert second is not first and len(second) == 3 and store.reads == 2
    assert second.words["s0"] is first.words["s0"]  # read once, kept
    assert [r.id for r in second.search(["ferry"], 5)] == ["s2"]


def test_questions_during_a_rebuild_use_the_index_as_it_was() -> None:
    store = Sentences("The harbour reopened on Tuesday.")
    bm25 = retriever(store)
    old = bm25.lexical_index()
    store.rows.append(record(1, "The ferry sailed."))
    rebuilding = bm25._rebuilding  # held as a rebuilding thread holds it
    rebuilding.acquire()
    try:
        seen: list[Any] = []
        asker = threading.Thread(target=lambda: seen.append(bm25.lexical_index()))
        asker.start()
        asker.join(timeout=5)
        assert seen == [old]
    finally:
        rebuilding.release()
    assert len(bm25.lexical_index()) == 2


@pytest.mark.parametrize(
    ("sentence", "nothing"),
    [
        ("لمراسلة الكاتب: ralmotere@alriyadh.net", True),
        ("aaljamili@yahoo.com", True),
        ("Follow us: https://example.com/news", True),
        ("To contact the writer: floods@valley.example", True),
        ("Contact the ministry at press@moi.gov.sa for the full list of 20 names.", False),
        ("The report (https://example.com/r) says 20 died.", False),
        ("Police said 20 died, per @AP.", False),
        ("قتل 5 أشخاص.", False),  # short, but no contact: a statement
        ("يا تُرى ما هي مقاييس التبرج مثلا؟", True),  # a question states nothing
        ('He asked: "Why were 20 people killed?"', True),
        ('He asked "why?" and left the room.', False),
        ("The toll rose to 54.", False),
    ],
)
def test_a_question_or_a_line_that_is_only_a_contact_says_nothing(
    sentence: str, nothing: bool
) -> None:
    assert says_nothing(sentence) is nothing
