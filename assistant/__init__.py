"""news-assistant: ask questions of news articles and get answers that cite their sources."""

from assistant.api import Assistant
from assistant.settings import Settings
from ingest.errors import LoadError, ModelError, NewsAssistantError, SettingsError, StoreError
from ingest.pipeline import IngestSummary

__all__ = [
    "Assistant",
    "IngestSummary",
    "LoadError",
    "ModelError",
    "NewsAssistantError",
    "Settings",
    "SettingsError",
    "StoreError",
]
