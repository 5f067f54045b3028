"""Answers, sources, ingest summaries and article lists as HTML for the web UI (pure functions).

Every piece of text from a question, an answer or an article is HTML-escaped here; the only
markup is ours. Direction is set per message and per source entry (`dir`), never for the page,
and runs of the other script inside a line are isolated with <bdi> so mixed Arabic/English
lines keep their reading order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from html import escape
from pathlib import Path

from core.language import detect_language
from core.store import ArticleDetail, StoredArticle
from core.types import Answer, Citation, Evidence
from ingest.articles import cut_at_word
from ingest.pipeline import IngestSummary

ArticleLookup = Callable[[str], ArticleDetail | None]
Source = Citation | Evidence

EMPTY_SOURCES = '<p class="na-empty">The sources of each answer appear here.</p>'
PENDING = '<div class="na-pending" dir="auto">Searching the articles…</div>'
CONTEXT_CHARS = 300  # at most this much of the paragraph is shown on each side of a sentence
MAX_ROWS = 500  # articles listed in the table; the count says how many more are stored
MAX_TITLE_SHOWN = 90  # characters of a title in the articles table; the rest is in its tooltip
NEAREST_SHOWN = 3  # evidence sentences shown for an unanswered question without citations

_NOT_ANSWERED = {"ar": "لا إجابة في المقالات", "en": "Not answered"}
_ARABIC = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"
_LATIN = "A-Za-z\u00c0-\u024f"
_RUNS = {
    "ltr": re.compile(rf"[{_ARABIC}]+(?:[\s\-]+[{_ARABIC}]+)*"),
    "rtl": re.compile(rf"[{_LATIN}]+(?:[\s\-.']+[{_LATIN}]+)*"),
}
_TOKENS = re.compile(r"(?P<quote>“[^”\n]*”|«[^»\n]*»)|\[(?P<n>\d+)\]")


def direction(text: str) -> str:
    """The `dir` for a piece of text: "rtl" when Arabic dominates, "ltr" for Latin, else "auto"."""
    return {"ar": "rtl", "en": "ltr"}.get(detect_language(text), "auto")


def isolated(text: str, base: str) -> str:
    """`text` escaped, with runs of the script opposite to `base` ("ltr"/"rtl") wrapped in <bdi>."""
    runs = _RUNS.get(base)
    if runs is None:
        return escape(text)
    out, at = [], 0
    for match in runs.finditer(text):
        out += [escape(text[at : match.start()]), f"<bdi>{escape(match.group())}</bdi>"]
        at = match.end()
    return "".join([*out, escape(text[at:])])


FSI, PDI = "\u2068", "\u2069"  # Unicode first-strong isolate and its end


def terminal_line(line: str, base: str) -> str:
    """A plain-text answer line for a terminal: each quote and each run of the script
    opposite to `base` inside Unicode isolates, so a bidi-aware terminal keeps an Arabic
    quote in an English line (and the reverse) from reordering the quote marks and colons
    around it."""
    runs = _RUNS.get(base)
    out, at = [], 0
    for match in _TOKENS.finditer(line):
        if match.group("quote"):
            out += [_isolated_runs(line[at : match.start()], runs), FSI, match.group(), PDI]
            at = match.end()
    return "".join([*out, _isolated_runs(line[at:], runs)])


def _isolated_runs(text: str, runs: re.Pattern[str] | None) -> str:
    return runs.sub(lambda m: f"{FSI}{m.group()}{PDI}", text) if runs else text


def source_id(number: int, answer_no: int = 0) -> str:
    """The id of source entry `number` of the conversation's answer `answer_no` (0: the only
    answer shown), so that the markers of every answer point at their own sentences."""
    return f"src-{answer_no}-{number}" if answer_no else f"src-{number}"


def inline_html(line: str, numbers: Iterable[int], base: str, answer_no: int = 0) -> str:
    """One answer line: quotes isolated, cited markers [n] linked to their source entries."""
    cited = set(numbers)
    out, at = [], 0
    for match in _TOKENS.finditer(line):
        out.append(isolated(line[at : match.start()], base))
        if match.group("quote"):
            out.append(f"<bdi>{escape(match.group('quote'))}</bdi>")
        elif int(match.group("n")) in cited:
            n = int(match.group("n"))
            out.append(f'<a class="na-marker" href="#{source_id(n, answer_no)}">[{n}]</a>')
        else:
            out.append(escape(match.group()))
        at = match.end()
    out.append(isolated(line[at:], base))
    return "".join(out)


def _lines_html(lines: Sequence[str], numbers: Iterable[int], base: str, answer_no: int) -> str:
    """Lines as paragraphs; consecutive "- " lines as one bulleted list."""
    out: list[str] = []
    in_list = False
    for line in lines:
        item = line.startswith("- ")
        if item != in_list:
            out.append("<ul>" if item else "</ul>")
            in_list = item
        body = inline_html(line[2:] if item else line, numbers, base, answer_no)
        out.append(f"<li>{body}</li>" if item else f"<p>{body}</p>")
    return "".join([*out, "</ul>" if in_list else ""])


def answer_lines(answer: Answer) -> list[str]:
    return [line for line in answer.text.split("\n") if line.strip()]


def answer_html(answer: Answer, upto: int | None = None, answer_no: int = 0) -> str:
    """The answer as a chat message (its first `upto` lines while streaming), its markers
    linked to the entries of `sources_html(answer, ..., answer_no)`; an unanswered question
    is marked as such."""
    base = "rtl" if answer.language == "ar" else "ltr"
    numbers = [c.number for c in answer.citations]
    body = _lines_html(answer_lines(answer)[:upto], numbers, base, answer_no)
    badge, kind = "", "na-answer"
    if not answer.answered:
        label = _NOT_ANSWERED.get(answer.language, _NOT_ANSWERED["en"])
        badge, kind = f'<p class="na-badge">{label}</p>', "na-answer na-unanswered"
    lang = escape(answer.language or "und")
    done = upto is None or upto >= len(answer_lines(answer))
    extras = _extras_html(answer) if done else ""
    return f'<div class="{kind}" dir="{base}" lang="{lang}">{badge}{body}{extras}</div>'


def _extras_html(answer: Answer) -> str:
    """The answer's notes, and the sentences a model wrote that its sources did not carry
    (removed from the answer), each with the reason."""
    notes = "".join(f'<p class="na-note" dir="auto">ⓘ {escape(n)}</p>' for n in answer.notes)
    if not answer.unsupported:
        return notes
    items = "".join(
        f'<li dir="auto"><bdi>{escape(u.text)}</bdi> <span class="na-reason">({escape(u.reason)})'
        "</span></li>"
        for u in answer.unsupported
    )
    count = len(answer.unsupported)
    summary = f"Removed: {count} sentence{'' if count == 1 else 's'} not supported by the sources"
    removed = f"<summary>{summary}</summary><ul>{items}</ul>"
    return f'{notes}<details class="na-unsupported">{removed}</details>'


def streaming_html(text: str) -> str:
    """A language model's answer as it is being written (replaced by the checked answer)."""
    return f'<div class="na-streaming" dir="auto">{escape(text)}</div>'


def answer_pieces(answer: Answer, answer_no: int = 0) -> list[str]:
    """The answer message growing line by line, for streaming; the last piece is complete."""
    n = len(answer_lines(answer))
    pieces = [answer_html(answer, i, answer_no) for i in range(1, n + 1)]
    return pieces or [answer_html(answer, None, answer_no)]


def question_html(question: str) -> str:
    return f'<div class="na-question" dir="{direction(question)}">{escape(question)}</div>'


def error_html(message: str) -> str:
    """An error as a chat message or a panel notice (the message says how to fix it)."""
    return f'<div class="na-error" dir="auto" role="alert">⚠ {escape(message)}</div>'


def notice_html(message: str) -> str:
    return f'<div class="na-notice" dir="auto">{escape(message)}</div>'


def paragraph_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The paragraph around text[start:end]: from the line break before to the one after."""
    p_start = text.rfind("\n", 0, start) + 1
    p_end = text.find("\n", end)
    return p_start, len(text) if p_end < 0 else p_end


def _clip(text: str, keep_end: bool) -> str:
    """At most CONTEXT_CHARS of `text`, cut at a space, keeping its end (or its start)."""
    if len(text) <= CONTEXT_CHARS:
        return text
    if keep_end:
        part = text[-CONTEXT_CHARS:]
        return "…" + part[part.find(" ") + 1 :]
    part = text[:CONTEXT_CHARS]
    return part[: part.rfind(" ")] + "…"


def context_html(source: Source, article: ArticleDetail | None) -> str:
    """The cited sentence, verbatim and highlighted, inside its paragraph when the stored
    article still holds it at the cited offsets (else the sentence alone)."""
    mark = f'<mark class="na-sentence">{_pointed_out(source)}</mark>'
    if article is None or article.text[source.start : source.end] != source.sentence:
        return mark
    p_start, p_end = paragraph_bounds(article.text, source.start, source.end)
    before = _clip(article.text[p_start : source.start], keep_end=True)
    after = _clip(article.text[source.end : p_end], keep_end=False)
    return f"{escape(before)}{mark}{escape(after)}"


def _pointed_out(source: Source) -> str:
    """The sentence, with the part a citation's answer quotes from it set off (strong)."""
    sentence = source.sentence
    if not isinstance(source, Citation) or source.part_start < 0:
        return escape(sentence)
    start, end = source.part_start, source.part_end
    part = f'<strong class="na-part">{escape(sentence[start:end])}</strong>'
    return f"{escape(sentence[:start])}{part}{escape(sentence[end:])}"


def _meta_html(source: Source) -> str:
    title = f'<bdi class="na-title">{escape(source.title or source.article_id)}</bdi>'
    url = source.url
    if url.startswith(("http://", "https://")):
        title = f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">{title}</a>'
    rest = [f"<bdi>{escape(part)}</bdi>" for part in (source.source, source.date) if part]
    return " · ".join([title, *rest])


def source_entry_html(
    number: int, source: Source, article: ArticleDetail | None, answer_no: int = 0
) -> str:
    """One entry of the sources panel; its id (`source_id`) is the target of marker [n]."""
    return (
        f'<li id="{source_id(number, answer_no)}" class="na-source" '
        f'dir="{direction(source.sentence)}">'
        f'<div class="na-meta" dir="auto"><span class="na-num">[{number}]</span> '
        f"{_meta_html(source)}</div>"
        f'<p class="na-context">{context_html(source, article)}</p></li>'
    )


def _cited(answer: Answer) -> list[tuple[int, Source]]:
    if answer.citations:
        return [(c.number, c) for c in answer.citations]
    return list(enumerate(answer.evidence[:NEAREST_SHOWN], start=1))


def sources_html(answer: Answer, lookup: ArticleLookup, answer_no: int = 0) -> str:
    """The sources of an answer: each cited sentence with its article, source and date,
    highlighted in its paragraph; for an unanswered question, the nearest sentences. With
    `answer_no` (the answer's place in the conversation) the heading names the question and
    the entry ids are that answer's own."""
    entries = _cited(answer)
    if not entries:
        return '<p class="na-empty">No sources: nothing in the articles came close.</p>'
    articles: dict[str, ArticleDetail | None] = {}
    for _, source in entries:
        if source.article_id not in articles:
            articles[source.article_id] = lookup(source.article_id)
    heading = "Sources" if answer.answered else "Not answered: the nearest sentences"
    if answer_no:
        heading += f" of answer {answer_no}: <bdi>{escape(answer.question)}</bdi>"
    items = "".join(source_entry_html(n, s, articles[s.article_id], answer_no) for n, s in entries)
    return f'<div class="na-sources"><h3>{heading}</h3><ol>{items}</ol></div>'


def _origin(origin: str, folders: Iterable[str]) -> str:
    """A failure's origin without the server's upload folder."""
    for folder in folders:
        if origin.startswith(folder.rstrip("/") + "/"):
            return origin[len(folder.rstrip("/")) + 1 :]
    return origin


def summary_html(summary: IngestSummary, uploaded: Sequence[str] = ()) -> str:
    """What an ingestion did: the counts, every failure with its reason, then the notes (a
    guessed encoding)."""
    folders = {str(Path(p).parent) for p in uploaded}
    counts = (
        f"articles: {summary.articles} · sentences: {summary.sentences} · "
        f"chunks: {summary.chunks} · unchanged: {summary.unchanged} · "
        f"failed: {summary.failed} ({summary.seconds:.1f} s)"
    )
    failures = "".join(
        f'<li dir="auto"><bdi>{escape(_origin(f.origin, folders))}</bdi>: {escape(f.reason)}</li>'
        for f in summary.failures
    )
    notes = "".join(
        f'<li dir="auto"><bdi>{escape(_origin(n.origin, folders))}</bdi>: {escape(n.message)}</li>'
        for n in summary.notes
    )
    listed = f'<ul class="na-failures">{failures}</ul>' if failures else ""
    noted = f'<ul class="na-notes">{notes}</ul>' if notes else ""
    return f'<div class="na-summary"><p>{counts}</p>{listed}{noted}</div>'


def articles_html(articles: Sequence[StoredArticle]) -> str:
    """The stored articles as a table (id, title, source, date); long lists are cut, long
    titles elided (the whole title is the cell's tooltip)."""
    rows = "".join(
        f"<tr><td><code>{escape(a.id)}</code></td>{_title_cell(a.title)}"
        f"<td dir='auto'>{escape(a.source)}</td><td>{escape(a.date)}</td></tr>"
        for a in articles[:MAX_ROWS]
    )
    more = f", the first {MAX_ROWS} shown" if len(articles) > MAX_ROWS else ""
    count = f"{len(articles)} article{'' if len(articles) == 1 else 's'} stored{more}"
    head = "<tr><th>id</th><th>title</th><th>source</th><th>date</th></tr>"
    table = f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>" if articles else ""
    return f'<div class="na-articles"><p>{count}</p>{table}</div>'


def _title_cell(title: str) -> str:
    shown = escape(cut_at_word(title, MAX_TITLE_SHOWN))
    return f"<td dir='auto' title='{escape(title)}'>{shown}</td>"
