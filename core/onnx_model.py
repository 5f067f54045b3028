"""ONNX exports of a local sentence-transformers folder, for the onnx and onnx-int8 embedder
backends: traced once by torch (the whole model: transformer, pooling, normalisation) into
`<cache_dir>/<model folder>-onnx` or `-onnx-int8` (int8: ONNX Runtime's dynamic quantisation,
per channel), in a temporary sibling renamed into place, and reused while the source folder is
unchanged. Nothing is downloaded. Running an export is core/onnx_embedder.py's business.

Why not sentence-transformers' own `backend="onnx"`: it needs optimum-onnx, whose releases (up
to 0.1.0) require transformers < 4.58, and sentence-transformers >= 6 requires transformers >= 5,
so pip cannot install both.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from core.errors import ModelError
from core.model_cache import building, publish, remove_abandoned

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import Tensor

log = logging.getLogger(__name__)

Variant = Literal["onnx", "onnx-int8"]
INSTALL_HINT = "pip install 'news-assistant[onnx]'"
META_NAME = "onnx-export.json"  # written last: a folder without it is unfinished
MODEL_FILE = "model.onnx"
OUTPUT = "sentence_embedding"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # those the tokenizer gives are used
# Bump when the export changes, so folders made by an older exporter count as stale.
EXPORT_FORMAT = 1
OPSET = 17
# The exported model must give the torch model's vectors (cosine) on texts of other lengths
# than the traced ones, or the trace froze a shape and the export is refused.
MIN_COSINE = 0.9999
_CHECK_TEXTS = (
    "A short one.",
    "قال المرصد السوري لحقوق الإنسان إن ثلاثين شخصا قتلوا في الغارات قرب معمل الثلج.",
    "The coalition said it was looking into reports of civilian casualties near the village.",
)


def require_onnx(
    user: str = "the onnx embedder backends", fix: str = "NEWS_ASSISTANT_EMBEDDER__BACKEND=torch"
) -> None:
    """ModelError naming the extra to install when ONNX Runtime or onnx is missing."""
    missing = [name for name in ("onnxruntime", "onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise ModelError(f"{user} need {' and '.join(missing)}: {INSTALL_HINT} (or {fix})")


def onnx_model_dir(source: Path, cache_dir: Path, variant: Variant) -> Path:
    """Where the export of `source` lives: `<cache_dir>/<source folder name>-<variant>`."""
    return Path(cache_dir) / f"{Path(source).name}-{variant}"


def ensure_onnx_model(source: Path, cache_dir: Path, variant: Variant) -> Path:
    """The export folder of `source`, exported first when missing, unfinished or stale."""
    require_onnx()
    target = onnx_model_dir(source, cache_dir, variant)
    expected = source_manifest(source, variant)
    if is_current(target, expected):
        return target
    remove_abandoned(target)
    log.info("exporting %s to %s at %s (once; under a minute)", source, variant, target)
    return export_onnx_model(source, target, variant)


def export_onnx_model(source: Path, target: Path, variant: Variant) -> Path:
    """Export `source` into `target` (atomically: a temporary sibling renamed into place)."""
    manifest = source_manifest(source, variant)
    started = time.perf_counter()
    fix = "use NEWS_ASSISTANT_EMBEDDER__BACKEND=torch"
    with building(target, f"could not export {source} to ONNX", fix) as work:
        work.mkdir()
        meta = _export(source, work, variant, fp32=onnx_model_dir(source, target.parent, "onnx"))
        text = json.dumps({**meta, "manifest": manifest}, indent=2, sort_keys=True)
        (work / META_NAME).write_text(text + "\n", encoding="utf-8")
        publish(work, target, lambda folder: is_current(folder, manifest))
    log.info("%s export ready at %s (%.1f s)", variant, target, time.perf_counter() - started)
    return target


def source_manifest(source: Path, variant: Variant) -> dict[str, Any]:
    """What an export is made from: the source folder's files (name, size, modification time;
    a rebuilt e5 model changes them), the variant, the exporter's format and, for int8, the
    quantisation (it depends on the CPU: see _reduce_range)."""
    files = sorted(p for p in Path(source).rglob("*") if p.is_file())
    return {
        "format": EXPORT_FORMAT,
        "variant": variant,
        "source": str(Path(source).resolve()),
        "files": [[p.relative_to(source).as_posix(), *_stamp(p)] for p in files],
        "reduce_range": _reduce_range() if variant == "onnx-int8" else None,
    }


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def is_current(target: Path, manifest: dict[str, Any]) -> bool:
    """True when `target` holds a finished export made from exactly `manifest`."""
    try:
        meta = read_meta(target)
    except ModelError:
        return False
    return bool(meta.get("manifest") == manifest) and (target / MODEL_FILE).is_file()


def read_meta(folder: Path) -> dict[str, Any]:
    """The export's record: input names, prompts, max_seq_length, dim and its manifest."""
    try:
        meta = json.loads((Path(folder) / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder} is not a finished ONNX export ({exc})") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"{folder / META_NAME} is not an ONNX export record")
    return meta


# ----------------------------------------------------------------------------- export steps


def _export(source: Path, work: Path, variant: Variant, fp32: Path) -> dict[str, Any]:
    """Write model.onnx and the tokenizer into `work`; returns what the embedder needs to
    know. int8 quantises the current fp32 export when there is one, else a fresh trace."""
    model = _load(source)
    inputs = _sample_inputs(model)
    if variant == "onnx":
        _trace(model, inputs, work / MODEL_FILE)
        _check(model, work, list(inputs))
    elif is_current(fp32, source_manifest(source, "onnx")):
        quantize(fp32 / MODEL_FILE, work / MODEL_FILE)
    else:
        traced = work / "fp32.onnx"
        _trace(model, inputs, traced)
        quantize(traced, work / MODEL_FILE)
        traced.unlink()
    model.tokenizer.save_pretrained(str(work))
    return {
        "inputs": list(inputs),
        "prompts": {k: v or "" for k, v in (model.prompts or {}).items()},
        "max_seq_length": int(model.max_seq_length or 512),
        "dim": int(model.get_embedding_dimension() or 0),
        "versions": {p: importlib.metadata.version(p) for p in ("torch", "onnxruntime", "onnx")},
    }


def _load(source: Path) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = SentenceTransformer(str(source), device="cpu", local_files_only=True)
    return model.eval()


def _sample_inputs(model: SentenceTransformer) -> dict[str, Tensor]:
    """A padded batch of two texts of different lengths, in the tokenizer's own input names."""
    batch = model.tokenizer(
        ["query: a", "passage: a longer text, so that the first one is padded"],
        padding=True,
        return_tensors="pt",
    )
    return {name: batch[name] for name in INPUTS if name in batch}


def _trace(model: SentenceTransformer, inputs: dict[str, Tensor], path: Path) -> None:
    """torch's TorchScript exporter (no onnxscript needed), batch and token axes dynamic."""
    import torch

    names = list(inputs)

    class Embedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Tensor) -> Tensor:
            features = dict(zip(names, tensors, strict=True))
            return self.model(features)[OUTPUT]

    axes = {name: {0: "batch", 1: "tokens"} for name in names} | {OUTPUT: {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        # Tracer warnings about Python branches on shapes: _check runs other shapes instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Embedding().eval(),
            tuple(inputs.values()),
            str(path),
            input_names=names,
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def _check(model: SentenceTransformer, work: Path, names: list[str]) -> None:
    """ModelError unless the export gives the torch model's vectors on other shapes."""
    import onnxruntime as ort

    texts = list(_CHECK_TEXTS)
    expected = model.encode(
        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    batch = model.tokenizer(texts, padding=True, truncation=True, return_tensors="np")
    session = ort.InferenceSession(str(work / MODEL_FILE), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT], {n: batch[n].astype(np.int64) for n in names})[0]
    got = got / np.linalg.norm(got, axis=1, keepdims=True)
    worst = float(np.min(np.sum(got * expected, axis=1)))
    if worst < MIN_COSINE:
        raise ModelError(
            f"the ONNX export of this model does not reproduce its vectors (cosine {worst:.4f}); "
            "use NEWS_ASSISTANT_EMBEDDER__BACKEND=torch for it"
        )


def quantize(fp32: Path, int8: Path) -> None:
    """Dynamic int8 quantisation of the weights, one scale per output channel (measured on
    e5: cosine to fp32 at least 0.994 where one scale per tensor gave 0.976)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _root_logging_quiet():
        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=_reduce_range(),
        )


@contextmanager
def _root_logging_quiet() -> Iterator[None]:
    """The quantiser logs each node it skips, and advice, on the root logger: errors only."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def _reduce_range() -> bool:
    """7-bit weights on an x86 CPU without VNNI: ONNX Runtime's advice against the saturation
    of its u8 x s8 kernels there (VNNI computes the products exactly, so it keeps 8 bits)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text(encoding="utf-8").split())
    except OSError:
        return False  # not Linux: no flags to read (Apple's arm64 has no such saturation)
    return "avx2" in flags and not {"avx512_vnni", "avx_vnni"} & flags
