"""`news-assistant eval`: arguments, a progress bar, and the report files."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from assistant import Embedder, NewsAssistantError, Settings
from evaluation.run import Plan, changed_settings

SAMPLE = Path("saudinewsnet") / "sample_1000.jsonl"
CORPUS = Path("saudinewsnet") / "zips"
ENGLISH = Path("bbc_news") / "bbc"


class EvalError(NewsAssistantError):
    """The evaluation cannot run as asked."""


def main(argv: list[str], embedder: Embedder, console: Console) -> int:
    """`news-assistant eval ARGS`: parse ARGS and run the evaluation."""
    parser = argparse.ArgumentParser(
        prog="news-assistant eval",
        description="Measure retrieval, answers and speed on XQuAD-R (the eval extra).",
    )
    configure(parser)
    return run(embedder, parser.parse_args(argv), console)


def configure(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "data",
        type=Path,
        help="the XQuAD-R folder (ar.json, en.json), or a data folder holding xquad-r/, "
        "saudinewsnet/ (sample_1000.jsonl for distractors, zips/ for the large store) and "
        "bbc_news/bbc/ (English distractors beside the Arabic articles)",
    )
    command.add_argument("--out", type=Path, default=Path("bench-out/eval"), help="report folder")
    command.add_argument(
        "--work", type=Path, default=Path("bench-out/eval-work"), help="stores (large one kept)"
    )
    command.add_argument("--distractors", type=Path, help="news JSONL added in a second run")
    command.add_argument("--corpus", type=Path, help="SaudiNewsNet zips for the large store")
    command.add_argument("--large", type=int, default=10_000, help="articles in the large store")
    command.add_argument(
        "--english-distractors", type=Path, help="folder of English news .txt (BBC News)"
    )
    command.add_argument("--english", type=int, default=1000, help="English distractors")
    command.add_argument(
        "--no-alone",
        action="store_true",
        help="skip the first run (XQuAD-R alone, its stores also encoded bare for the ingest "
        "speed): with a slow embedder measured beside news only",
    )
    command.add_argument("--no-distractors", action="store_true", help="skip the second run")
    command.add_argument("--no-english-distractors", action="store_true", help="skip the third run")
    command.add_argument("--no-large", action="store_true", help="skip the large latency store")
    command.add_argument(
        "--no-langchain",
        action="store_true",
        help="leave the LangChain baseline out: its chunks (the articles' text once more) are "
        "not embedded, which matters with a slow embedder",
    )
    command.add_argument("--articles", type=int, help="only the first N XQuAD-R articles")
    command.add_argument("--questions", type=int, help="only the first N questions per setting")
    command.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="also ask the project with this setting changed, as one more system (repeatable; "
        "e.g. retrieval.per_language=false)",
    )


def plan_from(args: argparse.Namespace) -> Plan:
    """The Plan the arguments ask for, or EvalError naming what is missing."""
    data: Path = args.data.expanduser()
    xquad = data if (data / "ar.json").is_file() else data / "xquad-r"
    if not (xquad / "ar.json").is_file() or not (xquad / "en.json").is_file():
        raise EvalError(
            f"no XQuAD-R files (ar.json, en.json) in {data} or {data / 'xquad-r'}: pass the "
            "XQuAD-R folder or the data folder that holds it"
        )
    distractors = args.distractors or _present(data / SAMPLE)
    corpus = args.corpus or _present(data / CORPUS)
    english = args.english_distractors or _present(data / ENGLISH)
    flags = (
        ("--distractors", args.distractors),
        ("--corpus", args.corpus),
        ("--english-distractors", args.english_distractors),
    )
    for flag, path in flags:
        if path is not None and not path.exists():
            raise EvalError(f"{flag} {path}: no such file or folder")
    for change in args.compare:
        try:
            changed_settings(Settings(), change)
        except ValueError as exc:
            raise EvalError(str(exc).splitlines()[0]) from exc
    plan = Plan(
        xquad=xquad,
        work=args.work.expanduser(),
        distractors=None if args.no_distractors else distractors,
        english_distractors=None if args.no_english_distractors else english,
        english=args.english,
        corpus=None if args.no_large else corpus,
        large=args.large,
        articles=args.articles,
        questions=args.questions,
        compare=tuple(args.compare),
        langchain=not args.no_langchain,
        alone=not args.no_alone,
    )
    if not plan.alone and plan.distractors is None and plan.english_distractors is None:
        raise EvalError(
            "--no-alone with no distractor run leaves nothing to measure: drop --no-alone, or "
            "give --distractors or --english-distractors"
        )
    return plan


def _present(path: Path) -> Path | None:
    return path if path.exists() else None


class BarTracker:
    """One progress bar per phase on a terminal; one line per phase otherwise."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            TextColumn("{task.description:<58}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )

    def phase(self, description: str, total: int | None) -> Callable[[int], None]:
        if not self.console.is_terminal:
            self.console.print(description)
        task = self.bar.add_task(description, total=total)
        return lambda n: self.bar.advance(task, n)


def run(embedder: Embedder, args: argparse.Namespace, console: Console) -> int:
    try:
        import langchain_chroma  # noqa: F401 (the eval extra)
        import matplotlib  # noqa: F401

        from evaluation.report import write_report
        from evaluation.run import run_eval
    except ImportError as exc:
        raise EvalError(
            f"`news-assistant eval` needs the eval extra ({exc.name} is missing): "
            "pip install 'news-assistant[eval]' (or run `make bench`)"
        ) from exc
    plan = plan_from(args)
    tracker = BarTracker(console)

    def save(results: dict[str, Any]) -> list[Path]:
        return save_results(results, args.out, write_report)

    with tracker.bar:
        results = run_eval(plan, embedder, tracker, checkpoint=save)
    written = save(results)
    print((args.out / "report.md").read_text(encoding="utf-8"))
    for path in written:
        console.print(f"wrote {path}")
    return 0


def save_results(
    results: dict[str, Any], out: Path, write: Callable[[dict[str, Any], Path], list[Path]]
) -> list[Path]:
    """The report files, plus questions.jsonl: one line per question and setting (the
    per-question rows are kept out of results.json)."""
    runs = {name: dict(run) for name, run in results["runs"].items()}
    details = [row for run in runs.values() for row in run.pop("questions", [])]
    written = write({**results, "runs": runs}, out)
    questions = out / "questions.jsonl"
    rows = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in details)
    questions.write_text(rows, encoding="utf-8")
    return [*written, questions]
