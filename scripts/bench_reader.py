"""Reader backends: cost, agreement and quality (not a test; needs ../shared/data).

Cost and agreement: each question of an XQuAD-R sample is read against up to 8 sentences of its
gold paragraph (the shape of an ask: one question, its best sentences with their neighbours) by
each backend in turn (so a busy moment of the machine falls on all), p50 per question and its
ratio to the baseline (torch, one thread: the pipeline's ask threads); agreement with the
baseline: the same best sentence by has-answer probability, the same span in it, and the mean
absolute difference of probabilities. XQuAD-R only measures here: nothing is chosen on it.

Quality: the reader's held-out training slice (the 5% of qa-train paragraphs `make
train-reader` keeps out, rebuilt with its seed), span EM/F1 and has-answer AUC per backend:
what a backend loses, measured on training data. `--lengths 160,128,96` scores the torch reader
on that slice at each reading length (`reader.max_len`) instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from assistant.ask.read import SentenceReader, bundled_weights
from core.e5_model import ensure_e5_model
from core.reader_model import ReaderPair, Reading, load_reader
from core.reader_onnx import load_onnx_reader
from core.settings import EmbedderSettings
from training.abstention import reader_dev_percent
from training.reader_data import (
    ReaderExample,
    Sampling,
    epoch_examples,
    load_corpus,
    split_dev,
)
from training.reader_loop import score_reader
from training.reader_metrics import dev_scores, scores_by_language

DEPTH = 8


def backends(threads: int) -> dict[str, SentenceReader]:
    cache = EmbedderSettings().cache_dir
    backbone = ensure_e5_model(cache)
    weights = bundled_weights()
    return {
        "torch, 1 thread": load_reader(weights, backbone),
        "onnx, 1 thread": load_onnx_reader(weights, backbone, cache, "onnx", threads=1),
        f"onnx, {threads or 'all'} threads": load_onnx_reader(
            weights, backbone, cache, "onnx", threads=threads
        ),
        f"onnx-int8, {threads or 'all'} threads": load_onnx_reader(
            weights, backbone, cache, "onnx-int8", threads=threads
        ),
    }


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


def timed(reader: SentenceReader, pairs: list[ReaderPair]) -> tuple[float, list[Reading]]:
    started = time.perf_counter()
    readings = reader.read(pairs)
    return (time.perf_counter() - started) * 1000, readings


def best(readings: list[Reading]) -> int:
    return max(range(len(readings)), key=lambda i: readings[i].has_answer)


def cost(readers: dict[str, SentenceReader], sets: list[list[ReaderPair]]) -> None:
    times: dict[str, list[float]] = {name: [] for name in readers}
    readings: dict[str, list[list[Reading]]] = {name: [] for name in readers}
    for reader in readers.values():
        timed(reader, sets[0][:DEPTH])  # warm up
    for pairs in sets:
        for name, reader in readers.items():
            ms, read = timed(reader, pairs[:DEPTH])
            times[name].append(ms)
            readings[name].append(read)
    base = next(iter(readers))
    base_p50 = statistics.median(times[base])
    pairs_read = statistics.mean(len(p[:DEPTH]) for p in sets)
    print(f"{len(sets)} questions (ar and en), {pairs_read:.1f} sentences read a question")
    print("backend                 p50 ms  ratio  same best  same span  mean |dp|")
    for name in readers:
        same_best = same_span = 0
        diffs = []
        for ref, got in zip(readings[base], readings[name], strict=True):
            same_best += best(ref) == best(got)
            i = best(ref)
            same_span += (ref[i].start, ref[i].end) == (got[i].start, got[i].end)
            diffs += [abs(a.has_answer - b.has_answer) for a, b in zip(ref, got, strict=True)]
        p50 = statistics.median(times[name])
        print(
            f"{name:22} {p50:7.1f} {p50 / base_p50:6.2f}  {same_best / len(sets):8.1%}"
            f"  {same_span / len(sets):8.1%}  {statistics.mean(diffs):.4f}"
        )


def held_out_examples(qa_train: Path, seed: int) -> list[ReaderExample]:
    corpus = load_corpus(qa_train)
    _, held_out = split_dev(corpus.paragraphs, reader_dev_percent())
    return epoch_examples(held_out, seed, 0, Sampling(arabic_copies=1))


def lengths(qa_train: Path, seed: int, max_lens: list[int]) -> None:
    """Held-out scores of the torch reader reading each of `max_lens` tokens a pair."""
    examples = held_out_examples(qa_train, seed)
    backbone = ensure_e5_model(EmbedderSettings().cache_dir)
    print(f"held-out training slice: {len(examples)} examples")
    for max_len in max_lens:
        rows = score_reader(load_reader(bundled_weights(), backbone, max_len=max_len), examples)
        print(f"{max_len:3} tokens   all: {dev_scores(rows).line()}")
        for language, scores in scores_by_language(rows).items():
            print(f"{'':13}{language}:  {scores.line()}")


def quality(readers: dict[str, SentenceReader], qa_train: Path, seed: int) -> None:
    examples = held_out_examples(qa_train, seed)
    print(f"held-out training slice: {len(examples)} examples")
    for name, reader in readers.items():
        if name.startswith("onnx, 1"):
            continue  # the same model as the other onnx row
        rows = score_reader(reader, examples)
        print(f"{name:22} all: {dev_scores(rows).line()}")
        for language, scores in scores_by_language(rows).items():
            print(f"{'':22} {language}:  {scores.line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--questions", type=int, default=60, help="per language")
    parser.add_argument("--threads", type=int, default=0, help="onnx threads (0: all cores)")
    parser.add_argument("--seed", type=int, default=13, help="the training run's seed")
    parser.add_argument("--no-quality", action="store_true", help="skip the held-out slice")
    parser.add_argument("--lengths", help="only the held-out slice at these reading lengths")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.lengths:
        lengths(args.data / "qa-train", args.seed, [int(n) for n in args.lengths.split(",")])
        return
    readers = backends(args.threads)
    xquad = args.data / "xquad-r"
    cost(readers, [q for lang in ("ar", "en") for q in questions(xquad, lang, args.questions)])
    if not args.no_quality:
        quality(readers, args.data / "qa-train", args.seed)


if __name__ == "__main__":
    main()
