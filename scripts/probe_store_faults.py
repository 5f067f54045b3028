"""Probe an embedded store shared with other processes (issue 13's figures), on the hashing
embedder (the store's behaviour is the subject, not the answers):

- stale readers: a long-lived Assistant, and a new one in the same process, ask 20 questions
  each after another process (the CLI) ingested 300 articles into the same folder;
- kills: a CLI ingest is killed (SIGKILL) at a random moment 5 times, then 40 questions are
  asked; an answer citing, or showing as evidence, an article whose record was never written
  counts as a failure.

    python scripts/probe_store_faults.py [--work DIR]

It uses the articles and helpers of tests/test_store_processes.py (the test extras).
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from test_store_processes import articles_file, cli, open_assistant


def stale_readers(root: Path) -> None:
    folder = root / "stale"
    early = open_assistant(folder)
    early.ingest([articles_file(root / "first.jsonl", 0, 20)])
    early.ask("How many people were killed in strike 3?")
    cli(
        "ingest", str(articles_file(root / "more.jsonl", 20, 300)), "--store", str(folder)
    ).communicate()
    late = open_assistant(folder)
    answered = asked = 0
    for i in range(20, 320, 15):
        for assistant in (early, late):
            asked += 1
            try:
                answer = assistant.ask(f"How many people were killed in strike {i}?")
                answered += f"a{i}" in {e.article_id for e in answer.evidence}
            except Exception as exc:  # what the probe counts
                print(f"  {type(exc).__name__}: {str(exc)[:100]}")
    print(f"stale readers: {answered} of {asked} questions answered from the new articles")


def kills(root: Path, times: int = 5) -> None:
    rng = random.Random(7)
    folder = root / "kills"
    assistant = open_assistant(folder)
    assistant.ingest([articles_file(root / "kept.jsonl", 0, 10)])
    for kill in range(times):
        source = articles_file(root / f"batch{kill}.jsonl", 10 + 400 * kill, 400)
        before = assistant.store.count_sentences()
        ingest = cli(
            "ingest", str(source), "--store", str(folder), NEWS_ASSISTANT_INGEST__BATCH_CHUNKS="8"
        )
        while assistant.store.count_sentences() <= before + 60 and ingest.poll() is None:
            time.sleep(0.02)
        time.sleep(rng.random() * 0.5)
        ingest.send_signal(signal.SIGKILL)
        ingest.communicate()
        records = assistant.articles()
        orphans = assistant.store.count_sentences() - sum(r.n_sentences for r in records)
        print(f"kill {kill + 1}: {len(records)} articles stored, {orphans} orphan sentences")
    stored = {a.id for a in assistant.articles()}
    failed = asked = 0
    for i in range(10, 10 + 400 * times, 50):
        answer = assistant.ask(f"How many people were killed in strike {i}?")
        shown = {c.article_id for c in answer.citations} | {e.article_id for e in answer.evidence}
        asked += 1
        failed += not shown <= stored
    print(f"kills: {failed} of {asked} answers cite or show an incomplete article")
    print(f"swept by the next ingest: {assistant.store.remove_orphans()} orphan parts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, help="folder for the stores (default: a tmp one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        shutil.rmtree(root / "stale", ignore_errors=True)
        shutil.rmtree(root / "kills", ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        stale_readers(root)
        kills(root)


if __name__ == "__main__":
    main()
