"""Reader cost and agreement (not a test; needs ../shared/data/xquad-r for its questions).

Reads each question against up to DEPTH sentences of its gold paragraph (the shape of an ask:
one question, its best sentences with their neighbours), with the bundled reader in several
variants (depth, input length), in one process and in turns, so the ratios to the baseline
(depth 8, the saved max_len) are robust to a busy machine. (int8 dynamic quantisation of the
linear layers was tried and dropped: the best sentence agreed with fp32 for 58-69% of
questions.) Agreement with the baseline: the same best sentence by
has-answer probability, the same span in it, and the mean absolute difference of probabilities.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from assistant.ask.read import bundled_weights
from core.e5_model import ensure_e5_model
from core.reader_model import Reader, ReaderPair, Reading, load_reader
from core.settings import EmbedderSettings


@dataclass(frozen=True)
class Variant:
    name: str
    depth: int
    max_len: int | None  # None: the length the weights were trained with


def questions(folder: Path, lang: str, n: int) -> list[list[ReaderPair]]:
    """For `n` questions of XQuAD-R: the question against each sentence of its paragraph."""
    data = json.loads((folder / f"{lang}.json").read_text(encoding="utf-8"))["data"]
    found = []
    for article in data:
        for paragraph in article["paragraphs"]:
            sentences = [s.strip() for s in paragraph["sentences"]]
            for qa in paragraph["qas"][:1]:
                found.append(
                    [
                        ReaderPair(
                            qa["question"],
                            s,
                            sentences[i - 1] if i else "",
                            sentences[i + 1] if i + 1 < len(sentences) else "",
                        )
                        for i, s in enumerate(sentences)
                    ]
                )
    return found[:: max(1, len(found) // n)][:n]


def timed(reader: Reader, pairs: list[ReaderPair]) -> tuple[float, list[Reading]]:
    started = time.perf_counter()
    readings = reader.read(pairs)
    return (time.perf_counter() - started) * 1000, readings


def best(readings: list[Reading]) -> int:
    return max(range(len(readings)), key=lambda i: readings[i].has_answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/xquad-r"))
    parser.add_argument("--questions", type=int, default=60, help="per language")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backbone = ensure_e5_model(EmbedderSettings().cache_dir)
    reader = load_reader(bundled_weights(), backbone)
    saved = reader.max_len
    variants = [
        Variant("depth 8", 8, None),
        Variant("depth 4", 4, None),
        Variant("depth 8 len 128", 8, 128),
        Variant("depth 4 len 128", 4, 128),
        Variant("depth 2", 2, None),
    ]
    sets = [q for lang in ("ar", "en") for q in questions(args.data, lang, args.questions)]
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    readings: dict[str, list[list[Reading]]] = {v.name: [] for v in variants}
    timed(reader, sets[0][:8])  # warm up
    for pairs in sets:
        for v in variants:  # in turns: each variant sees the same load
            reader.max_len = v.max_len or saved
            ms, read = timed(reader, pairs[: v.depth])
            times[v.name].append(ms)
            readings[v.name].append(read)
    base = variants[0].name
    base_p50 = statistics.median(times[base])
    print(f"{len(sets)} questions (ar and en), {args.threads} thread(s); baseline {base}")
    print("variant                 p50 ms  ratio  same best  same span  mean |dp| (first 4)")
    for v in variants:
        p50 = statistics.median(times[v.name])
        same_best = same_span = 0
        diffs = []
        for ref, got in zip(readings[base], readings[v.name], strict=True):
            n = min(len(got), 4)
            same_best += best(ref[:n]) == best(got[:n])
            i = best(ref[:n])
            same_span += (ref[i].start, ref[i].end) == (got[i].start, got[i].end)
            diffs += [
                abs(a.has_answer - b.has_answer) for a, b in zip(ref[:n], got[:n], strict=True)
            ]
        total = len(sets)
        print(
            f"{v.name:22} {p50:7.1f} {p50 / base_p50:6.2f}  {same_best / total:8.1%}"
            f"  {same_span / total:8.1%}  {statistics.mean(diffs):.4f}"
        )


if __name__ == "__main__":
    main()
