"""Reader training examples from SQuAD-format files: paragraphs cut into sentences with the
project's splitter, one positive per answerable question (the sentence holding the gold answer,
with its span) and hard negatives (other sentences of the same paragraph, now and then one from
another paragraph, sentences of SQuAD 2.0's unanswerable questions).

Only the folders in `DATASETS` are ever opened. Left out on purpose: ar-kaiflematha and
ar-qrcd-train (non-commercial licences), ar-mlqa-dev (a dev split), and every evaluation set
(none lives under qa-train). Questions listed in `eval_overlap.tsv` are dropped.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.normalize import normalize
from core.types import Sentence
from ingest.sentences import split_sentences

DATASETS = {
    "en-tydiqa-goldp-train": "en",
    "en-squad2-train-first10": "en",
    "ar-arcd-train": "ar",
}
# Never opened: the licences of the first two forbid commercial use of what is trained on them;
# the last is a dev split, and dev and test splits are how the project measures, never trained on.
LEFT_OUT = {
    "ar-kaiflematha": "CC BY-NC-SA 4.0 (non-commercial)",
    "ar-qrcd-train": "CC BY-NC-ND 4.0 (non-commercial, no derivatives)",
    "ar-mlqa-dev": "a dev split (evaluation data)",
}
OVERLAP_FILE = "eval_overlap.tsv"

POSITIVE = "positive"
SAME_PARAGRAPH = "same-paragraph"
OTHER_PARAGRAPH = "other-paragraph"
UNANSWERABLE = "unanswerable"


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    span: tuple[int, int] | None  # the gold answer in the paragraph; None = unanswerable
    answers: tuple[str, ...]  # every gold answer text (for EM/F1)


@dataclass(frozen=True)
class Paragraph:
    dataset: str
    language: str
    context: str
    sentences: tuple[Sentence, ...]
    questions: tuple[Question, ...]
    title: str = ""  # the title of the article (Wikipedia page) it comes from


@dataclass(frozen=True)
class ReaderExample:
    """One training or dev row: a question against one candidate sentence of some paragraph."""

    question: str
    previous: str
    sentence: str
    next: str
    answer: tuple[int, int] | None  # the gold span as `sentence[start:end]`; None = no answer
    answers: tuple[str, ...]
    language: str
    dataset: str
    kind: str  # POSITIVE, SAME_PARAGRAPH, OTHER_PARAGRAPH or UNANSWERABLE


@dataclass
class SetStats:
    """What loading one data set kept and dropped (questions)."""

    language: str
    paragraphs: int = 0
    questions: int = 0
    unanswerable: int = 0
    overlap_dropped: int = 0
    misaligned_dropped: int = 0  # answer text not found in its paragraph
    across_sentences: int = 0  # answer crosses a sentence boundary: no example


@dataclass(frozen=True)
class Sampling:
    """How many examples each question gives per epoch."""

    same_paragraph: int = 2  # negatives from the question's paragraph (an adjacent one first)
    other_paragraph: float = 0.5  # chance of one more from another paragraph of the same set
    unanswerable: int = 2  # negatives per unanswerable question
    arabic_copies: int = 2  # Arabic questions are used this many times (fresh negatives each)


@dataclass
class Corpus:
    paragraphs: list[Paragraph]
    stats: dict[str, SetStats] = field(default_factory=dict)


# ----------------------------------------------------------------------------- loading


def load_corpus(data_dir: Path, datasets: dict[str, str] | None = None) -> Corpus:
    """Every usable paragraph of `datasets` (folder -> language) under `data_dir`, without the
    questions `eval_overlap.tsv` lists (when the file is there)."""
    drop = load_overlap_ids(data_dir / OVERLAP_FILE)
    corpus = Corpus([])
    for name, language in (datasets or DATASETS).items():
        stats = SetStats(language)
        for file in sorted((data_dir / name).glob("*.json")):
            corpus.paragraphs.extend(_file_paragraphs(file, name, stats, drop))
        if not stats.questions:
            raise FileNotFoundError(f"no SQuAD-format questions in {data_dir / name}: check --data")
        corpus.stats[name] = stats
    return corpus


def load_overlap_ids(path: Path) -> set[str]:
    """Question ids (second column) of the overlap table; empty when there is none."""
    if not path.is_file():
        return set()
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    return {row.split("\t")[1] for row in rows if row.strip()}


def _file_paragraphs(file: Path, name: str, stats: SetStats, drop: set[str]) -> Iterable[Paragraph]:
    data = json.loads(file.read_text(encoding="utf-8"))
    for article in data["data"]:
        title = str(article.get("title") or "")
        for raw in article["paragraphs"]:
            context = raw["context"]
            questions = [q for q in (_question(context, r, stats, drop) for r in raw["qas"]) if q]
            if questions:
                sentences = tuple(split_sentences(context))
                stats.paragraphs += 1
                stats.across_sentences += sum(
                    1 for q in questions if q.span and _holding(sentences, q.span) is None
                )
                yield Paragraph(name, stats.language, context, sentences, tuple(questions), title)


def _question(
    context: str, raw: dict[str, Any], stats: SetStats, drop: set[str]
) -> Question | None:
    qid = str(raw["id"])
    if qid in drop:
        stats.overlap_dropped += 1
        return None
    text = " ".join(raw["question"].strip(" -\t\n").split())
    answers = raw.get("answers") or []
    if raw.get("is_impossible") or not answers:
        stats.questions += 1
        stats.unanswerable += 1
        return Question(qid, text, None, ())
    spans = [_align(context, a["text"], int(a["answer_start"])) for a in answers]
    span = next((s for s in spans if s), None)
    if span is None:
        stats.misaligned_dropped += 1
        return None
    stats.questions += 1
    return Question(qid, text, span, tuple(a["text"] for a in answers))


def _align(context: str, text: str, start: int) -> tuple[int, int] | None:
    """The answer's span in `context` without surrounding spaces: at `start` when the text is
    there, else at its nearest occurrence; None when it does not occur at all."""
    text = text.strip()
    if not text:
        return None
    if context.startswith(text, start):
        return start, start + len(text)
    starts = []
    at = context.find(text)
    while at >= 0:
        starts.append(at)
        at = context.find(text, at + 1)
    if not starts:
        return None
    begin = min(starts, key=lambda i: abs(i - start))
    return begin, begin + len(text)


def is_dev(paragraph: Paragraph, percent: float) -> bool:
    """True for the deterministic `percent` % of paragraphs held out (by a hash of the text)."""
    digest = hashlib.sha256(f"{paragraph.dataset}\n{paragraph.context}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < percent * 100


def split_dev(
    paragraphs: list[Paragraph], percent: float
) -> tuple[list[Paragraph], list[Paragraph]]:
    """(train, dev) paragraphs."""
    dev = [p for p in paragraphs if is_dev(p, percent)]
    return [p for p in paragraphs if not is_dev(p, percent)], dev


# ----------------------------------------------------------------------------- examples


def epoch_examples(
    paragraphs: list[Paragraph], seed: int, epoch: int, sampling: Sampling | None = None
) -> list[ReaderExample]:
    """Every example of one epoch, shuffled; the same (seed, epoch) always gives the same list,
    and each epoch (and each Arabic copy) draws fresh negatives."""
    sampling = sampling or Sampling()
    pools: dict[str, list[Paragraph]] = defaultdict(list)
    for paragraph in paragraphs:
        pools[paragraph.dataset].append(paragraph)
    examples: list[ReaderExample] = []
    for copy in range(max(1, sampling.arabic_copies)):
        rng = random.Random(f"{seed}:{epoch}:{copy}")
        for paragraph in paragraphs:
            if copy == 0 or paragraph.language == "ar":
                pool = pools[paragraph.dataset]
                for question in paragraph.questions:
                    examples.extend(question_examples(paragraph, question, pool, rng, sampling))
    random.Random(f"{seed}:{epoch}:order").shuffle(examples)
    return examples


def question_examples(
    paragraph: Paragraph,
    question: Question,
    pool: list[Paragraph],
    rng: random.Random,
    sampling: Sampling,
) -> list[ReaderExample]:
    """The positive and negatives one question gives (none if its answer crosses sentences)."""
    if question.span is None:
        count = min(sampling.unanswerable, len(paragraph.sentences))
        picks = rng.sample(range(len(paragraph.sentences)), count)
        return [_example(paragraph, i, question, None, UNANSWERABLE) for i in picks]
    index = _holding(paragraph.sentences, question.span)
    if index is None:
        return []
    sentence = paragraph.sentences[index]
    answer = (question.span[0] - sentence.start, question.span[1] - sentence.start)
    examples = [_example(paragraph, index, question, answer, POSITIVE)]
    for i in _same_paragraph(paragraph, index, question, rng, sampling.same_paragraph):
        examples.append(_example(paragraph, i, question, None, SAME_PARAGRAPH))
    if rng.random() < sampling.other_paragraph:
        examples.extend(_other_paragraph(paragraph, question, pool, rng))
    return examples


def _holding(sentences: tuple[Sentence, ...], span: tuple[int, int]) -> int | None:
    return next((s.index for s in sentences if s.start <= span[0] and span[1] <= s.end), None)


def _same_paragraph(
    paragraph: Paragraph, index: int, question: Question, rng: random.Random, count: int
) -> list[int]:
    usable = [
        s.index
        for s in paragraph.sentences
        if s.index != index and not _mentions(s.text, question.answers)
    ]
    adjacent = [i for i in usable if abs(i - index) == 1]
    picks = rng.sample(adjacent, min(1, len(adjacent), count))
    rest = [i for i in usable if i not in picks]
    return picks + rng.sample(rest, min(count - len(picks), len(rest)))


def _other_paragraph(
    paragraph: Paragraph, question: Question, pool: list[Paragraph], rng: random.Random
) -> list[ReaderExample]:
    other = rng.choice(pool)
    if other.context == paragraph.context:
        return []
    index = rng.randrange(len(other.sentences))
    if _mentions(other.sentences[index].text, question.answers):
        return []
    return [_example(other, index, question, None, OTHER_PARAGRAPH)]


def _mentions(text: str, answers: tuple[str, ...]) -> bool:
    """True when `text` holds one of the answers (so it cannot serve as a negative)."""
    found = normalize(text)
    return any(normalize(answer) in found for answer in answers if normalize(answer))


def _example(
    paragraph: Paragraph, index: int, question: Question, answer: tuple[int, int] | None, kind: str
) -> ReaderExample:
    sentences = paragraph.sentences
    return ReaderExample(
        question=question.text,
        previous=sentences[index - 1].text if index > 0 else "",
        sentence=sentences[index].text,
        next=sentences[index + 1].text if index + 1 < len(sentences) else "",
        answer=answer,
        answers=question.answers,
        language=paragraph.language,
        dataset=paragraph.dataset,
        kind=kind,
    )


def by_length(
    examples: list[ReaderExample], batch: int, seed: str, window: int = 50
) -> list[ReaderExample]:
    """`examples` reordered so that each run of `batch` holds similar lengths (less padding):
    sorted by characters within windows of `window` batches, then whole batches shuffled."""
    batches: list[list[ReaderExample]] = []
    for at in range(0, len(examples), batch * window):
        chunk = sorted(examples[at : at + batch * window], key=_length)
        batches.extend(chunk[i : i + batch] for i in range(0, len(chunk), batch))
    random.Random(seed).shuffle(batches)
    return [example for group in batches for example in group]


def _length(example: ReaderExample) -> int:
    return len(example.question) + len(example.previous) + len(example.sentence) + len(example.next)


def example_counts(examples: Iterable[ReaderExample]) -> dict[str, dict[str, int]]:
    """Per data set: positives, negatives, and negatives of each kind."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for example in examples:
        row = counts[example.dataset]
        row["positives" if example.answer else "negatives"] += 1
        if not example.answer:
            row[example.kind] += 1
    return {name: dict(row) for name, row in sorted(counts.items())}
