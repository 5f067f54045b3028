"""The reader's training loop: batches from `training.reader_data`, AdamW with linear warmup and
decay, dev scores at each checkpoint, checkpoints that `--resume` continues exactly, and at the
end the shipped fp16 delta with its manifest.

Imports torch at module level: `training.train_reader` imports this module only after setting
OMP_WAIT_POLICY.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from core.reader_model import (
    WEIGHTS_NAME,
    Reader,
    ReaderBatch,
    ReaderLogits,
    ReaderModel,
    ReaderPair,
    build_reader_model,
    encode,
    save_delta,
    token_span,
)
from training.reader_data import (
    LEFT_OUT,
    Corpus,
    Paragraph,
    ReaderExample,
    Sampling,
    by_length,
    epoch_examples,
    example_counts,
    load_corpus,
    split_dev,
)
from training.reader_metrics import Scored, dev_scores, scores_by_language

if TYPE_CHECKING:
    from assistant.ask.read import SentenceReader
    from training.train_reader import TrainOptions

CHECKPOINT_NAME = "checkpoint.pt"
MANIFEST_NAME = "manifest.json"
LOG_NAME = "train.log"
CALIBRATION_STEPS = 10  # steps timed (after 2 warm-up steps) to size the plan from --minutes
PLAN_SHARE = 0.9  # of the remaining budget planned as steps; the rest covers dev checks
DEV_BATCH = 32
CLIP_NORM = 1.0
PAUSED = "paused by --stop-after"
# Options a checkpoint must be resumed with: they change the data order or the model.
_FIXED = ("seed", "batch", "max_len", "tuned_layers", "layers", "dev_percent")


class TrainingError(Exception):
    """A run that cannot go on as asked; the message says how to fix it."""


@dataclass
class TrainState:
    """Where a run stands; saved in every checkpoint."""

    step: int = 0
    examples_seen: int = 0
    epoch: int = 0
    position: int = 0  # index of the next example in the epoch
    planned_steps: int = 0  # the LR schedule's length; 0 until sized from the first steps
    seconds: float = 0.0  # wall time in the training loop, over every session
    last_loss: float = math.nan  # mean loss of the last logged window
    checks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Targets:
    start: Tensor  # first answer token, -100 where there is no span to learn
    end: Tensor
    has_answer: Tensor  # 1.0 / 0.0

    def to(self, device: torch.device) -> Targets:
        return Targets(self.start.to(device), self.end.to(device), self.has_answer.to(device))


@dataclass(frozen=True)
class RunData:
    corpus: Corpus
    train: list[Paragraph]
    first_epoch: list[ReaderExample]
    dev: list[ReaderExample]


class RunLog:
    """Prints each line and appends it to the run's log file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        print(line, flush=True)
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(line + "\n")


class EpochStream:
    """The run's batches in order, epoch after epoch: fresh negatives each epoch, batches of
    similar length, a last incomplete batch dropped."""

    def __init__(self, data: RunData, seed: int, batch: int) -> None:
        self.paragraphs, self.seed, self.batch = data.train, seed, batch
        self._epoch, self._examples = 0, by_length(data.first_epoch, batch, f"{seed}:0")

    def examples(self, epoch: int) -> list[ReaderExample]:
        if epoch != self._epoch:
            examples = epoch_examples(self.paragraphs, self.seed, epoch)
            self._epoch, self._examples = (
                epoch,
                by_length(examples, self.batch, f"{self.seed}:{epoch}"),
            )
        return self._examples

    def take(self, state: TrainState) -> list[ReaderExample]:
        """The next batch; advances `state.epoch` and `state.position`."""
        if state.position + self.batch > len(self.examples(state.epoch)):
            state.epoch, state.position = state.epoch + 1, 0
        examples = self.examples(state.epoch)
        if len(examples) < self.batch:
            raise TrainingError(f"an epoch has {len(examples)} examples: fewer than --batch")
        state.position += self.batch
        return examples[state.position - self.batch : state.position]


# ----------------------------------------------------------------------------- one step


def pair_of(example: ReaderExample) -> ReaderPair:
    return ReaderPair(example.question, example.sentence, example.previous, example.next)


def make_targets(batch: ReaderBatch, examples: list[ReaderExample]) -> Targets:
    """Token positions of each gold span (-100 when none, or when truncation cut it off)."""
    spans = [
        token_span(offsets, *example.answer) if example.answer else None
        for offsets, example in zip(batch.offsets, examples, strict=True)
    ]
    return Targets(
        torch.tensor([s[0] if s else -100 for s in spans]),
        torch.tensor([s[1] if s else -100 for s in spans]),
        torch.tensor([float(example.answer is not None) for example in examples]),
    )


def reader_loss(logits: ReaderLogits, targets: Targets) -> Tensor:
    """Has-answer binary cross-entropy plus, on rows with a span, mean start/end cross-entropy."""
    loss = F.binary_cross_entropy_with_logits(logits.has_answer, targets.has_answer)
    rows = targets.start >= 0
    if bool(rows.any()):
        start = F.cross_entropy(logits.start[rows], targets.start[rows])
        end = F.cross_entropy(logits.end[rows], targets.end[rows])
        loss = loss + (start + end) / 2
    return loss


def make_optimizer(model: ReaderModel, encoder_lr: float, head_lr: float) -> torch.optim.AdamW:
    """AdamW over the tuned parameters only: the encoder's layers and the heads at their own LR
    (kept as each group's `base_lr`, which the schedule scales)."""
    encoder = [
        p for n, p in model.named_parameters() if p.requires_grad and n.startswith("backbone.")
    ]
    heads = [
        p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("backbone.")
    ]
    groups = [
        {"params": encoder, "lr": encoder_lr, "base_lr": encoder_lr},
        {"params": heads, "lr": head_lr, "base_lr": head_lr},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=0.01)


def train_step(
    model: ReaderModel, optimizer: torch.optim.Optimizer, batch: ReaderBatch, targets: Targets
) -> float:
    """One optimisation step on one batch (already on the model's device); returns the loss."""
    model.train()
    loss = reader_loss(model(batch), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
    optimizer.step()
    return float(loss.detach())


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warmup over `warmup` steps, then linear decay to 0 at `total` (0 = unknown yet)."""
    if step < warmup or not total:
        return min(1.0, (step + 1) / max(1, warmup))
    return max(0.0, (total - step) / max(1, total - warmup))


def evaluate(
    model: ReaderModel,
    tokenizer: Any,
    examples: list[ReaderExample],
    max_len: int,
    device: torch.device,
) -> list[Scored]:
    """Read every example with the model (in eval mode, then back to train mode)."""
    reader = Reader(model, tokenizer, max_len=max_len, batch_size=DEV_BATCH, device=device)
    scored = score_reader(reader, examples)
    model.train()
    return scored


def score_reader(reader: SentenceReader, examples: list[ReaderExample]) -> list[Scored]:
    """Read every example with `reader` (any backend) and pair each reading with its labels."""
    readings = reader.read([pair_of(e) for e in examples])
    return [
        Scored(
            e.language, e.answer is not None, r.has_answer, e.sentence[r.start : r.end], e.answers
        )
        for e, r in zip(examples, readings, strict=True)
    ]


# ----------------------------------------------------------------------------- the run


def train(options: TrainOptions) -> dict[str, Any] | None:
    """Run or resume training; returns the manifest, or None when paused by --stop-after."""
    options.out.mkdir(parents=True, exist_ok=True)
    log = RunLog(options.out / LOG_NAME)
    device = _device(options.threads)
    log(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    data = prepare_data(options, log)
    torch.manual_seed(options.seed)
    folder = options.backbone or _default_backbone()
    model, tokenizer = build_reader_model(folder, options.tuned_layers, options.layers)
    trainer = Trainer(options, model.to(device), tokenizer, data, log)
    trainer.start()
    return trainer.run()


def prepare_data(options: TrainOptions, log: RunLog) -> RunData:
    corpus = load_corpus(options.data)
    train_paragraphs, dev_paragraphs = split_dev(corpus.paragraphs, options.dev_percent)
    first = epoch_examples(train_paragraphs, options.seed, 0)
    dev = epoch_examples(dev_paragraphs, options.seed, 0, Sampling(arabic_copies=1))
    data = RunData(corpus, train_paragraphs, first, dev)
    for line in data_summary(data):
        log(line)
    return data


def data_summary(data: RunData) -> list[str]:
    train, dev = example_counts(data.first_epoch), example_counts(data.dev)
    lines = []
    for name, stats in data.corpus.stats.items():
        t, d = train.get(name, {}), dev.get(name, {})
        lines.append(
            f"{name}: {stats.questions} questions ({stats.unanswerable} unanswerable), "
            f"{stats.paragraphs} paragraphs; dropped {stats.overlap_dropped} overlap ids, "
            f"{stats.misaligned_dropped} misaligned, {stats.across_sentences} across sentences | "
            f"epoch: {t.get('positives', 0)} pos / {t.get('negatives', 0)} neg; "
            f"dev: {d.get('positives', 0)} pos / {d.get('negatives', 0)} neg"
        )
    lines.append(f"epoch: {len(data.first_epoch)} examples; dev: {len(data.dev)} examples")
    return lines


@dataclass
class _Clock:
    """Wall-clock marks of one session."""

    first_step: int  # the step this session started at
    seconds_before: float  # loop time of earlier sessions
    started: float = field(default_factory=time.monotonic)
    checked: float = field(default_factory=time.monotonic)  # last dev check
    window: float = field(default_factory=time.monotonic)  # last log line
    calibration: float = 0.0  # when the steps timed for the plan began

    def seconds(self) -> float:
        return self.seconds_before + time.monotonic() - self.started


class Trainer:
    """One training session over a run folder."""

    def __init__(
        self,
        options: TrainOptions,
        model: ReaderModel,
        tokenizer: Any,
        data: RunData,
        log: RunLog,
    ) -> None:
        self.options, self.model, self.tokenizer = options, model, tokenizer
        self.data, self.log = data, log
        self.device = next(model.parameters()).device
        self.optimizer = make_optimizer(model, options.encoder_lr, options.head_lr)
        self.stream = EpochStream(data, options.seed, options.batch)
        self.state = TrainState(planned_steps=options.max_steps or 0)
        self.checkpoint_path = options.out / CHECKPOINT_NAME
        self._losses: list[float] = []

    def start(self) -> None:
        """Load the checkpoint when resuming; refuse to overwrite one otherwise."""
        exists = self.checkpoint_path.is_file()
        if exists and not self.options.resume:
            raise TrainingError(
                f"{self.checkpoint_path} exists: pass --resume to continue it, or pick a new --out"
            )
        if self.options.resume and not exists:
            self.log(f"no checkpoint in {self.options.out}: starting afresh")
        elif exists:
            self._restore()
            self.state.planned_steps = self.options.max_steps or self.state.planned_steps
            self.log(f"resumed at step {self.state.step} ({self.state.seconds:.0f} s trained)")

    def run(self) -> dict[str, Any] | None:
        """Train until a stop reason holds; then checkpoint, and unless paused, finish."""
        clock = _Clock(self.state.step, self.state.seconds)
        while (reason := self._stop_reason(clock.first_step)) is None:
            self._losses.append(self._step())
            self.state.seconds = clock.seconds()
            self._plan(clock)
            self._log_window(clock)
            if time.monotonic() - clock.checked >= self.options.checkpoint_minutes * 60:
                self._check()
                clock.checked = time.monotonic()
        self._log_window(clock, force=True)
        self.log(f"stopping at step {self.state.step}: {reason}")
        self._save_checkpoint()
        if reason == PAUSED:
            self.log(f"paused; continue with --resume --out {self.options.out}")
            return None
        return self._finish()

    def _stop_reason(self, first_step: int) -> str | None:
        options, state = self.options, self.state
        if options.max_steps is not None and state.step >= options.max_steps:
            return "reached --max-steps"
        if state.planned_steps and state.step >= state.planned_steps:
            return "reached the planned steps"
        if state.seconds >= options.minutes * 60:
            return "time budget spent"
        if options.stop_after is not None and state.step - first_step >= options.stop_after:
            return PAUSED
        return None

    def _step(self) -> float:
        examples = self.stream.take(self.state)
        batch = encode(self.tokenizer, [pair_of(e) for e in examples], self.options.max_len)
        targets = make_targets(batch, examples)
        warmup = self._warmup()
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * lr_factor(
                self.state.step, warmup, self.state.planned_steps
            )
        loss = train_step(
            self.model, self.optimizer, batch.to(self.device), targets.to(self.device)
        )
        self.state.step += 1
        self.state.examples_seen += len(examples)
        return loss

    def _warmup(self) -> int:
        planned = self.state.planned_steps
        return (
            min(self.options.warmup_steps, planned // 10) if planned else self.options.warmup_steps
        )

    def _plan(self, clock: _Clock) -> None:
        """Size the schedule from --minutes once the first steps have been timed."""
        done = self.state.step - clock.first_step
        if done == 2:
            clock.calibration = time.monotonic()
        if self.state.planned_steps or done != 2 + CALIBRATION_STEPS:
            return
        per_step = (time.monotonic() - clock.calibration) / CALIBRATION_STEPS
        left = self.options.minutes * 60 - self.state.seconds
        self.state.planned_steps = self.state.step + max(1, int(PLAN_SHARE * left / per_step))
        self.log(f"planned {self.state.planned_steps} steps ({per_step:.2f} s/batch measured)")

    def _log_window(self, clock: _Clock, *, force: bool = False) -> None:
        """Log the mean loss and speed of the steps since the last log line."""
        if not self._losses or (not force and self.state.step % self.options.log_every):
            return
        now, state = time.monotonic(), self.state
        state.last_loss = sum(self._losses) / len(self._losses)
        per_batch = (now - clock.window) / len(self._losses)
        lr = self.optimizer.param_groups[0]["lr"]
        self.log(
            f"step {state.step}/{state.planned_steps or '?'} loss {state.last_loss:.4f} "
            f"lr {lr:.2e} {per_batch:.2f} s/batch | epoch {state.epoch} "
            f"({state.position}/{len(self.stream.examples(state.epoch))}) "
            f"seen {state.examples_seen}"
        )
        self._losses, clock.window = [], now

    def _check(self) -> None:
        """Score a slice of dev, log it, save a checkpoint."""
        rows = evaluate(
            self.model,
            self.tokenizer,
            self.data.dev[: self.options.dev_check],
            self.options.max_len,
            self.device,
        )
        scores = dev_scores(rows)
        self.log(f"dev check at step {self.state.step}: {scores.line()}")
        self.state.checks.append({"step": self.state.step, **asdict(scores)})
        self._save_checkpoint()

    # ------------------------------------------------------------------------- checkpoints

    def _save_checkpoint(self) -> None:
        params = dict(self.model.named_parameters())
        payload = {
            "delta": {
                name: params[name].detach().cpu().clone() for name in self.model.delta_names()
            },
            "optimizer": self.optimizer.state_dict(),
            "state": asdict(self.state),
            "options": _fixed_options(self.options),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        work = self.checkpoint_path.with_suffix(".tmp")
        torch.save(payload, work)
        os.replace(work, self.checkpoint_path)

    def _restore(self) -> None:
        payload = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        wanted = _fixed_options(self.options)
        if payload["options"] != wanted:
            raise TrainingError(
                f"{self.checkpoint_path} was made with {payload['options']}, this run asks for "
                f"{wanted}: resume with the same options, or pick a new --out"
            )
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, tensor in payload["delta"].items():
                params[name].copy_(tensor)
        self.optimizer.load_state_dict(payload["optimizer"])
        self.state = TrainState(**payload["state"])
        torch.set_rng_state(payload["rng"])
        if payload["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(payload["cuda_rng"])

    # ------------------------------------------------------------------------- the end

    def _finish(self) -> dict[str, Any]:
        """Score all of dev, write the fp16 delta and manifest.json."""
        rows = evaluate(
            self.model, self.tokenizer, self.data.dev, self.options.max_len, self.device
        )
        scores, by_language = dev_scores(rows), scores_by_language(rows)
        self.log(f"dev (all): {scores.line()}")
        for language, each in by_language.items():
            self.log(f"dev ({language}): {each.line()}")
        path = self.options.out / WEIGHTS_NAME
        save_delta(self.model, path, max_len=self.options.max_len)
        manifest = self._manifest(
            path, {"all": asdict(scores)} | {k: asdict(v) for k, v in by_language.items()}
        )
        text = json.dumps(manifest, indent=2, ensure_ascii=False)
        (self.options.out / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")
        self.log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {MANIFEST_NAME}")
        return manifest

    def _manifest(self, weights: Path, dev: dict[str, Any]) -> dict[str, Any]:
        import transformers

        state, options, corpus = self.state, self.options, self.data.corpus
        train, held = example_counts(self.data.first_epoch), example_counts(self.data.dev)
        sets = {
            name: asdict(stats)
            | {"epoch_examples": train.get(name, {}), "dev_examples": held.get(name, {})}
            for name, stats in corpus.stats.items()
        }
        return {
            "backbone": self.model.backbone_name,
            "weights": {
                "file": weights.name,
                "bytes": weights.stat().st_size,
                "sha256": _sha256(weights),
                "dtype": "float16",
                "tuned_layers": options.tuned_layers,
                "layers": self.model.layers,
                "max_len": options.max_len,
            },
            "data": {
                "sets": sets,
                "left_out": LEFT_OUT,
                "overlap_ids_dropped": sum(s.overlap_dropped for s in corpus.stats.values()),
                "dev_percent": options.dev_percent,
                "epoch_examples": len(self.data.first_epoch),
            },
            "training": {
                "steps": state.step,
                "planned_steps": state.planned_steps,
                "examples_seen": state.examples_seen,
                "epochs": round(state.examples_seen / max(1, len(self.data.first_epoch)), 3),
                "seed": options.seed,
                "batch": options.batch,
                "encoder_lr": options.encoder_lr,
                "head_lr": options.head_lr,
                "wall_seconds": round(state.seconds, 1),
                "final_loss": state.last_loss,
                "device": str(self.device),
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "transformers": transformers.__version__,
            },
            "dev": dev,
            "checks": state.checks,
        }


def _fixed_options(options: TrainOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in _FIXED}


def _device(threads: int) -> torch.device:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(threads or cores or 1)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _default_backbone() -> Path:
    from core.e5_model import ensure_e5_model
    from core.settings import default_cache_dir

    return ensure_e5_model(default_cache_dir())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()
