"""The reader run by ONNX Runtime: the torch reader (core/reader_model.py, backbone plus saved
delta) traced once into `<cache_dir>/reader-<variant>-<hash>` (int8: ONNX Runtime's
dynamic quantisation, one scale per output channel), in a temporary sibling renamed into place,
and reused while the weights and the backbone are unchanged. Reading then needs no torch model
and uses every core (scripts/bench_reader.py compares the backends' cost and readings).

The export holds the whole reader: inputs are `encode`'s three tensors, outputs the three
`ReaderLogits` (span logits already masked outside the candidate), so the readings come out of
the same `readings_of` as the torch reader's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from core.errors import ModelError
from core.model_cache import building, publish, remove_abandoned
from core.onnx_embedder import open_session
from core.onnx_model import (
    META_NAME,
    MODEL_FILE,
    OPSET,
    is_current,
    quantize,
    read_meta,
    require_onnx,
)
from core.reader_model import (
    WEIGHTS_NAME,
    ReaderBatch,
    ReaderLogits,
    ReaderModel,
    ReaderPair,
    Reading,
    describe_backbone,
    encode,
    load_reader,
    read_metadata,
    readings_of,
    sorted_batches,
)

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

log = logging.getLogger(__name__)

ReaderVariant = Literal["onnx", "onnx-int8"]
# The export folder holds MODEL_FILE and, written last, META_NAME, as the embedder's exports do
# (core/onnx_model.py), whose is_current and read_meta serve both.
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUTS = ("start", "end", "has_answer")
# Bump when the export changes, so folders made by an older exporter count as stale.
EXPORT_FORMAT = 1
# The fp32 export must give the torch reader's has-answer probabilities on other shapes than the
# traced ones (else the trace froze a shape and the export is refused).
MAX_PROBABILITY_GAP = 1e-3
_CHECK_PAIRS = (
    ReaderPair("How many died?", "At least 30 people were killed.", "", "The toll may rise."),
    ReaderPair(
        "كم عدد القتلى المدنيين؟",
        "قال المرصد السوري لحقوق الإنسان إن 54 شخصا قتلوا بينهم 28 مدنيا.",
        "شنت طائرات التحالف غارات على قرية قرب دير الزور.",
    ),
    ReaderPair("Who?", "No.", "", ""),
)


def reader_onnx_dir(weights: Path, cache_dir: Path, variant: ReaderVariant) -> Path:
    """Where the export of `weights` lives: `<cache_dir>/reader-<variant>-<hash of its path>`
    (one folder per weights file, so two readers in use do not export over each other)."""
    where = hashlib.sha256(str(Path(weights).resolve()).encode()).hexdigest()[:10]
    return Path(cache_dir) / f"reader-{variant}-{where}"


def ensure_reader_onnx(
    weights: Path, backbone_folder: Path, cache_dir: Path, variant: ReaderVariant
) -> Path:
    """The export folder of the reader at `weights`, exported first when missing, unfinished or
    stale (other weights, another backbone, an older exporter)."""
    require_onnx("the onnx reader backends", "NEWS_ASSISTANT_READER__BACKEND=torch")
    target = reader_onnx_dir(weights, cache_dir, variant)
    expected = source_manifest(weights, backbone_folder, variant)
    if is_current(target, expected):
        return target
    remove_abandoned(target)
    log.info("exporting the reader to %s at %s (once; under a minute)", variant, target)
    started = time.perf_counter()
    fix = "use NEWS_ASSISTANT_READER__BACKEND=torch"
    with building(target, "could not export the reader to ONNX", fix) as work:
        work.mkdir()
        meta = _export(weights, backbone_folder, work, variant)
        text = json.dumps({**meta, "manifest": expected}, indent=2, sort_keys=True)
        (work / META_NAME).write_text(text + "\n", encoding="utf-8")
        publish(work, target, lambda folder: is_current(folder, expected))
    log.info("reader export ready at %s (%.1f s)", target, time.perf_counter() - started)
    return target


def source_manifest(weights: Path, backbone_folder: Path, variant: ReaderVariant) -> dict[str, Any]:
    """What an export is made from: the weights file (path, size, modification time), the
    backbone's name, the variant and the exporter's format."""
    stat = Path(weights).stat()
    return {
        "format": EXPORT_FORMAT,
        "variant": variant,
        "weights": [str(Path(weights).resolve()), stat.st_size, stat.st_mtime_ns],
        "backbone": describe_backbone(backbone_folder),
    }


def _export(
    weights: Path, backbone_folder: Path, work: Path, variant: ReaderVariant
) -> dict[str, Any]:
    """Write the model and the tokenizer into `work`; returns what reading needs to know."""
    reader = load_reader(weights, backbone_folder)
    traced = work / ("fp32.onnx" if variant == "onnx-int8" else MODEL_FILE)
    _trace(reader.model, reader.tokenizer, traced)
    _check(reader.model, reader.tokenizer, traced, reader.max_len)
    if variant == "onnx-int8":
        quantize(traced, work / MODEL_FILE)
        traced.unlink()
    reader.tokenizer.save_pretrained(str(work))
    return {"max_len": reader.max_len, "backbone": describe_backbone(backbone_folder)}


class _Traced(torch.nn.Module):
    """The reader as a function of three tensors, for the tracer."""

    def __init__(self, model: ReaderModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> ReaderLogits:
        return self.model(ReaderBatch(ids, mask, types, [], []))


def _trace(model: ReaderModel, tokenizer: Any, path: Path) -> None:
    """torch's TorchScript exporter, batch and token axes dynamic."""
    batch = encode(tokenizer, _CHECK_PAIRS[:2])
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "start", "end")}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings on shapes: _check runs other shapes
        torch.onnx.export(
            _Traced(model).eval(),
            (batch.input_ids, batch.attention_mask, batch.token_type_ids),
            str(path),
            input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamic_axes=axes | {"has_answer": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )


def _check(model: ReaderModel, tokenizer: Any, path: Path, max_len: int) -> None:
    """ModelError unless the export gives the torch reader's probabilities on other shapes."""
    batch = encode(tokenizer, _CHECK_PAIRS, max_len)
    with torch.inference_mode():
        expected = torch.sigmoid(model(batch).has_answer).numpy()
    got = _run(open_session(path, 1), batch.input_ids, batch.attention_mask, batch.token_type_ids)
    gap = float(np.max(np.abs(1 / (1 + np.exp(-got.has_answer.numpy())) - expected)))
    if gap > MAX_PROBABILITY_GAP:
        raise ModelError(
            f"the ONNX export of the reader does not reproduce it (probabilities differ by "
            f"{gap:.4f}); use NEWS_ASSISTANT_READER__BACKEND=torch"
        )


def _run(
    session: InferenceSession, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor
) -> ReaderLogits:
    feed = dict(zip(INPUTS, (t.numpy() for t in (ids, mask, types)), strict=True))
    start, end, has_answer = session.run(list(OUTPUTS), feed)
    return ReaderLogits(*(torch.from_numpy(x) for x in (start, end, has_answer)))


class OnnxReader:
    """The reader's `read` from an export folder, by ONNX Runtime with `threads` intra-op
    threads (0: one per physical core). Pairs are read in batches of similar length, as the
    torch Reader does."""

    def __init__(
        self, folder: Path, *, threads: int = 0, batch_size: int = 32, max_len: int | None = None
    ) -> None:
        from transformers import AutoTokenizer

        meta = read_meta(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.max_len = max_len or int(meta["max_len"])
        self.batch_size = batch_size
        self.session = open_session(Path(folder) / MODEL_FILE, threads)

    def read(self, pairs: Sequence[ReaderPair]) -> list[Reading]:
        readings: dict[int, Reading] = {}
        for rows in sorted_batches(pairs, self.batch_size):
            batch = encode(self.tokenizer, [pairs[i] for i in rows], self.max_len)
            logits = _run(self.session, batch.input_ids, batch.attention_mask, batch.token_type_ids)
            readings.update(zip(rows, readings_of(batch, logits), strict=True))
        return [readings[i] for i in range(len(pairs))]


def load_onnx_reader(
    weights: Path,
    backbone_folder: Path,
    cache_dir: Path,
    variant: ReaderVariant = "onnx",
    *,
    threads: int = 0,
    max_len: int | None = None,
) -> OnnxReader:
    """The reader saved at `weights` (a file or a folder holding one), by ONNX Runtime,
    reading `max_len` tokens a pair (None: as many as it was trained with)."""
    path = weights / WEIGHTS_NAME if weights.is_dir() else weights
    if not path.is_file():
        raise ModelError(f"no reader weights at {path}: train them with `make train-reader`")
    read_metadata(path)  # a clear error for a file that is not reader weights
    folder = ensure_reader_onnx(path, backbone_folder, cache_dir, variant)
    return OnnxReader(folder, threads=threads, max_len=max_len)
