"""The extractive answerer: choose evidence sentences, point out the part that answers, keep
who said it, give every source's figure when they differ, and write the fixed words in the
question's language. Quotes stay verbatim in the article's language; nothing is said that is
not quoted."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.ask.actors import actor
from assistant.ask.draft import Claim, Draft, marker
from assistant.ask.figures import (
    Figure,
    figures,
    nearest_figure,
    past_time,
    relevant_figures,
    without_references,
)
from assistant.ask.question import Question, asks_for_actor, subject_names
from assistant.ask.select import Selection, terms_held
from core.lexicon import expand_en, stem_match
from core.spans import PIECES, tokens
from core.types import SentenceRecord

PHRASES = {
    "en": {
        "not_found": "The articles do not say. The nearest evidence:",
        "differ": "Figures by source:",
        "several": "The articles say:",
        "according": "According to {who}: “{part}” {n}",
        "reports": "{who} reports: “{part}” {n}",
        "nearest": "- “{part}” {n}",
    },
    "ar": {
        "not_found": "لا تذكر المقالات ذلك. أقرب ما وُجد:",
        "differ": "الأرقام بحسب كل مصدر:",
        "several": "تقول المقالات:",
        "according": "بحسب {who}: «{part}» {n}",
        "reports": "ورد في {who}: «{part}» {n}",
        "nearest": "- «{part}» {n}",
    },
}
MAX_CITATIONS = 3
CLAIM_POOL = 5  # the best sentences a claim may come from


class ExtractiveAnswerer:
    """Answers by quoting the evidence. Where the reader read the best sentences, the span it
    points out best with at least `min_has_answer` (the short answer), and for "how many" the
    figures it points out in other sources' sentences, then the figures the rules find for the
    voices it did not point at; else the rules: a figure and what it counts for "how many", the
    actor for "who did", else the best sentence whole."""

    mode = "extractive"

    def __init__(self, min_has_answer: float = 0.5) -> None:
        self.min_has_answer = min_has_answer

    def draft(self, question: Question, selection: Selection, k: int) -> Draft:
        ranked = selection.ranked
        if not selection.answerable or not ranked:
            return abstain(question, ranked[:k])
        pool = selection.quotable()[:CLAIM_POOL]
        read = _read_parts(question, pool, self.min_has_answer)
        if read and question.kind == "count":
            dated = [(record, _dated(record, part)) for record, part in read]
            return _answer(question, _other_voices(dated, _claims(question, pool)), read[0][1])
        if read:
            return _answer(question, read, short=read[0][1])
        return _answer(question, _claims(question, pool))


def _read_parts(
    question: Question, pool: Sequence[SentenceRecord], threshold: float
) -> list[Found]:
    """The reader's best span among the pool's sentences it says answer; for a count question
    also the figures it points out in the sentences of other voices (one per speaker or
    source, in the articles on its subject: `_on_subject`), so that differing reports are
    given side by side."""
    read = [(r, without_references(r.answer_span)) for r in pool if r.has_answer >= threshold]
    read = [(r, part) for r, part in read if part.strip()]
    if not read or question.kind != "count":
        return read[:1]
    voices = {_voice(read[0][0])}
    found = [read[0]]
    subject = {r.id for r in _on_subject(question, pool)}
    for record, part in read[1:]:
        if figures(part) and _voice(record) not in voices and record.id in subject:
            voices.add(_voice(record))
            found.append((record, part))
    return found[:MAX_CITATIONS]


def _other_voices(read: Sequence[Found], ruled: Sequence[Found]) -> list[Found]:
    """The reader's figures, then those the rules find in the sentences of voices it did not
    point at, so that every source's figure is given side by side; the reader's stay first."""
    voices = {_voice(record) for record, _ in read}
    found = list(read)
    for record, part in ruled:
        if part != record.sentence and figures(part) and _voice(record) not in voices:
            voices.add(_voice(record))
            found.append((record, part))
    return found[:MAX_CITATIONS]


def _voice(record: SentenceRecord) -> str:
    """Who a sentence's claim is attributed to: its speaker, else its source."""
    return record.speaker or record.source or record.article_id


Found = tuple[SentenceRecord, str]  # a sentence and the verbatim part of it to state


def abstain(question: Question, ranked: Sequence[SentenceRecord]) -> Draft:
    """ "The articles do not say", in the question's language, quoting the nearest sentences."""
    words = PHRASES[_lang(question)]
    nearest = list(ranked[:MAX_CITATIONS])
    lines = [words["not_found"]]
    lines += [
        words["nearest"].format(part=r.sentence, n=marker(i)) for i, r in enumerate(nearest, 1)
    ]
    text = "\n".join(lines) if nearest else words["not_found"].split(".")[0] + "."
    claims = tuple(Claim(i, r.id, r.sentence) for i, r in enumerate(nearest, 1))
    return Draft(text, claims, answered=False)


def _claims(question: Question, pool: Sequence[SentenceRecord]) -> list[Found]:
    stems = (*question.terms, *question.ar_terms)
    if question.kind == "count":
        subject = _on_subject(question, pool)
        found = [_best_figure(question, subject)]
        found += [_figure_part(r, relevant_figures(r.sentence, stems)) for r in subject]
        kept = _distinct([f for f in found if f is not None])[:MAX_CITATIONS]
        if kept:
            return sorted(kept, key=lambda f: f[0].key)
    if asks_for_actor(question):
        kept = _actor_parts(question, pool)
        if kept:
            return kept[:MAX_CITATIONS]
    return [(pool[0], pool[0].sentence)]


def _on_subject(question: Question, pool: Sequence[SentenceRecord]) -> list[SentenceRecord]:
    """The sentences whose figures may be listed: those of the articles that hold the most of
    the question's words (in a sentence of theirs or their title; an English word also by its
    Arabic lexicon forms) and every name it names, so that a figure about another event is
    not listed with this one's ("1332 عراقيًا" of a UN report for a plane crash near Moscow)."""
    names = subject_names(question)

    def held(record: SentenceRecord) -> int:
        found = {tok.norm for tok in tokens(f"{record.title} {record.sentence}")}
        if not all(any(stem_match(w, name) for w in found) for name in names):
            return -1
        return terms_held(question.terms, found)

    best: dict[str, int] = {}
    for record in pool:
        best[record.article_id] = max(best.get(record.article_id, -1), held(record))
    top = max(best.values(), default=-1)
    if top <= 0:  # no article holds the question's words (and names): the best one's only
        return [r for r in pool if r.article_id == pool[0].article_id]
    return [r for r in pool if best[r.article_id] == top]


def _best_figure(question: Question, pool: Sequence[SentenceRecord]) -> Found | None:
    """The figure of the best-ranked sentence that holds one, when none of its figures names
    what is counted ("a population of 120,046" for "how many people live in Gateshead?"): the
    one nearest a question term (none when the sentence holds no question term). The figure
    stated then comes from the best evidence, not only from a weaker sentence that happens to
    name the noun."""
    best = next((r for r in pool if figures(r.sentence)), None)
    if best is None:
        return None
    stems = (*question.terms, *question.ar_terms)
    if relevant_figures(best.sentence, stems):
        return None  # its figures are found the usual way
    return _figure_part(best, nearest_figure(best.sentence, stems))


def _figure_part(record: SentenceRecord, found: Sequence[Figure]) -> Found | None:
    if not found:
        return None
    text = record.sentence
    lead = [f for f in figures(text) if f.span.start < found[0].span.start]
    start, end = found[0].span.start, found[-1].span.end
    if lead and len(text[lead[-1].span.start : end].split()) <= 10:
        start = lead[-1].span.start
    part = without_references(text[start:end])
    if len(part.split()) > 14:
        part = PIECES.join(f.span.text for f in found)
    return record, _dated(record, part)


def _dated(record: SentenceRecord, part: str) -> str:
    """A figure's part with the month or "last week" its sentence names, when the part lacks
    it: a figure about an earlier event is then not read as one about this one."""
    when = past_time(record.sentence)
    if when is not None and when.text not in part:
        return f"{part}{PIECES}{when.text}"
    return part


def _actor_parts(question: Question, pool: Sequence[SentenceRecord]) -> list[Found]:
    verb, objects = _verb_and_objects(question)
    exact = question.exact_terms[:1] if question.language == "ar" else ()
    found = []
    for record in pool:
        span = actor(record.sentence, verb, objects, exact)
        if span is not None:
            found.append((record, without_references(span.text)))
    return _distinct(found)


def _verb_and_objects(question: Question) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not question.terms:
        return (), ()
    verb, *rest = question.terms
    verbs = (verb, *expand_en(verb))
    objects = tuple(t for term in rest for t in (term, *expand_en(term)))
    return verbs, objects


def _distinct(found: Sequence[Found]) -> list[Found]:
    """One claim per (speaker, part): repeated reports of the same thing are cited once."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for record, part in found:
        key = (record.speaker, part)
        if key not in seen:
            seen.add(key)
            kept.append((record, part))
    return kept


def _answer(question: Question, found: Sequence[Found], short: str | None = None) -> Draft:
    """The answer stating `found`; its short answer is `short`, or else every part that is
    not a whole sentence."""
    words = PHRASES[_lang(question)]
    claims = tuple(Claim(n, r.id, part, r.speaker) for n, (r, part) in enumerate(found, 1))
    lines = [_line(words, claim, record) for claim, (record, _) in zip(claims, found, strict=True)]
    if len(claims) > 1:
        header = words["differ"] if question.kind == "count" else words["several"]
        lines = [header, *(f"- {line}" for line in lines)]
    if short is None:
        short = "; ".join(part for record, part in found if part != record.sentence)
    return Draft("\n".join(lines), claims, answered=True, short_answer=short)


def _line(words: dict[str, str], claim: Claim, record: SentenceRecord) -> str:
    n = marker(claim.marker)
    if claim.speaker:
        return words["according"].format(who=claim.speaker, part=claim.part, n=n)
    who = record.source or f"“{record.title}”"
    return words["reports"].format(who=who, part=claim.part, n=n)


def _lang(question: Question) -> str:
    return "ar" if question.language == "ar" else "en"
