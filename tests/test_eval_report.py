"""The evaluation report: results.json round-trips, report.md tables, chart.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evaluation.report import markdown, write_report

SETTINGS = ["ar->ar", "en->en", "en->ar"]
SYSTEMS = ["BM25", "LangChain", "news-assistant"]
RECALL_AT_1 = {"BM25": 41.2, "LangChain": 55.1, "news-assistant": 67.4}  # gain: +12.3
HEADERS = [
    "R@1", "R@5", "MRR", "Para R@5", "Answer has gold", "Short stated", "Short EM", "Short F1",
    "Cit. precision", "Cit. recall", "Abstained", "p50 ms", "p95 ms",
]  # fmt: skip


def metrics(system: str, shift: float) -> dict[str, Any]:
    keys = ["recall@5", "mrr", "paragraph_recall@5", "answer_has_gold", "short_stated"]
    keys += ["short_em", "short_f1", "citation_precision", "citation_recall", "abstained"]
    return {
        "questions": 3,
        "recall@1": RECALL_AT_1[system] + shift,
        **dict.fromkeys(keys, 50.0),
        "p50_ms": 3.1,
        "p95_ms": 5.0,
    }


def losses() -> dict[str, Any]:
    example = {
        "qid": "q1",
        "question": "كم عدد | المصابين؟",
        "answer": "ثلاثة",
        "winner": "LangChain",
        "project_rank": 3,
        "project_top": "أعلنت الوزارة " * 40,
        "winner_top": "أصيب ثلاثة أشخاص.",
    }
    return {
        "questions": 3,
        "project_misses_at_1": 1,
        "bm25_hits_where_project_misses": 0,
        "langchain_hits_where_project_misses": 1,
        "project_rank_of_gold": {"2-5": 1, "6-20": 0, "not ranked": 0},
        "examples": [example],
    }


def run(shift: float) -> dict[str, Any]:
    settings = {s: {system: metrics(system, shift) for system in SYSTEMS} for s in SETTINGS}
    return {"settings": settings, "losses": {"ar->ar": losses()}}


def results() -> dict[str, Any]:
    ingest = {
        "articles": 48, "sentences": 1300, "chunks": 900, "texts": 2200, "pipeline_s": 50.0,
        "bare_s": 45.0, "pipeline_texts_per_s": 44.0, "bare_texts_per_s": 48.9, "ratio": 0.9,
        "texts_match_store": True, "unchanged": 0, "failed": 0,
    }  # fmt: skip
    latency = {"articles": 1000, "sentences": 9827, "questions": 100, "answered": 90}
    latency |= {"p50_ms": 39.1, "p95_ms": 47.6, "max_ms": 53.2}
    return {
        "created": "2026-11-25T10:00:00",
        "data": {
            "xquad": "/data/xquad-r",
            "distractors": "/data/sample_1000.jsonl",
            "corpus": None,
            "articles": {"ar": 48, "en": 48},
            "sentences": {"ar": 1300, "en": 1250},
            "questions": 1190,
        },
        "systems": SYSTEMS,
        "settings": SETTINGS,
        "runs": {"XQuAD-R": run(0.0), "XQuAD-R + 1000 news articles": run(-10.0)},
        "speed": {
            "ingest": {"XQuAD-R ar (48 articles)": ingest},
            "latency": {"1,000 news articles": latency},
        },
    }


def test_write_report_writes_three_files(tmp_path: Path) -> None:
    data = results()
    paths = write_report(data, tmp_path / "report")
    assert [p.name for p in paths] == ["results.json", "report.md", "chart.png"]
    assert all(p.is_file() for p in paths)
    assert json.loads(paths[0].read_text(encoding="utf-8")) == data
    png = paths[2].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1024
    assert paths[1].read_text(encoding="utf-8") == markdown(data)


def test_markdown_headline_table() -> None:
    text = markdown(results())
    headline = text.split("## Gold-sentence recall@1")[1].split("\n## ")[0]
    assert "| Run | System | ar->ar | en->en | en->ar |" in headline
    assert "| XQuAD-R | LangChain | 55.1 | 55.1 | 55.1 |" in headline
    assert "| XQuAD-R + 1000 news articles | news-assistant | 57.4 | 57.4 | 57.4 |" in headline
    assert "news-assistant − LangChain (points) | +12.3 | +12.3 | +12.3 |" in headline


def test_markdown_full_tables_losses_and_speed() -> None:
    text = markdown(results())
    assert "| Setting | System | " + " | ".join(HEADERS) + " |" in text
    assert all(f"- **{header}**: " in text for header in HEADERS)
    assert text.index("## All metrics") < text.index("## Where news-assistant loses: XQuAD-R")
    assert "كم عدد \\| المصابين؟" in text
    assert "| of those, news-assistant ranks it: 2-5 | 1 |" in text
    assert "…" in text  # the long top sentence is clipped
    assert "| XQuAD-R ar (48 articles) | 48 | 2,200 | 50.0 | 45.0 | 44.0 | 48.9 | 0.900 |" in text
    assert "| 1,000 news articles | 1,000 | 9,827 | 100 | 39.1 | 47.6 | 53.2 |" in text


def test_pipes_in_table_cells_are_escaped() -> None:
    data = results()
    data["speed"]["latency"] = {"a | b": data["speed"]["latency"]["1,000 news articles"]}
    assert "| a \\| b | 1,000 |" in markdown(data)


def test_report_without_speed_or_second_run(tmp_path: Path) -> None:
    data = results()
    del data["speed"]
    data["runs"] = {"XQuAD-R": data["runs"]["XQuAD-R"]}
    data["data"]["distractors"] = None
    paths = write_report(data, tmp_path)
    assert all(p.is_file() for p in paths)
    text = paths[1].read_text(encoding="utf-8")
    assert "Speed" not in text
    assert "XQuAD-R + 1000" not in text
    assert "sample_1000" not in text
