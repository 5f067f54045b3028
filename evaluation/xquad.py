"""XQuAD-R as an evaluation set: articles to ingest and questions with their gold answers.

XQuAD-R (https://github.com/google-research-datasets/lareqa) is XQuAD with sentence breaks:
48 Wikipedia articles, 240 paragraphs, 1190 questions, fully parallel across languages. Each
article becomes one Article (its paragraphs in order, joined by a newline, so character offsets
stay exact) and each question a Gold item pointing into it: the answer's span in the article,
its paragraph, and the answer text. A question asked in one language can be scored against the
articles of another (English questions over Arabic articles) through the shared question ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant import Article, make_article

SOURCE = "XQuAD-R"


@dataclass(frozen=True)
class Gold:
    """One question and where its answer is: `start`/`end` are offsets into the article text."""

    qid: str
    question: str
    language: str
    article_id: str
    paragraph: int
    start: int
    end: int
    answer: str


@dataclass(frozen=True)
class Corpus:
    """One language of XQuAD-R: its articles, paragraph spans and questions."""

    language: str
    articles: list[Article]
    paragraphs: dict[str, list[tuple[int, int]]]
    questions: list[Gold]

    def paragraph_of(self, article_id: str, offset: int) -> int:
        """Index of the paragraph holding `offset` in the article (-1 when none does)."""
        for i, (start, end) in enumerate(self.paragraphs.get(article_id, [])):
            if start <= offset <= end:
                return i
        return -1


def load_corpus(folder: Path, language: str, limit: int | None = None) -> Corpus:
    """Read `<folder>/<language>.json`; `limit` keeps only the first articles."""
    path = folder / f"{language}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: pass the XQuAD-R folder (holding ar.json and en.json) as --xquad"
        )
    data = json.loads(path.read_text(encoding="utf-8"))["data"][:limit]
    articles, paragraphs, questions = [], {}, []
    for number, raw in enumerate(data):
        article, spans, golds = _article(raw, number, language)
        articles.append(article)
        paragraphs[article.id] = spans
        questions.extend(golds)
    return Corpus(language, articles, paragraphs, questions)


def _article(raw: dict[str, Any], number: int, language: str) -> tuple[Article, list, list[Gold]]:
    article_id = f"xquad-{language}-{number:02d}"
    spans: list[tuple[int, int]] = []
    golds: list[Gold] = []
    offset = 0
    for p, paragraph in enumerate(raw["paragraphs"]):
        context = paragraph["context"]
        spans.append((offset, offset + len(context)))
        for qa in paragraph["qas"]:
            answer = qa["answers"][0]
            start = offset + answer["answer_start"]
            golds.append(
                Gold(
                    qid=qa["id"],
                    question=qa["question"],
                    language=language,
                    article_id=article_id,
                    paragraph=p,
                    start=start,
                    end=start + len(answer["text"]),
                    answer=answer["text"],
                )
            )
        offset += len(context) + 1
    text = "\n".join(paragraph["context"] for paragraph in raw["paragraphs"])
    title = str(raw.get("title") or f"article {number}").replace("_", " ")
    article = make_article(
        text, title=title, article_id=article_id, source=SOURCE, language=language
    )
    return article, spans, golds


def check_answers(corpus: Corpus) -> list[str]:
    """Questions whose answer text is not where its offsets say (should be none)."""
    texts = {a.id: a.text for a in corpus.articles}
    return [g.qid for g in corpus.questions if texts[g.article_id][g.start : g.end] != g.answer]
