"""The server (`news-assistant serve`): a real uvicorn server on 127.0.0.1 over a tmp store
holding the sample article, driven by the openai client, langchain-openai's ChatOpenAI and
plain HTTP. The hashing embedder keeps it fast: these tests are about the server, not the
answers (tests/test_answering.py is)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import uvicorn
from conftest import GRADIO_LOOPS, SAMPLE_ARTICLE, SAMPLE_SOURCE, close_gradio_loops, free_port
from fastapi import FastAPI
from langchain_openai import ChatOpenAI

from assistant import Assistant, HashingEmbedder, Settings, with_location
from assistant.frontends import cli
from assistant.frontends.openai_format import answer_markdown, model_name, text_pieces
from assistant.frontends.server import build_app, is_loopback
from core.errors import SettingsError
from core.settings import AnswerSettings, ServerSettings
from core.types import Answer, Citation

FIXTURES = Path(__file__).parent / "fixtures" / "load"
QUESTION = "كم عدد القتلى المدنيين؟"
KEY = "s3cret-key"
# The tests talk to 127.0.0.1 only, never through a proxy: plain HTTP, and the openai client's
# own kind of client (httpx or, from openai 3, httpx2).
NO_PROXY = httpx.Client(trust_env=False)
OPENAI_HTTP = openai.DefaultHttpxClient(trust_env=False)
pytestmark = GRADIO_LOOPS  # the web UI is built in this module's servers: see conftest


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """`app` served by a real uvicorn on a free 127.0.0.1 port, in a thread; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def settings_for(store: Path, **server: Any) -> Settings:
    settings = with_location(Settings(answer=AnswerSettings(min_confidence=0.0)), str(store))
    return settings.model_copy(update={"server": ServerSettings(**server)})


class GatedEmbedder(HashingEmbedder):
    """Hashing vectors; while `hold` is set, embedding passages waits for `opened`: an ingest
    that stays running while the test asks questions."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.opened = threading.Event()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if self.hold:
            self.opened.wait(timeout=30)
        return super().embed_passages(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return super().embed_passages(texts)  # never held (the base class's calls passages')


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    NO_PROXY.close()
    OPENAI_HTTP.close()


@pytest.fixture(scope="module")
def embedder() -> GatedEmbedder:
    return GatedEmbedder()


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, embedder: GatedEmbedder) -> Assistant:
    store = tmp_path_factory.mktemp("server") / "store"
    assistant = Assistant(settings_for(store), embedder=embedder)
    assert assistant.ingest([SAMPLE_ARTICLE], defaults={"source": SAMPLE_SOURCE}).articles == 1
    return assistant


@pytest.fixture(scope="module")
def url(assistant: Assistant) -> Iterator[str]:
    """The server, open (no API key) as on 127.0.0.1 by default; without the web UI, which
    `test_the_web_ui_is_served_at_the_root_behind_the_key` serves."""
    with running(build_app(assistant, assistant.settings, ui=False)) as base:
        yield base


@pytest.fixture(scope="module")
def keyed_url(assistant: Assistant) -> Iterator[str]:
    """The same assistant behind an API key."""
    settings = assistant.settings.model_copy(update={"server": ServerSettings(api_key=KEY)})
    with running(build_app(assistant, settings, ui=False)) as base:
        yield base


def client(base: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=key, http_client=OPENAI_HTTP, max_retries=0)


def article_text() -> str:
    return SAMPLE_ARTICLE.read_text(encoding="utf-8")


# -- OpenAI-compatible chat --------------------------------------------------------------


def test_openai_client_gets_the_answer_with_sources_and_citations(url: str) -> None:
    reply = client(url).chat.completions.create(
        model="news-assistant", messages=[{"role": "user", "content": QUESTION}]
    )
    content = reply.choices[0].message.content or ""
    assert reply.model == "news-assistant" and reply.choices[0].finish_reason == "stop"
    assert "[1]" in content and "**Sources**" in content
    extra = reply.model_extra or {}
    assert extra["answered"] is True and extra["citations"]
    for citation in extra["citations"]:
        assert article_text()[citation["start"] : citation["end"]] == citation["sentence"]
        assert f"- [{citation['number']}] " in content
    assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_openai_client_streams_the_same_answer(url: str) -> None:
    messages: Any = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": QUESTION},
    ]
    whole = client(url).chat.completions.create(model="news-assistant", messages=messages)
    stream = client(url).chat.completions.create(
        model="news-assistant",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len(chunks) > 3 and chunks[-1].choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == whole.choices[0].message.content
    last = chunks[-1].model_extra or {}
    assert last["citations"] == (whole.model_extra or {})["citations"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_raw_stream_is_server_sent_events_ending_with_done(url: str) -> None:
    body = {
        "model": "news-assistant",
        "stream": True,
        "messages": [{"role": "user", "content": QUESTION}],
    }
    with NO_PROXY.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"


def test_follow_up_reads_the_conversation_and_k_and_filters_ride_along(url: str) -> None:
    first = client(url).chat.completions.create(
        model="news-assistant", messages=[{"role": "user", "content": QUESTION}]
    )
    follow = client(url).chat.completions.create(
        model="news-assistant",
        messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": first.choices[0].message.content or ""},
            {"role": "user", "content": [{"type": "text", "text": "ومن نفذ الغارة؟"}]},
        ],
        extra_body={"k": 2, "filters": {"source": SAMPLE_SOURCE.upper()}},
    )
    assert 1 <= len((follow.model_extra or {})["citations"]) <= 2
    with pytest.raises(openai.BadRequestError, match="no stored article matches"):
        client(url).chat.completions.create(
            model="news-assistant",
            messages=[{"role": "user", "content": QUESTION}],
            extra_body={"filters": {"source": "Nobody"}},
        )


def test_models_and_wrong_model_and_bad_requests(url: str) -> None:
    assert [m.id for m in client(url).models.list()] == ["news-assistant"]
    with pytest.raises(
        openai.NotFoundError, match="'gpt-4o' is not served here: use 'news-assistant'"
    ):
        client(url).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": QUESTION}]
        )
    with pytest.raises(openai.BadRequestError, match="no user message"):
        client(url).chat.completions.create(
            model="news-assistant", messages=[{"role": "system", "content": "hello"}]
        )
    response = NO_PROXY.post(f"{url}/v1/chat/completions", json={"model": "news-assistant"})
    assert response.status_code == 422
    assert response.json()["error"]["message"] == "body.messages: Field required"


def test_model_name_follows_the_answer_mode() -> None:
    assert model_name(Settings()) == "news-assistant"

    class Mode:
        mode = "llm"

    class LlmSettings:
        answer = Mode()

    assert model_name(LlmSettings()) == "news-assistant-llm"


def test_langchain_chat_openai_invokes_and_streams(url: str) -> None:
    chat = ChatOpenAI(
        model="news-assistant", base_url=f"{url}/v1", api_key="unused", http_client=OPENAI_HTTP
    )
    message = chat.invoke(QUESTION)
    assert "[1]" in str(message.content) and "**Sources**" in str(message.content)
    streamed = "".join(str(chunk.content) for chunk in chat.stream(QUESTION))
    assert streamed == message.content


def test_markdown_lists_sources_or_nearest_sentences() -> None:
    cited = Citation(
        "s1", "a1", "Strike\nkills 54", "Monitor", "", "2018-06-29", "en", 3, 10, 40,
        "Fifty-four people died.", number=1,
    )  # fmt: skip
    answered = Answer("How many died?", "“Fifty-four” [1]", True, citations=[cited])
    assert answer_markdown(answered) == (
        "“Fifty-four” [1]\n\n**Sources**\n\n"
        "- [1] Strike kills 54 — Monitor, 2018-06-29: “Fifty-four people died.”"
    )
    unanswered = replace(answered, text="The articles do not say.", answered=False)
    assert "**Nearest sentences**" in answer_markdown(unanswered)
    assert answer_markdown(replace(unanswered, citations=[])) == "The articles do not say."


def test_text_pieces_give_the_text_back_whole() -> None:
    text = "قال المرصد إنّ 54 شخصاً قتلوا [1].\n\n**Sources**\n\n- [1] x:  “y”  "
    pieces = list(text_pieces(text, size=8))
    assert "".join(pieces) == text and len(pieces) > 3


# -- REST ----------------------------------------------------------------------------------


def test_api_ask_returns_the_answer_json(url: str, assistant: Assistant) -> None:
    body = {"question": QUESTION, "k": 3, "filters": {"source": SAMPLE_SOURCE}}
    data = NO_PROXY.post(f"{url}/api/ask", json=body).json()
    expected = assistant.ask(QUESTION, k=3).to_dict()
    assert set(data) == set(expected) and data["text"] == expected["text"]
    assert data["citations"] == expected["citations"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"question": QUESTION, "k": 0}, "body.k: Input should be greater than or equal to 1"),
        ({"question": ""}, "body.question: String should have at least 1 character"),
        ({"question": QUESTION, "filters": {"since": "July"}}, "body.filters.since: Input should"),
        ({"question": QUESTION, "filters": {"since": "2016-01-01", "until": "2015-01-01"}},
         "since (2016-01-01) is after until (2015-01-01): swap them"),
        ({"question": "?!"}, "no words"),
        ({"question": QUESTION, "filters": {"source": "Nobody"}}, "no stored article matches"),
    ],
)  # fmt: skip
def test_api_ask_names_what_is_wrong(url: str, body: dict[str, Any], message: str) -> None:
    response = NO_PROXY.post(f"{url}/api/ask", json=body)
    assert response.status_code in (400, 422)
    assert message in response.json()["error"]["message"]
    assert "Traceback" not in response.text


def wait_for(
    base: str, job: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = NO_PROXY.get(f"{base}/api/jobs/{job['id']}", headers=headers).json()
    return job


def test_upload_list_and_delete_articles(url: str) -> None:
    files = [("files", ("harbour.txt", (FIXTURES / "harbour.txt").read_bytes(), "text/plain"))]
    files += [("files", ("one.json", (FIXTURES / "one.json").read_bytes()))]
    response = NO_PROXY.post(f"{url}/api/articles", files=files, params={"source": "Upload"})
    assert response.status_code == 202
    assert response.headers["location"] == f"/api/jobs/{response.json()['id']}"
    job = wait_for(url, response.json())
    assert job["status"] == "done", job
    assert job["summary"]["articles"] == 2 and job["summary"]["failed"] == 0
    assert job["progress"]["seen"] == job["progress"]["total"]
    listed = {a["title"]: a for a in NO_PROXY.get(f"{url}/api/articles").json()}
    harbour = listed["Harbour reopens after storm"]
    assert harbour["source"] == "Upload" and harbour["origin"] == "harbour.txt"
    edited = [("files", ("harbour.txt", b"Harbour reopens after storm\n\nShips are back."))]
    again = NO_PROXY.post(f"{url}/api/articles", files=edited, params={"wait": "true"})
    assert again.status_code == 200 and again.json()["summary"]["articles"] == 1
    listed = {a["title"]: a for a in NO_PROXY.get(f"{url}/api/articles").json()}
    assert listed["Harbour reopens after storm"]["id"] == harbour["id"]  # replaced, not added
    assert NO_PROXY.delete(f"{url}/api/articles/{harbour['id']}").json() == {
        "deleted": harbour["id"]
    }
    gone = NO_PROXY.delete(f"{url}/api/articles/{harbour['id']}")
    assert gone.status_code == 404 and "no article" in gone.json()["error"]["message"]
    assert NO_PROXY.get(f"{url}/api/jobs/nope").status_code == 404


def test_a_file_that_does_not_load_is_named_in_the_summary(url: str) -> None:
    files = [("files", ("broken.json", b"{not json"))]
    job = NO_PROXY.post(f"{url}/api/articles", files=files, params={"wait": "true"}).json()
    assert job["status"] == "done" and job["summary"]["failed"] == 1
    assert job["summary"]["failures"][0]["file"] == "broken.json"


@pytest.mark.parametrize(
    ("files", "status", "message"),
    [
        ([("files", ("report.pdf", b"%PDF"))], 400, "report.pdf: unsupported file type '.pdf'"),
        ([("files", ("a.txt", b"x")), ("files", ("a.txt", b"y"))], 400, "a.txt: sent twice"),
        ([("files", ("big.txt", b"x" * 1100))], 413, "big.txt: 0.0 MB is over the limit"),
        ([("files", (f"{i}.txt", b"x")) for i in range(4)], 400, "Too many files"),
        ([("other", ("a.txt", b"x"))], 400, "no files: send them as multipart form field 'files'"),
    ],
)
def test_bad_uploads_are_named(
    assistant: Assistant, files: list[Any], status: int, message: str
) -> None:
    limits = {"max_upload_mb": 1000 / (1024 * 1024), "max_upload_files": 3}
    settings = assistant.settings.model_copy(update={"server": ServerSettings(**limits)})
    app = build_app(assistant, settings, ui=False)
    with running(app) as base:
        response = NO_PROXY.post(f"{base}/api/articles", files=files)
        too_big = NO_PROXY.post(f"{base}/api/articles", content=b"x" * 5_000_000)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]
    assert too_big.status_code == 413 and "upload too large" in too_big.json()["error"]["message"]


def test_questions_are_answered_while_an_ingest_runs(url: str, embedder: GatedEmbedder) -> None:
    articles = "\n".join(
        f'{{"title": "Report {i}", "content": "The port of Town{i} handled {i} ships on Monday."}}'
        for i in range(6)
    )
    files = [("files", ("reports.jsonl", articles.encode()))]
    assert NO_PROXY.post(f"{url}/api/ask", json={"question": QUESTION}).status_code == 200
    embedder.hold, embedder.opened = True, threading.Event()  # (after the background is embedded)
    try:
        job = NO_PROXY.post(f"{url}/api/articles", files=files).json()
        deadline = time.monotonic() + 20
        while job["status"] != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
            job = NO_PROXY.get(f"{url}/api/jobs/{job['id']}").json()
        assert job["status"] == "running", job
        for _ in range(3):
            response = NO_PROXY.post(f"{url}/api/ask", json={"question": QUESTION})
            assert response.status_code == 200 and response.json()["citations"]
        assert NO_PROXY.get(f"{url}/api/jobs/{job['id']}").json()["status"] == "running"
    finally:
        embedder.hold = False
        embedder.opened.set()
    job = wait_for(url, job)
    assert job["status"] == "done" and job["summary"]["articles"] == 6


def test_parallel_requests_are_all_answered(url: str) -> None:
    def ask(i: int) -> int:
        question = QUESTION if i % 2 else "من نفذ الغارة؟"
        return NO_PROXY.post(f"{url}/api/ask", json={"question": question}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(ask, range(24))) == [200] * 24


# -- security ------------------------------------------------------------------------------


def test_the_api_key_is_required_for_everything_but_health(keyed_url: str) -> None:
    assert NO_PROXY.get(f"{keyed_url}/health").status_code == 200
    for method, path in [("GET", "/v1/models"), ("POST", "/api/ask"), ("GET", "/api/articles")]:
        response = NO_PROXY.request(method, f"{keyed_url}{path}", json={"question": QUESTION})
        assert response.status_code == 401
        assert "missing API key" in response.json()["error"]["message"]
        assert response.headers["www-authenticate"] == "Bearer"
    wrong = NO_PROXY.get(f"{keyed_url}/api/articles", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "wrong API key" in wrong.json()["error"]["message"]
    with pytest.raises(openai.AuthenticationError):
        client(keyed_url, "nope").models.list()
    reply = client(keyed_url, KEY).chat.completions.create(
        model="news-assistant", messages=[{"role": "user", "content": QUESTION}]
    )
    assert (reply.model_extra or {})["answered"]


def test_the_web_ui_is_served_at_the_root_behind_the_key(assistant: Assistant) -> None:
    settings = assistant.settings.model_copy(update={"server": ServerSettings(api_key=KEY)})
    with running(build_app(assistant, settings)) as base:
        health = NO_PROXY.get(f"{base}/health").json()
        page = NO_PROXY.get(f"{base}/")
        config = NO_PROXY.get(f"{base}/config")
        login = NO_PROXY.post(f"{base}/login", data={"username": "news-assistant", "password": KEY})
        bad = NO_PROXY.post(f"{base}/login", data={"username": "news-assistant", "password": "x"})
        ask = NO_PROXY.post(f"{base}/api/ask", json={"question": QUESTION})
    close_gradio_loops()
    assert health == {"status": "ok", "model": "news-assistant"}
    assert page.status_code == 200 and "gradio" in page.text.lower()
    assert config.status_code == 401 and login.status_code == 200 and bad.status_code == 400
    assert ask.status_code == 401


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.4", "::", "example.org"])
def test_an_exposed_host_refuses_to_start_without_a_key(
    assistant: Assistant, host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not is_loopback(host)
    settings = assistant.settings.model_copy(update={"server": ServerSettings(host=host)})
    with pytest.raises(SettingsError, match="NEWS_ASSISTANT_SERVER__API_KEY"):
        build_app(assistant, settings)
    assert cli.main(["serve", "--host", host], assistant) == 2
    assert "refusing to listen on" in capsys.readouterr().err
    blank = ServerSettings(host="127.0.0.1", api_key=" ")
    with pytest.raises(SettingsError, match="blank"):
        build_app(assistant, assistant.settings.model_copy(update={"server": blank}))


def test_unexpected_errors_are_json_without_a_stack_trace(tmp_path: Path) -> None:
    class Broken:
        def draft(self, *args: Any) -> Any:
            raise RuntimeError("secret internals at /srv/x.py line 3")

    broken = Assistant(
        settings_for(tmp_path / "store"), embedder=HashingEmbedder(), answerer=Broken()
    )
    broken.ingest([SAMPLE_ARTICLE])
    with running(build_app(broken, broken.settings, ui=False)) as base:
        response = NO_PROXY.post(f"{base}/api/ask", json={"question": QUESTION})
    assert response.status_code == 500
    message = response.json()["error"]["message"]
    assert message == "internal error (RuntimeError); the details are in the server log"
    assert "secret" not in response.text and "Traceback" not in response.text


def test_serve_command_passes_host_port_and_ui(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_serve(_: Assistant, settings: Settings, *, ui: bool) -> None:
        seen.update(host=settings.server.host, port=settings.server.port, ui=ui)

    monkeypatch.setattr("assistant.frontends.server.serve", fake_serve)
    assert cli.main(["serve", "--port", "9123", "--no-ui"], assistant) == 0
    assert seen == {"host": "127.0.0.1", "port": 9123, "ui": False}
