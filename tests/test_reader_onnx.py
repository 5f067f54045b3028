"""The onnx reader backends (core/reader_onnx.py) on the tiny random reader of
test_reader_training.py: the export reads as the torch reader does, is made once and made
again when the weights change, int8 still points inside the sentence, and the pipeline's
factory builds the backend the settings name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_reader_training import FIXTURE, backbone, tiny_reader  # noqa: F401 (fixture)

from assistant.ask.read import _load
from core.errors import ModelError
from core.reader_model import WEIGHTS_NAME, ReaderPair, load_reader, save_delta
from core.reader_onnx import (
    META_NAME,
    OnnxReader,
    ensure_reader_onnx,
    load_onnx_reader,
    reader_onnx_dir,
)
from core.settings import ReaderSettings

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def fixture_pairs() -> list[ReaderPair]:
    """Each fixture question against each sentence-like part of its paragraph."""
    pairs = []
    for paragraphs in FIXTURE.values():
        for context, questions in paragraphs:
            parts = [p.strip() + "." for p in context.split(".") if p.strip()]
            for _, question, _ in questions:
                pairs += [
                    ReaderPair(question, part, parts[i - 1] if i else "")
                    for i, part in enumerate(parts)
                ]
    return pairs


@pytest.fixture
def weights(backbone: Path, tmp_path: Path) -> Path:  # noqa: F811 (the fixture above)
    model, _ = tiny_reader(backbone)
    return save_delta(model, tmp_path / "reader" / WEIGHTS_NAME, max_len=48)


def test_the_export_reads_as_the_torch_reader(
    weights: Path,
    backbone: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    pairs = fixture_pairs()
    for max_len in (None, 32):  # as trained (48), and shorter readings
        expected = load_reader(weights, backbone, max_len=max_len).read(pairs)
        onnx = load_onnx_reader(weights, backbone, tmp_path / "cache", threads=1, max_len=max_len)
        found = onnx.read(pairs)
        assert len(found) == len(pairs) > 4 and onnx.max_len == (max_len or 48)
        for want, got in zip(expected, found, strict=True):
            assert (got.start, got.end) == (want.start, want.end)
            assert got.has_answer == pytest.approx(want.has_answer, abs=1e-4)


def test_the_export_is_made_once_and_again_for_new_weights(
    weights: Path,
    backbone: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    folder = ensure_reader_onnx(weights, backbone, cache, "onnx")
    made = (folder / META_NAME).stat().st_mtime_ns
    assert ensure_reader_onnx(weights, backbone, cache, "onnx") == folder
    assert (folder / META_NAME).stat().st_mtime_ns == made
    model, _ = tiny_reader(backbone)
    save_delta(model, weights, max_len=32)  # retrained: other weights at the same path
    os.utime(weights, ns=(made + 10**9, made + 10**9))
    assert ensure_reader_onnx(weights, backbone, cache, "onnx") == folder
    assert (folder / META_NAME).stat().st_mtime_ns != made
    assert OnnxReader(folder).max_len == 32
    assert sorted(p.name for p in cache.iterdir()) == [folder.name]  # no temporary left


def test_int8_points_inside_the_sentence(
    weights: Path,
    backbone: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    reader = load_onnx_reader(weights, backbone, tmp_path / "cache", "onnx-int8", threads=1)
    for pair, reading in zip(fixture_pairs(), reader.read(fixture_pairs()), strict=True):
        assert 0.0 <= reading.has_answer <= 1.0
        assert 0 <= reading.start <= reading.end <= len(pair.sentence)
    assert reader_onnx_dir(weights, tmp_path / "cache", "onnx-int8").is_dir()


def test_the_factory_builds_the_backend_the_settings_name(
    weights: Path,
    backbone: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import core.e5_model

    monkeypatch.setattr(core.e5_model, "ensure_e5_model", lambda cache_dir: backbone)
    onnx = _load(weights, ReaderSettings(backend="onnx", threads=1), tmp_path / "cache")
    torch_reader = _load(weights, ReaderSettings(backend="torch"), tmp_path / "cache")
    assert isinstance(onnx, OnnxReader)
    assert type(torch_reader).__name__ == "Reader"
    assert onnx.max_len == torch_reader.max_len == ReaderSettings().max_len  # type: ignore[attr-defined]
    trained = _load(weights, ReaderSettings(backend="torch", max_len=None), tmp_path / "cache")
    assert trained.max_len == 48  # type: ignore[attr-defined]


def test_weights_that_are_not_a_reader_are_named(
    backbone: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    bad = tmp_path / WEIGHTS_NAME
    bad.write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="cannot read reader weights"):
        load_onnx_reader(bad, backbone, tmp_path / "cache")
    with pytest.raises(ModelError, match="make train-reader"):
        load_onnx_reader(tmp_path / "missing", backbone, tmp_path / "cache")


def test_without_the_onnx_packages_the_reader_runs_on_torch_and_says_so(
    weights: Path,
    backbone: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import importlib.util

    import core.e5_model

    real = importlib.util.find_spec
    monkeypatch.setattr(core.e5_model, "ensure_e5_model", lambda cache_dir: backbone)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a)
    )
    reader = _load(weights, ReaderSettings(backend="onnx"), tmp_path / "cache")
    assert type(reader).__name__ == "Reader"
    assert "pip install 'news-assistant[onnx]'" in caplog.text and "runs on torch" in caplog.text
    assert not (tmp_path / "cache").exists()  # nothing exported
