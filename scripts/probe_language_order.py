"""What deciding each language's evidence apart does to the order of the evidence, in a store of
two languages (not a test; needs ../shared/data and the news stores `news-assistant eval`
keeps in its --work folder). For each XQuAD-R question asked of a copy of a news store with
one language's XQuAD-R articles added, in one process on one store: where the gold sentence
ranks first in the ranking (retrieve and rerank) and first among the sentences an answer may
quote (those of the languages whose evidence answers: `Selection.quotable`,
assistant/ask/select.py), and which languages' evidence answered.

    python scripts/probe_language_order.py --store /work/eval-work/store-arabic-news-1000 \\
        --articles en --questions en ar --work /tmp/probe
"""

from __future__ import annotations

import argparse
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from assistant import Assistant, Settings, read_question, with_location
from core.types import SentenceRecord
from evaluation.run import pairs
from evaluation.xquad import Corpus, Gold, load_corpus


def gold_rank(records: Sequence[SentenceRecord], gold: Gold) -> int:
    for n, r in enumerate(records):
        if r.article_id == gold.article_id and r.start <= gold.start < r.end:
            return n
    return -1


def probe(assistant: Assistant, golds: list[Gold]) -> dict[str, float]:
    pipeline = assistant.pipeline()
    top_ranked = top_selected = answered = 0
    languages: Counter[str] = Counter()
    for gold in golds:
        question = read_question(gold.question)
        vector = pipeline.embed(question)
        ranked = pipeline.rank(question, vector=vector)
        selection = pipeline.selector.select(question, vector, ranked)
        top_ranked += gold_rank(ranked, gold) == 0
        top_selected += selection.answerable and gold_rank(selection.quotable(), gold) == 0
        answered += selection.answerable
        languages.update(selection.answering)
    n = max(1, len(golds))
    return {
        "R@1": 100 * top_ranked / n,
        "answered, first quotable gold": 100 * top_selected / n,
        "answered": 100 * answered / n,
        **{f"{lang} evidence answers": 100 * k / n for lang, k in sorted(languages.items())},
    }


def store_copy(news: Path, work: Path, corpus: Corpus) -> Assistant:
    folder = work / f"{news.name}+xquad-{corpus.language}"
    if not (folder / "probe-complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(news, folder)
        assistant = Assistant(with_location(Settings(), str(folder)))
        assistant.ingest_articles(corpus.articles)
        (folder / "probe-complete").write_text("done\n")
    return Assistant(with_location(Settings(), str(folder)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--xquad", type=Path, default=Path("../shared/data/xquad-r"))
    parser.add_argument("--store", type=Path, required=True, help="a news store eval built")
    parser.add_argument("--articles", choices=["ar", "en"], required=True)
    parser.add_argument("--questions", nargs="+", choices=["ar", "en"], default=["ar", "en"])
    parser.add_argument("--first", type=int, default=500, help="questions a setting")
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    corpora = {lang: load_corpus(args.xquad, lang) for lang in ("ar", "en")}
    assistant = store_copy(args.store, args.work, corpora[args.articles])
    for lang in args.questions:
        golds = pairs(corpora[lang], corpora[args.articles])[: args.first]
        figures = probe(assistant, golds)
        shown = " | ".join(f"{k} {v:.1f}" for k, v in figures.items())
        print(f"{lang}->{args.articles} beside {args.store.name}: {shown}", flush=True)


if __name__ == "__main__":
    main()
