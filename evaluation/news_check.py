"""The hand-written news questions (evaluation/news_questions.jsonl) and how an answer to one
is judged; scripts/check_news.py asks them over their articles.

Each row: `id`, `kind` ("answerable"; "absent": about an article's topic, asking a detail it
does not give; "off-topic": about nothing stored), `question`, `language`, `article`
({"set": "saudinewsnet" | "bbc" | "sample", "ref": url | path under bbc_news/bbc | the sample's
file name}, null when off-topic), `article_language`, `answer` (verbatim, the shortest span
that answers), `answers` (other acceptable verbatim spans of the article: a shorter form, or
where sources disagree another source's figure) and `sentence` (the article's sentence holding
`answer`, verbatim). The questions are the project's; answers and sentences quote SaudiNewsNet
(CC BY-NC-SA 4.0) and BBC News (research use) articles and stay under those terms."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from assistant import Answer, Article, SentenceRecord
from evaluation.metrics import normalize_answer, token_f1
from evaluation.news import file_articles

QUESTIONS = Path(__file__).with_name("news_questions.jsonl")
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
SAMPLE_SOURCE = "Al-Araby Al-Jadeed"
KINDS = ("answerable", "absent", "off-topic")
RIGHT_F1 = 0.5  # a stated short answer this close to the gold is right ("20" for "20 شخصا")


@dataclass(frozen=True)
class Outcome:
    """One question's result: answered at all, answered right, citing the gold sentence."""

    row: dict[str, Any]
    answered: bool
    right: bool
    cites_gold: bool
    text: str
    in_evidence: bool = False


def load_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    """The rows of `path`; ValueError naming the first row that is not well formed."""
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    seen: set[str] = set()
    for row in rows:
        problem = _problem(row, seen)
        if problem:
            raise ValueError(f"{path}: question {row.get('id')!r}: {problem}")
        seen.add(row["id"])
    return rows


def news_articles(data: Path, refs: set[str]) -> dict[str, Article]:
    """The articles `refs` name (SaudiNewsNet urls, BBC paths, the sample's file name), found
    under the data folder `data` (saudinewsnet/sample_1000.jsonl, bbc_news/bbc/) or data/sample;
    ValueError naming those not found."""
    found = {a.url: a for a in saudi_news(data) if a.url in refs}
    for ref in refs - set(found):
        for folder, source in ((SAMPLE, SAMPLE_SOURCE), (data / "bbc_news" / "bbc", "BBC News")):
            if (folder / ref).is_file():
                [article] = file_articles(folder / ref)
                found[ref] = replace(article, source=article.source or source)
    missing = refs - set(found)
    if missing:
        raise ValueError(f"articles not found under {data}: {', '.join(sorted(missing)[:5])}")
    return found


def saudi_news(data: Path) -> list[Article]:
    """The articles of saudinewsnet/sample_1000.jsonl under `data`, in file order."""
    return file_articles(data / "saudinewsnet" / "sample_1000.jsonl")


def _problem(row: dict[str, Any], seen: set[str]) -> str:
    if row.get("id") in seen:
        return "its id is used twice"
    if row.get("kind") not in KINDS:
        return f"kind must be one of {', '.join(KINDS)}"
    if row["kind"] != "answerable":
        return "" if not row.get("answer") else "only an answerable question has an answer"
    if not row.get("article") or not row.get("sentence"):
        return "an answerable question needs its article and sentence"
    return (
        ""
        if row.get("answer") in row["sentence"]
        else f"{row.get('answer')!r} is not in its sentence"
    )


def golds(row: dict[str, Any]) -> list[str]:
    return [g for g in [row.get("answer"), *row.get("answers", [])] if g]


def judge(row: dict[str, Any], answer: Answer, article_id: str) -> Outcome:
    """`answer` to `row`'s question: right when it holds a gold span in its text, or states a
    short answer of token F1 >= RIGHT_F1 with one ("14 million" for "More than 14 million");
    citing the gold when a cited sentence of the gold article holds a gold span; the gold in
    the evidence when one of the evidence sentences shown (cited or not) does."""
    wanted = golds(row)
    right = answer.answered and any(
        holds(answer.text, gold) or token_f1(answer.short_answer, gold) >= RIGHT_F1
        for gold in wanted
    )

    def gold(records: Sequence[SentenceRecord]) -> bool:
        return any(
            r.article_id == article_id and any(holds(r.sentence, g) for g in wanted)
            for r in records
        )

    lines = [line for line in answer.text.splitlines() if line.strip()]
    cites = answer.answered and gold(answer.citations)
    text = " / ".join(lines[:2])[:160]
    return Outcome(row, answer.answered, right, cites, text, gold(answer.evidence))


def holds(text: str, gold: str) -> bool:
    """`text` holds `gold`, both normalised as the evaluation does (evaluation/metrics.py)."""
    wanted = normalize_answer(gold)
    return bool(wanted) and wanted in normalize_answer(text)


def setting(row: dict[str, Any]) -> str:
    """The question's language > its article's ("en>ar"; "en>-" for an off-topic one)."""
    return f"{row['language']}>{row.get('article_language') or '-'}"


def table(outcomes: Sequence[Outcome]) -> str:
    """Per kind and setting: answerable questions answered / right / citing the gold / with
    the gold among the evidence shown; the others refused; then all answerable and all
    unanswerable together."""
    groups: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[(outcome.row["kind"], setting(outcome.row))].append(outcome)
    lines = ["kind             setting  n   answered   right  cites gold  in evidence   refused"]
    for kind in KINDS:
        lines += [_line(k, pair, group) for (k, pair), group in sorted(groups.items()) if k == kind]
    answerable = [o for o in outcomes if o.row["kind"] == "answerable"]
    lines.append(_line("all answerable", "", answerable))
    lines.append(_line("all unanswerable", "", [o for o in outcomes if o not in answerable]))
    return "\n".join(lines)


def _line(kind: str, pair: str, group: Sequence[Outcome]) -> str:
    def share(flags: list[bool]) -> str:
        return f"{100 * sum(flags) / len(group):6.1f}%" if group else "      -"

    head = f"{kind:16} {pair:6} {len(group):3}  "
    if kind == "all unanswerable" or kind in ("absent", "off-topic"):
        return head + " " * 44 + share([not o.answered for o in group])
    return (f"{head}{share([o.answered for o in group]):>9} {share([o.right for o in group]):>7} "
            f"{share([o.cites_gold for o in group]):>11} "
            f"{share([o.in_evidence for o in group]):>12}")  # fmt: skip


def misses(outcomes: Sequence[Outcome]) -> list[str]:
    """A line pair for each answerable question not answered right, each other one answered."""
    found = []
    for o in outcomes:
        if (not o.right) if o.row["kind"] == "answerable" else o.answered:
            gold = o.row.get("answer") or "(no answer)"
            found.append(f"  {o.row['id']}: {o.row['question']}  gold: {gold}\n      -> {o.text}")
    return found
