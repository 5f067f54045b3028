"""The Article record every loader produces, and the ids and hashes that key it in the store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ingest.language import detect_language


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Article:
    """One news article: its text exactly as loaded, plus metadata that travels with every sentence.

    `text` is never altered after loading: every sentence offset points into it.
    `id` is stable across edits of the text (explicit id, else url, else where it was loaded
    from, else a hash of the content); `content_hash` changes whenever text or metadata change.
    """

    id: str
    title: str
    text: str
    url: str = ""
    source: str = ""
    date: str = ""
    author: str = ""
    language: str = ""
    origin: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def content_hash(self) -> str:
        parts = [
            self.title,
            self.text,
            self.url,
            self.source,
            self.date,
            self.author,
            self.language,
        ]
        return sha256_hex("\x1f".join(parts))


def make_article(
    text: str,
    *,
    title: str = "",
    article_id: str = "",
    url: str = "",
    source: str = "",
    date: str = "",
    author: str = "",
    language: str = "",
    origin: str = "",
    identity: str = "",
) -> Article:
    """Build an Article, filling what is missing: language detected, id derived, title defaulted.

    The id is the explicit one, else a hash of the url, else of `identity` (a loader passes the
    file path for one-article files, so an edited file keeps its id), else of the text.
    """
    language = language or detect_language(text)
    if not article_id:
        key = url or identity or text
        article_id = sha256_hex(key)[:16]
    title = title.strip() or _title_from_text(text)
    return Article(
        id=article_id,
        title=title,
        text=text,
        url=url,
        source=source,
        date=date,
        author=author,
        language=language,
        origin=origin,
    )


def _title_from_text(text: str, limit: int = 80) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"
