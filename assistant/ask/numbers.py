"""Numbers stated in a text, as values: digits (ASCII, Arabic-Indic, Persian; "1,200", "2.5")
and number words in Arabic and English (ثمانية = 8, أربعة وخمسون = 54, fifty-four = 54,
"3 million"), the words read from assistant/data/number_words.txt. What it leaves out:
ordinals, fractions, and vague quantities (dozens, عشرات, آلاف alone), which state no number."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from core.normalize import normalize

WORDS_FILE = Path(__file__).resolve().parents[1] / "data" / "number_words.txt"
_TOKEN = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W\d_]+")
_CONNECTORS = frozenset({"and", "و"})


@dataclass(frozen=True)
class NumberWord:
    """A number word's value and how it combines: "add" (units, tens), "times" (hundred),
    "scale" (thousand, million); `alone` is False for plurals that need a number before."""

    value: float
    kind: str
    alone: bool = True


@functools.cache
def number_words() -> dict[str, NumberWord]:
    """The number words of the data file, keyed by their normalised form."""
    table = {}
    for line in WORDS_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        word, value, kind = line.split("\t")
        table[normalize(word)] = NumberWord(int(value), kind.rstrip("*"), not kind.endswith("*"))
    return table


def numbers(text: str) -> set[float]:
    """Every number `text` states, as a value."""
    found: set[float] = set()
    group: list[NumberWord] = []
    for token in _TOKEN.findall(normalize(text).replace("-", " ")):
        word = None if token[0].isdigit() else _number_word(token)
        if token[0].isdigit():
            _close(group, found)
            *alone, last = _digits(token)
            found.update(alone)
            group = [NumberWord(last, "add")]  # "3 million" goes on
        elif word is not None:
            group.append(word)
        elif not (token in _CONNECTORS and group):
            _close(group, found)
            group = []
    _close(group, found)
    return found


def _number_word(token: str) -> NumberWord | None:
    """The number word `token` is, also with a leading و ("and") or ال ("the")."""
    table = number_words()
    for prefix in ("", "و", "ال", "وال"):
        if token.startswith(prefix) and token[len(prefix) :] in table:
            return table[token[len(prefix) :]]
    return None


def _digits(token: str) -> list[float]:
    """ "1,200" -> [1200], "2.5" -> [2.5], "3,4" (a list) -> [3, 4]."""
    head, *groups = token.split(",")
    if (
        groups
        and all(len(g) == 3 and "." not in g[:-1] for g in groups[:-1])
        and all(len(g.split(".")[0]) == 3 for g in groups)
    ):
        return [float(head + "".join(groups))]
    return [float(part) for part in token.split(",") if part]


def _close(group: list[NumberWord], found: set[float]) -> None:
    """Add the value of a run of number words (and a figure before them) to `found`."""
    total = current = 0.0
    stated = False
    for word in group:
        if word.kind == "add":
            current += word.value
            stated = True
        elif stated or word.alone:
            multiple = (current or 1.0) * word.value
            total, current = (total + multiple, 0.0) if word.kind == "scale" else (total, multiple)
            stated = True
    if stated:
        found.add(total + current)
