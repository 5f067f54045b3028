"""Fit the evidence model (assistant/ask/select.py) on training data only: the qa-train sets the
reader trains on (training.reader_data: TyDi QA English train, the SQuAD 2.0 train part, ARCD
train; overlap ids dropped). The articles of half the titles go into one store, one article a
paragraph; questions about stored paragraphs must be answered, questions about paragraphs of the
other titles must not. Features come from the product's own pipeline over that store.

Cross-lingual: qa-train has no English question over an Arabic passage that answers it, so no
cross-lingual positives. Unrelated cross-lingual questions are easy to make (a data set's
questions asked of the other language's stored paragraphs only, through a source filter), so
the `cross` weight is set from them alone: cross-lingual evidence is answered as often, when
it is unrelated, as monolingual evidence is when it is unrelated (the same false-answer rate);
how often related cross-lingual evidence is then answered is measured, not fitted
(scripts/calibrate_abstention.py, on the evaluation data).

Left out: SQuAD 2.0's unanswerable questions (they sit on two titles, so they are about stored
paragraphs only when those happen to be drawn; the model sees retrieval signals, and those are
the same for a stored paragraph whether or not it holds the answer).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from assistant import (
    Assistant,
    Calibration,
    EvidenceModel,
    Filters,
    Settings,
    read_question,
    with_location,
)
from assistant.ask.read import bundled_weights
from core.embedder import Embedder
from training.reader_data import Paragraph, load_corpus, split_dev

Row = tuple[float, ...]
CROSS = "cross-lingual, unrelated"


@dataclass
class Sample:
    """One setting's feature rows: questions that must be answered, and that must not."""

    inside: list[Row]
    outside: list[Row]


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


def features(
    assistant: Assistant,
    questions: Sequence[str],
    filters: Filters | None = None,
    *,
    reading: bool = False,
) -> list[Row]:
    """The evidence model's inputs for each question (limited by `filters`), from the
    product's own pipeline; with the reader's has-answer probability when `reading`."""
    pipeline = assistant.pipeline()
    model = pipeline.selector
    if not isinstance(model, EvidenceModel):
        raise SystemExit(f"the pipeline's selector is {type(model).__name__}, not EvidenceModel")
    rows = []
    for question in map(read_question, questions):
        vector = pipeline.embed(question)
        found = model.signals(question, vector, pipeline.rank(question, filters, vector=vector))
        rows.append(found.values(reading) if found else ())
    return rows


def fit(samples: dict[str, Sample]) -> tuple[list[float], float]:
    """The monolingual weights by logistic regression on every setting but CROSS, then the
    `cross` weight that gives CROSS's unrelated questions the monolingual false-answer rate."""
    mono = [s for name, s in samples.items() if name != CROSS]
    outside = [r for s in mono for r in s.outside]
    weights, bias = logistic([r for s in mono for r in s.inside], outside)
    model = Calibration((*weights, 0.0), bias, 0.5)
    false_rate = 1.0 - rates(model, Sample([], outside))[1]
    cross = samples.get(CROSS)
    shift = 0.0
    if cross and cross.outside:
        z = [bias + float(np.dot(weights, r[:-1])) for r in cross.outside]
        shift = -float(np.quantile(z, 1.0 - false_rate))
    return [*weights, round(shift, 3)], bias


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
    weights, bias = fit(
        {name: Sample(s.inside[::2], s.outside[::2]) for name, s in samples.items()}
    )
    model = Calibration(tuple(weights), bias, min_confidence)
    return {
        name: rates(model, Sample(s.inside[1::2], s.outside[1::2])) for name, s in samples.items()
    }


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
    ask = partial(features, assistant, reading=args.reader)
    samples = {
        name: Sample(
            ask(answerable(inside, args.per_side, rng)),
            ask(answerable(outside, args.per_side, rng)),
        )
        for name, (inside, outside) in per_set.items()
    }
    if not args.reader:  # the reader's weights decide same-language evidence only
        samples[CROSS] = Sample([], cross_unrelated(ask, per_set, args.per_side, rng))
    return samples


def reader_dev_percent() -> float:
    """The share of paragraphs the bundled reader held out of its training (its manifest)."""
    manifest = json.loads((bundled_weights().parent / "manifest.json").read_text())
    return float(manifest["data"]["dev_percent"])


def cross_unrelated(
    ask: Callable[[list[str], Filters], list[Row]],
    per_set: dict[str, tuple[list[Paragraph], list[Paragraph]]],
    n: int,
    rng: random.Random,
) -> list[Row]:
    """Rows of questions asked of the stored paragraphs of a data set in the other language
    only (its source filter): none of them is answered there. About `n` in all."""
    language = {name: inside[0].language for name, (inside, _) in per_set.items() if inside}
    pairs = [(a, b) for a in language for b in language if language[a] != language[b]]
    rows = []
    for asked, other in pairs:
        questions = answerable(per_set[asked][1], max(1, n // len(pairs)), rng)
        rows += ask(questions, Filters(source=other))
    return rows


def report(samples: dict[str, Sample], settings: Settings) -> dict[str, object]:
    """Print the fit and its held-out rates; return the fitted weights with their figures."""
    weights, bias = fit(samples)
    model = Calibration(tuple(weights), bias, settings.answer.min_confidence)
    held = held_out(samples, settings.answer.min_confidence)
    print("setting                   rows in/out   answers in-store / refuses out-of-store")
    print("                                        fit on all        (held-out half)")
    for name, sample in samples.items():
        answered, refused = rates(model, sample)
        size = f"{len(sample.inside)}/{len(sample.outside)}"
        h = held[name]
        print(f"{name:25} {size:12}  {_share(sample.inside, answered)} / {refused:6.1%}   "
              f"({_share(sample.inside, h[0])} / {h[1]:6.1%})")  # fmt: skip
    print(f"weights={tuple(weights)} bias={bias}")
    return {"weights": weights, "bias": bias, "held_out": held, "embedder": settings.embedder.model}


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
