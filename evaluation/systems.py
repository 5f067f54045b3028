"""The systems compared, each answering a question with a ranking of stored sentences, an answer
text and the sentences it cites, all over the same store contents:

- `Bm25Baseline`: bm25s alone over every stored sentence, with the project's normalisation;
  the answer is the top sentence.
- `LangChainBaseline`: what a typical user builds: RecursiveCharacterTextSplitter(1000, 200),
  Chroma (langchain-chroma), the same embedder; the answer is the top chunk's best sentence.
- `ProjectSystem`: this project's `Assistant.ask`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from assistant import (
    Article,
    ArticleStore,
    Assistant,
    ChromaStore,
    Embedder,
    LexicalIndex,
    SentenceRecord,
    content_words,
)

if TYPE_CHECKING:
    from langchain_chroma import Chroma

CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200
LANGCHAIN_COLLECTION = "langchain-baseline"


@dataclass(frozen=True)
class Sentence:
    """A stored sentence as systems rank it: where it is and what it says."""

    article_id: str
    start: int
    end: int
    text: str


@dataclass
class Reply:
    """One system's reply to one question."""

    ranked: list[Sentence]
    text: str
    short: str = ""
    cited: list[Sentence] = field(default_factory=list)
    answered: bool = True
    ms: float = 0.0  # set by the caller that timed the reply


class System(Protocol):
    name: str

    def reply(self, question: str) -> Reply: ...


def _sentence(record: SentenceRecord) -> Sentence:
    return Sentence(record.article_id, record.start, record.end, record.sentence)


class ProjectSystem:
    """This project, through its public API; `depth` sentences of evidence are ranked."""

    name = "news-assistant"

    def __init__(self, assistant: Assistant, depth: int = 20) -> None:
        self.assistant = assistant
        self.depth = depth

    def reply(self, question: str) -> Reply:
        answer = self.assistant.ask(question, k=self.depth)
        ranked = [Sentence(e.article_id, e.start, e.end, e.sentence) for e in answer.evidence]
        cited = [Sentence(c.article_id, c.start, c.end, c.sentence) for c in answer.citations]
        return Reply(ranked, answer.text, answer.short_answer, cited, answer.answered)


class Bm25Baseline:
    """BM25 alone (bm25s) over every stored sentence, on the project's normalised words."""

    name = "BM25"

    def __init__(self, store: ArticleStore, depth: int = 20) -> None:
        self.index = LexicalIndex(store.iter_sentences())
        self.depth = depth

    def reply(self, question: str) -> Reply:
        ranked = [_sentence(c) for c in self.index.search(content_words(question), self.depth)]
        top = ranked[:1]
        return Reply(ranked, top[0].text if top else "", cited=top, answered=bool(top))


class EmbedderEmbeddings(Embeddings):
    """The project's embedder as LangChain Embeddings (e5's passage/query prompts included)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in self.embedder.embed_passages(texts)]

    def embed_query(self, text: str) -> list[float]:
        return list(map(float, self.embedder.embed_queries([text])[0]))


def langchain_chunks(articles: Sequence[Article]) -> list[Document]:
    """The articles split as a typical LangChain user would: RecursiveCharacterTextSplitter."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True
    )
    documents = [Document(a.text, metadata={"article_id": a.id}) for a in articles]
    return splitter.split_documents(documents)


def langchain_store(store: ArticleStore, embedder: Embedder) -> Chroma:
    """The baseline's Chroma collection, kept in the same Chroma as the project's store."""
    from langchain_chroma import Chroma

    if not isinstance(store, ChromaStore):
        raise TypeError(f"the LangChain baseline needs a Chroma store, not {type(store).__name__}")
    return Chroma(
        collection_name=LANGCHAIN_COLLECTION,
        client=store.client,
        embedding_function=EmbedderEmbeddings(embedder),
        collection_metadata={"hnsw:space": "cosine"},
    )


def add_to_langchain(
    chroma: Chroma, articles: Sequence[Article], progress: Callable[[int], None] | None = None
) -> int:
    """Split and add the articles to the baseline's collection; returns the chunk count."""
    chunks = langchain_chunks(articles)
    for i in range(0, len(chunks), 256):
        batch = chunks[i : i + 256]
        ids = [f"{d.metadata['article_id']}:{d.metadata['start_index']}" for d in batch]
        chroma.add_documents(batch, ids=ids)
        if progress is not None:
            progress(len(batch))
    return len(chunks)


Row = tuple[Sentence, np.ndarray]


class SentenceTable:
    """Every stored sentence with its stored vector, by article, in text order."""

    def __init__(self, store: ArticleStore) -> None:
        hits = sorted(store.iter_sentences(), key=lambda h: (h.article_id, h.start))
        vectors: dict[str, np.ndarray] = {}
        for i in range(0, len(hits), 1000):
            vectors.update(store.sentence_vectors([h.id for h in hits[i : i + 1000]]))
        self.by_article: dict[str, list[Row]] = {}
        for hit in hits:
            self.by_article.setdefault(hit.article_id, []).append((_sentence(hit), vectors[hit.id]))
        self._starts = {a: [s.start for s, _ in rows] for a, rows in self.by_article.items()}

    def overlapping(self, article_id: str, start: int, end: int) -> list[Row]:
        """The sentences of the article that overlap characters start..end."""
        rows = self.by_article.get(article_id, [])
        first = max(0, bisect.bisect_right(self._starts.get(article_id, []), start) - 1)
        return [(s, v) for s, v in rows[first:] if s.start < end and s.end > start]


class LangChainBaseline:
    """Top chunks from Chroma; within each chunk, its sentences by similarity to the question
    (the stored sentence vectors: the same embedder on the same sentences)."""

    name = "LangChain"

    def __init__(
        self, chroma: Chroma, table: SentenceTable, embeddings: Embeddings, chunks: int = 10
    ) -> None:
        self.chroma = chroma
        self.table = table
        self.embeddings = embeddings
        self.chunks = chunks

    def reply(self, question: str) -> Reply:
        vector = self.embeddings.embed_query(question)
        documents = self.chroma.similarity_search_by_vector(vector, k=self.chunks)
        query = np.asarray(vector, dtype=np.float32)
        ranked: dict[Sentence, None] = {}  # insertion-ordered set
        for document in documents:
            start = int(document.metadata["start_index"])
            rows = self.table.overlapping(
                str(document.metadata["article_id"]), start, start + len(document.page_content)
            )
            for sentence, _ in sorted(rows, key=lambda row: -float(row[1] @ query)):
                ranked.setdefault(sentence, None)
        order = list(ranked)
        top = order[:1]
        return Reply(order, top[0].text if top else "", cited=top, answered=bool(top))
