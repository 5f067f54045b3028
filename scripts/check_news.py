"""Ask the hand-written news questions (evaluation/news_questions.jsonl) over their articles and
print how the product does on questions as users ask them: short, paraphrased, over real news
(SaudiNewsNet, BBC News and the bundled sample article), where XQuAD-R's are Wikipedia
questions written beside their paragraph.

    python scripts/check_news.py [--data ../shared/data] [--work news-check] [--distractors 200]
        [--compare SECTION.KEY=VALUE ...] [--show]

The store holds the questions' articles and `--distractors` more of each corpus (the first
SaudiNewsNet articles of sample_1000.jsonl, BBC articles by category in turn); it is kept in
--work and ingested again only for what changed. Each row of the table is one setting (the
question's language > its article's): answerable questions answered, answered right (the gold
answer in the answer text, or a short answer of token F1 >= 0.5 with it: "14 million" for
"More than 14 million"), answered citing a sentence of the gold article that holds the answer,
and with that sentence among the evidence shown (cited or not); questions the articles do not
answer (a detail the article leaves out, or a topic no article is about) refused. `--compare`
asks once more with a setting changed, as `news-assistant eval` does. A check set, never
fitted on (evaluation/news_check.py judges the answers).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import Article, Assistant, Settings, with_location  # noqa: E402
from evaluation.news_check import (  # noqa: E402
    judge,
    load_questions,
    misses,
    news_articles,
    saudi_news,
    table,
)
from evaluation.run import changed_settings, english_news  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=Path("news-check"))
    parser.add_argument("--distractors", type=int, default=200, help="per corpus")
    parser.add_argument("--compare", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--show", action="store_true", help="print each miss")
    args = parser.parse_args()
    rows = load_questions()
    articles, ids = collect_articles(args.data, rows, args.distractors)
    folder = args.work / f"store-{args.distractors}"
    base = with_location(Settings(), str(folder))
    assistant = Assistant(base)
    summary = assistant.ingest_articles(articles)
    if summary.failed:
        raise SystemExit(f"ingest failed: {summary.failures[0]}")
    print(f"{len(rows)} questions; store {folder}: {len(articles)} articles "
          f"({summary.articles} embedded now, {summary.unchanged} unchanged)")  # fmt: skip
    for name, settings in systems(base, args.compare):
        asking = Assistant(settings, embedder=assistant.embedder)
        outcomes = [judge(row, asking.ask(row["question"]), ids.get(_ref(row), "")) for row in rows]
        print(f"\n{name}\n{table(outcomes)}")
        if args.show:
            print("\n".join(misses(outcomes)))


def systems(base: Settings, compare: Sequence[str]) -> list[tuple[str, Settings]]:
    return [("news-assistant", base)] + [
        (f"news-assistant [{change}]", changed_settings(base, change)) for change in compare
    ]


def collect_articles(
    data: Path, rows: Sequence[dict[str, Any]], distractors: int
) -> tuple[list[Article], dict[str, str]]:
    """The questions' articles and the distractors; `ids` maps each question's article
    reference to its stored article id."""
    by_ref = news_articles(data, {row["article"]["ref"] for row in rows if row.get("article")})
    chosen = {a.id for a in by_ref.values()}
    extra = [a for a in saudi_news(data) if a.id not in chosen][:distractors]
    extra += [a for a in english_news(data / "bbc_news" / "bbc", distractors) if a.id not in chosen]
    return [*by_ref.values(), *extra], {ref: a.id for ref, a in by_ref.items()}


def _ref(row: dict[str, Any]) -> str:
    return str((row.get("article") or {}).get("ref", ""))


if __name__ == "__main__":
    main()
