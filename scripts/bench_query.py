"""Query latency benchmark (not a test): p50/p95 of `Assistant.ask` end to end over 100
questions on a store holding the SaudiNewsNet 1000-article sample, embedder already loaded.

    python scripts/bench_query.py --store /tmp/bench-store [--data ../shared/.../sample_1000.jsonl]

The store is ingested from --data first when it holds fewer articles than the file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from assistant.api import Assistant, with_location
from assistant.settings import Settings

DEFAULT_DATA = Path("../shared/data/saudinewsnet/sample_1000.jsonl")
ENGLISH = [
    "How many people were injured?", "Who announced the decision?", "When will the project open?",
    "Where did the accident happen?", "How much did the project cost?",
    "What did the minister say about the budget?", "Who won the match?",
    "How many students took the exam?", "What caused the fire?", "Which city hosted the event?",
]  # fmt: skip


def questions(data: Path, n: int) -> list[str]:
    """Half Arabic questions made from article titles, half English news questions."""
    titles = []
    with data.open(encoding="utf-8") as lines:
        for line in lines:
            title = json.loads(line).get("title", "").strip()
            if title:
                titles.append(f"ماذا حدث بشأن {title}؟")
    arabic = titles[: n // 2]
    english = [ENGLISH[i % len(ENGLISH)] for i in range(n - len(arabic))]
    return [q for pair in zip(arabic, english, strict=False) for q in pair] + english[len(arabic) :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("-n", type=int, default=100)
    args = parser.parse_args()
    assistant = Assistant(with_location(Settings(), str(args.store)))
    wanted = sum(1 for _ in args.data.open(encoding="utf-8"))
    if not args.store.exists() or assistant.store.count_articles() < wanted:
        summary = assistant.ingest([args.data])
        print(f"ingested {summary.articles} articles in {summary.seconds:.0f} s")
    asked = questions(args.data, args.n)
    assistant.ask(asked[0])  # load the embedder and build the BM25 index before timing
    latencies, answered = [], 0
    for question in asked:
        started = time.perf_counter()
        answer = assistant.ask(question)
        latencies.append((time.perf_counter() - started) * 1000)
        answered += answer.answered
    report(latencies, answered, assistant.store.count_articles(), assistant.store.count_sentences())


def report(latencies: list[float], answered: int, articles: int, sentences: int) -> None:
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(f"store: {articles} articles, {sentences} sentences")
    print(f"questions: {len(latencies)} (answered {answered})")
    print(f"latency ms: p50 {statistics.median(ordered):.1f}  p95 {p95:.1f}  max {ordered[-1]:.1f}")


if __name__ == "__main__":
    main()
