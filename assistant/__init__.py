"""news-assistant: ask questions of news articles and get answers that cite their sources."""

from assistant.answering import QuestionError
from assistant.api import Assistant
from assistant.retrieve import Filters
from assistant.settings import Settings
from assistant.types import Answer, Citation, Evidence
from ingest.errors import LoadError, ModelError, NewsAssistantError, SettingsError, StoreError
from ingest.pipeline import IngestSummary

__all__ = [
    "Answer",
    "Assistant",
    "Citation",
    "Evidence",
    "Filters",
    "IngestSummary",
    "LoadError",
    "ModelError",
    "NewsAssistantError",
    "QuestionError",
    "Settings",
    "SettingsError",
    "StoreError",
]
