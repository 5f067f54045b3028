"""Measure the abstention thresholds on XQuAD-R (not a test; needs ../shared/data/xquad-r).

Half of the 48 articles go into a store; questions about them must be answered, questions about
the other half must not. Three settings: ar->ar and en->en (store of ar+en halves) and en->ar
(store of the Arabic half only). Prints the features' spread and the best thresholds found.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

import numpy as np

from assistant.api import Assistant, with_location
from assistant.compose import coverage
from assistant.questions import analyse
from assistant.settings import Settings


def xquad_articles(folder: Path, lang: str) -> list[dict[str, object]]:
    data = json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))["data"]
    return [
        {
            "id": f"xquad-{lang}-{i}",
            "title": article.get("title") or f"article {i}",
            "content": "\n".join(p["context"].strip() for p in article["paragraphs"]),
            "language": lang,
            "questions": [q["question"] for p in article["paragraphs"] for q in p["qas"]],
        }
        for i, article in enumerate(data)
    ]


def build_store(root: Path, name: str, articles: list[dict[str, object]]) -> Assistant:
    path = root / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for a in articles:
            out.write(json.dumps({k: v for k, v in a.items() if k != "questions"}) + "\n")
    assistant = Assistant(with_location(Settings(), str(root / name)))
    summary = assistant.ingest([path])
    print(f"{name}: {summary.articles} articles, {summary.sentences} sentences")
    return assistant


def features(assistant: Assistant, questions: list[str]) -> list[dict[str, float]]:
    retriever = assistant.answerer().retriever
    rows = []
    for text in questions:
        question = analyse(text)
        ranked = retriever.search(question, k=40)
        dense = sorted((c.dense for c in ranked), reverse=True)
        top = max(ranked, key=lambda c: c.dense)
        rows.append(
            {
                "dense": dense[0],
                "margin": dense[0] - float(np.median(dense)),
                "coverage": coverage(question, ranked[:3]),
                "same_language": float(top.language == question.language),
            }
        )
    return rows


def decide(row: tuple[float, float], min_score: float, sure: float, min_cov: float) -> bool:
    dense, cov = row
    return dense >= sure or (dense >= min_score and cov >= min_cov)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/xquad-r"))
    parser.add_argument("--per-side", type=int, default=150, help="questions per side")
    parser.add_argument("--work", type=Path, help="keep the stores here (reused when present)")
    parser.add_argument("--dump", type=Path, help="write every question's features as JSON")
    args = parser.parse_args()
    ar, en = xquad_articles(args.data, "ar"), xquad_articles(args.data, "en")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        both = build_store(root, "both", ar[:24] + en[:24])
        ar_only = build_store(root, "ar-only", ar[:24])
        settings = {"ar->ar": (both, ar), "en->en": (both, en), "en->ar": (ar_only, en)}
        samples: dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]] = {}
        for name, (assistant, articles) in settings.items():
            inside = [q for a in articles[:24] for q in a["questions"]][::4][: args.per_side]  # type: ignore[attr-defined]
            outside = [q for a in articles[24:] for q in a["questions"]][::4][: args.per_side]  # type: ignore[attr-defined]
            samples[name] = (features(assistant, inside), features(assistant, outside))
    if args.dump:
        args.dump.write_text(json.dumps(samples))
    report(samples)


def report(samples: dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]]) -> None:
    for name, (inside, outside) in samples.items():
        print(
            f"{name}: dense in-store median {sorted(r[0] for r in inside)[len(inside) // 2]:.3f}, "
            f"out-of-store median {sorted(r[0] for r in outside)[len(outside) // 2]:.3f}"
        )
    grid = itertools.product(
        [x / 100 for x in range(74, 88)], [x / 100 for x in range(80, 92)], [0.25, 0.34, 0.5, 0.67]
    )
    best = max(grid, key=lambda t: _balanced(samples, *t))
    print(f"best thresholds: min_score={best[0]} sure={best[1]} min_coverage={best[2]}")
    for name, (inside, outside) in samples.items():
        answered = sum(decide(r, *best) for r in inside) / len(inside)
        abstained = sum(not decide(r, *best) for r in outside) / len(outside)
        print(
            f"  {name}: answers {answered:.1%} of in-store questions, "
            f"abstains on {abstained:.1%} of out-of-store questions"
        )


def _balanced(
    samples: dict[str, tuple[list[tuple[float, float]], list[tuple[float, float]]]],
    min_score: float,
    sure: float,
    min_cov: float,
) -> float:
    if sure < min_score:
        return -1.0
    total = 0.0
    for inside, outside in samples.values():
        total += sum(decide(r, min_score, sure, min_cov) for r in inside) / len(inside)
        total += sum(not decide(r, min_score, sure, min_cov) for r in outside) / len(outside)
    return total


if __name__ == "__main__":
    main()
