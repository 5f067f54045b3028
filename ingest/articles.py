"""Build the Article record every loader produces: its id, title and language filled in."""

from __future__ import annotations

import re

from core.errors import LoadError
from core.language import detect_language
from core.types import Article, sha256_hex

__all__ = ["Article", "make_article", "sha256_hex"]


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
    Raises LoadError for a field that is not a string (never coerced), and for text that is
    not valid Unicode (an unpaired surrogate, as a JSON
    escape such as "\\ud800" gives), which could be neither hashed nor stored.
    """
    given = dict(text=text, title=title, id=article_id, url=url, source=source, date=date)
    _check_unicode({**given, "author": author, "language": language})
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


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_unicode(fields: dict[str, str]) -> None:
    for name, value in fields.items():
        if not isinstance(value, str):
            kind = type(value).__name__
            raise LoadError(f"the {name} is {kind} ({value!r}), expected a string")
        found = _SURROGATE.search(value)
        if found:
            raise LoadError(
                f"the {name} holds an unpaired surrogate \\u{ord(found.group()):04x} at "
                f"character {found.start()}, which is not valid Unicode; fix the escape in the file"
            )


def _title_from_text(text: str, limit: int = 80) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"
