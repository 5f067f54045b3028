"""The project's small family of exceptions; each message says what was wrong and how to fix it."""

from __future__ import annotations


class NewsAssistantError(Exception):
    """Base of every error the project raises on purpose; front ends print its message."""


class LoadError(NewsAssistantError):
    """An input file could not be read as an article (the message names the file and reason)."""


class StoreError(NewsAssistantError):
    """The article store is missing, unreachable, or holds nothing yet."""


class StoreConnectionError(StoreError):
    """The store's server stopped answering: nothing more can be read or written this run."""


class ModelError(NewsAssistantError):
    """An embedding model could not be built or loaded."""


class SettingsError(NewsAssistantError):
    """A setting has a value that cannot work."""


class QuestionError(NewsAssistantError):
    """The question cannot be asked as it is."""


class LLMError(NewsAssistantError):
    """The chat model of the LLM answer mode cannot be built or reached, or failed to answer
    (the message names the backend and the fix); answers then fall back to extractive."""


class ClusterError(NewsAssistantError):
    """A Ray cluster (`ingest --ray`) cannot be started or reached, or lost its workers."""
