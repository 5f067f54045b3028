"""Ingestion: load articles -> split them into sentences (and read their speakers) -> chunks ->
embed -> write to the store (pipeline.py runs the steps)."""

from core.types import Article, Chunk, Sentence
from ingest.articles import make_article
from ingest.chunks import chunk_sentences, fit_sentences
from ingest.load import LoadFailure, LoadNote, load_paths
from ingest.sentences import split_sentences

__all__ = [
    "Article",
    "Chunk",
    "LoadFailure",
    "LoadNote",
    "Sentence",
    "chunk_sentences",
    "fit_sentences",
    "load_paths",
    "make_article",
    "split_sentences",
]
