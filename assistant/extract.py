"""Point out the part of a sentence that answers a question: figures and what they count, the
actor of an action, who said it. Everything returned is a span of the sentence, verbatim; when
nothing is found reliably, nothing is returned and the answer quotes the whole sentence."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.lexicon import (
    AR_ACCORDING,
    AR_HEDGES,
    AR_NUMBER_WORDS,
    AR_QUALIFIERS,
    AR_SAY_VERBS,
    EN_HEDGES,
    EN_NUMBER_WORDS,
    EN_QUALIFIERS,
    EN_SAY_VERBS,
    stem_match,
)
from ingest.normalize import normalize

_TOKEN = re.compile(r"[\w\u0640\u064B-\u065F\u0670]+(?:[.,٫][0-9٠-٩]+)?")
_DIGITS = re.compile(r"^[0-9٠-٩]+(?:[.,٫][0-9٠-٩]+)?$")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")
_CLAUSE_STOP = re.compile(r"[،,.;؛:!?؟()]")


@dataclass(frozen=True)
class Span:
    """`sentence[start:end] == text`."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str
    norm: str


def tokens(sentence: str) -> list[Token]:
    return [
        Token(m.start(), m.end(), m.group(), normalize(m.group()))
        for m in _TOKEN.finditer(sentence)
    ]


def _span(sentence: str, start: int, end: int) -> Span:
    return Span(start, end, sentence[start:end])


def _matches(token: Token, stems: Sequence[str]) -> bool:
    return any(stem_match(token.norm, stem) for stem in stems)


# -- figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A number in a sentence with the noun it counts: "أكثر من 30 شخصاً", "28 مدنياً"."""

    span: Span
    number: Span
    counted: str


def figures(sentence: str) -> list[Figure]:
    """Every count-like number in `sentence` (years excluded), with qualifier and noun."""
    toks = tokens(sentence)
    found = []
    for i, tok in enumerate(toks):
        if not _is_number(tok) or _YEAR.match(tok.norm):
            continue
        start = _qualifier_start(sentence, toks, i)
        end, counted = _counted_noun(toks, i)
        number_start = tok.start + (
            1 if tok.norm.startswith("و") and tok.norm[1:2].isdigit() else 0
        )
        start = max(start, number_start) if start == tok.start else start
        found.append(
            Figure(_span(sentence, start, end), _span(sentence, number_start, tok.end), counted)
        )
    return found


def _is_number(tok: Token) -> bool:
    bare = tok.norm[1:] if tok.norm.startswith("و") and len(tok.norm) > 1 else tok.norm
    return bool(_DIGITS.match(bare)) or bare in AR_NUMBER_WORDS or tok.norm in EN_NUMBER_WORDS


def _qualifier_start(sentence: str, toks: list[Token], i: int) -> int:
    before = normalize(sentence[max(0, toks[i].start - 20) : toks[i].start])
    for qualifier in (*AR_QUALIFIERS, *EN_QUALIFIERS):
        if before.endswith(qualifier):
            raw_start = max(0, toks[i].start - 20)
            words_back = len(qualifier.split())
            return toks[max(0, i - words_back)].start if i >= words_back else raw_start
    return toks[i].start


def _counted_noun(toks: list[Token], i: int) -> tuple[int, str]:
    if i + 1 < len(toks) and toks[i + 1].start - toks[i].end <= 2:
        nxt = toks[i + 1]
        if not _is_number(nxt):
            return nxt.end, nxt.norm
    return toks[i].end, ""


NEAR_TERM = 3  # words between a figure and a question term for the figure to be about it


def relevant_figures(sentence: str, stems: Sequence[str]) -> list[Figure]:
    """Figures whose counted noun matches the question's terms; failing that, figures within
    NEAR_TERM words of one of the terms, in the same clause ("30 people were killed" for "how
    many died?")."""
    all_figures = [f for f in figures(sentence) if f.counted]
    direct = [f for f in all_figures if any(stem_match(f.counted, s) for s in stems)]
    if direct:
        return direct
    terms = [tok for tok in tokens(sentence) if _matches(tok, stems)]
    return [f for f in all_figures if any(_near(sentence, f.span, term) for term in terms)]


def _near(sentence: str, span: Span, term: Token) -> bool:
    start, end = (span.end, term.start) if span.end <= term.start else (term.end, span.start)
    between = sentence[start:end] if start <= end else ""
    return len(between.split()) <= NEAR_TERM and not _CLAUSE_STOP.search(between)


_PAST = re.compile(
    r"(?:أواخر |أوائل |منتصف |في )?(?:يناير|فبراير|مارس|أبريل|مايو|يونيو|يوليو|أغسطس|سبتمبر|"
    r"أكتوبر|نوفمبر|ديسمبر|كانون|شباط|آذار|نيسان|أيار|حزيران|تموز|آب|أيلول|تشرين)"
    r"(?:/\w+)?(?: (?:الماضي|الفائت|من العام الماضي))?|"
    r"\b(?:(?:early|late|mid|in) )?(?:January|February|March|April|May|June|July|August|"
    r"September|October|November|December)(?: \d{4})?\b|\blast (?:week|month|year)\b"
)


def past_time(sentence: str) -> Span | None:
    """A month or "last week/month/year" phrase in the sentence, verbatim: said with a figure
    so that a figure about an earlier event is not read as one about this one."""
    match = _PAST.search(sentence)
    return _span(sentence, match.start(), match.end()) if match else None


# -- speakers ------------------------------------------------------------------------------


def speakers(sentences: Sequence[str]) -> list[str]:
    """The speaker of each sentence of an article, in order (see `speaker`)."""
    found: list[str] = []
    for sentence in sentences:
        found.append(speaker(sentence, found[-1] if found else ""))
    return found


def speaker(sentence: str, previous: str = "") -> str:
    """Who the sentence reports ("local sources", "the Observatory"), verbatim; "" if nobody.
    A sentence whose say-verb has no subject of its own ("He added ...") inherits `previous`,
    the speaker of the sentence before it."""
    toks = tokens(sentence)
    for i, tok in enumerate(toks[:12]):
        verb = tok.norm[1:] if tok.norm[:1] in "وف" and tok.norm[1:] in AR_SAY_VERBS else tok.norm
        if verb in AR_SAY_VERBS:
            said = _subject_after(sentence, toks, i) or _subject_before(sentence, toks, i)
            if said:
                return said
            return previous
    return _according_to(sentence) or _english_speaker(sentence)


_NO_QUOTES = str.maketrans("", "", '"«»“”')
_NOT_SUBJECT = frozenset(normalize(w) for w in "في على من عن إلى الى قائلا قائلاً اليوم أمس".split())
_THAT = re.compile(r"\s(إن|أن|ان|بأن|بان)ّ?(ه|ها|هم)?(\s|$)")


def _subject_after(sentence: str, toks: list[Token], i: int) -> str:
    start = toks[i].end
    stop = _CLAUSE_STOP.search(sentence, start)
    end = stop.start() if stop else len(sentence)
    cut = _THAT.search(sentence, start - 1, end)
    if cut:
        end = cut.start()
    text = sentence[start:end].strip().strip('"«»“”').strip()
    if not text or normalize(text.split()[0]) in _NOT_SUBJECT:
        return ""
    return text if len(text.split()) <= 10 else ""


def _subject_before(sentence: str, toks: list[Token], i: int) -> str:
    follows = _THAT.match(sentence, toks[i].end)
    if not follows or i == 0:
        return ""
    first = max(0, i - 4)
    while first < i and toks[first].norm in {"وكانت", "وكان", "كانت", "كان", "قد", "وقد"}:
        first += 1
    text = sentence[toks[first].start : toks[i - 1].end].strip().strip('"«»“”').strip()
    return text if first < i else ""


def _according_to(sentence: str) -> str:
    """The source after "وفقاً لـ / بحسب / حسب" ("according to"), verbatim."""
    for match in re.finditer(r"\S+", sentence):
        if normalize(match.group()) not in AR_ACCORDING:
            continue
        rest = sentence[match.end() :]
        stop = _CLAUSE_STOP.search(rest)
        phrase = rest[: stop.start() if stop else len(rest)].strip()
        phrase = re.sub(r"^لـ?\s*", "", phrase).translate(_NO_QUOTES).strip()
        return phrase if 0 < len(phrase.split()) <= 8 else ""
    return ""


def _english_speaker(sentence: str) -> str:
    match = re.search(r"\baccording to ([^,.;]+)", sentence, re.IGNORECASE)
    if match:
        return match.group(1).strip()
    verbs = "|".join(sorted(EN_SAY_VERBS))
    trailing = re.search(rf", ((?:the |a )?[\w'’-]+(?: [\w'’-]+){{0,5}}) (?:{verbs})\W*$", sentence)
    if trailing:
        return trailing.group(1).strip()
    subject = r"((?:The )?[A-Z][\w'’-]*(?: [\w'’-]+){0,6})"
    leading = re.search(rf"^{subject} (?:{verbs})\b", sentence)
    return leading.group(1).strip() if leading else ""


# -- actors --------------------------------------------------------------------------------


def actor(sentence: str, verb_stems: Sequence[str], object_stems: Sequence[str]) -> Span | None:
    """The verb of the question with its hedges and its subject, e.g. "نفذها على الأرجح التحالف
    الذي تقوده الولايات المتحدة"; None when the verb is not in the sentence."""
    toks = tokens(sentence)
    for i, tok in enumerate(toks):
        if not _matches(tok, verb_stems) or sentence[tok.start - 1 : tok.start] == "-":
            continue  # "US-led" is no verb
        if tok.text.isascii():
            found = _english_actor(sentence, toks, i, object_stems)
        elif _subject_first(toks, i):
            found = _phrase_before(sentence, toks, i) or _phrase_after(
                sentence, toks, i, object_stems
            )
        else:
            found = _phrase_after(sentence, toks, i, object_stems) or _phrase_before(
                sentence, toks, i
            )
        if found is not None:
            return found
    return None


_EN_PARTICLES = frozenset("out up off down".split())
_EN_BE = frozenset("is are was were be been being".split())
_EN_PREPOSITIONS = frozenset("in on at near from with to for of during after before since".split())
_EN_CLAUSE_START = frozenset("that which who and but".split()) | EN_SAY_VERBS


def _english_actor(
    sentence: str, toks: list[Token], i: int, object_stems: Sequence[str]
) -> Span | None:
    """The actor in an English sentence: "likely carried out by the US-led coalition" (passive:
    the by-phrase) or "The coalition carried out the strike" (active: the subject before the
    verb, with the question's object when it follows closely). None for a passive without
    "by", no subject, or a sentence without the question's object (the verb about something
    else)."""
    if object_stems and not any(
        tok.norm not in _EN_PARTICLES and _matches(tok, object_stems) for tok in toks
    ):
        return None
    first = i
    while first > 0 and toks[first - 1].norm in EN_HEDGES:
        first -= 1
    j = i + 1
    while j < len(toks) and toks[j].norm in _EN_PARTICLES:
        j += 1
    if j + 1 < len(toks) and toks[j].norm == "by":
        end = _english_phrase_end(sentence, toks, j + 1)
        return _span(sentence, toks[first].start, toks[end].end)
    if first > 0 and toks[first - 1].norm in _EN_BE:
        return None  # "the strike was carried out": the subject is what was acted on
    start = _english_subject_start(sentence, toks, first)
    if start is None:
        return None
    end = _object_end(sentence, toks, j, object_stems)
    return _span(sentence, toks[start].start, toks[end].end)


def _english_phrase_end(sentence: str, toks: list[Token], j: int) -> int:
    """The last token of the noun phrase starting at `j`: up to a clause stop, a preposition
    or 8 words."""
    end = j
    while end + 1 < len(toks) and end + 1 - j < 8:
        if _clause_break(sentence, toks, end + 1) or toks[end + 1].norm in _EN_PREPOSITIONS:
            break
        end += 1
    return end


def _english_subject_start(sentence: str, toks: list[Token], i: int) -> int | None:
    """The first token of the subject ending right before `i`: back to a clause stop, "that",
    a say-verb or the sentence start; None when there is none or it runs over 8 words."""
    start = i
    while start > 0:
        if _clause_break(sentence, toks, start) or toks[start - 1].norm in _EN_CLAUSE_START:
            break
        start -= 1
    return start if 0 < i - start <= 8 else None


def _object_end(sentence: str, toks: list[Token], j: int, object_stems: Sequence[str]) -> int:
    """The verb's phrase end: through the question's object when it comes within four words
    (same clause), else the verb (with its particle) alone."""
    for k in range(j, min(j + 4, len(toks))):
        if k > j and _clause_break(sentence, toks, k):
            break
        if _matches(toks[k], object_stems):
            while k + 1 < len(toks) and _matches(toks[k + 1], object_stems):
                k += 1  # "Super Bowl XLIX"
            return k
    return j - 1


def _clause_break(sentence: str, toks: list[Token], k: int) -> bool:
    """Is there clause punctuation between token k - 1 and token k?"""
    return bool(_CLAUSE_STOP.search(sentence[toks[k - 1].end : toks[k].start]))


_THAT_WORDS = frozenset({"ان", "انه", "بان"})
_OBJECT_SUFFIXES = ("ها", "هم", "هما", "ه")
_PREPOSITIONS = frozenset(normalize(w) for w in "على في ضد عند إلى الى من عن".split())


def _subject_first(toks: list[Token], i: int) -> bool:
    """Arabic word order: "إنّ X نفذت" puts the subject first, unless the verb carries an object
    pronoun ("الضربة نفذها X": the noun before is the object)."""
    if toks[i].norm.endswith(_OBJECT_SUFFIXES) and len(toks[i].norm) > 4:
        return False
    return any(t.norm in _THAT_WORDS for t in toks[max(0, i - 8) : max(0, i - 1)])


def _phrase_after(
    sentence: str, toks: list[Token], i: int, object_stems: Sequence[str]
) -> Span | None:
    j = i + 1
    while j < len(toks) and _is_hedge(toks, j):
        j += 1
    end = j
    while end < len(toks) and not _matches(toks[end], object_stems):
        if end > j and toks[end].norm in _PREPOSITIONS:
            break
        if end > j and _clause_break(sentence, toks, end):
            break
        end += 1
    if end == j or end - j > 14:
        return None
    return _span(sentence, toks[i].start, _close_quote(sentence, toks[end - 1].end))


def _phrase_before(sentence: str, toks: list[Token], i: int) -> Span | None:
    j = i - 1
    while j >= 0 and _is_hedge(toks, j):
        j -= 1
    start = j
    while start > 0 and toks[start - 1].norm not in {"ان", "انه", "بان"}:
        if _clause_break(sentence, toks, start):
            break
        start -= 1
    if j < 0 or i - start > 12:
        return None
    return _span(sentence, toks[start].start, toks[i].end)


def _is_hedge(toks: list[Token], j: int) -> bool:
    two = f"{toks[j].norm} {toks[j + 1].norm}" if j + 1 < len(toks) else ""
    return toks[j].norm in AR_HEDGES or two in AR_HEDGES or toks[j].norm in {"الارجح"}


def _close_quote(sentence: str, end: int) -> int:
    opened = sentence[:end].count('"') % 2 == 1
    return end + 1 if opened and end < len(sentence) and sentence[end] == '"' else end
