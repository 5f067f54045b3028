"""Measure abstention on XQuAD-R (not a test; needs ../shared/data/xquad-r). Measures only: the
weights are fitted on training data (training/abstention.py, `make fit-abstention`), never here.

Half of the 48 articles go into a store; questions about them must be answered, questions about
the other half must not. Five settings: ar->ar and en->en (store of ar+en halves), en->ar
and ar->en (store of the Arabic, or English, half only) and en->ar beside English news (the
Arabic half and BBC News articles in one store), plus news titles (SaudiNewsNet titles of
stored articles and of others). Prints, per setting, how often the product's evidence selector
(assistant/ask/select.py, weights in settings; with NEWS_ASSISTANT_READER__ENABLED=true, the
reader's weights) answers in-store questions and refuses out-of-store ones.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from assistant import Assistant, Settings, read_question, with_location
from evaluation.news import spread_files


def answers(assistant: Assistant, questions: list[str]) -> list[bool]:
    """Whether the product's pipeline answers each question (its selector's decision)."""
    pipeline = assistant.pipeline()
    decided = []
    for question in map(read_question, questions):
        vector = pipeline.embed(question)
        ranked = pipeline.rank(question, vector=vector)
        decided.append(pipeline.selector.select(question, vector, ranked).answerable)
    return decided


Sample = tuple[list[bool], list[bool]]  # decisions on in-store and on out-of-store questions


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


def build_store(
    root: Path, name: str, articles: list[dict[str, object]], more: Sequence[Path] = ()
) -> Assistant:
    """A store of `articles` (and the article files `more`), reused when it is there."""
    path = root / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for a in articles:
            out.write(json.dumps({k: v for k, v in a.items() if k != "questions"}) + "\n")
    assistant = Assistant(with_location(Settings(), str(root / name)))
    summary = assistant.ingest([path, *more])
    print(f"{name}: {summary.articles} articles, {summary.sentences} sentences")
    return assistant


def news_titles(root: Path, path: Path, n: int) -> Sample:
    """Short news-like queries: the titles of n stored articles (answer) and of n others
    (abstain), in a store of those n SaudiNewsNet articles."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[: 2 * n]]
    build_store(root, "news", [{**r, "questions": []} for r in rows[:n]])
    assistant = Assistant(with_location(Settings(), str(root / "news")))
    stored = {r["title"] for r in rows[:n] if r.get("title")}
    others = [r["title"] for r in rows[n:] if r.get("title") and r["title"] not in stored]
    return answers(assistant, sorted(stored)), answers(assistant, others)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/xquad-r"))
    parser.add_argument("--per-side", type=int, default=150, help="questions per side")
    parser.add_argument("--work", type=Path, help="keep the stores here (reused when present)")
    parser.add_argument(
        "--news",
        type=Path,
        default=Path("../shared/data/saudinewsnet/sample_1000.jsonl"),
        help="SaudiNewsNet articles: their titles are the short, news-like queries",
    )
    parser.add_argument(
        "--english-news",
        type=Path,
        default=Path("../shared/data/bbc_news/bbc"),
        help="a folder of English news .txt (BBC News) put beside the Arabic half",
    )
    parser.add_argument("--english", type=int, default=300, help="English news articles")
    args = parser.parse_args()
    ar, en = xquad_articles(args.data, "ar"), xquad_articles(args.data, "en")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        both = build_store(root, "both", ar[:24] + en[:24])
        ar_only = build_store(root, "ar-only", ar[:24])
        en_only = build_store(root, "en-only", en[:24])
        settings = {
            "ar->ar": (both, ar),
            "en->en": (both, en),
            "en->ar": (ar_only, en),
            "ar->en": (en_only, ar),
        }
        if args.english_news.exists():
            news = spread_files(args.english_news, args.english)
            settings["en->ar +news"] = (build_store(root, "ar-news", ar[:24], news), en)
        samples: dict[str, Sample] = {}
        for name, (assistant, articles) in settings.items():
            inside = [q for a in articles[:24] for q in a["questions"]][::4][: args.per_side]  # type: ignore[attr-defined]
            outside = [q for a in articles[24:] for q in a["questions"]][::4][: args.per_side]  # type: ignore[attr-defined]
            samples[name] = answers(assistant, inside), answers(assistant, outside)
        if args.news.exists():
            samples["news titles"] = news_titles(root, args.news, args.per_side)
    report(samples)


def report(samples: dict[str, Sample]) -> None:
    print("setting       answers in-store / refuses out-of-store")
    for name, (inside, outside) in samples.items():
        answered = sum(inside) / max(1, len(inside))
        refused = 1 - sum(outside) / max(1, len(outside))
        print(f"{name:13} {answered:6.1%} / {refused:6.1%}")


if __name__ == "__main__":
    main()
