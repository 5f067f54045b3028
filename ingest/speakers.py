"""Who each sentence of an article reports ("local sources", "the Observatory"), read at
ingestion in the article's context and stored with every sentence: "وأضاف" ("he added")
inherits the previous sentence's speaker. Every speaker is a verbatim span of its sentence."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.lexicon import AR_ACCORDING, AR_SAY_VERBS, EN_SAY_VERBS
from core.normalize import normalize
from core.spans import CLAUSE_STOP, Token, tokens


def speakers(sentences: Sequence[str]) -> list[str]:
    """The speaker of each sentence of an article, in order (see `speaker`)."""
    found: list[str] = []
    named = ""
    for sentence in sentences:
        found.append(speaker(sentence, found[-1] if found else "", named))
        named = found[-1] or named
    return found


def speaker(sentence: str, previous: str = "", named: str = "") -> str:
    """Who the sentence reports ("local sources", "the Observatory"), verbatim; "" if nobody.
    A sentence whose say-verb has no subject of its own ("وأضاف", "he added") inherits
    `previous`, the speaker of the sentence before it. A pronoun is never a speaker: "He said"
    is `named`, the last speaker named in the article, and "His lawyer X said" is "lawyer X"."""
    toks = tokens(sentence)
    for i, tok in enumerate(toks[:12]):
        verb = tok.norm[1:] if tok.norm[:1] in "وف" and tok.norm[1:] in AR_SAY_VERBS else tok.norm
        if verb in AR_SAY_VERBS:
            said = _subject_after(sentence, toks, i) or _subject_before(sentence, toks, i)
            if said:
                return said
            return previous
    return _according_to(sentence) or _unpronouned(_english_speaker(sentence), named)


_PRONOUNS = frozenset("he she they it we i you him her them us".split())
_POSSESSIVE = re.compile(r"^(?:his|her|their|its|our|my|your)\s+", re.IGNORECASE)


def _unpronouned(who: str, named: str) -> str:
    """`who` without a pronoun: a pronoun alone is `named`, a leading possessive goes."""
    if who.casefold() in _PRONOUNS:
        return named
    return _POSSESSIVE.sub("", who)


_NO_QUOTES = str.maketrans("", "", '"«»“”')
_NOT_SUBJECT = frozenset(normalize(w) for w in "في على من عن إلى الى قائلا قائلاً اليوم أمس".split())
_THAT = re.compile(r"\s(إن|أن|ان|بأن|بان)ّ?(ه|ها|هم)?(\s|$)")


def _subject_after(sentence: str, toks: list[Token], i: int) -> str:
    start = toks[i].end
    stop = CLAUSE_STOP.search(sentence, start)
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
        stop = CLAUSE_STOP.search(rest)
        phrase = rest[: stop.start() if stop else len(rest)].strip()
        phrase = re.sub(r"^لـ?\s*", "", phrase).translate(_NO_QUOTES).strip()
        return phrase if 0 < len(phrase.split()) <= 8 else ""
    return ""


_AUXILIARY = r"(?:(?:has|have|had) )?(?:also )?"  # "Microsoft has said", "it also said"


def _english_speaker(sentence: str) -> str:
    match = re.search(r"\baccording to ([^,.;]+)", sentence, re.IGNORECASE)
    if match:
        return match.group(1).strip()
    verbs = f"{_AUXILIARY}(?:{'|'.join(sorted(EN_SAY_VERBS))})"
    trailing = re.search(rf", ((?:the |a )?[\w'’-]+(?: [\w'’-]+){{0,5}}?) {verbs}\W*$", sentence)
    if trailing:
        return trailing.group(1).strip()
    subject = r"((?:The )?[A-Z][\w'’-]*(?: [\w'’-]+){0,6}?)"
    leading = re.search(rf"^{subject} {verbs}\b", sentence)
    return leading.group(1).strip() if leading else ""
