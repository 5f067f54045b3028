"""The hand-written news questions ship well formed, and answers to them are judged right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.types import Answer, Citation, Evidence
from evaluation.news_check import KINDS, judge, load_questions, table

SENTENCE = "قالت الشرطة إن 20 شخصا على الأقل قتلوا."
QUESTION = "كم شخصاً قتلوا؟"
ROW: dict[str, Any] = {
    "id": "ar-1",
    "kind": "answerable",
    "question": QUESTION,
    "language": "ar",
    "article": {"set": "saudinewsnet", "ref": "http://example.com/1"},
    "article_language": "ar",
    "answer": "20 شخصا",
    "sentence": SENTENCE,
}


def _answer(text: str, short: str = "", answered: bool = True, article: str = "a1") -> Answer:
    fields: dict[str, Any] = {
        "id": "s1", "article_id": article, "title": "t", "source": "s", "url": "", "date": "",
        "language": "ar", "sentence_index": 0, "start": 0, "end": len(SENTENCE),
        "sentence": SENTENCE,
    }  # fmt: skip
    cited, shown = Citation(**fields, number=1), Evidence(**fields, cited=True)
    return Answer(QUESTION, text, answered, [cited], [shown], short_answer=short)


def test_the_shipped_questions_are_well_formed() -> None:
    rows = load_questions()
    assert {row["kind"] for row in rows} == set(KINDS)
    assert sum(row["kind"] == "answerable" for row in rows) >= 70
    assert {row["language"] for row in rows} == {"ar", "en"}


def test_a_row_whose_answer_is_not_in_its_sentence_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text(json.dumps({**ROW, "answer": "30 شخصا"}, ensure_ascii=False), "utf-8")
    with pytest.raises(ValueError, match=r"'ar-1'.*30 شخصا"):
        load_questions(bad)


@pytest.mark.parametrize(
    ("text", "short", "right"),
    [
        ("بحسب الشرطة: «20 شخصا» [1]", "", True),  # the gold in the text
        ("بحسب الشرطة: «20» [1]", "20", True),  # a short answer close to the gold
        ("بحسب الشرطة: «الشرطة» [1]", "الشرطة", False),
    ],
)
def test_answers_are_judged_by_the_gold(text: str, short: str, right: bool) -> None:
    outcome = judge(ROW, _answer(text, short), "a1")
    assert outcome.right is right
    assert outcome.cites_gold


def test_a_refusal_is_never_right_and_another_article_is_not_the_gold() -> None:
    assert not judge(ROW, _answer("لا تذكر المقالات ذلك", answered=False), "a1").right
    assert not judge(ROW, _answer("«20 شخصا» [1]", article="a2"), "a1").cites_gold


def test_the_table_counts_refusals_of_unanswerable_questions() -> None:
    off = {**ROW, "id": "off", "kind": "off-topic", "answer": None, "article": None}
    outcomes = [judge(ROW, _answer("«20 شخصا» [1]"), "a1"), judge(off, _answer("x"), "")]
    printed = table(outcomes)
    assert "answerable       ar>ar    1     100.0%  100.0%      100.0%       100.0%" in printed
    assert printed.splitlines()[-1].endswith("0.0%")
