"""Fit the evidence model (assistant/ask/select.py) on training data only: the qa-train sets the
reader trains on (training.reader_data: TyDi QA English train, the SQuAD 2.0 train part, ARCD
train; overlap ids dropped). The articles of half the titles go into one store, one article a
paragraph; questions about stored paragraphs must be answered, questions about paragraphs of the
other titles must not. Features come from the product's own pipeline over that store.

`--news training/data/news-train` adds rows of news questions as users ask them: the project's
own 255 hand-written questions over 105 SaudiNewsNet and BBC News articles (none of them the
articles of scripts/check_news.py), half their articles in the same store. An experiment, not
the shipped fit: those articles are for research use only, and the weights fitted with them
answered fewer of the check's answerable questions (67.6% against 71.6%; README, Abstention).

The evidence model decides each language's candidates apart (assistant/ask/select.py), so each
question gives one row for its own language (the logistic fit) and one for each other
language. Cross-lingual: qa-train has no English question over an Arabic passage that answers
it (the news questions have a few: English questions over Arabic articles, Arabic over
English; too few to fit on); every other other-language evidence is unrelated to its question.
So the `cross` weight of each pair of languages (`cross_pairs`, "question>evidence") is set
from the unrelated rows: unrelated other-language evidence is answered half as often as
unrelated evidence in the question's own language is (see `fit`); how often answering
cross-lingual evidence is then answered is reported, not fitted on.
scripts/calibrate_abstention.py measures the result on the evaluation data and never fits
there.

Left out: SQuAD 2.0's unanswerable questions (they sit on two titles, so they are about stored
paragraphs only when those happen to be drawn; the model sees retrieval signals, and those are
the same for a stored paragraph whether or not it holds the answer).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant import (
    Assistant,
    Calibration,
    EvidenceModel,
    Settings,
    read_question,
    with_location,
)
from assistant.ask.read import bundled_weights
from assistant.ask.select import pair_models
from core.embedder import Embedder
from training.reader_data import Paragraph, load_corpus, split_dev

Row = tuple[float, ...]
CROSS = "cross-lingual"
NEWS = Path(__file__).resolve().parent / "data" / "news-train"


CROSS_SHARE = 0.5  # unrelated other-language evidence: half its question language's false rate


@dataclass
class Sample:
    """One setting's feature rows: questions that must be answered, and that must not (in
    `language`, for a monolingual setting)."""

    inside: list[Row]
    outside: list[Row]
    language: str = ""


def stored_half(paragraph: Paragraph) -> bool:
    """True for the paragraphs of half the titles (by a hash of data set and title)."""
    key = f"{paragraph.dataset}\n{paragraph.title or paragraph.context}".encode()
    return hashlib.sha256(key).digest()[0] % 2 == 0


def article(paragraph: Paragraph, index: int) -> dict[str, str]:
    return {
        "id": f"{paragraph.dataset}-{index}",
        "title": paragraph.title or paragraph.context[:60],
        "content": paragraph.context,
        "language": paragraph.language,
        "source": paragraph.dataset,
    }


def answerable(paragraphs: Sequence[Paragraph], n: int, rng: random.Random) -> list[str]:
    """`n` answerable questions (or all there are) about `paragraphs`, drawn by `rng`."""
    questions = [q.text for p in paragraphs for q in p.questions if q.span is not None]
    return rng.sample(questions, min(n, len(questions)))


def build_store(
    root: Path,
    paragraphs: Sequence[Paragraph],
    embedder: Embedder | None = None,
    settings: Settings | None = None,
) -> Assistant:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "articles.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i, paragraph in enumerate(paragraphs):
            out.write(json.dumps(article(paragraph, i), ensure_ascii=False) + "\n")
    located = with_location(settings or Settings(), str(root / "store"))
    assistant = Assistant(located, embedder=embedder)
    summary = assistant.ingest([path])
    print(f"store: {summary.articles} articles, {summary.sentences} sentences", flush=True)
    return assistant


@dataclass
class Asked:
    """The rows of some questions: their own language's evidence, and that of each other
    language by pair ("en>ar")."""

    own: list[Row]
    cross: dict[str, list[Row]]


def features(
    assistant: Assistant,
    questions: Sequence[str],
    *,
    reading: bool = False,
) -> Asked:
    """The evidence model's inputs for each question, from the product's own pipeline; with
    the reader's has-answer probability when `reading`."""
    pipeline = assistant.pipeline()
    model = pipeline.selector
    if not isinstance(model, EvidenceModel):
        raise SystemExit(f"the pipeline's selector is {type(model).__name__}, not EvidenceModel")
    asked = Asked([], {})
    for question in map(read_question, questions):
        vector = pipeline.embed(question)
        found = model.signals(question, vector, pipeline.rank(question, vector=vector))
        own = found.pop(question.language, None)
        if own is not None:  # none: nothing of the question's language was found
            asked.own.append(own.values(reading))
        for lang, signals in found.items():
            pair = f"{question.language}>{lang}"
            asked.cross.setdefault(pair, []).append(signals.values(reading))
    return asked


def fit(samples: dict[str, Sample]) -> tuple[list[float], float, dict[str, float]]:
    """The monolingual weights by logistic regression on every setting but the cross-lingual
    ones; then each pair's `cross` weight, which gives its unrelated other-language evidence
    CROSS_SHARE of the false-answer rate of its question language's own evidence (the last of
    the weights: all pairs together, at that share of the whole monolingual rate). A pair's
    answering rows (news questions over an article of the other language) are not fitted on:
    there are too few of them to weigh a false answer against a refusal, so the report only
    says how often they are answered.

    Other-language evidence is a second chance to answer a question (each language's evidence
    is decided apart), so the false answers it may add are kept to half of those the
    question's own language gives."""
    mono = [s for name, s in samples.items() if not name.startswith(CROSS)]
    outside = [r for s in mono for r in s.outside]
    weights, bias = logistic([r for s in mono for r in s.inside], outside)
    model = Calibration((*weights, 0.0), bias, 0.5)

    def false_rate(language: str = "") -> float:
        rows = [r for s in mono if s.language == language or not language for r in s.outside]
        return 1.0 - rates(model, Sample([], rows or outside))[1]

    def shift(rows: Sequence[Row], rate: float) -> float:
        z = [bias + float(np.dot(weights, r[:-1])) for r in rows]
        return round(-float(np.quantile(z, 1.0 - CROSS_SHARE * rate)), 3) if rows else 0.0

    cross = {
        name.removeprefix(CROSS).strip(): s.outside
        for name, s in samples.items()
        if name.startswith(CROSS)
    }
    pairs = {pair: shift(rows, false_rate(pair.split(">")[0])) for pair, rows in cross.items()}
    pooled = shift([r for rows in cross.values() for r in rows], false_rate())
    return [*weights, pooled], bias, pairs


def logistic(inside: Sequence[Row], outside: Sequence[Row]) -> tuple[list[float], float]:
    """Logistic regression (balanced classes) on the standardised monolingual signals, mapped
    back to weights over the raw signals."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.array([r[:-1] for r in [*inside, *outside]])
    y = np.array([1] * len(inside) + [0] * len(outside))
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=3.0, max_iter=5000, class_weight="balanced")
    model.fit(scaler.transform(x), y)
    weights = model.coef_[0] / scaler.scale_
    bias = float(model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scaler.scale_))
    return [round(float(w), 3) for w in weights], round(bias, 3)


def rates(model: Calibration, sample: Sample) -> tuple[float, float]:
    """(share of `inside` answered, share of `outside` refused)."""
    answered = sum(model.answers(r) for r in sample.inside) / max(1, len(sample.inside))
    refused = sum(not model.answers(r) for r in sample.outside) / max(1, len(sample.outside))
    return answered, refused


def held_out(samples: dict[str, Sample], min_confidence: float) -> dict[str, tuple[float, float]]:
    """Fit on the even-numbered rows of every setting, score each setting's odd ones."""
    weights, bias, pairs = fit(
        {name: Sample(s.inside[::2], s.outside[::2]) for name, s in samples.items()}
    )
    return {
        name: rates(
            model_for(name, weights, bias, pairs, min_confidence),
            Sample(s.inside[1::2], s.outside[1::2]),
        )
        for name, s in samples.items()
    }


def model_for(
    name: str, weights: Sequence[float], bias: float, pairs: dict[str, float], min_confidence: float
) -> Calibration:
    """The fitted model as the setting `name` meets it: a cross-lingual setting with its
    pair's cross weight."""
    pair = name.removeprefix(CROSS).strip() if name.startswith(CROSS) else ""
    base = Calibration(tuple(weights), bias, min_confidence)
    return pair_models(weights, bias, pairs, min_confidence).get(pair, base)


def collect(
    args: argparse.Namespace, root: Path, embedder: Embedder | None = None
) -> dict[str, Sample]:
    """Every setting's rows: one setting per data set. With `args.reader`, the reader reads
    the evidence, and only the paragraphs it was not trained on (its held-out slice) are used."""
    paragraphs = load_corpus(args.data).paragraphs
    settings = Settings()
    if args.reader:
        paragraphs = split_dev(paragraphs, reader_dev_percent())[1]
        settings = Settings.model_validate({"reader": {"enabled": True}})
    rng = random.Random(args.seed)
    stored: list[Paragraph] = []
    per_set: dict[str, tuple[list[Paragraph], list[Paragraph]]] = {}
    for name in sorted({p.dataset for p in paragraphs}):
        mine = [p for p in paragraphs if p.dataset == name]
        inside = [p for p in mine if stored_half(p)]
        inside = rng.sample(inside, min(args.paragraphs, len(inside)))
        per_set[name] = (inside, [p for p in mine if not stored_half(p)])
        stored.extend(inside)
    assistant = build_store(root, stored, embedder, settings)
    news = load_news(args.news) if getattr(args, "news", None) and not args.reader else []
    news_stored = store_news(assistant, news, args.news_data) if news else set()
    samples: dict[str, Sample] = {}
    for name, (inside, outside) in per_set.items():
        asked = [
            features(assistant, answerable(paragraphs, args.per_side, rng), reading=args.reader)
            for paragraphs in (inside, outside)
        ]
        samples[name] = Sample(asked[0].own, asked[1].own, inside[0].language if inside else "")
        if args.reader:  # the reader's weights decide same-language evidence only
            continue
        for pair, rows in [*asked[0].cross.items(), *asked[1].cross.items()]:
            samples.setdefault(f"{CROSS} {pair}", Sample([], [])).outside.extend(rows)
    add_news(samples, assistant, news, news_stored)
    return samples


def load_news(folder: Path) -> list[dict[str, Any]]:
    """The hand-written news questions of every .jsonl file in `folder` (the format of
    evaluation/news_questions.jsonl; answerable ones only are used)."""
    from evaluation.news_check import load_questions  # only for --news: a peer package

    rows = [row for path in sorted(folder.glob("*.jsonl")) for row in load_questions(path)]
    return [row for row in rows if row["kind"] == "answerable"]


def stored_ref(ref: str) -> bool:
    """True for the news articles of one half (by a hash of the reference)."""
    return hashlib.sha256(ref.encode()).digest()[0] % 2 == 0


def store_news(assistant: Assistant, rows: Sequence[dict[str, Any]], data: Path) -> set[str]:
    """Put the articles of one half of the news questions into the store, before any question
    is asked (so that every question meets the same store); their references."""
    from evaluation.news_check import news_articles  # only for --news: a peer package

    articles = news_articles(data, {row["article"]["ref"] for row in rows})
    stored = {ref: a for ref, a in articles.items() if stored_ref(ref)}
    assistant.ingest_articles(list(stored.values()))
    print(f"news: {len(rows)} questions; {len(stored)} of {len(articles)} articles stored",
          flush=True)  # fmt: skip
    return set(stored)


def add_news(
    samples: dict[str, Sample],
    assistant: Assistant,
    rows: Sequence[dict[str, Any]],
    stored: set[str],
) -> None:
    """Rows of news questions as users ask them (short, paraphrased, over long news sentences):
    a question about a stored article must be answered by the evidence of its article's
    language (a cross-lingual positive when that is not the question's), every other evidence
    of it must not."""
    for row in rows:
        asked = features(assistant, [row["question"]])
        answering = row["article_language"] if row["article"]["ref"] in stored else ""
        own = samples.setdefault(f"news {row['language']}", Sample([], [], row["language"]))
        for r in asked.own:
            (own.inside if answering == row["language"] else own.outside).append(r)
        for pair, cross_rows in asked.cross.items():
            sample = samples.setdefault(f"{CROSS} {pair}", Sample([], []))
            side = sample.inside if pair.endswith(f">{answering}") else sample.outside
            side.extend(cross_rows)


def reader_dev_percent() -> float:
    """The share of paragraphs the bundled reader held out of its training (its manifest)."""
    manifest = json.loads((bundled_weights().parent / "manifest.json").read_text())
    return float(manifest["data"]["dev_percent"])


def report(samples: dict[str, Sample], settings: Settings) -> dict[str, object]:
    """Print the fit and its held-out rates; return the fitted weights with their figures."""
    weights, bias, pairs = fit(samples)
    held = held_out(samples, settings.answer.min_confidence)
    print("setting                         rows in/out   answers in-store / refuses out-of-store")
    print("                                              fit on all        (held-out half)")
    for name, sample in samples.items():
        model = model_for(name, weights, bias, pairs, settings.answer.min_confidence)
        answered, refused = rates(model, sample)
        size = f"{len(sample.inside)}/{len(sample.outside)}"
        h = held[name]
        print(f"{name:31} {size:12}  {_share(sample.inside, answered)} / {refused:6.1%}   "
              f"({_share(sample.inside, h[0])} / {h[1]:6.1%})")  # fmt: skip
    print(f"weights={tuple(weights)} bias={bias} cross_pairs={json.dumps(pairs)}")
    return {
        "weights": weights,
        "bias": bias,
        "cross_pairs": pairs,
        "held_out": held,
        "embedder": settings.embedder.model,
    }


def _share(rows: Sequence[Row], share: float) -> str:
    return f"{share:6.1%}" if rows else "     -"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/qa-train"))
    parser.add_argument("--work", type=Path, default=Path("abstention-out"))
    parser.add_argument("--paragraphs", type=int, default=150, help="stored per data set")
    parser.add_argument("--per-side", type=int, default=150, help="questions per data set and side")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--news", type=Path, help=f"also hand-written news questions (a folder of .jsonl: {NEWS})"
    )
    parser.add_argument(
        "--news-data", type=Path, default=Path("../shared/data"), help="their articles' folder"
    )
    parser.add_argument(
        "--reader",
        action="store_true",
        help="fit `reader_weights` (the reader reads; only its held-out paragraphs are used)",
    )
    args = parser.parse_args()
    samples = collect(args, args.work)
    rows = {name: [s.inside, s.outside] for name, s in samples.items()}
    (args.work / "features.json").write_text(json.dumps(rows))
    fitted = report(samples, Settings())
    if args.reader:
        print("(these are NEWS_ASSISTANT_ABSTENTION__READER_WEIGHTS and __READER_BIAS)")
    (args.work / "fit.json").write_text(json.dumps({**fitted, "reader": args.reader}, indent=2))


if __name__ == "__main__":
    main()
