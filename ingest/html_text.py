"""Pull a web page's main article text and metadata with trafilatura, favouring precision."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import LoadError
from ingest.decode import normalize_newlines

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_NAVIGATION = ["//nav", "//*[@role='navigation']"]
NO_TEXT = "no article text found in the HTML (only scripts, styles or navigation)"


@dataclass(frozen=True)
class PageText:
    """The main text of a page (paragraphs separated by newlines) and what its metadata says."""

    text: str
    title: str = ""
    url: str = ""
    source: str = ""
    date: str = ""
    author: str = ""


def declared_charset(data: bytes) -> str | None:
    """The charset a page declares in a <meta> tag near its start, if any."""
    match = _CHARSET.search(data[:4096])
    return match.group(1).decode("ascii") if match else None


def extract_page(html: str) -> PageText:
    """Main text without scripts, styles or navigation; raises LoadError when there is none."""
    import trafilatura  # slow to import; only pages need it

    try:
        doc = trafilatura.bare_extraction(
            html,
            favor_precision=True,
            include_comments=False,
            include_images=False,
            include_links=False,
            with_metadata=True,
            prune_xpath=_NAVIGATION,
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception as exc:  # a parser failure is bad input, not a bug here
        raise LoadError(f"could not parse the HTML: {exc}") from exc
    if doc is None or isinstance(doc, dict):
        raise LoadError(NO_TEXT)
    title = _clean(doc.title)
    text = _drop_title_line(normalize_newlines(doc.text or "").strip(), title)
    if not text:
        raise LoadError(NO_TEXT)
    return PageText(
        text=text,
        title=title,
        url=_clean(doc.url),
        source=_clean(doc.sitename) or _clean(doc.hostname),
        date=_clean(doc.date),
        author=_clean(doc.author),
    )


def _clean(value: object) -> str:
    return " ".join(str(value).split()) if value else ""


def _drop_title_line(text: str, title: str) -> str:
    """The page's own headline usually opens the extracted text; the title already holds it."""
    first, _, rest = text.partition("\n")
    if title and rest.strip() and _clean(first).casefold() == title.casefold():
        return rest.strip()
    return text
