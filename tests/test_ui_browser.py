"""The web UI end to end in a real browser (Debian's chromium driven by Playwright): the chat
over the real assistant and the bundled sample article, and uploads into a fresh store.
Nothing leaves 127.0.0.1: the page's requests elsewhere are refused and counted."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import LOCAL_HOSTS, close_gradio_loops, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOT_COPY = Path("/tmp/news-assistant-ui.png")  # for a person to look at
ANSWER_TIMEOUT_MS = 180_000  # the first question builds the answerer; the machine may be busy

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no {CHROMIUM}: install Debian's chromium (`make test` does: apt-get install "
        "chromium)",
    ),
    # Gradio makes an asyncio event loop for each Blocks built outside one and never closes
    # it (gradio.utils.safe_get_lock / safe_get_stop_event); the `serve` fixture makes them
    # finalise inside the test, where exactly these warnings are ignored.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. (<socket.socket|<function BaseEventLoop.__del__)"
        ":pytest.PytestUnraisableExceptionWarning"
    ),
    # Gradio's queue (Queue._get_df, its per-event statistics) uses two things pandas 3
    # deprecates; the warnings come from the server's threads while a test runs.
    pytest.mark.filterwarnings(
        "ignore:'future.no_silent_downcasting' is deprecated:pandas.errors.Pandas4Warning"
    ),
    pytest.mark.filterwarnings(
        "ignore:The copy keyword is deprecated:pandas.errors.Pandas4Warning"
    ),
]

Serve = Callable[[Any], str]


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Serves the UI over an assistant on a free port of 127.0.0.1 (from a thread); returns
    its URL. Uploads land in the test's tmp folder."""
    from assistant.frontends.ui import build_app, launch
    from core.settings import UISettings

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("NO_PROXY", LOCAL_HOSTS)
    monkeypatch.setenv("no_proxy", LOCAL_HOSTS)
    apps = []

    def serve_(assistant: Any) -> str:
        apps.append(build_app(assistant))
        url = launch(apps[-1], UISettings(port=free_port()), prevent_thread_lock=True, quiet=True)
        assert url.startswith("http://127.0.0.1:")
        return url

    yield serve_
    for app in apps:
        app.close()
    close_gradio_loops()


@pytest.fixture
def page() -> Iterator[Any]:
    """A chromium page that may load only from 127.0.0.1 (anything else fails the test)."""
    from playwright.sync_api import Route, sync_playwright

    outside: list[str] = []

    def local_only(route: Route) -> None:
        if route.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.route("**/*", local_only)
            yield tab
        finally:
            browser.close()
    assert outside == []


def ask(page: Any, question: str) -> float:
    """Type `question` and press Enter; returns the time it was pressed."""
    box = page.locator("#na-question textarea")
    box.fill(question)
    started = time.perf_counter()
    box.press("Enter")
    return started


def wait_for_source(page: Any, sentence: str) -> Any:
    """The <mark> of `sentence` in the sources panel, once it is on screen."""
    mark = page.locator("#na-sources mark.na-sentence", has_text=sentence)
    mark.wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    return mark


def check_answer(page: Any, mark: Any, answers: int, direction: str) -> None:
    """The sentence reads right-to-left in its entry, and the newest answer (read in
    `direction`) links to that entry with its marker."""
    assert mark.evaluate("el => getComputedStyle(el).direction") == "rtl"
    entry = mark.evaluate("el => el.closest('li').id")
    assert entry.startswith("src-")
    messages = page.locator("#na-chat .na-answer")
    messages.nth(answers - 1).wait_for(state="visible")
    assert messages.count() == answers
    newest = messages.nth(answers - 1)
    assert newest.evaluate("el => getComputedStyle(el).direction") == direction
    assert newest.locator(f'a.na-marker[href="#{entry}"]').count() == 1


@pytest.mark.model
def test_chat_cites_arabic_sentences_right_to_left(
    serve: Serve, page: Any, sample_assistant: Any, tmp_path: Path
) -> None:
    page.goto(serve(sample_assistant))
    started = ask(page, "كم عدد القتلى المدنيين؟")
    mark = wait_for_source(page, "28 مدنياً")
    first = time.perf_counter() - started
    check_answer(page, mark, answers=1, direction="rtl")

    started = ask(page, "Who carried out the air strike?")
    mark = wait_for_source(page, "نفذها على الأرجح التحالف")
    second = time.perf_counter() - started
    check_answer(page, mark, answers=2, direction="ltr")

    page.locator("#na-chat .na-answer").nth(0).locator("a.na-marker").first.click()
    opened = page.evaluate("location.hash")
    assert opened.startswith("#src-1-")  # the older answer's own source, not the newest one's
    entry = page.locator(opened).inner_text()  # answer 1's [1]: what local sources said
    assert "أكثر من 30" in entry and "نفذها على الأرجح التحالف" not in entry
    page.locator("#na-chat a.na-marker").last.click()
    assert page.evaluate("location.hash").startswith("#src-2-")
    page.screenshot(path=str(tmp_path / "ui.png"), full_page=True)
    shutil.copyfile(tmp_path / "ui.png", SCREENSHOT_COPY)
    print(f"\nEnter -> answer on screen: {first:.2f} s (first question), {second:.2f} s (second)")


def test_upload_list_delete_and_errors_in_the_chat(serve: Serve, page: Any, tmp_path: Path) -> None:
    from assistant.api import Assistant, with_location
    from core.embedder import HashingEmbedder
    from core.settings import Settings

    store = tmp_path / "store"
    page.goto(serve(Assistant(with_location(Settings(), str(store)), embedder=HashingEmbedder())))
    ask(page, "Who carried out the strike?")
    error = page.locator("#na-chat .na-error")
    error.wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    assert "news-assistant ingest" in error.inner_text()

    good, bad = tmp_path / "strike.txt", tmp_path / "broken.json"
    good.write_text("Strike on the town\n\nThe strike killed 12 people, officials said.\n")
    bad.write_text("{not json")
    page.get_by_role("tab", name="Articles").click()
    page.locator("#na-files input[type=file]").set_input_files([good, bad])
    page.locator("#na-files", has_text="broken").wait_for(state="visible")
    page.get_by_role("button", name="Add to the store").click()
    status = page.locator("#na-upload-status", has_text="articles: 1")
    status.wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    assert "failed: 1" in status.inner_text() and "broken.json:" in status.inner_text()
    table = page.locator("#na-articles")
    assert "Strike on the town" in table.inner_text()

    article_id = table.locator("td code").first.inner_text()
    page.locator("#na-article-id textarea").fill(article_id)
    page.get_by_role("button", name="Delete").click()
    page.locator("#na-upload-status", has_text=f"Deleted {article_id}").wait_for(state="visible")
    assert "0 articles stored" in table.inner_text()


def test_llm_switch_streams_then_shows_the_checked_answer(
    serve: Serve, page: Any, tmp_path: Path
) -> None:
    """The "LLM answers" switch: the model's text streams into the chat, then the checked
    answer replaces it, with the sentence its sources do not carry listed as removed."""
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from assistant.api import Assistant, with_location
    from core.embedder import HashingEmbedder
    from core.settings import AnswerSettings, Settings

    class Slow(GenericFakeChatModel):
        def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            for chunk in super()._stream(*args, **kwargs):
                time.sleep(0.1)
                yield chunk

    story = tmp_path / "flood.txt"
    story.write_text("Flood in the valley\n\nTwelve houses were destroyed, the mayor said.\n")
    settings = Settings(answer=AnswerSettings(min_confidence=0.0))
    settings = with_location(settings, str(tmp_path / "store"))
    reply = "Twelve houses were destroyed [1]. Forty cars were lost [1]."
    model = Slow(messages=iter([AIMessage(content=reply)]))
    assistant = Assistant(settings, embedder=HashingEmbedder(), llm=model)
    assistant.ingest([story], defaults={"source": "Valley Times"})
    page.goto(serve(assistant))
    page.locator("#na-llm input[type=checkbox]").check()
    ask(page, "How many houses were destroyed?")
    page.locator("#na-chat .na-streaming").wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    answer = page.locator("#na-chat .na-answer")
    answer.wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    assert "Twelve houses were destroyed [1]." in answer.inner_text()
    assert "Forty" not in answer.locator("p").first.inner_text()
    removed = answer.locator(".na-unsupported")
    removed.locator("summary").click()
    assert "Forty cars were lost." in removed.inner_text()
    assert "the number 40 is in no sentence it cites" in removed.inner_text()
    assert page.locator("#na-chat .na-streaming").count() == 0
    wait_for_source(page, "Twelve houses were destroyed")
