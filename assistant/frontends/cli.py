"""The `news-assistant` command line: a thin layer that parses, calls the API and prints."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import get_args

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from assistant.api import Assistant, with_location
from assistant.frontends.render import terminal_line
from core.errors import NewsAssistantError, QuestionError
from core.settings import Backend, Settings
from core.types import Answer, Filters
from ingest.load import count_articles
from ingest.pipeline import IngestSummary

BACKENDS = get_args(Backend)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None, assistant: Assistant | None = None) -> int:
    """Entry point of the console script; returns the exit status. `assistant` is the one to
    use (else one is opened from the settings and --store)."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "eval":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if args.store and args.url:
        parser.error("give --store or --url, not both")
    if args.url and not args.url.startswith(("http://", "https://")):
        parser.error(f"--url {args.url}: give a Chroma server URL like http://127.0.0.1:8000")
    if assistant is None:
        settings = Settings()
        if args.store or args.url:
            settings = with_location(settings, args.url or args.store)
        assistant = Assistant(settings)
    if getattr(args, "llm", None):
        assistant.settings = with_llm(assistant.settings, args)
    try:
        return int(args.run(assistant, args))
    except NewsAssistantError as exc:
        err.print(f"[red]error:[/red] {quoted(str(exc))}")
        return 2
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


def _global_options(parser: argparse.ArgumentParser, default: object = None) -> None:
    """--store and -v, taken before the command or after it (`ingest FILE --store DIR`)."""
    parser.add_argument(
        "--store",
        default=default,
        help="store folder, or a Chroma server URL http://HOST:PORT "
        "(default: NEWS_ASSISTANT_STORE__PATH / NEWS_ASSISTANT_STORE__URL, else the data folder)",
    )
    parser.add_argument(
        "--url", default=default, help="a Chroma server URL http://HOST:PORT (as --store URL)"
    )
    verbose = False if default is None else default
    parser.add_argument("-v", "--verbose", action="store_true", default=verbose, help="log more")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="news-assistant", description="Ask questions of news articles; answers cite sources."
    )
    _global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    _add(commands, "ingest", "load articles into the store", _ingest, _ingest_args)
    _add(commands, "ask", "ask a question; the answer cites its sources", _ask, _ask_args)
    _add(commands, "chat", "a conversation in the terminal (follow-ups use it)", _chat, _chat_args)
    _add(commands, "list", "list the stored articles", _list, _list_args)
    _add(commands, "delete", "delete a stored article", _delete, _delete_args)
    _add(commands, "reindex", "update a store written by an older version", _reindex, None)
    serving = "serve the REST API, an OpenAI-compatible chat endpoint and the web UI"
    _add(commands, "serve", serving, _serve, _serve_args)
    evaluate = "measure retrieval, answers and speed on XQuAD-R (see `eval --help`)"
    commands.add_parser("eval", help=evaluate, add_help=False).set_defaults(run=_eval)
    return parser


def _add(
    commands: argparse._SubParsersAction,
    name: str,
    help_text: str,
    run: Callable[[Assistant, argparse.Namespace], int],
    configure: Callable[[argparse.ArgumentParser], None] | None,
) -> None:
    command = commands.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(run=run)
    _global_options(command, default=argparse.SUPPRESS)  # does not undo the ones given before
    if configure is not None:
        configure(command)


def _ingest_args(command: argparse.ArgumentParser) -> None:
    command.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs")
    for field in ("source", "date", "author", "language"):
        command.add_argument(f"--{field}", default="", help=f"{field} for articles without one")
    command.add_argument(
        "--ray", metavar="ADDRESS", help="split, embed and write on a Ray cluster into the Chroma "
        "server at --url: auto, ray://HEAD:10001, or local:N to start one here with N workers "
        "(the ray extra)",
    )  # fmt: skip
    command.add_argument(
        "--ray-workers", metavar="N", type=_workers, help="Ray workers (default: one a CPU)"
    )


def _ingest(assistant: Assistant, args: argparse.Namespace) -> int:
    defaults = {f: getattr(args, f) for f in ("source", "date", "author", "language")}
    total = count_articles(args.paths, max_bytes=assistant.settings.ingest.max_bytes)
    last = [IngestSummary()]
    with _progress() as bar:
        task = bar.add_task("reading", total=total)

        def show(summary: IngestSummary) -> None:
            last[0] = summary
            bar.update(task, completed=summary.seen, description=_progress_text(summary))

        try:
            summary = _run_ingest(assistant, args, defaults, show)
        except KeyboardInterrupt:
            bar.stop()
            kept = last[0].articles
            err.print(
                f"interrupted: {kept} article{'' if kept == 1 else 's'} stored in this run "
                "are kept; run the same command again to go on (stored articles are skipped)"
            )
            return 130
    for note in summary.notes:
        err.print(f"[yellow]note[/yellow] {quoted(note.origin)}: {quoted(note.message)}")
    for failure in summary.failures:
        err.print(f"[red]failed[/red] {quoted(failure.origin)}: {quoted(failure.reason)}")
    for duplicate in summary.duplicates:
        err.print(f"[yellow]duplicate[/yellow] {quoted(str(duplicate))} (not stored again)")
    out.print(_summary_text(summary))
    return 1 if summary.failed else 0


def _run_ingest(
    assistant: Assistant,
    args: argparse.Namespace,
    defaults: dict[str, str],
    progress: Callable[[IngestSummary], None],
) -> IngestSummary:
    if not args.ray:
        return assistant.ingest(args.paths, defaults=defaults, progress=progress)
    from ingest.distributed import ingest_on_ray

    return ingest_on_ray(
        args.paths,
        assistant.settings,
        address=args.ray,
        workers=args.ray_workers,
        defaults=defaults,
        progress=progress,
    )


def _progress(unit: str = "articles") -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _progress_text(summary: IngestSummary) -> str:
    rate = summary.seen / summary.elapsed if summary.elapsed > 0 else 0.0
    return f"{summary.articles} stored, {summary.chunks} chunks, {rate:.1f} articles/s"


def _summary_text(summary: IngestSummary) -> str:
    extra = "".join(
        f"  {name}: {count}"
        for name, count in (("replaced", summary.replaced), ("duplicates", len(summary.duplicates)))
        if count
    )
    return (
        f"articles: {summary.articles}  sentences: {summary.sentences}  "
        f"chunks: {summary.chunks}  unchanged: {summary.unchanged}{extra}  "
        f"failed: {summary.failed}  ({summary.seconds:.1f} s)"
    )


def _count(value: str) -> int:
    """A --k value: a whole number from 1 to 50."""
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 1 <= k <= 50:
        raise argparse.ArgumentTypeError(f"{k} is out of range: give 1 to 50 sentences")
    return k


def _workers(value: str) -> int:
    """A --ray-workers value: a whole number from 1."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of workers (1 or more)")
    return int(value)


def _day(value: str) -> str:
    """A --since/--until value: a real date written YYYY-MM-DD."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{value!r} is not a date written YYYY-MM-DD, e.g. 2015-07-01")


def _k_args(command: argparse.ArgumentParser) -> None:
    command.add_argument("--k", type=_count, default=None, help="evidence sentences (1-50)")
    command.add_argument("--source", help="only articles from this source")
    command.add_argument("--since", type=_day, help="only articles dated on or after YYYY-MM-DD")
    command.add_argument("--until", type=_day, help="only articles dated on or before YYYY-MM-DD")
    command.add_argument("--article", help="only this article id")


def _ask_args(command: argparse.ArgumentParser) -> None:
    command.add_argument("question", help='e.g. "Who carried out the strike?"')
    command.add_argument("--json", action="store_true", help="print the Answer as JSON")
    _chat_args(command)


def _chat_args(command: argparse.ArgumentParser) -> None:
    _k_args(command)
    llm = command.add_argument_group(
        "LLM answers", "a language model writes the answer; every citation is checked "
        "(default: NEWS_ASSISTANT_ANSWER__MODE and NEWS_ASSISTANT_ANSWER__LLM__*)",
    )  # fmt: skip
    llm.add_argument("--llm", choices=BACKENDS, metavar="BACKEND", help="llama, ollama or openai")
    llm.add_argument("--base-url", metavar="URL", help="the server (ollama, openai)")
    llm.add_argument("--model", metavar="NAME", help="the model name the server knows")
    llm.add_argument("--gguf", metavar="PATH", type=Path, help="the GGUF file (llama)")


def with_llm(settings: Settings, args: argparse.Namespace) -> Settings:
    """`settings` in LLM mode with the backend and options given on the command line."""
    given = {"backend": args.llm, "base_url": args.base_url, "model": args.model}
    given["gguf"] = args.gguf
    llm = settings.answer.llm.model_copy(update={k: v for k, v in given.items() if v})
    answer = settings.answer.model_copy(update={"mode": "llm", "llm": llm})
    return settings.model_copy(update={"answer": answer})


def _filters(args: argparse.Namespace) -> Filters | None:
    filters = Filters(args.source, args.article, args.since, args.until)
    return filters or None


def _ask(assistant: Assistant, args: argparse.Namespace) -> int:
    answer = _followed(assistant.ask_stream(args.question, k=args.k, filters=_filters(args)))
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_answer(answer)
    return 0


def _chat(assistant: Assistant, args: argparse.Namespace) -> int:
    import readline  # noqa: F401 (line editing and history for input())

    messages: list[dict[str, str]] = []
    err.print("Ask about the stored articles; an empty line or Ctrl-D ends the chat.")
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            return 0
        if not question:
            return 0
        try:
            asked = [*messages, {"role": "user", "content": question}]
            answer = _followed(assistant.chat_stream(asked, k=args.k, filters=_filters(args)))
        except QuestionError as exc:
            err.print(f"[red]error:[/red] {quoted(str(exc))}")
            continue
        messages += [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer.text},
        ]
        _print_answer(answer)


def _followed(events: Iterator[str | Answer]) -> Answer:
    """The checked Answer at the end of `events`; a language model's text is shown as it
    comes: on a terminal in place (the checked answer then replaces it), else on stderr."""
    live = (
        Live(Text(), console=out, transient=True, auto_refresh=False) if out.is_terminal else None
    )
    written = ""
    with live or contextlib.nullcontext():
        for event in events:
            if isinstance(event, Answer):
                if written and live is None:
                    err.file.write("\n")
                return event
            written += event
            if live is not None:
                live.update(Text(plain(written), style="dim"), refresh=True)
            else:
                err.file.write(plain(event))
                err.file.flush()
    raise NewsAssistantError("the answer stream ended without an answer")


def _print_answer(answer: Answer) -> None:
    base = "rtl" if answer.language == "ar" else "ltr"
    for note in answer.notes:
        out.print(f"[yellow]note[/yellow] {quoted(note)}")
    for line in plain(answer.text).split("\n"):
        out.print(terminal_line(line, base), markup=False)
    if answer.unsupported:
        out.print("\nNot supported by the cited sentences (removed):", style="yellow")
    for item in answer.unsupported:
        out.print(terminal_line(plain(f"  - {item.text} ({item.reason})"), base), markup=False)
    if answer.citations:
        out.print("\nSources:" if answer.answered else "\nNearest sentences:")
    for c in answer.citations:
        where = ", ".join(part for part in (c.source, c.date) if part)
        title = f"[{c.number}] {c.title}" + (f" — {where}" if where else "")
        out.print(terminal_line(plain(title), "ltr"), markup=False)
        out.print(plain(f"    {c.sentence}"), markup=False)
        out.print(
            f"    (article {c.article_id}, sentence {c.sentence_index}, "
            f"characters {c.start}-{c.end})",
            style="dim",
        )


def _list(assistant: Assistant, args: argparse.Namespace) -> int:
    articles = assistant.articles()
    if args.json:
        print(json.dumps([asdict(a) for a in articles], ensure_ascii=False, indent=2))
        return 0
    width = max((len(a.date) for a in articles), default=10)
    for a in articles:
        row = f"{a.id}  {a.date or '-':{width}}  {a.source or '-':12}  {a.title}"
        out.print(plain(row), markup=False)
    out.print(f"{len(articles)} article{'' if len(articles) == 1 else 's'}")
    return 0


def _list_args(command: argparse.ArgumentParser) -> None:
    command.add_argument("--json", action="store_true", help="print the articles as JSON")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(text: str) -> str:
    """Stored text as it may reach a terminal: control characters (ANSI escapes) removed."""
    return _CONTROL.sub("", text)


def quoted(text: str) -> str:
    """Text to put inside a message with rich markup: shown as it is, never read as markup."""
    return escape(plain(text))


def _delete_args(command: argparse.ArgumentParser) -> None:
    command.add_argument("article_id", metavar="ID", help="an id shown by `news-assistant list`")


def _delete(assistant: Assistant, args: argparse.Namespace) -> int:
    if assistant.delete(args.article_id):
        out.print(f"deleted {quoted(args.article_id)}")
        return 0
    err.print(f"no article {quoted(repr(args.article_id))} in the store: see `news-assistant list`")
    return 1


def _reindex(assistant: Assistant, args: argparse.Namespace) -> int:
    with _progress("") as bar:
        tasks: dict[str, TaskID] = {}

        def show(step: str, done: int, total: int) -> None:
            if step not in tasks:
                what = {"parts": "moving parts to their language", "articles": "reading speakers"}
                tasks[step] = bar.add_task(what.get(step, step), total=total)
            bar.update(tasks[step], completed=done, total=total)

        updated = assistant.reindex(progress=show)
    where = quoted(assistant.location)
    out.print(f"updated {updated} article{'' if updated == 1 else 's'} in {where}")
    return 0


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (1-65535)")
    return int(value)


def _serve_args(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--host", help="interface to listen on (default 127.0.0.1, NEWS_ASSISTANT_SERVER__HOST); "
        "any other than a loopback address needs NEWS_ASSISTANT_SERVER__API_KEY",
    )  # fmt: skip
    command.add_argument("--port", type=_port, help="TCP port (default 8080)")
    command.add_argument("--no-ui", action="store_true", help="serve the APIs only, no web UI")


def _serve(assistant: Assistant, args: argparse.Namespace) -> int:
    from assistant.frontends.server import serve  # fastapi and uvicorn load only to serve

    given = {name: getattr(args, name) for name in ("host", "port") if getattr(args, name)}
    server = assistant.settings.server.model_copy(update=given)
    serve(assistant, assistant.settings.model_copy(update={"server": server}), ui=not args.no_ui)
    return 0


def _eval(assistant: Assistant, args: argparse.Namespace) -> int:
    from evaluation.command import main as evaluate  # the eval extra; loaded only for `eval`

    return evaluate(args.rest, assistant.embedder, err)


if __name__ == "__main__":
    sys.exit(main())
