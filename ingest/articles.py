"""Build the Article record every loader produces: its id, title and language filled in."""

from __future__ import annotations

import re

from core.errors import LoadError
from core.language import detect_language
from core.types import Article, sha256_hex

__all__ = [
    "MAX_STORED_TITLE",
    "Article",
    "clean_label",
    "cut_at_word",
    "make_article",
    "sha256_hex",
]

MAX_STORED_TITLE = 300  # characters; a longer title is cut at a word, with an ellipsis


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

    The title, source and author are labels: bidi control characters are taken out (they
    would show them reversed), and a title is cut to MAX_STORED_TITLE; the text is kept whole.
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
    title = cut_at_word(clean_label(title), MAX_STORED_TITLE) or _title_from_text(text)
    return Article(
        id=article_id,
        title=title,
        text=text,
        url=url,
        source=clean_label(source),
        date=date,
        author=clean_label(author),
        language=language,
        origin=origin,
    )


_SURROGATE = re.compile("[\ud800-\udfff]")
# Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and the LRM, RLM and ALM marks.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def clean_label(value: str) -> str:
    """A title, source or author as shown: without bidi control characters, stripped."""
    return _BIDI_CONTROLS.sub("", value).strip()


def cut_at_word(text: str, limit: int) -> str:
    """`text`, or its first words within `limit` characters and an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    words = head.rsplit(None, 1)[0] if " " in head.strip() else head
    return words.rstrip() + "…"


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
    return cut_at_word(clean_label(first), limit)
