"""The Gradio web UI: a chat whose answers cite their sources, a sources panel, article uploads.

Callbacks only call the Python API and the renderers in assistant/render.py; errors become
messages in the chat or the upload panel. Launch it with `python app.py` (see `launch`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Protocol

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no phoning home

import gradio as gr

from assistant.frontends import render
from assistant.frontends.login import login_check
from core.errors import NewsAssistantError
from core.settings import Mode, Settings, UISettings
from core.store import ArticleDetail, StoredArticle
from core.types import Answer, Filters
from ingest.load import count_articles
from ingest.pipeline import IngestSummary

logger = logging.getLogger(__name__)

FORMATS = (".txt", ".md", ".html", ".json", ".jsonl", ".zip")
LOADING = "Loading the language model and the search indexes… (the first question waits for it)"
READY = "Ready: ask away."
Message = dict[str, str]
Outputs = tuple[Any, ...]

CSS = """
.na-answer, .na-question, .na-error, .na-pending, .na-notice { text-align: start; }
.na-answer p, .na-answer ul { margin: 0.2em 0; }
.na-answer ul { padding-inline-start: 1.2em; }
.na-unanswered { border-inline-start: 4px solid #d97706; padding-inline-start: 0.6em; }
.na-badge { font-weight: 600; color: #b45309; }
.na-error { color: #b91c1c; }
.na-pending { opacity: 0.7; font-style: italic; }
.na-marker { text-decoration: none; font-weight: 600; }
.na-sources ol { list-style: none; padding: 0; margin: 0; }
.na-source { margin: 0 0 0.9em; padding: 0.4em 0.6em; border-radius: 6px; }
.na-source:target { outline: 2px solid #f59e0b; }
.na-meta { font-size: 0.85em; opacity: 0.8; text-align: start; }
.na-context { margin: 0.3em 0 0; text-align: start; }
mark.na-sentence { background: #fde68a; color: inherit; padding: 0 0.1em; }
mark.na-sentence strong.na-part { text-decoration: underline 2px #b45309; }
.na-failures { color: #b91c1c; }
.na-streaming { opacity: 0.75; white-space: pre-wrap; text-align: start; }
.na-note { font-size: 0.9em; color: #92400e; }
.na-unsupported { font-size: 0.9em; color: #7c2d12; margin-top: 0.4em; }
.na-reason { opacity: 0.8; }
#na-question textarea { unicode-bidi: plaintext; text-align: start; }
"""


class FilterError(NewsAssistantError):
    """A filter setting (a date) cannot be read."""


class ArticleLookup(Protocol):
    def get_article(self, article_id: str) -> ArticleDetail | None: ...


class AssistantLike(Protocol):
    """What the UI needs of `assistant.api.Assistant` (tests pass a fake)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> ArticleLookup: ...

    def chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode | None = None,
    ) -> Answer: ...

    def chat_stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        k: int | None = None,
        filters: Filters | None = None,
        mode: Mode | None = None,
    ) -> Iterator[str | Answer]: ...

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        defaults: dict[str, str] | None = None,
        progress: Callable[[IngestSummary], None] | None = None,
    ) -> IngestSummary: ...

    def articles(self) -> list[StoredArticle]: ...

    def delete(self, article_id: str) -> bool: ...

    def warm_up(self) -> None: ...


@dataclass(frozen=True)
class Conversation:
    """One browser session's chat: what the assistant reads (plain text), what is shown, and
    the sources of every answer, newest first (each answer's markers point at its own)."""

    messages: tuple[Message, ...] = ()
    shown: tuple[Message, ...] = ()
    sources: tuple[str, ...] = ()

    @property
    def answers(self) -> int:
        return len(self.sources)

    def questions(self) -> list[str]:
        return [m["content"] for m in self.messages if m["role"] == "user"]

    def showing(self, *messages: Message) -> Conversation:
        return replace(self, shown=(*self.shown, *messages))


ChatOutputs = tuple[list[Message], Conversation, Any, Any]  # chat, state, sources, question box


def _iso_date(value: str, name: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise FilterError(f"{name} must be a date written YYYY-MM-DD, e.g. 2018-06-29, not {value!r}")


def parse_filters(source: str | None, since: str, until: str) -> Filters | None:
    """The filters set in the UI (an empty source or date means no filter), or None."""
    first, last = _iso_date(since or "", "since"), _iso_date(until or "", "until")
    if first and last and first > last:
        raise FilterError(f"since ({first}) is after until ({last}): swap them")
    filters = Filters(source=source or None, since=first, until=last)
    return filters or None


def _message(role: str, html: str) -> Message:
    return {"role": role, "content": html}


class Callbacks:
    """The UI's event handlers over one assistant; each returns what its outputs show."""

    def __init__(self, assistant: AssistantLike) -> None:
        self.assistant = assistant
        self._warm = threading.Thread(target=self._warm_up, name="warm-up", daemon=True)
        self._warm_error: Exception | None = None
        self._starting = threading.Lock()

    def start(self) -> None:
        """Load the models and indexes in the background (when the app is built), so that
        the first question does not wait for them."""
        with self._starting:
            if self._warm.ident is None:
                self._warm.start()

    def _warm_up(self) -> None:
        try:
            self.assistant.warm_up()
        except Exception as exc:  # shown by `ready`; the questions will show it again
            self._warm_error = exc

    def ready(self) -> Iterator[str]:
        """The status line: "loading" until the warm-up is done, then ready (or its error)."""
        self.start()
        if self._warm.is_alive():
            yield render.notice_html(LOADING)
            self._warm.join()
        if self._warm_error is not None:
            yield _error(self._warm_error, "loading the models")
        else:
            yield render.notice_html(READY)

    def respond(
        self,
        question: str,
        conversation: Conversation,
        k: float,
        source: str | None,
        since: str,
        until: str,
        llm: bool = False,
    ) -> Iterator[ChatOutputs]:
        """Answer `question` in the conversation, streaming the answer line by line (with
        `llm`, a language model's text as it comes, then the checked answer in its place);
        yields (chat shown, conversation, sources panel, question box)."""
        asked = conversation
        if question.strip():
            asked = conversation.showing(_message("user", render.question_html(question)))
        yield [*asked.shown, _message("assistant", render.PENDING)], asked, gr.skip(), ""
        try:
            filters = parse_filters(source, since, until)
            messages = [*conversation.messages, {"role": "user", "content": question}]
            if llm:
                events = self.assistant.chat_stream(messages, k=int(k), filters=filters, mode="llm")
                answer = yield from _written(events, asked)
            else:
                questions = _questions(messages)
                answer = self.assistant.chat(
                    questions, k=int(k), filters=filters, mode="extractive"
                )
            number = conversation.answers + 1
            sources = render.sources_html(answer, self.assistant.store.get_article, number)
        except Exception as exc:  # shown in the chat; unexpected ones are logged in full
            failed = asked.showing(_message("assistant", _error(exc, "answering")))
            yield list(failed.shown), failed, gr.skip(), gr.skip()
            return
        yield from _stream(question, answer, sources, asked)

    def clear(self) -> tuple[list[Message], Conversation, str]:
        return [], Conversation(), render.EMPTY_SOURCES

    def upload(
        self,
        files: Sequence[str] | None,
        source: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects the tracker)
    ) -> Outputs:
        """Ingest uploaded files; returns (summary, articles table, source choices, files)."""
        if not files:
            return (render.notice_html("Choose files to add first."), *self.refresh(), None)

        total = count_articles(list(files))

        def report(summary: IngestSummary) -> None:
            done = f"{summary.seen} of {total} articles read, {summary.articles} stored"
            progress((summary.seen, total), desc=done, unit="articles")

        defaults = {"source": source.strip()} if source and source.strip() else None
        try:
            summary = self.assistant.ingest(list(files), defaults=defaults, progress=report)
        except Exception as exc:
            return (_error(exc, "ingesting uploads"), *self.refresh(), gr.skip())
        return (render.summary_html(summary, files), *self.refresh(), None)

    def delete(self, article_id: str) -> Outputs:
        """Delete one article by id; returns (status, articles table, source choices, id box)."""
        article_id = (article_id or "").strip()
        if not article_id:
            return (render.notice_html("Type the id of an article to delete."), *self.refresh(), "")
        try:
            deleted = self.assistant.delete(article_id)
        except Exception as exc:
            return (_error(exc, "deleting an article"), *self.refresh(), gr.skip())
        if not deleted:
            status = render.error_html(f"No article {article_id!r} is stored: see the table.")
            return (status, *self.refresh(), gr.skip())
        return (render.notice_html(f"Deleted {article_id}."), *self.refresh(), "")

    def refresh(self) -> tuple[str, dict[str, Any]]:
        """(the articles table, the source filter's choices) from the store."""
        try:
            articles = self.assistant.articles()
        except Exception as exc:
            return _error(exc, "listing the articles"), gr.update()
        sources = sorted({a.source for a in articles if a.source})
        choices = [("Any source", ""), *((s, s) for s in sources)]
        return render.articles_html(articles), gr.update(choices=choices)


def _questions(messages: Sequence[Message]) -> list[Message]:
    """The user messages of a conversation (what the extractive answerer reads)."""
    return [m for m in messages if m["role"] == "user"]


def _written(
    events: Iterator[str | Answer], asked: Conversation
) -> Generator[ChatOutputs, None, Answer]:
    """Show a language model's text as it comes; return the checked Answer at the end."""
    written = ""
    for event in events:
        if isinstance(event, Answer):
            return event
        written += event
        shown = [*asked.shown, _message("assistant", render.streaming_html(written))]
        yield shown, asked, gr.skip(), gr.skip()
    raise NewsAssistantError("the answer stream ended without an answer")


def _stream(
    question: str, answer: Answer, sources: str, asked: Conversation
) -> Iterator[ChatOutputs]:
    """The answer shown line by line (the sources panel with the first line: this answer's
    sources, then the earlier answers'); the conversation records the exchange with the last
    line."""
    pieces = render.answer_pieces(answer, asked.answers + 1)
    said = ({"role": "user", "content": question}, {"role": "assistant", "content": answer.text})
    done = asked.showing(_message("assistant", pieces[-1]))
    done = replace(done, messages=(*asked.messages, *said), sources=(sources, *asked.sources))
    for i, piece in enumerate(pieces):
        state = done if i == len(pieces) - 1 else asked
        panel = "".join(done.sources) if i == 0 else gr.skip()
        yield [*asked.shown, _message("assistant", piece)], state, panel, gr.skip()


def _error(exc: Exception, doing: str) -> str:
    """An exception as an error message: ours say how to fix things; others are logged."""
    if isinstance(exc, NewsAssistantError):
        return render.error_html(str(exc))
    logger.exception("unexpected error while %s", doing)
    return render.error_html(
        f"Something unexpected went wrong while {doing} ({type(exc).__name__}: {exc}); "
        "the details are in the server log."
    )


def build_app(assistant: AssistantLike) -> gr.Blocks:
    """The web UI over `assistant`: an Ask tab (chat, sources, settings) and an Articles tab."""
    calls = Callbacks(assistant)
    calls.start()
    with gr.Blocks(title="News assistant", analytics_enabled=False) as app:
        gr.Markdown(
            "## News assistant\nAsk about the stored articles, in Arabic or English: every "
            "claim cites its sentence; click a marker such as [1] to see it in its paragraph."
        )
        status = gr.HTML(render.notice_html(LOADING), elem_id="na-status")
        with gr.Tab("Ask"):
            source = _ask_tab(calls, assistant.settings)
        with gr.Tab("Articles"):
            table = _articles_tab(calls, source)
        app.load(calls.refresh, None, [table, source])
        app.load(calls.ready, None, status)
    return app


def _ask_tab(calls: Callbacks, settings: Settings) -> gr.Dropdown:
    conversation = gr.State(Conversation())
    with gr.Row():
        with gr.Column(scale=3):
            chat = gr.Chatbot(
                label="Chat", elem_id="na-chat", height=560, latex_delimiters=[], buttons=[]
            )
            question = gr.Textbox(
                placeholder="Ask a question, e.g. كم عدد القتلى؟ or How many civilians died?",
                show_label=False,
                elem_id="na-question",
                submit_btn=True,
            )
            clear = gr.Button("New conversation", size="sm")
        with gr.Column(scale=2):
            sources = gr.HTML(render.EMPTY_SOURCES, elem_id="na-sources", padding=True)
    with gr.Accordion("Settings", open=False), gr.Row():
        k = gr.Slider(1, 50, value=settings.answer.k, step=1, label="Sources considered (k)")
        source = gr.Dropdown([("Any source", "")], value="", label="Source")
        since = gr.Textbox(label="Since (YYYY-MM-DD)", placeholder="2018-01-01")
        until = gr.Textbox(label="Until (YYYY-MM-DD)", placeholder="2018-12-31")
    llm = gr.Checkbox(
        value=settings.answer.mode == "llm",
        label=f"LLM answers ({settings.answer.llm.describe()}; every citation checked)",
        elem_id="na-llm",
    )
    inputs = [question, conversation, k, source, since, until, llm]
    question.submit(calls.respond, inputs, [chat, conversation, sources, question])
    clear.click(calls.clear, None, [chat, conversation, sources])
    chat.clear(calls.clear, None, [chat, conversation, sources])  # the chat's own clear button
    return source


def _articles_tab(calls: Callbacks, source: gr.Dropdown) -> gr.HTML:
    with gr.Row():
        with gr.Column():
            files = gr.File(
                label=f"Articles ({' '.join(FORMATS)})",
                file_count="multiple",
                file_types=list(FORMATS),
                type="filepath",
                elem_id="na-files",
            )
            default_source = gr.Textbox(label="Source for articles that name none (optional)")
            add = gr.Button("Add to the store", variant="primary")
            status = gr.HTML(elem_id="na-upload-status")
        with gr.Column():
            table = gr.HTML(elem_id="na-articles")
            with gr.Row():
                article_id = gr.Textbox(label="Article id", scale=3, elem_id="na-article-id")
                delete = gr.Button("Delete", variant="stop", scale=1)
    add.click(calls.upload, [files, default_source], [status, table, source, files])
    delete.click(calls.delete, [article_id], [status, table, source, article_id])
    return table


def launch(app: gr.Blocks, settings: UISettings, **overrides: Any) -> str:
    """Serve `app` on the settings' host and port (127.0.0.1:7860 by default), behind a login
    when one is set (failed logins slow down: see login.py); `overrides` go to
    `Blocks.launch`. Returns the local URL."""
    options: dict[str, Any] = {
        "server_name": settings.host,
        "server_port": settings.port,
        "auth": login_check(settings),
        "max_file_size": int(settings.max_upload_mb * 1024 * 1024),
        "css": CSS,
    }
    _, url, _ = app.launch(**(options | overrides))
    return str(url)
