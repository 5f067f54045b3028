"""news-assistant: ask questions of news articles and get answers that cite their sources.

The public API: `Assistant` and the one result type (`Answer`, `Citation`, `Evidence`); the
answer pipeline's parts, to pass your own to `Assistant(...)`; and the building blocks the
evaluation and other tools use (articles, loading, the store and embedder protocols, BM25 with
the project's normalisation).
"""

from assistant.api import Assistant, with_location
from assistant.ask.chat_models import LlamaCppChat, build_chat_model
from assistant.ask.check import CitationChecker, MarkerChecker
from assistant.ask.draft import Answerer, Claim, Draft, StreamingAnswerer, marker
from assistant.ask.extractive import ExtractiveAnswerer
from assistant.ask.lexical import LexicalIndex
from assistant.ask.llm import FollowUpRewriter, LLMAnswerer
from assistant.ask.pipeline import AnswerPipeline, build_pipeline
from assistant.ask.question import Question, content_words, read_question
from assistant.ask.rerank import FusionReranker, Reranker
from assistant.ask.retrieve import HybridRetriever, Retriever
from assistant.ask.select import Calibration, EvidenceModel, EvidenceSelector, Selection
from core.chroma import ChromaStore
from core.embedder import Embedder, HashingEmbedder, build_embedder
from core.errors import (
    LLMError,
    LoadError,
    ModelError,
    NewsAssistantError,
    QuestionError,
    SettingsError,
    StoreConnectionError,
    StoreError,
)
from core.normalize import normalize
from core.settings import Settings
from core.store import ArticleStore
from core.types import Answer, Article, Citation, Evidence, Filters, SentenceRecord, Unsupported
from ingest.articles import make_article
from ingest.load import LoadFailure, LoadNote, load_paths
from ingest.pipeline import IngestSummary

__all__ = [
    "Answer",
    "AnswerPipeline",
    "Answerer",
    "Article",
    "ArticleStore",
    "Assistant",
    "Calibration",
    "ChromaStore",
    "Citation",
    "CitationChecker",
    "Claim",
    "Draft",
    "Embedder",
    "Evidence",
    "EvidenceModel",
    "EvidenceSelector",
    "ExtractiveAnswerer",
    "Filters",
    "FollowUpRewriter",
    "FusionReranker",
    "HashingEmbedder",
    "HybridRetriever",
    "IngestSummary",
    "LLMAnswerer",
    "LLMError",
    "LexicalIndex",
    "LlamaCppChat",
    "LoadError",
    "LoadFailure",
    "LoadNote",
    "MarkerChecker",
    "ModelError",
    "NewsAssistantError",
    "Question",
    "QuestionError",
    "Reranker",
    "Retriever",
    "Selection",
    "SentenceRecord",
    "Settings",
    "SettingsError",
    "StoreConnectionError",
    "StoreError",
    "StreamingAnswerer",
    "Unsupported",
    "build_chat_model",
    "build_embedder",
    "build_pipeline",
    "content_words",
    "load_paths",
    "make_article",
    "marker",
    "normalize",
    "read_question",
    "with_location",
]
