"""Whether the sentences of a model-written answer are carried by the sentences they cite,
checked in code after generation: each answer sentence must cite one of the sentences the model
was given, and every number (digits, Arabic-Indic digits, number words), every quote and every
name it states must occur in a sentence it cites (normalised; the cited sentences' article
titles, sources and dates count too). What fails is removed from the text and reported with its
reason. Names are found by their capitals, so only in Latin-script answers; a name written in
Latin letters is matched to an Arabic source by its consonants (assistant/data/names.txt) or the
English-Arabic lexicon, which is looser than a match in the same script."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.ask.draft import MARKER, Claim
from assistant.ask.numbers import numbers
from core.lexicon import EN_TO_AR, stem_match
from core.normalize import normalize, words
from core.types import SentenceRecord, Unsupported

NAMES_FILE = Path(__file__).resolve().parents[1] / "data" / "names.txt"
_SENTENCE_END = re.compile(r"(\S*)[.!?؟]\s+(?=[^\s\ue000a-z])")
_ABBREVIATION = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]?|[A-Z][A-Za-z]{0,2}")  # U.S, Col, Mr
_MARKS_AFTER_STOP = re.compile(r"\s*([.!?؟])\s*((?:\ue000[0-9]+\ue001\s*)+)")
_BULLET = re.compile(r"\s*(?:[-*•]|\d+[.)])?\s*")
_QUOTE = re.compile(r"«([^»]+)»|“([^”]+)”|\"([^\"]+)\"")
_NAME_WORD = re.compile(r"[A-Z][\w'’-]*|[a-z]+")
_ARABIC_PREFIXES = ("وال", "بال", "لل", "ال", "و", "ب", "ل")
MIN_QUOTE_WORDS = 2


@dataclass(frozen=True)
class NameRules:
    """The data of names.txt: words that are no names, lowercase words inside names, and the
    consonant classes of Latin and Arabic letters."""

    skip: frozenset[str]
    join: frozenset[str]
    aliases: dict[str, str]
    digraphs: dict[str, str]
    latin: dict[str, str]
    arabic: dict[str, str]


@functools.cache
def name_rules() -> NameRules:
    rows: dict[str, list[str]] = {}
    for line in NAMES_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            kind, values = line.split("\t", 1)
            rows.setdefault(kind, []).extend(values.split())

    def pairs(kind: str) -> dict[str, str]:
        return dict(item.split(":", 1) for item in rows[kind])

    return NameRules(
        frozenset(rows["skip"]), frozenset(rows["join"]), pairs("alias"), pairs("digraph"),
        pairs("latin"), pairs("arabic"),
    )  # fmt: skip


def screen(
    text: str, claims: dict[int, Claim], given: dict[str, SentenceRecord]
) -> tuple[str, list[Unsupported]]:
    """`text` (a draft's, with markers) without the sentences its cited sources do not carry,
    and those sentences (markers removed, each once) with the reason each failed."""
    kept_lines: list[str] = []
    removed: list[Unsupported] = []
    for line in text.split("\n"):
        bullet = _BULLET.match(line).group()  # type: ignore[union-attr]
        kept = []
        for statement in statements(line[len(bullet) :]):
            reason = why_unsupported(statement, claims, given)
            if reason is None:
                kept.append(statement)
            elif Unsupported(_plain(statement), reason) not in removed:  # once each
                removed.append(Unsupported(_plain(statement), reason))
        if kept:
            kept_lines.append(bullet + " ".join(kept))
    return "\n".join(kept_lines).strip(), removed


def statements(line: str) -> list[str]:
    """The sentences of one answer line. Markers written after a sentence's full stop are
    moved before it ("died. [2]" -> "died [2].") so that they stay with their sentence."""
    line = _MARKS_AFTER_STOP.sub(lambda m: f" {''.join(m.group(2).split())}{m.group(1)} ", line)
    cuts = [
        m.end() for m in _SENTENCE_END.finditer(line) if not _ABBREVIATION.fullmatch(m.group(1))
    ]
    parts = [line[a:b] for a, b in zip([0, *cuts], [*cuts, len(line)], strict=True)]
    return [part.strip() for part in parts if part.strip()]


def why_unsupported(
    statement: str, claims: dict[int, Claim], given: dict[str, SentenceRecord]
) -> str | None:
    """Why the cited sentences do not carry `statement`; None when they do (or when it
    states nothing: a lead-in such as "Figures by source:")."""
    marks = [int(m) for m in MARKER.findall(statement)]
    cited = [given[claims[n].sentence_id] for n in marks if n in claims]
    said = _plain(statement)
    if not cited:
        if not marks and _states_nothing(said):
            return None
        return "it cites none of the given sentences" if marks else "it cites no sentence"
    return _missing_number(said, cited) or _missing_quote(said, cited) or _missing_name(said, cited)


def _states_nothing(said: str) -> bool:
    return said.rstrip().endswith(":") and not numbers(said) and not names(said)


def _plain(statement: str) -> str:
    return re.sub(r"\s+([.,;:!?؟،])", r"\1", MARKER.sub("", statement)).strip()


def _material(cited: Sequence[SentenceRecord]) -> list[str]:
    """What a statement may rest on: its cited sentences, their titles, sources and dates."""
    return [text for r in cited for text in (r.sentence, r.title, r.source, r.date) if text]


def _missing_number(said: str, cited: Sequence[SentenceRecord]) -> str | None:
    available = set().union(*(numbers(text) for text in _material(cited)))
    missing = sorted(numbers(said) - available)
    if not missing:
        return None
    shown = ", ".join(f"{n:g}" for n in missing)
    return f"the number {shown} is in no sentence it cites"


def _missing_quote(said: str, cited: Sequence[SentenceRecord]) -> str | None:
    sentences = [normalize(r.sentence) for r in cited]
    for match in _QUOTE.finditer(said):
        quote = next(group for group in match.groups() if group)
        if len(words(quote)) >= MIN_QUOTE_WORDS and not any(
            normalize(quote).strip(" .،,") in s for s in sentences
        ):
            return f"the quote “{quote}” is in no sentence it cites"
    return None


def _missing_name(said: str, cited: Sequence[SentenceRecord]) -> str | None:
    material = _material(cited)
    latin = set(words(" ".join(t for t in material)))
    arabic = [w for t in material for w in words(t) if not w.isascii()]
    for name in names(_QUOTE.sub(" ", said)):
        if not _name_found(name, latin, arabic):
            return f"the name “{' '.join(name)}” is in no sentence it cites"
    return None


def names(text: str) -> list[tuple[str, ...]]:
    """The names of an English text: runs of capitalised words, with the lowercase words
    that join them ("Syrian Observatory for Human Rights"); a capitalised word opening a
    sentence counts only when another follows it."""
    rules = name_rules()
    found: list[tuple[str, ...]] = []
    for sentence in re.split(r"(?<=[.!?:;])\s+|\n|[-–•*]\s", text):
        run: list[str] = []
        for i, match in enumerate(_NAME_WORD.finditer(sentence)):
            word = match.group()
            if word[0].isupper() and word not in rules.skip:
                run.append(word)
                continue
            if run and word in rules.join:
                run.append(word)
                continue
            found += _named(run, opens=i - len(run) == 0, rules=rules)
            run = []
        found += _named(run, opens=len(run) == len(_NAME_WORD.findall(sentence)), rules=rules)
    return found


def _named(run: list[str], *, opens: bool, rules: NameRules) -> list[tuple[str, ...]]:
    while run and run[-1] in rules.join:
        run = run[:-1]
    if not run or (opens and len(run) == 1):
        return []
    return [tuple(run)]


def _name_found(name: Sequence[str], latin: set[str], arabic: Sequence[str]) -> bool:
    """Every word of `name` is in the Latin material; or, against Arabic material, at least
    half of its words sound like (same consonants) or translate to an Arabic word there."""
    rules = name_rules()
    parts = [w for w in name if w not in rules.join]
    keys = [words(w.rstrip("’'s") if w.endswith(("'s", "’s")) else w) for w in parts]
    if all(k and all(piece in latin for piece in k) for k in keys):
        return True
    if not arabic:
        return False
    heard = sum(_sounds_like(w, arabic) for w in parts)
    return heard * 2 >= len(parts)


def _sounds_like(word: str, arabic: Sequence[str]) -> bool:
    key = latin_consonants(word)
    alias = name_rules().aliases.get(word.lower())
    stems = (*EN_TO_AR.get(word.lower(), ()), *((normalize(alias),) if alias else ()))
    for candidate in arabic:
        if stems and any(stem_match(candidate, stem) for stem in stems):
            return True
        if len(key) >= 2 and any(_close(key, k) for k in arabic_consonants(candidate)):
            return True
    return False


def _close(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return len(short) >= 2 and long.startswith(short)


def latin_consonants(word: str) -> str:
    """The consonant classes of a Latin word ("Baghouz" -> "bgs"); doubled letters once."""
    rules = name_rules()
    text = _squeeze(word.lower())
    for digraph, value in rules.digraphs.items():
        text = text.replace(digraph, value)
    return "".join(rules.latin.get(c, "") for c in text)


def arabic_consonants(word: str) -> set[str]:
    """The consonant classes of a normalised Arabic word, with and without a leading article
    or conjunction ("الباغوز" -> {"bgs", "lbgs"})."""
    rules = name_rules()
    forms = {word} | {
        word[len(p) :] for p in _ARABIC_PREFIXES if word.startswith(p) and len(word) > len(p) + 2
    }
    return {"".join(rules.arabic.get(c, "") for c in form) for form in forms}


def _squeeze(text: str) -> str:
    return re.sub(r"(.)\1+", r"\1", text)
