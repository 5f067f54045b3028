"""The onnx and onnx-int8 embedder backends at run time: a model exported by core/onnx_model.py
run by ONNX Runtime, with the tokenizer, prompts and length limit its export recorded. Torch is
not used here (the export needed it once)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.embedder import PromptedEmbedder, requested_threads
from core.onnx_model import MODEL_FILE, OUTPUT, read_meta

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

log = logging.getLogger(__name__)


class OnnxEmbedder(PromptedEmbedder):
    """The vectors of SentenceTransformerEmbedder (onnx: the same up to float rounding; int8:
    close) from an export folder. As sentence-transformers' encode does, the texts of a call are
    sorted by length (characters, longest first) before they are cut into batches, so a batch
    pads little. ONNX Runtime fixes a session's threads when it opens it, so a session opens on
    first use with the count use_threads asked for last, and one more for another count (a
    server asking with one thread and ingesting with every core keeps both: the model's memory
    twice, rather than 0.6-4 s to open it again at every switch); at most SESSIONS are kept."""

    SESSIONS = 2

    def __init__(self, folder: Path, name: str, *, batch_size: int) -> None:
        from transformers import AutoTokenizer

        meta = read_meta(folder)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        super().__init__(tokenizer, dict(meta["prompts"]), int(meta["max_seq_length"]))
        self.folder = Path(folder)
        self.name = name
        self.batch_size = batch_size
        self.dim = int(meta["dim"])
        self.inputs = [str(n) for n in meta["inputs"]]
        self.max_seq_length = int(meta["max_seq_length"])
        self._sessions: dict[int, InferenceSession] = {}  # by thread count, oldest first
        self._opening = threading.Lock()

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> np.ndarray:
        prefix = self.prompts.get(prompt_name or "", "")
        session = self.session()
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        for lo in range(0, len(texts), self.batch_size):
            rows = order[lo : lo + self.batch_size]
            batch = self.tokenizer(
                [prefix + texts[i] for i in rows],
                padding=True,
                truncation="longest_first",
                max_length=self.max_seq_length,
                return_tensors="np",
            )
            feed = {name: batch[name].astype(np.int64) for name in self.inputs}
            vectors[rows] = session.run([OUTPUT], feed)[0]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def session(self) -> InferenceSession:
        """The ONNX Runtime session with the thread count asked for now."""
        threads = requested_threads()
        with self._opening:
            if threads not in self._sessions:
                if len(self._sessions) >= self.SESSIONS:
                    del self._sessions[next(iter(self._sessions))]
                self._sessions[threads] = open_session(self.folder / MODEL_FILE, threads)
            return self._sessions[threads]


def open_session(path: Path, threads: int) -> InferenceSession:
    """A CPU session with `threads` intra-op threads (0: ONNX Runtime's default, one per
    physical core) that sleep while they wait instead of spinning (measured on a busy 2-core
    machine: 1.6-2x the texts per second of spinning ones; OMP_WAIT_POLICY=PASSIVE is the same
    choice for torch), and only errors logged."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3
    log.debug("opening %s with %d threads", path, threads)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
