"""How per-language retrieval treats questions beside articles of another language, measured on
training data only (qa-train; never an evaluation set): the ARCD Arabic paragraphs and 700 TyDi
QA English paragraphs in one store, then in a copy holding only 3 of the English ones. For 300
answerable questions a setting it pools the candidates once with per-language search and once
without, and prints the gold sentence's recall@1 for each way of comparing languages: off (one
search), none (per-language pools, raw similarity), bg (margin over background sentences),
pool10 (over each language's level alone), cap10 (the shipped `language_levels`) and
cap10-within (those levels, BM25 counted only among one language's sentences:
`retrieval.lexical_across=false`).

    .venv/bin/python scripts/mixed_language_proxy.py [--data ../shared/data/qa-train] [--work DIR]

Pools are kept in WORK/pools.pkl; a second run with the same WORK only recomputes the table.
This is how retrieve.language_levels was chosen (CHANGELOG); the cross-lingual side cannot be
measured here (qa-train has no cross-lingual pairs): `news-assistant eval` measures it.
"""

from __future__ import annotations

import argparse
import pickle
import random
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant import Assistant, Filters, Settings, read_question, with_location
from assistant.ask.rerank import FusionReranker
from assistant.ask.retrieve import language_levels
from core.types import SentenceRecord
from training.abstention import build_store
from training.reader_data import Paragraph, load_corpus

Variant = Callable[[list[SentenceRecord], str], list[SentenceRecord]]


def pools(assistant: Assistant, paragraphs: Sequence[Paragraph], offset: int) -> list[Any]:
    """Each sampled question's candidates with per-language search on and off."""
    pipeline = assistant.pipeline()
    retriever: Any = pipeline.retriever
    asked = [(i, p, q) for i, p in enumerate(paragraphs) for q in p.questions if q.span]
    out = []
    for i, p, q in random.Random(11).sample(asked, min(300, len(asked))):
        question = read_question(q.text)
        vector = pipeline.embed(question)
        found = {}
        for on in (True, False):
            retriever.settings.per_language = on
            found[on] = retriever.retrieve(question, vector, Filters())
        retriever.settings.per_language = True
        languages = {r.language for r in found[True]}
        unrelated = {lang: retriever.background.similarity(vector, lang) for lang in languages}
        article = f"{p.dataset}-{offset + i}"
        out.append(
            {"q": q.text, "aid": article, "span": q.span, "on": found[True], "off": found[False],
             "unrelated": unrelated, "stray": retriever.stray_languages()}
        )  # fmt: skip
    return out


def build(work: Path, data: Path) -> dict[str, list[Any]]:
    corpus = load_corpus(data)
    arabic = [p for p in corpus.paragraphs if p.dataset == "ar-arcd-train"]
    english = [p for p in corpus.paragraphs if p.dataset == "en-tydiqa-goldp-train"]
    random.Random(7).shuffle(english)
    english = english[:700]
    settings = Settings()
    settings.retrieval.per_language = True
    if not (work / "a" / "store").exists():
        build_store(work / "a", arabic + english, settings=settings)
    both = Assistant(with_location(settings, str(work / "a" / "store")))
    found = {
        "ar beside en": pools(both, arabic, 0),
        "en beside ar": pools(both, english, len(arabic)),
    }
    both.store.close()
    if not (work / "b").exists():  # the Arabic paragraphs and 3 stray English ones
        shutil.copytree(work / "a", work / "b")
        stray = Assistant(with_location(settings, str(work / "b" / "store")))
        for i in range(3, len(english)):
            stray.delete(f"en-tydiqa-goldp-train-{len(arabic) + i}")
        stray.store.close()
    stray = Assistant(with_location(settings, str(work / "b" / "store")))
    found["ar beside 3 en"] = pools(stray, arabic, 0)
    return found


def levels_of(records: list[SentenceRecord], top: int) -> dict[str, float]:
    return {
        lang: float(np.mean(sorted(r.dense for r in records if r.language == lang)[::-1][:top]))
        for lang in {r.language for r in records}
    }


def variants(unrelated: dict[str, float], stray: set[str]) -> dict[str, Variant | None]:
    """The ways of comparing languages, given the question's background similarities and the
    store's stray languages."""
    return {
        "off": None,
        "none": lambda rs, own: [r.scored(baseline=0.0) for r in rs],
        "bg": lambda rs, own: [r.scored(baseline=unrelated[r.language]) for r in rs],
        "pool10": lambda rs, own: [r.scored(baseline=levels_of(rs, 10)[r.language]) for r in rs],
        "cap10": lambda rs, own: [
            r.scored(baseline=language_levels(rs, unrelated, own, stray)[r.language]) for r in rs
        ],
    }


def is_gold(ranked: Sequence[SentenceRecord], item: dict[str, Any]) -> bool:
    """Whether the first sentence holds the gold answer's start."""
    top = ranked[0] if ranked else None
    if top is None or top.article_id != item["aid"]:
        return False
    return bool(top.start <= item["span"][0] < top.end)


def table(found: dict[str, list[Any]]) -> None:
    settings = Settings().retrieval
    on, off = (
        FusionReranker(settings.model_copy(update={"per_language": v})) for v in (True, False)
    )
    within = FusionReranker(
        settings.model_copy(update={"per_language": True, "lexical_across": False})
    )
    for setting, items in found.items():
        hits: dict[str, list[bool]] = {}
        for item in items:
            question = read_question(item["q"])
            for name, variant in variants(item["unrelated"], item["stray"]).items():
                if variant is None:
                    ranked = off.rerank(question, item["off"])
                else:
                    ranked = on.rerank(question, variant(item["on"], question.language))
                hits.setdefault(name, []).append(is_gold(ranked, item))
                if name == "cap10" and variant is not None:  # BM25 within each language only
                    ranked = within.rerank(question, variant(item["on"], question.language))
                    hits.setdefault("cap10-within", []).append(is_gold(ranked, item))
        cells = "  ".join(f"{k} {100 * np.mean(v):.1f}" for k, v in hits.items())
        print(f"{setting:16s} n={len(items)}  {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/qa-train"))
    parser.add_argument("--work", type=Path, default=Path("bench-out/mixed-language-proxy"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    saved = args.work / "pools.pkl"
    if saved.exists():
        found = pickle.loads(saved.read_bytes())
    else:
        found = build(args.work, args.data)
        saved.write_bytes(pickle.dumps(found))
    table(found)


if __name__ == "__main__":
    main()
