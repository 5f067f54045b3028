"""Ingestion: load articles, split them into sentences and chunks, embed, and store them."""

from ingest.articles import Article, make_article
from ingest.chunks import Chunk, chunk_sentences, fit_sentences
from ingest.load import LoadFailure, load_paths
from ingest.normalize import normalize
from ingest.sentences import Sentence, split_sentences

__all__ = [
    "Article",
    "Chunk",
    "LoadFailure",
    "Sentence",
    "chunk_sentences",
    "fit_sentences",
    "load_paths",
    "make_article",
    "normalize",
    "split_sentences",
]
