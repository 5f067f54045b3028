"""Measure abstention on XQuAD-R (not a test; needs ../shared/data/xquad-r).

Half of the 48 articles go into a store; questions about them must be answered, questions about
the other half must not. Three settings: ar->ar and en->en (store of ar+en halves) and en->ar
(store of the Arabic half only). Prints, per setting, how often the shipped evidence model
(assistant/ask/select.py, weights in settings) answers in-store questions and abstains on
out-of-store ones, the same for a model fitted on half the questions and scored on the other
half, and a refit on all (to set as NEWS_ASSISTANT_ABSTENTION__WEIGHTS and __BIAS).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant import (
    Assistant,
    Calibration,
    EvidenceModel,
    Settings,
    read_question,
    with_location,
)


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


Rows = list[tuple[float, ...]]


def features(assistant: Assistant, questions: list[str]) -> Rows:
    """The evidence model's inputs for each question, from the product's own pipeline."""
    pipeline = assistant.pipeline()
    model = shipped_model(assistant)
    rows = []
    for question in map(read_question, questions):
        vector = pipeline.embed(question)
        ranked = pipeline.rank(question, vector=vector)
        rows.append(model.features(question, vector, ranked))
    return rows


def shipped_model(assistant: Assistant) -> EvidenceModel:
    selector = assistant.pipeline().selector
    if not isinstance(selector, EvidenceModel):
        raise SystemExit(f"the pipeline's selector is {type(selector).__name__}, not EvidenceModel")
    return selector


def news_titles(root: Path, path: Path, n: int) -> tuple[Rows, Rows]:
    """Short news-like queries: the titles of n stored articles (answer) and of n others
    (abstain), in a store of those n SaudiNewsNet articles."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[: 2 * n]]
    build_store(root, "news", [{**r, "questions": []} for r in rows[:n]])
    assistant = Assistant(with_location(Settings(), str(root / "news")))
    stored = {r["title"] for r in rows[:n] if r.get("title")}
    others = [r["title"] for r in rows[n:] if r.get("title") and r["title"] not in stored]
    return features(assistant, sorted(stored)), features(assistant, others)


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
    parser.add_argument("--dump", type=Path, help="write every question's features as JSON")
    args = parser.parse_args()
    ar, en = xquad_articles(args.data, "ar"), xquad_articles(args.data, "en")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        both = build_store(root, "both", ar[:24] + en[:24])
        ar_only = build_store(root, "ar-only", ar[:24])
        settings = {"ar->ar": (both, ar), "en->en": (both, en), "en->ar": (ar_only, en)}
        samples: dict[str, tuple[Rows, Rows]] = {}
        for name, (assistant, articles) in settings.items():
            inside = [q for a in articles[:24] for q in a["questions"]][::4][: args.per_side]  # type: ignore[attr-defined]
            outside = [q for a in articles[24:] for q in a["questions"]][::4][: args.per_side]  # type: ignore[attr-defined]
            samples[name] = (features(assistant, inside), features(assistant, outside))
        if args.news.exists():
            samples["news titles"] = news_titles(root, args.news, args.per_side)
    if args.dump:
        args.dump.write_text(json.dumps(samples))
    report(samples)


def load_dump(path: Path) -> dict[str, tuple[Rows, Rows]]:
    raw = json.loads(path.read_text())
    return {k: ([tuple(r) for r in v[0]], [tuple(r) for r in v[1]]) for k, v in raw.items()}


def calibration(
    settings: Settings, weights: Sequence[float] | None = None, bias: float = 0.0
) -> Calibration:
    """The product's decision rule with the shipped weights, or with the ones given."""
    cfg = settings.abstention
    if weights is None:
        return Calibration(cfg.weights, cfg.bias, settings.answer.min_confidence)
    return Calibration(tuple(weights), bias, settings.answer.min_confidence)


def report(samples: dict[str, tuple[Rows, Rows]]) -> None:
    shipped = calibration(Settings())
    print("setting   shipped model: answers in-store / abstains out-of-store   (held-out fit)")
    fitted = _fit_halves(samples)
    for name, (inside, outside) in samples.items():
        answer = sum(shipped.answers(r) for r in inside) / len(inside)
        refuse = sum(not shipped.answers(r) for r in outside) / len(outside)
        held = fitted[name]
        print(f"{name:8}  {answer:6.1%} / {refuse:6.1%}        ({held[0]:6.1%} / {held[1]:6.1%})")
    weights, bias = _fit(
        [r for pair in samples.values() for r in pair[0]],
        [r for pair in samples.values() for r in pair[1]],
    )
    print(f"refit on all: weights={tuple(round(w, 3) for w in weights)} bias={bias:.3f}")


def _fit(inside: Rows, outside: Rows) -> tuple[list[float], float]:
    """Logistic regression on standardised signals, mapped back to raw weights."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = np.array(inside + outside)
    y = np.array([1] * len(inside) + [0] * len(outside))
    scaler = StandardScaler().fit(x)
    lr = LogisticRegression(C=3.0, max_iter=5000, class_weight="balanced")
    lr.fit(scaler.transform(x), y)
    weights = lr.coef_[0] / scaler.scale_
    bias = float(lr.intercept_[0] - np.sum(lr.coef_[0] * scaler.mean_ / scaler.scale_))
    return [float(w) for w in weights], bias


def _fit_halves(samples: dict[str, tuple[Rows, Rows]]) -> dict[str, tuple[float, float]]:
    """Fit on even-numbered questions, score the odd ones (per setting)."""
    train_in = [r for ins, _ in samples.values() for r in ins[::2]]
    train_out = [r for _, outs in samples.values() for r in outs[::2]]
    weights, bias = _fit(train_in, train_out)
    model = calibration(Settings(), weights, bias)
    return {
        name: (
            sum(model.answers(r) for r in ins[1::2]) / len(ins[1::2]),
            sum(not model.answers(r) for r in outs[1::2]) / len(outs[1::2]),
        )
        for name, (ins, outs) in samples.items()
    }


if __name__ == "__main__":
    main()
