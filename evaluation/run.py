"""One evaluation run: build fresh stores, ask every question of every system, measure speed.

Stores: the Arabic articles in one store (asked by Arabic questions, and by English questions
for the cross-lingual setting), the English articles in another (asked by English questions,
and by Arabic ones). With distractors, a store of the news articles is built once, copied, and
each copy gets one language's XQuAD-R articles: Arabic news (SaudiNewsNet) beside both
languages' articles, and English news (BBC) beside the Arabic articles, where English questions
must find their Arabic answer among English sentences of other stories. The news stores are
kept in the work folder and reused by later runs (they do not depend on the answering code).
Every store also holds the LangChain baseline's own collection of 1000-character chunks, so
all three systems see the same articles.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from assistant import (
    Article,
    Assistant,
    Embedder,
    IngestSummary,
    Settings,
    load_paths,
    with_location,
)
from evaluation.metrics import Paragraphs, Score, score, summarize
from evaluation.news import file_articles, spread_files, write_subset
from evaluation.speed import measure_ingest, measure_latency, news_questions
from evaluation.systems import (
    Bm25Baseline,
    EmbedderEmbeddings,
    LangChainBaseline,
    ProjectSystem,
    Reply,
    SentenceTable,
    System,
    add_to_langchain,
    langchain_store,
)
from evaluation.xquad import Corpus, Gold, load_corpus

# (name, question language, article language)
SETTINGS = (
    ("ar->ar", "ar", "ar"),
    ("en->en", "en", "en"),
    ("en->ar", "en", "ar"),
    ("ar->en", "ar", "en"),
)
SYSTEMS = ("BM25", "LangChain", "news-assistant")
PROJECT = "news-assistant"
LANGCHAIN = "LangChain"
MAX_EXAMPLES = 8


class Tracker(Protocol):
    """Progress reporting: `phase` starts a named step of `total` items and returns the
    function to call as items complete (with how many)."""

    def phase(self, description: str, total: int | None) -> Callable[[int], None]: ...


class Silent:
    def phase(self, description: str, total: int | None) -> Callable[[int], None]:
        return lambda n: None


@dataclass(frozen=True)
class Plan:
    """What to run. `distractors`: a JSONL of news articles added to the stores in a second
    run; `english_distractors`: a folder of English news .txt files (BBC News), `english`
    of them added to the Arabic store in a third run; `corpus`: SaudiNewsNet (folder of zips or
    JSONL) for the large latency store, kept in `work` and reused; `articles`/`questions` cut
    the run down (first N of each); `alone` off leaves out the first run (XQuAD-R alone, its
    stores also encoded bare for the ingest speed), for a slow embedder measured beside news."""

    xquad: Path
    work: Path
    distractors: Path | None = None
    english_distractors: Path | None = None
    english: int = 1000
    corpus: Path | None = None
    large: int = 10_000
    articles: int | None = None
    questions: int | None = None
    latency_questions: int = 100
    depth: int = 20
    compare: tuple[str, ...] = ()
    langchain: bool = True
    alone: bool = True

    @property
    def systems(self) -> list[str]:
        """The systems asked: the baselines (LangChain unless `langchain` is off), the project,
        and the project once more with each setting of `compare` changed."""
        baselines = [s for s in SYSTEMS if s != LANGCHAIN or self.langchain]
        return [*baselines, *(f"{PROJECT} [{change}]" for change in self.compare)]


@dataclass
class Run:
    """The context one evaluation run shares: plan, embedder, corpora, progress."""

    plan: Plan
    embedder: Embedder
    corpora: dict[str, Corpus]
    tracker: Tracker

    def assistant(self, folder: Path, embedder: Embedder | None = None) -> Assistant:
        settings = with_location(Settings(), str(folder))
        return Assistant(settings, embedder=embedder or self.embedder)

    def counter(self, description: str, total: int) -> Callable[[IngestSummary], None]:
        """An ingest progress callback advancing a phase by the articles newly seen."""
        step = self.tracker.phase(description, total)
        seen = [0]

        def progress(summary: IngestSummary) -> None:
            step(summary.seen - seen[0])
            seen[0] = summary.seen

        return progress

    def ingest(self, assistant: Assistant, articles: Sequence[Article], label: str) -> None:
        progress = self.counter(f"ingest {label}", len(articles))
        summary = assistant.ingest_articles(articles, progress=progress)
        if summary.failed:
            raise RuntimeError(f"ingesting {label}: {summary.failures[0]}")
        self.add_baseline(assistant, articles, label)

    def add_baseline(self, assistant: Assistant, articles: Sequence[Article], label: str) -> None:
        """The LangChain baseline's chunks of `articles` (none when the plan leaves it out)."""
        if not self.plan.langchain:
            return
        chroma = langchain_store(assistant.store, self.embedder)
        step = self.tracker.phase(f"LangChain chunks of {label}", None)
        add_to_langchain(chroma, articles, step)


Checkpoint = Callable[[dict[str, Any]], object]


def run_eval(
    plan: Plan,
    embedder: Embedder,
    tracker: Tracker | None = None,
    checkpoint: Checkpoint | None = None,
) -> dict[str, Any]:
    """Every figure of the report, as one JSON-ready dict (see evaluation.report).
    `checkpoint` gets the results so far after each run, so a long run stopped late keeps
    what it measured."""
    checkpoint = checkpoint or (lambda results: None)
    corpora = {lang: load_corpus(plan.xquad, lang, plan.articles) for lang in ("ar", "en")}
    run = Run(plan, embedder, corpora, tracker or Silent())
    plan.work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "data": _data(plan, corpora),
        "systems": plan.systems,
        "settings": [name for name, _, _ in SETTINGS],
        "runs": {},
        "speed": {"ingest": {}, "latency": {}},
    }
    with tempfile.TemporaryDirectory(dir=plan.work, prefix="eval-") as tmp:
        root = Path(tmp)
        if plan.alone:
            stores = _xquad_stores(run, root, results["speed"]["ingest"])
            results["data"]["sentences"] = {k: a.store.count_sentences() for k, a in stores.items()}
            results["runs"]["XQuAD-R"] = _evaluate(run, stores)
            checkpoint(results)
        if plan.distractors is not None:
            news = file_articles(plan.distractors)
            label = f"XQuAD-R + {len(news):,} news articles"
            stores = _distractor_stores(run, root, plan.distractors, news, results["speed"])
            results["runs"][label] = _evaluate(run, stores)
            checkpoint(results)
        if plan.english_distractors is not None:
            english = english_news(plan.english_distractors, plan.english)
            label = f"XQuAD-R ar + {len(english):,} English news articles"
            stores = {"ar": _beside_news(run, root, "english-news", english, "ar")}
            results["runs"][label] = _evaluate(run, stores)
            checkpoint(results)
    if plan.corpus is not None:
        large = _large_store(run, plan.corpus)
        questions = news_questions(_subset_path(plan), plan.latency_questions)
        step = run.tracker.phase(f"latency, {plan.large:,} news articles", len(questions))
        results["speed"]["latency"][f"{plan.large:,} news articles"] = measure_latency(
            large, questions, lambda: step(1)
        )
    return results


def _data(plan: Plan, corpora: dict[str, Corpus]) -> dict[str, Any]:
    return {
        "xquad": str(plan.xquad),
        "distractors": str(plan.distractors) if plan.distractors else None,
        "english_distractors": (
            f"{plan.english} from {plan.english_distractors}" if plan.english_distractors else None
        ),
        "corpus": str(plan.corpus) if plan.corpus else None,
        "articles": {lang: len(c.articles) for lang, c in corpora.items()},
        "questions": len(corpora["en"].questions[: plan.questions]),
    }


def _xquad_stores(run: Run, root: Path, ingest: dict[str, Any]) -> dict[str, Assistant]:
    stores = {}
    for lang, corpus in run.corpora.items():
        folder = root / f"xquad-{lang}"
        label = f"XQuAD-R {lang} ({len(corpus.articles)} articles)"
        progress = run.counter(f"ingest {label} (then bare encode)", len(corpus.articles))
        assistant, ingest[label] = measure_ingest(
            partial(run.assistant, folder),
            run.embedder,
            corpus.articles,
            progress,
        )
        run.add_baseline(assistant, corpus.articles, label)
        stores[lang] = assistant
    return stores


def _distractor_stores(
    run: Run, root: Path, source: Path, news: list[Article], speed: dict[str, Any]
) -> dict[str, Assistant]:
    base = _news_store(run, "arabic-news", news)
    label = f"{len(news):,} news articles"
    questions = news_questions(source, run.plan.latency_questions)
    step = run.tracker.phase(f"latency, {label}", len(questions))
    speed["latency"][label] = measure_latency(base, questions, lambda: step(1))
    base.store.close()
    return {lang: _beside_news(run, root, "arabic-news", news, lang) for lang in run.corpora}


def _news_store(run: Run, name: str, news: Sequence[Article]) -> Assistant:
    """The store of `news` (and its LangChain chunks, when the plan has the baseline) in the
    work folder: built on the first run, reused by the next ones (a store left unfinished is
    built again)."""
    folder = _news_folder(run.plan, name, len(news))
    done = folder / "eval-complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        assistant = run.assistant(folder)
        run.ingest(assistant, news, f"{len(news):,} {name} articles (once)")
        done.write_text(f"{len(news)} articles\n", encoding="utf-8")
        return assistant
    return run.assistant(folder)


def _news_folder(plan: Plan, name: str, n: int) -> Path:
    """Where the news store lives; one without LangChain chunks has its own folder."""
    return plan.work / (f"store-{name}-{n}" if plan.langchain else f"store-{name}-{n}-bare")


def _beside_news(
    run: Run, root: Path, name: str, news: Sequence[Article], language: str
) -> Assistant:
    """A copy of the `name` news store with one language's XQuAD-R articles added."""
    _news_store(run, name, news).store.close()
    folder = root / f"{name}+xquad-{language}"
    shutil.copytree(_news_folder(run.plan, name, len(news)), folder)
    assistant = run.assistant(folder)
    articles = run.corpora[language].articles
    run.ingest(assistant, articles, f"XQuAD-R {language} into a copy of the {name} store")
    return assistant


def english_news(folder: Path, n: int) -> list[Article]:
    """`n` English news articles from a folder of .txt files by category (BBC News), the
    categories taken in turn; the source is named after the folder when the file has none."""
    paths = spread_files(folder, n)
    articles = [item for item in load_paths(paths) if isinstance(item, Article)]
    if len(articles) < n:
        raise RuntimeError(f"only {len(articles)} of {n} files in {folder} could be read")
    return [dataclasses.replace(a, source=a.source or "BBC News") for a in articles]


def _subset_path(plan: Plan) -> Path:
    return plan.work / f"saudinewsnet-{plan.large}.jsonl"


def _large_store(run: Run, corpus: Path) -> Assistant:
    """The large news store, kept in the work folder: ingested on the first run only (an
    interrupted ingestion resumes: complete articles are found unchanged)."""
    plan = run.plan
    source = write_subset(corpus, plan.large, _subset_path(plan))
    assistant = run.assistant(plan.work / f"store-news-{plan.large}")
    if assistant.store.count_articles() < plan.large:
        articles = file_articles(source)
        progress = run.counter(f"ingest {plan.large:,} news articles (once)", len(articles))
        assistant.ingest_articles(articles, progress=progress)
    return assistant


def pairs(questions: Corpus, articles: Corpus) -> list[Gold]:
    """Questions of one language with the gold answers of another (same XQuAD-R ids)."""
    gold = {g.qid: g for g in articles.questions}
    return [
        dataclasses.replace(gold[q.qid], question=q.question)
        for q in questions.questions
        if q.qid in gold
    ]


def _evaluate(run: Run, stores: dict[str, Assistant]) -> dict[str, Any]:
    """Every setting whose articles' language has a store (`stores` by that language)."""
    systems = {lang: _systems(run, assistant) for lang, assistant in stores.items()}
    settings, losses, details = {}, {}, []
    for name, asked, over in [s for s in SETTINGS if s[2] in stores]:
        golds = pairs(run.corpora[asked], run.corpora[over])[: run.plan.questions]
        replies = _ask_all(run, name, systems[over], golds)
        paragraph_of = run.corpora[over].paragraph_of
        scores = {s: _scores(replies[s], golds, paragraph_of) for s in replies}
        settings[name] = {s: summarize(scores[s]) for s in replies}
        losses[name] = _losses(golds, replies, scores)
        details += _details(name, golds, replies, scores)
    for assistant in stores.values():
        assistant.store.close()
    return {"settings": settings, "losses": losses, "questions": details}


def _systems(run: Run, assistant: Assistant) -> dict[str, System]:
    systems: dict[str, System] = {"BM25": Bm25Baseline(assistant.store, run.plan.depth)}
    if run.plan.langchain:
        chroma = langchain_store(assistant.store, run.embedder)
        embeddings = EmbedderEmbeddings(run.embedder)
        systems[LANGCHAIN] = LangChainBaseline(chroma, SentenceTable(assistant.store), embeddings)
    systems[PROJECT] = ProjectSystem(assistant, run.plan.depth)
    for change in run.plan.compare:
        changed = Assistant(
            changed_settings(assistant.settings, change), store=assistant.store,
            embedder=run.embedder,
        )  # fmt: skip
        systems[f"{PROJECT} [{change}]"] = ProjectSystem(changed, run.plan.depth)
    return systems


def changed_settings(settings: Settings, change: str) -> Settings:
    """`settings` with one value changed by "section.key=value" (the value as JSON, or as a
    string); ValueError naming what is wrong."""
    path, _, raw = change.partition("=")
    section, _, key = path.strip().partition(".")
    current = getattr(settings, section, None)
    if not raw or not isinstance(current, BaseModel) or key not in type(current).model_fields:
        raise ValueError(f"--compare {change!r}: expected SECTION.KEY=VALUE of a setting, "
                         "e.g. retrieval.per_language=false")  # fmt: skip
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    updated = type(current).model_validate({**current.model_dump(), key: value})
    return settings.model_copy(update={section: updated})


def _ask_all(
    run: Run, setting: str, systems: dict[str, System], golds: Sequence[Gold]
) -> dict[str, list[Reply]]:
    replies: dict[str, list[Reply]] = {}
    for name in systems:
        step = run.tracker.phase(f"{setting}  {name}", len(golds))
        replies[name] = []
        for gold in golds:
            started = time.perf_counter()
            reply = systems[name].reply(gold.question)
            reply.ms = (time.perf_counter() - started) * 1000
            replies[name].append(reply)
            step(1)
    return replies


def _losses(
    golds: Sequence[Gold], replies: dict[str, list[Reply]], scores: dict[str, list[Score]]
) -> dict[str, Any]:
    """Where the project misses the gold sentence at rank 1 and a baseline does not."""
    project = scores["news-assistant"]
    misses = [i for i, s in enumerate(project) if s.rank != 0]
    ranks = {"2-5": 0, "6-20": 0, "not ranked": 0}
    for i in misses:
        rank = project[i].rank
        ranks["not ranked" if rank < 0 else "2-5" if rank < 5 else "6-20"] += 1
    baselines = [s for s in (LANGCHAIN, "BM25") if s in scores]
    examples: list[dict[str, Any]] = []
    for i in misses:
        winner = next((s for s in baselines if scores[s][i].rank == 0), None)
        if winner is not None and len(examples) < MAX_EXAMPLES:
            examples.append(_example(golds[i], project[i], replies, winner, i))
    hits = {
        f"{s.lower()}_hits_where_project_misses": sum(scores[s][i].rank == 0 for i in misses)
        for s in reversed(baselines)
    }
    return {
        "questions": len(golds),
        "project_misses_at_1": len(misses),
        **hits,
        "project_rank_of_gold": ranks,
        "examples": examples,
    }


def _details(
    setting: str,
    golds: Sequence[Gold],
    replies: dict[str, list[Reply]],
    scores: dict[str, list[Score]],
) -> list[dict[str, Any]]:
    """One row per question: each system's rank of the gold sentence (1-based, None when not
    ranked), its first sentence, and whether the project answered and stated the gold."""
    rows = []
    for i, gold in enumerate(golds):
        project = scores["news-assistant"][i]
        rows.append(
            {
                "setting": setting,
                "qid": gold.qid,
                "question": gold.question,
                "answer": gold.answer,
                "rank": {s: _place(scores[s][i]) for s in scores},
                "top": {s: _top(replies[s][i]) for s in scores},
                "answered": project.answered,
                "answer_has_gold": project.in_answer,
                "short_answer": replies["news-assistant"][i].short,
            }
        )
    return rows


def _scores(
    replies: Sequence[Reply], golds: Sequence[Gold], paragraph_of: Paragraphs
) -> list[Score]:
    return [score(r, g, paragraph_of) for r, g in zip(replies, golds, strict=True)]


def _place(s: Score) -> int | None:
    """The 1-based rank of the gold sentence, None when it was not ranked."""
    return s.rank + 1 if s.rank >= 0 else None


def _top(reply: Reply) -> str:
    return reply.ranked[0].text if reply.ranked else ""


def _example(
    gold: Gold, project: Score, replies: dict[str, list[Reply]], winner: str, i: int
) -> dict[str, Any]:
    return {
        "qid": gold.qid,
        "question": gold.question,
        "answer": gold.answer,
        "winner": winner,
        "project_rank": _place(project),
        "project_top": _top(replies["news-assistant"][i]),
        "winner_top": _top(replies[winner][i]),
    }
