"""Server load benchmark (not a test): `news-assistant serve` over a 1,000-article store, asked
by concurrent OpenAI clients on 127.0.0.1, then the same while an upload of more articles is
ingested in the background.

    .venv/bin/python scripts/bench_server.py [--data ../shared/data] [--work bench-out]
        [--clients 20] [--questions 50] [--extra 200] [--max-seconds 900]

- Store: `WORK/store-1000`, built from SaudiNewsNet's sample_1000.jsonl the first time (about
  10 minutes on 2 quiet cores) and reused; each run serves a fresh copy (`WORK/store-run`), so
  the ingest run always has 200 new articles to store.
- Server: `news-assistant serve --no-ui` in its own process on a free 127.0.0.1 port, with an
  API key; one untimed question loads the model and the BM25 index before the clock starts.
- Load: each client is a thread with its own `openai.OpenAI` client asking its questions one
  after another through /v1/chat/completions (not streamed): news-like questions, half Arabic
  (from the titles), half English (evaluation.speed.news_questions). Every request has a
  timeout and the run a deadline (--max-seconds): what is not asked by then is reported.
- Ingest run: the extra articles (SaudiNewsNet days after the sample, not in it) are uploaded
  as one JSONL file to POST /api/articles, and the same load starts at once; the job's
  progress is reported with the figures, then the script waits for it to end.

Printed: requests, errors (non-200 or failed), wall time, requests/s, latency p50/p95/max.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant import Assistant, Settings, with_location
from evaluation.news import news_items
from evaluation.speed import news_questions

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-key"
MODEL = "news-assistant"
LOCAL = httpx.Client(trust_env=False, timeout=30)


@dataclass
class Run:
    """One load run's measurements."""

    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: list[str] = field(default_factory=list)
    unasked: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, label: str) -> str:
        done = sorted(self.latencies)
        total = len(done) + len(self.errors)
        if not done:
            return f"{label}: no successful request; errors: {self.errors[:3]}"
        p95 = done[max(0, round(0.95 * len(done)) - 1)]
        return (
            f"{label}\n"
            f"  requests {total} ({len(self.errors)} errors, {self.unasked} not asked by the "
            f"deadline) in {self.seconds:.1f} s: {total / self.seconds:.1f} requests/s\n"
            f"  latency ms: p50 {statistics.median(done) * 1000:.0f}  p95 {p95 * 1000:.0f}  "
            f"max {done[-1] * 1000:.0f}"
        )


def main() -> int:
    args = _arguments()
    work = args.work.resolve()
    news = args.data / "saudinewsnet"
    sample = news / "sample_1000.jsonl"
    base = build_store(work / "store-1000", sample)
    extra = extra_articles(news / "zips", sample, work / f"extra-{args.extra}.jsonl", args.extra)
    questions = news_questions(sample, 100)
    run_store = work / "store-run"
    shutil.rmtree(run_store, ignore_errors=True)
    shutil.copytree(base, run_store)
    print(f"{_cores()} cores; load average at start {_load()}", flush=True)
    with serving(run_store, work / "server.log") as url:
        ask_once(url, questions[0])
        clients = f"{args.clients} clients x {args.questions} questions"
        print(f"server {url} over {count(url)} articles; {clients}", flush=True)
        quiet = load(url, questions, args)
        print(quiet.report("load, no ingest"), flush=True)
        job = upload(url, extra)
        busy = load(url, questions, args)
        during = job_state(url, job)
        print(busy.report(f"load while ingesting {args.extra} more articles"), flush=True)
        print(f"  ingest job at the end of the load: {_progress(during)}", flush=True)
        ended = wait_job(url, job, args.max_seconds)
        print(f"ingest job {ended['status']}: {_progress(ended)}; summary {_summary(ended)}")
        print(f"store now holds {count(url)} articles; load average at end {_load()}")
    return 0 if not quiet.errors and not busy.errors else 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "bench-out")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--questions", type=int, default=50, help="questions per client")
    parser.add_argument("--extra", type=int, default=200, help="articles ingested in run 2")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="deadline per run")
    parser.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    return parser.parse_args()


def build_store(folder: Path, source: Path) -> Path:
    """The 1,000-article store, ingested the first time (an interrupted build goes on)."""
    assistant = Assistant(with_location(Settings(), str(folder)))
    stored = assistant.store.count_articles() if folder.exists() else 0
    if stored < 1000:
        print(f"building {folder} from {source} ({stored} stored)...", flush=True)
        summary = assistant.ingest([source])
        print(f"  {summary.articles} articles in {summary.seconds:.0f} s", flush=True)
    assistant.store.close()
    return folder


def extra_articles(zips: Path, sample: Path, out: Path, n: int) -> Path:
    """`n` SaudiNewsNet articles that are not in the sample (by url), 500+ characters each."""
    taken = {json.loads(line).get("url") for line in sample.open(encoding="utf-8") if line.strip()}
    rows: list[str] = []
    for item in news_items(zips):
        if item.get("url") in taken or len(str(item.get("content", ""))) < 500:
            continue
        taken.add(item.get("url"))
        rows.append(json.dumps(item, ensure_ascii=False))
        if len(rows) == n:
            break
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(store: Path, log: Path) -> Iterator[str]:
    """`news-assistant serve --no-ui` over `store` in a child process; yields its URL."""
    port = _free_port()
    env = os.environ | {"NEWS_ASSISTANT_SERVER__API_KEY": KEY, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "assistant.frontends.cli", "--store", str(store)]
    command += ["serve", "--port", str(port), "--no-ui"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=out, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {log}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def _healthy(url: str) -> bool:
    try:
        return LOCAL.get(f"{url}/health").status_code == 200
    except httpx.HTTPError:
        return False


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def ask_once(url: str, question: str) -> None:
    reply = LOCAL.post(
        f"{url}/api/ask", json={"question": question}, headers=_headers(), timeout=600
    )
    reply.raise_for_status()


def count(url: str) -> int:
    return len(LOCAL.get(f"{url}/api/articles", headers=_headers()).json())


def load(url: str, questions: list[str], args: argparse.Namespace) -> Run:
    """`args.clients` threads, each asking `args.questions` questions in turn."""
    run = Run()
    deadline = time.monotonic() + args.max_seconds
    started = time.perf_counter()
    threads = [
        threading.Thread(
            target=_client,
            args=(url, list(_mine(questions, i, args.questions)), run, deadline, args.timeout),
        )
        for i in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    return run


def _mine(questions: list[str], client: int, n: int) -> Iterator[str]:
    for j in range(n):
        yield questions[(client * 7 + j) % len(questions)]


def _client(url: str, questions: list[str], run: Run, deadline: float, timeout: float) -> None:
    http = openai.DefaultHttpxClient(trust_env=False, timeout=timeout)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, http_client=http, max_retries=0)
    for i, question in enumerate(questions):
        if time.monotonic() > deadline:
            with run.lock:
                run.unasked += len(questions) - i
            break
        started = time.perf_counter()
        try:
            reply = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": question}]
            )
            assert reply.choices[0].message.content
        except Exception as exc:  # counted and shown, the run goes on
            with run.lock:
                run.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        with run.lock:
            run.latencies.append(time.perf_counter() - started)
    http.close()


def upload(url: str, path: Path) -> dict[str, object]:
    files = [("files", (path.name, path.read_bytes(), "application/jsonl"))]
    response = LOCAL.post(f"{url}/api/articles", files=files, headers=_headers())
    response.raise_for_status()
    return dict(response.json())


def job_state(url: str, job: dict[str, object]) -> dict[str, object]:
    return dict(LOCAL.get(f"{url}/api/jobs/{job['id']}", headers=_headers()).json())


def wait_job(url: str, job: dict[str, object], seconds: float) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    state = job_state(url, job)
    while state["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(2)
        state = job_state(url, job)
    return state


def _progress(job: dict[str, object]) -> str:
    progress = job.get("progress") or {}
    assert isinstance(progress, dict)
    return f"{job['status']}, {progress.get('stored')} stored of {progress.get('total')}"


def _summary(job: dict[str, object]) -> str:
    summary = job.get("summary") or {}
    assert isinstance(summary, dict)
    keys = ("articles", "sentences", "chunks", "failed", "seconds")
    return ", ".join(f"{k} {summary.get(k)}" for k in keys)


def _cores() -> int:
    return os.cpu_count() or 1


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
