"""Writing an evaluation run to a folder: results.json (to compare runs), report.md, chart.png.

Any part the run did not produce (no distractor run, no losses, no speed section) is left out
of the report rather than shown empty. The chart draws no article text (no Arabic glyphs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["markdown", "write_report"]

PROJECT = "news-assistant"
BASELINE = "LangChain"
MISSING = "–"
EXAMPLE_CHARS = 200
COLOURS = {"BM25": "#9e9e9e", "LangChain": "#4c72b0", "news-assistant": "#dd8452"}

Column = tuple[str, str, int | None]  # (results key, header, decimals; None: a count)

METRICS: list[Column] = [
    ("recall@1", "R@1", 1),
    ("recall@5", "R@5", 1),
    ("mrr", "MRR", 1),
    ("paragraph_recall@5", "Para R@5", 1),
    ("answer_has_gold", "Answer has gold", 1),
    ("short_stated", "Short stated", 1),
    ("short_em", "Short EM", 1),
    ("short_f1", "Short F1", 1),
    ("citation_precision", "Cit. precision", 1),
    ("citation_recall", "Cit. recall", 1),
    ("abstained", "Abstained", 1),
    ("p50_ms", "p50 ms", 1),
    ("p95_ms", "p95 ms", 1),
]
LEGEND = {
    "R@1": "the gold sentence (the one holding the answer's first character) is ranked first",
    "R@5": "the gold sentence is among the first five ranked sentences",
    "MRR": "mean of 1 / rank of the gold sentence (0 where it is not ranked), times 100",
    "Para R@5": "the gold paragraph is among the first five distinct paragraphs of the ranking",
    "Answer has gold": "the normalised gold answer occurs in the answer text (answered only)",
    "Short stated": "questions where the system stated a short answer",
    "Short EM": "short answer equals the gold answer, once normalised (where one was stated)",
    "Short F1": "token F1 of the short answer against the gold answer (where one was stated)",
    "Cit. precision": "cited sentences that contain the gold answer",
    "Cit. recall": "questions whose gold sentence is cited",
    "Abstained": "share of questions not answered (every gold answer is in the store)",
    "p50 ms": "median latency of one system reply",
    "p95 ms": "95th-percentile latency of one system reply",
}
INGEST: list[Column] = [
    ("articles", "Articles", None),
    ("texts", "Texts", None),
    ("pipeline_s", "Pipeline s", 1),
    ("bare_s", "Bare s", 1),
    ("pipeline_texts_per_s", "Pipeline texts/s", 1),
    ("bare_texts_per_s", "Bare texts/s", 1),
    ("ratio", "Ratio", 3),
]
LATENCY: list[Column] = [
    ("articles", "Articles", None),
    ("sentences", "Sentences", None),
    ("questions", "Questions", None),
    ("p50_ms", "p50 ms", 1),
    ("p95_ms", "p95 ms", 1),
    ("max_ms", "max ms", 1),
]
LOSS_LABELS = {
    "questions": "Questions",
    "project_misses_at_1": f"{PROJECT} misses the gold sentence at rank 1",
    "bm25_hits_where_project_misses": "of those, BM25 ranks it first",
    "langchain_hits_where_project_misses": "of those, LangChain ranks it first",
    "project_rank_of_gold": f"of those, {PROJECT} ranks it",
}


def write_report(results: dict[str, Any], out: Path) -> list[Path]:
    """Write results.json, report.md and chart.png into `out` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    data, report, chart = out / "results.json", out / "report.md", out / "chart.png"
    data.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report.write_text(markdown(results), encoding="utf-8")
    _write_chart(results, chart)
    return [data, report, chart]


def markdown(results: dict[str, Any]) -> str:
    """The report as Markdown: headline recall@1, full tables, losses, speed."""
    parts = (_title, _headline, _full, _losses, _speed)
    sections = [part(results) for part in parts]
    return "\n\n".join(s for s in sections if s) + "\n"


# Reading the results dict; every part may be missing.


def _runs(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(results.get("runs") or {})


def _settings(results: dict[str, Any]) -> list[str]:
    found = [s for run in _runs(results).values() for s in run.get("settings") or {}]
    return list(results.get("settings") or dict.fromkeys(found))


def _systems(results: dict[str, Any]) -> list[str]:
    by_setting = [
        m for run in _runs(results).values() for m in (run.get("settings") or {}).values()
    ]
    return list(results.get("systems") or dict.fromkeys(s for m in by_setting for s in m))


def _metrics(run: dict[str, Any], setting: str, system: str) -> dict[str, Any]:
    return dict(((run.get("settings") or {}).get(setting) or {}).get(system) or {})


def _has(run: dict[str, Any], system: str, settings: Iterable[str]) -> bool:
    return any(_metrics(run, setting, system) for setting in settings)


# Formatting.


def _num(value: Any, decimals: int | None = 1) -> str:
    if value is None:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if decimals is None else f"{value:.{decimals}f}"


def _values(entry: dict[str, Any], columns: Sequence[Column]) -> list[str]:
    return [_num(entry.get(key), decimals) for key, _, decimals in columns]


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", r"\|")


def _clip(text: Any, limit: int = EXAMPLE_CHARS) -> str:
    if text is None or text == "":
        return MISSING
    flat = _cell(text)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = [[_cell(h) for h in header], ["---"] * len(header)]
    lines += [[_cell(c) for c in row] for row in rows]
    return ["| " + " | ".join(line) + " |" for line in lines]


# Sections.


def _title(results: dict[str, Any]) -> str:
    created = results.get("created")
    title = f"# Evaluation report{f' ({created})' if created else ''}"
    return f"{title}\n\n{_data_line(results.get('data') or {})}"


def _data_line(data: dict[str, Any]) -> str:
    def per_language(key: str) -> str:
        return ", ".join(f"{_num(n, None)} {lang}" for lang, n in (data.get(key) or {}).items())

    parts = [f"XQuAD-R from `{data.get('xquad', MISSING)}`"]
    parts += [f"{key} {per_language(key)}" for key in ("articles", "sentences") if data.get(key)]
    if data.get("questions") is not None:
        parts.append(f"{_num(data['questions'], None)} questions")
    parts += [f"{key} from `{data[key]}`" for key in ("distractors", "corpus") if data.get(key)]
    if data.get("english_distractors"):
        parts.append(f"English distractors: {data['english_distractors']}")
    return "Data: " + "; ".join(parts) + "."


def _headline(results: dict[str, Any]) -> str:
    settings, systems = _settings(results), _systems(results)
    runs = _runs(results).items()
    rows = [row for name, run in runs for row in _headline_rows(name, run, settings, systems)]
    if not rows:
        return ""
    table = _table(["Run", "System", *settings], rows)
    return "\n".join(["## Gold-sentence recall@1", "", "Percent of questions.", "", *table])


def _headline_rows(
    name: str, run: dict[str, Any], settings: list[str], systems: list[str]
) -> list[list[str]]:
    rows = [
        [name, system, *(_num(_metrics(run, s, system).get("recall@1")) for s in settings)]
        for system in systems
        if _has(run, system, settings)
    ]
    if _has(run, PROJECT, settings) and _has(run, BASELINE, settings):
        gains = [_gain(_metrics(run, s, PROJECT), _metrics(run, s, BASELINE)) for s in settings]
        rows.append([name, f"{PROJECT} − {BASELINE} (points)", *gains])
    return rows


def _gain(project: dict[str, Any], baseline: dict[str, Any]) -> str:
    a, b = project.get("recall@1"), baseline.get("recall@1")
    if not isinstance(a, int | float) or not isinstance(b, int | float):
        return MISSING
    return f"{a - b:+.1f}"


def _full(results: dict[str, Any]) -> str:
    settings, systems = _settings(results), _systems(results)
    tables = [_run_table(name, run, settings, systems) for name, run in _runs(results).items()]
    if not any(tables):
        return ""
    legend = [f"- **{header}**: {LEGEND[header]}" for _, header, _ in METRICS]
    intro = "Percent of questions unless marked ms (latency of one system reply)."
    body = [line for table in tables for line in table]
    return "\n".join(["## All metrics", "", intro, *body, "", *legend])


def _run_table(
    name: str, run: dict[str, Any], settings: list[str], systems: list[str]
) -> list[str]:
    rows = [
        [setting, system, *_values(metrics, METRICS)]
        for setting in settings
        for system in systems
        if (metrics := _metrics(run, setting, system))
    ]
    if not rows:
        return []
    header = ["Setting", "System", *(h for _, h, _ in METRICS)]
    return ["", f"### {name}", "", *_table(header, rows)]


def _losses(results: dict[str, Any]) -> str:
    parts = [_run_losses(name, run.get("losses")) for name, run in _runs(results).items()]
    return "\n\n".join(p for p in parts if p)


def _run_losses(name: str, losses: dict[str, Any] | None) -> str:
    if not losses:
        return ""
    lines = [f"## Where {PROJECT} loses: {name}"]
    for setting, loss in losses.items():
        lines += ["", f"### {setting}", "", *_table(["", "Questions"], _loss_counts(loss))]
        if examples := loss.get("examples"):
            lines += ["", "Examples:", "", *(line for e in examples for line in _example(e))]
    return "\n".join(lines)


def _loss_counts(loss: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key, value in loss.items():
        label = LOSS_LABELS.get(key, key.replace("_", " "))
        if isinstance(value, dict):
            rows += [[f"{label}: {bucket}", _num(n, None)] for bucket, n in value.items()]
        elif key != "examples":
            rows.append([label, _num(value, None)])
    return rows


def _example(example: dict[str, Any]) -> list[str]:
    winner = _cell(example.get("winner") or MISSING)
    rank = example.get("project_rank") or "not ranked"
    return [
        f"- {_clip(example.get('question'))} (qid {_cell(example.get('qid', MISSING))})",
        f"  - gold answer: {_clip(example.get('answer'))}; won by {winner}; "
        f"{PROJECT} ranked the gold sentence: {rank}",
        f"  - {PROJECT} top: {_clip(example.get('project_top'))}",
        f"  - {winner} top: {_clip(example.get('winner_top'))}",
    ]


def _speed(results: dict[str, Any]) -> str:
    speed = results.get("speed") or {}
    parts = []
    if ingest := speed.get("ingest"):
        note = "Ratio: pipeline texts/s over the bare embedder's on the same texts (1 = no cost)."
        parts += ["", "### Ingestion", "", *_keyed(ingest, INGEST), "", note]
    if latency := speed.get("latency"):
        note = "`Assistant.ask` end to end, question embedding included."
        parts += ["", "### Query latency", "", *_keyed(latency, LATENCY), "", note]
    return "\n".join(["## Speed", *parts]) if parts else ""


def _keyed(entries: dict[str, dict[str, Any]], columns: Sequence[Column]) -> list[str]:
    rows = [[label, *_values(entry, columns)] for label, entry in entries.items()]
    return _table(["Data", *(header for _, header, _ in columns)], rows)


# Chart.


def _write_chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = _runs(results) or {"(no runs)": {}}
    settings, systems = _settings(results), _systems(results)
    fig, axes = plt.subplots(
        1, len(runs), figsize=(5 * len(runs), 4), squeeze=False, layout="constrained"
    )
    for ax, (name, run) in zip(axes[0], runs.items(), strict=True):
        _plot_run(ax, name, run, settings, systems)
    handles = {
        label: handle
        for ax in axes[0]
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)
    }
    if handles:
        fig.legend(
            list(handles.values()), list(handles), loc="outside lower center", ncols=len(handles)
        )
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_run(
    ax: Axes, name: str, run: dict[str, Any], settings: list[str], systems: list[str]
) -> None:
    width = 0.8 / max(len(systems), 1)
    for i, system in enumerate(systems):
        offset = (i - (len(systems) - 1) / 2) * width
        values = [_metrics(run, setting, system).get("recall@1") for setting in settings]
        points = [(x + offset, v) for x, v in enumerate(values) if isinstance(v, int | float)]
        if points:
            xs, heights = [x for x, _ in points], [v for _, v in points]
            colour = COLOURS.get(system, f"C{i}")
            bars = ax.bar(xs, heights, width, label=system, color=colour)
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(settings)), settings)
    ax.set_ylim(0, 100)
    ax.set_ylabel("gold-sentence recall@1 (%)")
    ax.set_title(name)
