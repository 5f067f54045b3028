"""The reader's training side, offline and in seconds: examples built from a tiny SQuAD-format
fixture (English and Arabic) written here, and training runs of a few steps on a tiny randomly
initialised BERT with a word-level tokenizer over the fixture's words."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from core.reader_model import (
    WEIGHTS_NAME,
    ReaderModel,
    ReaderPair,
    build_reader_model,
    char_span,
    encode,
    load_reader,
    save_delta,
    tidy_span,
    token_span,
)
from training.reader_data import (
    POSITIVE,
    UNANSWERABLE,
    ReaderExample,
    by_length,
    epoch_examples,
    load_corpus,
    split_dev,
)
from training.reader_loop import (
    CHECKPOINT_NAME,
    MANIFEST_NAME,
    lr_factor,
    make_optimizer,
    make_targets,
    pair_of,
    train_step,
)
from training.reader_metrics import exact_match, f1, roc_auc
from training.train_reader import main

OVERLAP_ID = "ar-overlap-1"
DEV_PERCENT = "40"

# dataset folder -> paragraphs of (context, [(question id, question, answer or None)])
FIXTURE: dict[str, list[tuple[str, list[tuple[str, str, str | None]]]]] = {
    "en-tydiqa-goldp-train": [
        (
            "The city of Lyon lies in France. It was founded by the Romans in 43 BC. "
            "Today it is known for its food. Many tourists visit every summer.",
            [
                ("en-1", "When was Lyon founded?", "43 BC"),
                ("en-2", "What is Lyon known for?", "its food"),
            ],
        ),
        (
            "The river Rhone flows through Lyon. It rises in the Alps in Switzerland. "
            "The river ends in the Mediterranean Sea.",
            [("en-3", "Where does the Rhone rise?", "the Alps")],
        ),
    ],
    "en-squad2-train-first10": [
        (
            "Paris is the capital of France. The Eiffel Tower was built in 1889. "
            "It is 330 metres tall. Millions of people climb it each year.",
            [
                ("sq-1", "How tall is the Eiffel Tower?", "330 metres"),
                ("sq-2", "Who painted it?", None),
            ],
        ),
    ],
    "ar-arcd-train": [
        (
            "تقع مدينة القاهرة على نهر النيل. تأسست المدينة عام 969 ميلادية. "
            "يبلغ عدد سكانها أكثر من عشرين مليون نسمة.",
            [
                ("ar-1", "متى تأسست القاهرة؟", "969 ميلادية"),
                (OVERLAP_ID, "على أي نهر تقع القاهرة؟", "نهر النيل"),
            ],
        ),
    ],
}


def squad_file(paragraphs: list[tuple[str, list[tuple[str, str, str | None]]]]) -> dict[str, Any]:
    rows = []
    for context, questions in paragraphs:
        qas = []
        for qid, question, answer in questions:
            answers = [{"text": answer, "answer_start": context.index(answer)}] if answer else []
            qas.append(
                {"id": qid, "question": question, "answers": answers, "is_impossible": not answer}
            )
        rows.append({"context": context, "qas": qas})
    return {"version": "test", "data": [{"title": "fixture", "paragraphs": rows}]}


@pytest.fixture
def qa_data(tmp_path: Path) -> Path:
    """A qa-train folder: the training sets, the overlap table, and a non-commercial set and a
    dev split that are not valid JSON (so reading either at all would fail)."""
    root = tmp_path / "qa-train"
    for name, paragraphs in FIXTURE.items():
        (root / name).mkdir(parents=True)
        (root / name / "data.json").write_text(
            json.dumps(squad_file(paragraphs), ensure_ascii=False)
        )
    for left_out in ("ar-kaiflematha", "ar-mlqa-dev"):  # non-commercial; a dev split
        (root / left_out).mkdir()
        (root / left_out / "development.json").write_text("not json: must never be read")
    table = "file\tquestion_id\teval_set\tparagraph_8gram_share\tidentical_question\n"
    table += f"ar-arcd-train/arcd-train.json\t{OVERLAP_ID}\tan-evaluation-set\t0.43\tno\n"
    (root / "eval_overlap.tsv").write_text(table)
    return root


@pytest.fixture
def backbone(tmp_path: Path) -> Path:
    """A 2-layer, 32-wide random BERT and a word-level tokenizer over the fixture's words."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    splitter = pre_tokenizers.Whitespace()
    texts = [c for ps in FIXTURE.values() for c, qs in ps] + [
        q for ps in FIXTURE.values() for _, qs in ps for _, q, _ in qs
    ]
    words = sorted({w for text in texts for w, _ in splitter.pre_tokenize_str(text)})
    vocab = {w: i for i, w in enumerate(["<s>", "<pad>", "</s>", "<unk>", *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = splitter
    folder = tmp_path / "tiny-bert"
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    ).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        type_vocab_size=2,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder


def train_args(data: Path, backbone: Path, out: Path, *extra: str) -> list[str]:
    return [
        *("--data", str(data), "--backbone", str(backbone), "--out", str(out)),
        *("--batch", "4", "--max-len", "48", "--tuned-layers", "1", "--threads", "1"),
        *("--dev-percent", DEV_PERCENT, "--checkpoint-minutes", "0", "--log-every", "2"),
        *extra,
    ]


def fixture_examples(qa_data: Path) -> list[ReaderExample]:
    return epoch_examples(load_corpus(qa_data).paragraphs, seed=13, epoch=0)


# ----------------------------------------------------------------------------- data


def test_overlap_ids_are_dropped_and_counted(qa_data: Path) -> None:
    corpus = load_corpus(qa_data)
    ids = {q.id for p in corpus.paragraphs for q in p.questions}
    assert OVERLAP_ID not in ids and "ar-1" in ids
    assert corpus.stats["ar-arcd-train"].overlap_dropped == 1
    assert sum(s.overlap_dropped for s in corpus.stats.values()) == 1
    assert set(corpus.stats) == set(FIXTURE)  # the left-out folders were never opened


def test_positives_hold_the_answer_verbatim_and_negatives_do_not(qa_data: Path) -> None:
    examples = fixture_examples(qa_data)
    positives = [e for e in examples if e.kind == POSITIVE]
    assert {e.dataset for e in positives} == set(FIXTURE)
    for example in positives:
        assert example.answer is not None
        start, end = example.answer
        assert example.sentence[start:end] == example.answers[0]
    for example in (e for e in examples if e.answer is None):
        assert not any(a in example.sentence for a in example.answers)
    negatives = len(examples) - len(positives)
    assert 1.5 * len(positives) <= negatives <= 3.5 * len(positives)


def test_unanswerable_questions_give_negatives_only(qa_data: Path) -> None:
    unanswerable = [e for e in fixture_examples(qa_data) if e.question == "Who painted it?"]
    assert unanswerable and all(e.kind == UNANSWERABLE and e.answer is None for e in unanswerable)


def test_arabic_questions_are_used_twice_with_neighbours_as_context(qa_data: Path) -> None:
    examples = fixture_examples(qa_data)
    cairo = [e for e in examples if e.question == "متى تأسست القاهرة؟" and e.kind == POSITIVE]
    assert len(cairo) == 2
    assert cairo[0].previous == "تقع مدينة القاهرة على نهر النيل."
    assert cairo[0].next == "يبلغ عدد سكانها أكثر من عشرين مليون نسمة."


def test_epochs_and_dev_split_are_deterministic(qa_data: Path) -> None:
    paragraphs = load_corpus(qa_data).paragraphs
    assert epoch_examples(paragraphs, 13, 0) == epoch_examples(paragraphs, 13, 0)
    assert epoch_examples(paragraphs, 13, 0) != epoch_examples(paragraphs, 13, 1)
    train, dev = split_dev(paragraphs, float(DEV_PERCENT))
    assert train and dev and len(train) + len(dev) == len(paragraphs)
    assert (train, dev) == split_dev(paragraphs, float(DEV_PERCENT))


def test_batches_by_length_reorder_deterministically(qa_data: Path) -> None:
    examples = fixture_examples(qa_data)
    ordered = by_length(examples, 4, "13:0")
    assert ordered == by_length(examples, 4, "13:0")
    assert sorted(map(repr, ordered)) == sorted(map(repr, examples))


# ----------------------------------------------------------------------------- inputs


def test_spans_map_back_to_the_sentence_verbatim(qa_data: Path, backbone: Path) -> None:
    _, tokenizer = build_reader_model(backbone, tuned_layers=1)
    positives = [e for e in fixture_examples(qa_data) if e.answer]
    batch = encode(tokenizer, [pair_of(e) for e in positives], max_len=48)
    for row, example in enumerate(positives):
        assert example.answer is not None
        span = token_span(batch.offsets[row], *example.answer)
        assert span is not None
        start, end = char_span(example.sentence, batch.offsets[row], *span)
        assert example.sentence[start:end] == example.answers[0]
        candidate = [i for i, (a, _) in enumerate(batch.offsets[row]) if a >= 0]
        assert batch.token_type_ids[row].nonzero().flatten().tolist() == candidate


@pytest.mark.parametrize(
    ("span", "tidy"),
    [
        ("(1996)", "1996"),
        ("(15 November 1889", "15 November 1889"),
        ("Smith)", "Smith"),
        ("مذهب إسلامي.", "مذهب إسلامي"),
        ("قبل سنّ العشرين؛", "قبل سنّ العشرين"),
        ("«28 مدنياً»", "28 مدنياً"),
        ("the (big) dog, ", "the (big) dog"),
        ("U.S.", "U.S."),
        ("(a) (b)", "(a) (b)"),
        ("((a) b)", "(a) b"),
        ("2.3%", "2.3%"),
        ("(", "("),
    ],
)
def test_a_span_loses_loose_punctuation_and_stays_verbatim(span: str, tidy: str) -> None:
    sentence = f"Before {span} after"
    start, end = tidy_span(sentence, 7, 7 + len(span))
    assert sentence[start:end] == tidy


def test_long_neighbours_are_cut_before_the_candidate(backbone: Path) -> None:
    _, tokenizer = build_reader_model(backbone, tuned_layers=1)
    long = " ".join(["The river Rhone flows through Lyon."] * 20)
    pair = ReaderPair(
        "Where does the Rhone rise?", "It rises in the Alps in Switzerland.", long, long
    )
    batch = encode(tokenizer, [pair], max_len=32)
    assert batch.input_ids.shape[1] == 32
    assert int(batch.token_type_ids.sum()) == 8  # every token of the candidate survives


# ----------------------------------------------------------------------------- model


def tiny_reader(backbone: Path) -> tuple[ReaderModel, Any]:
    torch.manual_seed(1)
    return build_reader_model(backbone, tuned_layers=1)


def test_only_the_top_layers_and_heads_are_trained(backbone: Path) -> None:
    model, _ = tiny_reader(backbone)
    names = model.delta_names()
    assert all(
        n.startswith(("backbone.encoder.layer.1.", "span_head.", "answer_head.")) for n in names
    )
    assert not model.backbone.embeddings.word_embeddings.weight.requires_grad


def test_loss_is_finite_and_falls_on_a_repeated_batch(qa_data: Path, backbone: Path) -> None:
    model, tokenizer = tiny_reader(backbone)
    examples = fixture_examples(qa_data)[:8]
    batch = encode(tokenizer, [pair_of(e) for e in examples], max_len=48)
    targets = make_targets(batch, examples)
    optimizer = make_optimizer(model, encoder_lr=1e-3, head_lr=1e-2)
    losses = [train_step(model, optimizer, batch, targets) for _ in range(12)]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < 0.8 * losses[0]


def test_delta_round_trip_gives_identical_readings(
    qa_data: Path, backbone: Path, tmp_path: Path
) -> None:
    model, tokenizer = tiny_reader(backbone)
    examples = fixture_examples(qa_data)[:8]
    batch = encode(tokenizer, [pair_of(e) for e in examples], max_len=48)
    optimizer = make_optimizer(model, encoder_lr=1e-3, head_lr=1e-2)
    for _ in range(3):
        train_step(model, optimizer, batch, make_targets(batch, examples))
    exact = save_delta(model, tmp_path / "fp32" / WEIGHTS_NAME, dtype=torch.float32, max_len=48)
    small = save_delta(model, tmp_path / "fp16" / WEIGHTS_NAME, max_len=48)
    model.eval()
    with torch.no_grad():
        expected = model(batch)
    for folder, tolerance in ((exact.parent, 0.0), (small.parent, 1e-2)):
        loaded = load_reader(folder, backbone).model
        with torch.no_grad():
            found = loaded(batch)
        for a, b in zip(expected, found, strict=True):
            torch.testing.assert_close(a, b, atol=tolerance, rtol=tolerance)
    assert small.stat().st_size < exact.stat().st_size


def test_read_gives_a_span_of_the_sentence(backbone: Path, tmp_path: Path) -> None:
    model, _ = tiny_reader(backbone)
    reader = load_reader(save_delta(model, tmp_path / WEIGHTS_NAME, max_len=48), backbone)
    sentence = "It was founded by the Romans in 43 BC."
    readings = reader.read(
        [ReaderPair("When was Lyon founded?", sentence, "The city of Lyon lies in France.")]
    )
    (reading,) = readings
    assert 0.0 <= reading.has_answer <= 1.0
    assert 0 <= reading.start < reading.end <= len(sentence)
    assert sentence[reading.start : reading.end] == sentence[reading.start : reading.end].strip()


# ----------------------------------------------------------------------------- runs


def test_a_short_run_writes_the_delta_and_manifest(
    qa_data: Path, backbone: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    assert main(train_args(qa_data, backbone, out, "--max-steps", "4")) == 0
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["training"]["steps"] == 4 and manifest["training"]["examples_seen"] == 16
    assert manifest["data"]["overlap_ids_dropped"] == 1
    assert set(manifest["data"]["sets"]) == set(FIXTURE)
    assert "ar-kaiflematha" in manifest["data"]["left_out"]
    assert math.isfinite(manifest["training"]["final_loss"])
    assert manifest["dev"]["all"]["examples"] > 0
    assert manifest["weights"]["bytes"] == (out / WEIGHTS_NAME).stat().st_size
    assert (out / "train.log").read_text().count("dev check at step") == 4


def test_a_reader_cut_to_its_bottom_layers_trains_saves_and_loads_cut(
    qa_data: Path, backbone: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ("--max-steps", "2", "--layers", "1", "--tuned-layers", "1")
    assert main(train_args(qa_data, backbone, out, *args)) == 0
    assert json.loads((out / MANIFEST_NAME).read_text())["weights"]["layers"] == 1
    reader = load_reader(out, backbone)
    assert reader.model.layers == len(reader.model.backbone.encoder.layer) == 1
    tuned = ("backbone.encoder.layer.0.", "span_head.", "answer_head.")
    assert all(name.startswith(tuned) for name in reader.model.delta_names())
    pair = ReaderPair("When was Lyon founded?", "It was founded by the Romans in 43 BC.")
    (reading,) = reader.read([pair])
    assert 0 <= reading.start < reading.end <= len(pair.sentence)


def test_a_reader_saved_before_readers_could_be_cut_loads_whole(
    backbone: Path, tmp_path: Path
) -> None:
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    model, _ = tiny_reader(backbone)
    path = save_delta(model, tmp_path / WEIGHTS_NAME, max_len=48)
    with safe_open(str(path), framework="pt") as stored:
        info = json.loads(stored.metadata()["reader"])
    del info["layers"]  # as written before the option existed
    save_file(load_file(str(path)), str(path), metadata={"reader": json.dumps(info)})
    assert load_reader(path, backbone).model.layers == 2


def test_resume_continues_exactly_where_the_run_paused(
    qa_data: Path, backbone: Path, tmp_path: Path
) -> None:
    whole, paused = tmp_path / "whole", tmp_path / "paused"
    assert main(train_args(qa_data, backbone, whole, "--max-steps", "6")) == 0
    assert main(train_args(qa_data, backbone, paused, "--max-steps", "6", "--stop-after", "3")) == 0
    assert (paused / CHECKPOINT_NAME).is_file() and not (paused / MANIFEST_NAME).exists()
    assert main(train_args(qa_data, backbone, paused, "--max-steps", "6", "--resume")) == 0
    assert "resumed at step 3" in (paused / "train.log").read_text()
    assert json.loads((paused / MANIFEST_NAME).read_text())["training"]["steps"] == 6
    assert (paused / WEIGHTS_NAME).read_bytes() == (whole / WEIGHTS_NAME).read_bytes()


def test_a_checkpoint_is_never_overwritten_without_resume(
    qa_data: Path, backbone: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(train_args(qa_data, backbone, out, "--max-steps", "1")) == 0
    assert main(train_args(qa_data, backbone, out, "--max-steps", "1")) == 2
    assert "pass --resume" in capsys.readouterr().err


def test_learning_rate_warms_up_then_decays() -> None:
    factors = [lr_factor(step, warmup=2, total=6) for step in range(7)]
    assert factors == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]


# ----------------------------------------------------------------------------- metrics


def test_squad_style_scores_with_arabic_normalisation() -> None:
    assert exact_match("The Alps.", ["the Alps"]) == 1.0
    assert exact_match("بِأمير الشعراء", ["بأمير الشعراء"]) == 1.0
    assert exact_match("إبن", ["ابن"]) == 1.0
    assert f1("in the Alps in Switzerland", ["the Alps"]) == pytest.approx(0.4)
    assert f1("Lyon", ["43 BC"]) == 0.0


def test_auc_counts_ties_as_half() -> None:
    assert roc_auc([True, False], [0.9, 0.1]) == 1.0
    assert roc_auc([True, False], [0.1, 0.9]) == 0.0
    assert roc_auc([True, False, True, False], [0.5, 0.5, 0.8, 0.2]) == pytest.approx(0.875)
    assert roc_auc([True, True], [0.1, 0.2]) is None


def test_read_answers_in_input_order(backbone: Path, tmp_path: Path) -> None:
    model, _ = tiny_reader(backbone)
    reader = load_reader(save_delta(model, tmp_path / WEIGHTS_NAME, max_len=48), backbone)
    pairs = [
        ReaderPair("Where does the Rhone rise?", "It rises in the Alps in Switzerland.", "x " * 30),
        ReaderPair("When was Lyon founded?", "It was founded by the Romans in 43 BC."),
        ReaderPair("Who painted it?", "Paris is the capital of France."),
    ]
    together = reader.read(pairs)
    for pair, reading in zip(pairs, together, strict=True):
        (alone,) = reader.read([pair])
        assert (reading.start, reading.end) == (alone.start, alone.end)
        assert reading.has_answer == pytest.approx(alone.has_answer, abs=1e-5)
