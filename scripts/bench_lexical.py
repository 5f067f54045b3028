"""BM25 index benchmark (not a test): the in-memory index rebuilt from every stored sentence
("old") against the index saved beside the store ("saved"), on a store of SaudiNewsNet
articles embedded with the `hashing` embedder (so embedding costs nothing).

    .venv/bin/python scripts/bench_lexical.py [--articles 2000] [--batch 50] [--work DIR]

Each figure comes from a fresh process (`--probe`), on a copy of the store built once in
--work (reused by later runs):
- open: open the store and ask the first question's BM25 search (`lexical_index()` + search);
  for "saved", also with the index folder deleted first (built from the store: a first run);
- batch: ask once, ingest --batch more articles in the same process (as the server and UI
  do), then time the next question's BM25 search; the ingest time is shown too;
- other: the same, the articles ingested by `news-assistant ingest` in another process;
- peak RSS (ru_maxrss) of each process, and its RSS after opening the store, before asking;
  "none" opens the store, builds the pipeline, searches Chroma (as every question does) and
  ingests without any BM25 index (the baseline);
- the saved index's size on disk beside the store's and the sentence texts'.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ["NEWS_ASSISTANT_EMBEDDER__MODEL"] = "hashing"

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "saudinewsnet" / "zips"
QUESTIONS = ["ما هي أسعار النفط في السوق السعودية؟", "كم عدد الطلاب في جامعة الملك سعود؟"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def probe(mode: str, scenario: str, store: Path, extra: Path) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    import numpy as np

    from assistant import api
    from assistant.ask.question import read_question
    from core.settings import Settings
    from core.types import Filters

    assistant = api.Assistant(api.with_location(Settings(), str(store)))
    retriever = assistant.pipeline().retriever
    if mode in ("old", "none"):  # the in-memory index, as before, and no saved one to update
        retriever._saved = None  # type: ignore[attr-defined]
        api.index_batches = lambda store: None  # type: ignore[assignment]
    vector = np.ones(assistant.embedder.dim, dtype=np.float32) / assistant.embedder.dim**0.5
    assistant.store.query_sentences(vector, 40, Filters())  # what every question does first:
    assistant.store.query_chunks(vector, 10, Filters())  # Chroma loads its vector indexes
    stored = assistant.store.count_articles()
    opened = rss_mb()
    terms = [read_question(q).search_terms for q in QUESTIONS]

    def ask(terms: tuple[str, ...]) -> tuple[float, int]:
        if mode == "none":
            return 0.0, 0
        started = time.perf_counter()
        found = retriever.lexical_index().search(terms, 40)  # type: ignore[attr-defined]
        return time.perf_counter() - started, len(found)

    result: dict[str, Any] = {"rss_open_mb": opened}
    if scenario == "open":
        result["seconds"], result["hits"] = ask(terms[0])
    else:
        ask(terms[0])
        started = time.perf_counter()
        if scenario == "batch":
            assistant.ingest([extra])
        else:  # another process ingests (the CLI beside the UI)
            cli = [sys.executable, "-m", "assistant.frontends.cli", "ingest", str(extra)]
            subprocess.run([*cli, "--store", str(store)], check=True, capture_output=True)
        result["ingest_seconds"] = time.perf_counter() - started
        assert assistant.store.count_articles() > stored
        result["seconds"], result["hits"] = ask(terms[1])
    result["again_seconds"] = ask(terms[0])[0]
    result["peak_mb"] = peak_mb()
    return result


def run_probe(mode: str, scenario: str, store: Path, extra: Path, work: Path) -> dict[str, Any]:
    copy = work / f"store-{mode}-{scenario}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(store, copy)
    if mode == "saved-cold":
        shutil.rmtree(copy / ".news-assistant-lexical")
    args = [sys.executable, __file__, "--probe", mode, scenario, str(copy), str(extra)]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    shutil.rmtree(copy, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"probe {mode} {scenario} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def build(work: Path, n: int, batch: int) -> tuple[Path, Path]:
    """The store of the first `n` articles (built once) and the file of the next `batch`."""
    from assistant.api import Assistant, with_location
    from core.settings import Settings
    from evaluation.news import write_subset

    subset = write_subset(CORPUS, n + batch, work / f"saudinewsnet-{n + batch}.jsonl")
    lines = subset.read_text(encoding="utf-8").splitlines()
    first, extra = work / "first.jsonl", work / "extra.jsonl"
    first.write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
    extra.write_text("\n".join(lines[n:]) + "\n", encoding="utf-8")
    store = work / f"store-{n}"
    if not (store / ".built").exists():
        shutil.rmtree(store, ignore_errors=True)
        started = time.perf_counter()
        summary = Assistant(with_location(Settings(), str(store))).ingest([first])
        print(f"built {store}: {summary.articles} articles in {time.perf_counter() - started:.0f}s")
        settle(store)
        (store / ".built").touch()
    return store, extra


def settle(store: Path) -> None:
    """Open the new store once in a process of its own: the first process to open a freshly
    written Chroma folder does work (and takes memory) that later ones do not, which would
    weigh on every probe's peak."""
    code = (
        "import sys, numpy as np\n"
        "from core.chroma import open_store\n"
        "from core.settings import StoreSettings\n"
        "from core.types import Filters\n"
        "store = open_store(StoreSettings(path=sys.argv[1]))\n"
        "vector = np.ones(64, dtype=np.float32) / 8\n"
        "store.query_sentences(vector, 40, Filters()); store.query_chunks(vector, 10, Filters())\n"
        "store.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(store)], check=True, cwd=ROOT)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def sizes(store: Path, above: dict[str, float]) -> None:
    """The index's size on disk, and what a store 100k/n times larger would need."""
    import sqlite3

    from assistant.api import Assistant, with_location
    from core.settings import Settings

    assistant = Assistant(with_location(Settings(), str(store)))
    folder = store / ".news-assistant-lexical" / "news"
    texts = sum(len(r.sentence.encode("utf-8")) for r in assistant.store.iter_sentences())
    with sqlite3.connect(folder / "index.sqlite") as db:
        vocab = db.execute("SELECT count(*) FROM terms").fetchone()[0]
        segments = db.execute("SELECT count(*) FROM segments").fetchone()[0]
    arrays = sum(du(p) for p in folder.glob("seg-*"))
    total = du(folder)
    n, sentences = assistant.store.count_articles(), assistant.store.count_sentences()
    print(f"\nstore: {n} articles, {sentences} sentences; store folder {du(store) / 1e6:.1f} MB")
    print(f"saved index: {total / 1e6:.1f} MB on disk ({segments} segments, {vocab} words): ")
    print(f"  segment arrays {arrays / 1e6:.1f} MB, index.sqlite {(total - arrays) / 1e6:.1f} MB")
    print(f"sentence texts: {texts / 1e6:.1f} MB (UTF-8)")
    per = 100_000 / n
    print(f'\npeak RSS above the baseline ("none"); x{per:.0f} (linear, fixed costs too) for 100k:')
    for name, mb in above.items():
        print(f"  {name:<20}{mb:>8.0f} MB   -> ~{mb * per / 1e3:.1f} GB")
    print(
        f"at 100k articles (x{per:.0f}; the vocabulary grows slower): saved index "
        f"~{total * per / 1e9:.2f} GB on disk, of which ~{arrays * per / 1e9:.2f} GB of arrays "
        f"memory-mapped (pages read as questions touch them); sentence texts "
        f"~{texts * per / 1e9:.2f} GB (UTF-8), all of which the old index holds as Python "
        "objects, with their words and bm25s's matrix"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-lexical"))
    parser.add_argument("--probe", nargs=4, metavar=("MODE", "SCENARIO", "STORE", "EXTRA"))
    args = parser.parse_args()
    if args.probe:
        mode, scenario, store, extra = args.probe
        print(json.dumps(probe(mode, scenario, Path(store), Path(extra))))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    store, extra = build(args.work, args.articles, args.batch)
    rows = [
        ("open", "none"),
        ("open", "old"),
        ("open", "saved"),
        ("open", "saved-cold"),
        ("batch", "none"),
        ("batch", "old"),
        ("batch", "saved"),
        ("other", "old"),
        ("other", "saved"),
    ]
    print(f"{'case':<28}{'1st search s':>13}{'again s':>9}{'ingest s':>10}{'RSS open MB':>13}"
          f"{'peak MB':>9}{'hits':>6}")  # fmt: skip
    peaks = {}
    for scenario, mode in rows:
        r = peaks[f"{scenario}: {mode}"] = run_probe(mode, scenario, store, extra, args.work)
        ingest = f"{r['ingest_seconds']:.2f}" if "ingest_seconds" in r else "-"
        name = f"{scenario}: {mode}"
        print(
            f"{name:<28}{r['seconds']:>13.3f}{r['again_seconds']:>9.3f}{ingest:>10}"
            f"{r['rss_open_mb']:>13.0f}{r['peak_mb']:>9.0f}{r['hits']:>6}"
        )
    base = {s: peaks[f"{s}: none"]["peak_mb"] for s in ("open", "batch")}
    above = {n: r["peak_mb"] - base.get(n.split(":")[0], base["open"]) for n, r in peaks.items()}
    sizes(store, {n: mb for n, mb in above.items() if "none" not in n})


if __name__ == "__main__":
    main()
