"""The actor of the question's action in a sentence: "نفذها على الأرجح التحالف الذي تقوده
الولايات المتحدة", "likely carried out by militants". Everything returned is a verbatim span
of the sentence; when nothing is found reliably, nothing is returned."""

from __future__ import annotations

from collections.abc import Sequence

from core.lexicon import AR_HEDGES, EN_HEDGES, EN_SAY_VERBS, stem_match
from core.normalize import normalize
from core.spans import Span, Token, clause_break, matches, span, tokens


def actor(
    sentence: str,
    verb_stems: Sequence[str],
    object_stems: Sequence[str],
    exact_verbs: Sequence[str] = (),
) -> Span | None:
    """The verb of the question with its hedges and its subject, e.g. "نفذها على الأرجح التحالف
    الذي تقوده الولايات المتحدة"; None when the verb is not in the sentence. `exact_verbs` are
    the Arabic verb's stems with alef maqsura kept: the verb must match those too, so that بنى
    ("built") is never found in بني ("Banu")."""
    toks = tokens(sentence)
    for i, tok in enumerate(toks):
        if not _is_verb(sentence, tok, verb_stems, exact_verbs):
            continue
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


def _is_verb(sentence: str, tok: Token, stems: Sequence[str], exact: Sequence[str]) -> bool:
    if not matches(tok, stems) or sentence[tok.start - 1 : tok.start] == "-":
        return False  # "US-led" is no verb
    if not exact or tok.text.isascii():
        return True
    unfolded = normalize(tok.text, fold_ya=False)
    return any(stem_match(unfolded, stem) for stem in exact)


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
        tok.norm not in _EN_PARTICLES and matches(tok, object_stems) for tok in toks
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
        return span(sentence, toks[first].start, toks[end].end)
    if first > 0 and toks[first - 1].norm in _EN_BE:
        return None  # "the strike was carried out": the subject is what was acted on
    start = _english_subject_start(sentence, toks, first)
    if start is None:
        return None
    end = _object_end(sentence, toks, j, object_stems)
    return span(sentence, toks[start].start, toks[end].end)


def _english_phrase_end(sentence: str, toks: list[Token], j: int) -> int:
    """The last token of the noun phrase starting at `j`: up to a clause stop, a preposition
    or 8 words."""
    end = j
    while end + 1 < len(toks) and end + 1 - j < 8:
        if clause_break(sentence, toks, end + 1) or toks[end + 1].norm in _EN_PREPOSITIONS:
            break
        end += 1
    return end


def _english_subject_start(sentence: str, toks: list[Token], i: int) -> int | None:
    """The first token of the subject ending right before `i`: back to a clause stop, "that",
    a say-verb or the sentence start; None when there is none or it runs over 8 words."""
    start = i
    while start > 0:
        if clause_break(sentence, toks, start) or toks[start - 1].norm in _EN_CLAUSE_START:
            break
        start -= 1
    return start if 0 < i - start <= 8 else None


def _object_end(sentence: str, toks: list[Token], j: int, object_stems: Sequence[str]) -> int:
    """The verb's phrase end: through the question's object when it comes within four words
    (same clause), else the verb (with its particle) alone."""
    for k in range(j, min(j + 4, len(toks))):
        if k > j and clause_break(sentence, toks, k):
            break
        if matches(toks[k], object_stems):
            while k + 1 < len(toks) and matches(toks[k + 1], object_stems):
                k += 1  # "Super Bowl XLIX"
            return k
    return j - 1


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
    while end < len(toks) and not matches(toks[end], object_stems):
        if end > j and toks[end].norm in _PREPOSITIONS:
            break
        if end > j and clause_break(sentence, toks, end):
            break
        end += 1
    if end == j or end - j > 14:
        return None
    return span(sentence, toks[i].start, _close_quote(sentence, toks[end - 1].end))


def _phrase_before(sentence: str, toks: list[Token], i: int) -> Span | None:
    j = i - 1
    while j >= 0 and _is_hedge(toks, j):
        j -= 1
    start = j
    while start > 0 and toks[start - 1].norm not in {"ان", "انه", "بان"}:
        if clause_break(sentence, toks, start):
            break
        start -= 1
    if j < 0 or i - start > 12:
        return None
    return span(sentence, toks[start].start, toks[i].end)


def _is_hedge(toks: list[Token], j: int) -> bool:
    two = f"{toks[j].norm} {toks[j + 1].norm}" if j + 1 < len(toks) else ""
    return toks[j].norm in AR_HEDGES or two in AR_HEDGES or toks[j].norm in {"الارجح"}


def _close_quote(sentence: str, end: int) -> int:
    opened = sentence[:end].count('"') % 2 == 1
    return end + 1 if opened and end < len(sentence) and sentence[end] == '"' else end
