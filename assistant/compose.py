"""Extractive answers: choose evidence sentences, point out the part that answers, keep who said
it, give every source's figure when they differ, and write the fixed words in the question's
language. Quotes stay verbatim in the article's language; nothing is said that is not quoted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from assistant.candidates import Candidate
from assistant.extract import Figure, actor, figures, past_time, relevant_figures
from assistant.lexicon import expand_en
from assistant.questions import Question, asks_for_actor
from assistant.types import Answer, Citation, Evidence

PHRASES = {
    "en": {
        "not_found": "The articles do not say. The nearest evidence:",
        "differ": "Figures by source:",
        "several": "The articles say:",
        "according": "According to {who}: “{part}” [{n}]",
        "reports": "{who} reports: “{part}” [{n}]",
        "nearest": "- “{part}” [{n}]",
    },
    "ar": {
        "not_found": "لا تذكر المقالات ذلك. أقرب ما وُجد:",
        "differ": "الأرقام بحسب كل مصدر:",
        "several": "تقول المقالات:",
        "according": "بحسب {who}: «{part}» [{n}]",
        "reports": "ورد في {who}: «{part}» [{n}]",
        "nearest": "- «{part}» [{n}]",
    },
}
MAX_CITATIONS = 3


@dataclass(frozen=True)
class Claim:
    """One line of an answer: a candidate sentence and the verbatim part of it to state."""

    candidate: Candidate
    part: str
    speaker: str


Speakers = Callable[[Candidate], str]


def compose(
    question: Question,
    ranked: Sequence[Candidate],
    speaker_of: Speakers,
    *,
    answerable: bool,
    k: int = 8,
    pool_size: int = 5,
) -> Answer:
    """The Answer for `question` from candidates ranked best first; `answerable` is the
    abstention decision (see assistant.abstain)."""
    if not answerable or not ranked:
        return abstain(question, ranked[:k])
    claims = _claims(question, ranked[:pool_size], speaker_of)
    return _answer(question, claims, ranked[:k])


def abstain(question: Question, ranked: Sequence[Candidate]) -> Answer:
    words = PHRASES[_lang(question)]
    nearest = list(ranked[:MAX_CITATIONS])
    lines = [words["not_found"]]
    lines += [words["nearest"].format(part=c.text, n=i) for i, c in enumerate(nearest, 1)]
    return Answer(
        question=question.text,
        text="\n".join(lines) if nearest else words["not_found"].split(".")[0] + ".",
        answered=False,
        citations=[_citation(i, c, "") for i, c in enumerate(nearest, 1)],
        evidence=[_evidence(c, cited=False) for c in ranked],
        language=_lang(question),
        kind=question.kind,
    )


def _claims(question: Question, pool: Sequence[Candidate], speaker_of: Speakers) -> list[Claim]:
    stems = (*question.terms, *question.ar_terms)
    if question.kind == "count":
        claims = [_figure_claim(c, relevant_figures(c.text, stems), speaker_of) for c in pool]
        found = _distinct([claim for claim in claims if claim is not None])[:MAX_CITATIONS]
        if found:
            return sorted(found, key=lambda claim: claim.candidate.key)
    if asks_for_actor(question):
        found = _actor_claims(question, pool, speaker_of)
        if found:
            return found[:MAX_CITATIONS]
    best = pool[0]
    return [Claim(best, best.text, speaker_of(best))]


def _figure_claim(
    candidate: Candidate, found: Sequence[Figure], speaker_of: Speakers
) -> Claim | None:
    if not found:
        return None
    lead = [f for f in figures(candidate.text) if f.span.start < found[0].span.start]
    start, end = found[0].span.start, found[-1].span.end
    if lead and len(candidate.text[lead[-1].span.start : end].split()) <= 10:
        start = lead[-1].span.start
    part = candidate.text[start:end]
    if len(part.split()) > 14:
        part = " … ".join(f.span.text for f in found)
    when = past_time(candidate.text)
    if when is not None and when.text not in part:
        part = f"{part} … {when.text}"
    return Claim(candidate, part, speaker_of(candidate))


def _actor_claims(
    question: Question, pool: Sequence[Candidate], speaker_of: Speakers
) -> list[Claim]:
    verb, objects = _verb_and_objects(question)
    claims = []
    for candidate in pool:
        span = actor(candidate.text, verb, objects)
        if span is not None:
            claims.append(Claim(candidate, span.text, speaker_of(candidate)))
    return _distinct(claims)


def _verb_and_objects(question: Question) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not question.terms:
        return (), ()
    verb, *rest = question.terms
    verbs = (verb, *expand_en(verb))
    objects = tuple(t for term in rest for t in (term, *expand_en(term)))
    return verbs, objects


def _distinct(claims: Sequence[Claim]) -> list[Claim]:
    """One claim per (speaker, part): repeated reports of the same thing are cited once."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for claim in claims:
        key = (claim.speaker, claim.part)
        if key not in seen:
            seen.add(key)
            kept.append(claim)
    return kept


def _answer(question: Question, claims: Sequence[Claim], ranked: Sequence[Candidate]) -> Answer:
    lang = _lang(question)
    words = PHRASES[lang]
    lines = [_line(words, claim, n) for n, claim in enumerate(claims, 1)]
    if len(claims) > 1:
        header = words["differ"] if question.kind == "count" else words["several"]
        lines = [header, *(f"- {line}" for line in lines)]
    cited = {claim.candidate.key for claim in claims}
    return Answer(
        question=question.text,
        text="\n".join(lines),
        answered=True,
        citations=[_citation(n, c.candidate, c.speaker) for n, c in enumerate(claims, 1)],
        evidence=[_evidence(c, cited=c.key in cited) for c in ranked],
        language=lang,
        kind=question.kind,
        short_answer="; ".join(c.part for c in claims if c.part != c.candidate.text),
    )


def _line(words: dict[str, str], claim: Claim, n: int) -> str:
    if claim.speaker:
        return words["according"].format(who=claim.speaker, part=claim.part, n=n)
    who = claim.candidate.source or f"“{claim.candidate.title}”"
    return words["reports"].format(who=who, part=claim.part, n=n)


def _lang(question: Question) -> str:
    return "ar" if question.language == "ar" else "en"


def _citation(number: int, c: Candidate, speaker: str) -> Citation:
    return Citation(
        number=number,
        article_id=c.article_id,
        title=c.title,
        source=c.source,
        url=c.url,
        date=c.date,
        sentence_index=c.sentence_index,
        start=c.start,
        end=c.end,
        sentence=c.text,
        speaker=speaker,
    )


def _evidence(c: Candidate, *, cited: bool) -> Evidence:
    return Evidence(
        article_id=c.article_id,
        title=c.title,
        source=c.source,
        date=c.date,
        sentence_index=c.sentence_index,
        start=c.start,
        end=c.end,
        sentence=c.text,
        score=round(c.score, 4),
        cited=cited,
    )
