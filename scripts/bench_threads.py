"""Torch thread defaults (not a test): ask latency and ingest throughput of the real embedder
for threads 0 (one per core), 1 and 2, on a quiet machine and beside a competing process.

    .venv/bin/python scripts/bench_threads.py [--questions 30] [--texts 300]

Each row runs in a fresh process (torch's thread count and OpenMP's wait policy are per
process), with NEWS_ASSISTANT_EMBEDDER__ASK_THREADS and __INGEST_THREADS both set to the row's
count, so the product's own settings pick the threads:
- ask: `Assistant.ask` over a store holding the bundled sample article (data/sample, built once
  in a temporary folder), after one warm-up question; p50 and p95 over the questions;
- ingest: `embedder.embed_passages` (the call ingestion makes per batch) over the sample's
  sentences repeated with numbered variations, after a small warm-up; texts per second.
"Busy" starts one spinning Python process per core for the rows and stops it after them. Threads
0 is run twice more with OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep instead of spinning
while waiting for work). Ratios compare each row with threads 0 (policy unset) in its condition.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
ROWS = [(0, ""), (0, "PASSIVE"), (1, ""), (2, "")]  # (threads, OMP_WAIT_POLICY)
SPIN = "while True:\n    pass\n"

QUESTIONS = [
    "كم عدد القتلى المدنيين؟",
    "كم عدد قتلى الغارة؟",
    "من نفذ الضربة الجوية؟",
    "أين وقعت الغارات؟",
    "ماذا قال المرصد السوري لحقوق الإنسان؟",
    "ماذا قال التحالف الدولي؟",
    "من هو المتحدث باسم التحالف؟",
    "متى نفذت الضربات؟",
    "هل هناك مفقودون تحت الأنقاض؟",
    "كم عدد المصابين؟",
    "من يسيطر على بلدة السوسة؟",
    "ما هو معمل الثلج؟",
    "كم عدد المقاتلين بين القتلى؟",
    "ماذا قالت المصادر المحلية؟",
    "هل أكد التحالف الضربة؟",
    "How many civilians died?",
    "How many people were killed in the strike?",
    "Who carried out the air strike?",
    "Where did the strikes happen?",
    "What did the Syrian Observatory for Human Rights say?",
    "What did the coalition say?",
    "Who is the coalition spokesman?",
    "When were the strikes carried out?",
    "Are people missing under the rubble?",
    "How many were injured?",
    "Who controls the town of Al-Susa?",
    "What was targeted near the ice factory?",
    "How many fighters were among the dead?",
    "What did local sources tell Al-Araby Al-Jadeed?",
    "Did the coalition confirm the strike?",
]


def texts(count: int) -> list[str]:
    """`count` passages: the sample's sentences, each round numbered differently."""
    from ingest.sentences import split_sentences

    base = [s.text for f in sorted(SAMPLE.glob("*.txt")) for s in split_sentences(f.read_text())]
    return [f"({i // len(base) + 1}) {base[i % len(base)]}" for i in range(count)]


def worker(store: str, questions: int, passages: int) -> dict[str, float]:
    """One row, in this process: ask latencies and passage throughput with the settings' threads."""
    import torch

    from assistant import Assistant, Settings, with_location
    from core.embedder import use_threads

    settings = with_location(Settings(), store)
    assistant = Assistant(settings)
    assistant.warm_up()
    assistant.ask(QUESTIONS[0])
    times = []
    for question in (QUESTIONS * 2)[:questions]:
        started = time.perf_counter()
        assistant.ask(question)
        times.append(time.perf_counter() - started)
    ask_threads = torch.get_num_threads()
    use_threads(settings.embedder.threads_for("ingest"))
    batch = texts(passages)
    assistant.embedder.embed_passages(batch[:32])
    started = time.perf_counter()
    assistant.embedder.embed_passages(batch)
    rate = len(batch) / (time.perf_counter() - started)
    p50, p95 = statistics.median(times), statistics.quantiles(times, n=20)[-1]
    return {"p50": p50 * 1000, "p95": p95 * 1000, "rate": rate, "torch": ask_threads}


def build_store(store: str) -> None:
    from assistant import Assistant, Settings, with_location

    Assistant(with_location(Settings(), store)).ingest([SAMPLE], defaults={"source": "sample"})


def run_row(args: argparse.Namespace, threads: int, policy: str) -> dict[str, float]:
    env = {**os.environ, **OFFLINE, "PYTHONPATH": str(ROOT)}
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("NEWS_ASSISTANT_EMBEDDER__THREADS", None)
    env["NEWS_ASSISTANT_EMBEDDER__ASK_THREADS"] = str(threads)
    env["NEWS_ASSISTANT_EMBEDDER__INGEST_THREADS"] = str(threads)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    command = [sys.executable, __file__, "--worker", args.store]
    command += ["--questions", str(args.questions), "--texts", str(args.texts)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise SystemExit(f"worker failed ({threads} threads, {policy or 'unset'}):\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@contextmanager
def competing(busy: bool) -> Iterator[None]:
    """One spinning Python process per core while the block runs, when `busy`."""
    spinners = []
    if busy:
        spinners = [
            subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(os.cpu_count() or 1)
        ]
        time.sleep(1)
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def table(results: list[tuple[str, int, str, dict[str, float]]]) -> str:
    head = f"{'condition':<9} {'threads':>7} {'OMP_WAIT':>8} {'ask p50 ms':>10} {'ask p95 ms':>10}"
    head += f" {'ingest texts/s':>14} {'p50 / t0':>8} {'texts/s / t0':>12}"
    lines = [head, "-" * len(head)]
    for condition, threads, policy, r in results:
        base = next(x for c, t, p, x in results if c == condition and t == 0 and not p)
        lines.append(
            f"{condition:<9} {threads:>7} {policy or 'unset':>8} {r['p50']:>10.0f}"
            f" {r['p95']:>10.0f} {r['rate']:>14.1f} {r['p50'] / base['p50']:>8.2f}"
            f" {r['rate'] / base['rate']:>12.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=30, help="questions per row (30)")
    parser.add_argument("--texts", type=int, default=300, help="passages embedded per row (300)")
    parser.add_argument("--worker", metavar="STORE", help=argparse.SUPPRESS)
    parser.add_argument("--build", metavar="STORE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.questions, args.texts)))
        return
    if args.build:
        build_store(args.build)
        return
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        args.store = str(Path(tmp) / "store")
        env = {**os.environ, **OFFLINE, "PYTHONPATH": str(ROOT)}
        subprocess.run([sys.executable, __file__, "--build", args.store], env=env, check=True)
        started, load = time.perf_counter(), os.getloadavg()
        results = []
        for condition in ("quiet", "busy"):
            with competing(condition == "busy"):
                for threads, policy in ROWS:
                    results.append((condition, threads, policy, run_row(args, threads, policy)))
    print(f"{os.cpu_count()} cores; load average at start", " ".join(f"{x:.2f}" for x in load))
    print(f"{args.questions} questions, {args.texts} passages per row; busy = one spinning Python")
    print(f"process per core; {time.perf_counter() - started:.0f} s")
    print(table(results))


if __name__ == "__main__":
    os.environ.update({k: os.environ.get(k, v) for k, v in OFFLINE.items()})
    main()
