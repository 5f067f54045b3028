"""Normalisation for matching: Arabic forms, diacritics, tatweel, digits; Latin case."""

from __future__ import annotations

import pytest

from core.normalize import normalize, words


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("قُتِلَ", "قتل"),
        ("مدنيـــين", "مدنيين"),
        ("أحمد إلى آخر ٱلله", "احمد الي اخر الله"),
        ("مدرسة", "مدرسه"),
        ("مسؤول قائد", "مسءول قاءد"),
        ("٥٤ و٢٨ ۱۲", "54 و28 12"),
        ("The  SYRIAN\nObservatory", "the syrian observatory"),
        ("ﻻ", "لا"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_words_drop_punctuation_and_match_across_forms() -> None:
    assert words("قُتِلَ 54 شخصاً، بينهم ٢٨ مدنياً.") == ["قتل", "54", "شخصا", "بينهم", "28", "مدنيا"]
    assert words("إنّ") == words("ان")
