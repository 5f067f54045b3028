"""The web UI's callbacks and renderers over a fake assistant (no model, no Chroma, no server)."""

from __future__ import annotations

import itertools
import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import GRADIO_LOOPS, close_gradio_loops

from assistant.frontends import render
from assistant.frontends.ui import Callbacks, Conversation, build_app, parse_filters
from core.errors import LoadError, ModelError, NewsAssistantError, SettingsError, StoreError
from core.settings import Settings, UISettings
from core.store import ArticleDetail, StoredArticle
from core.types import Answer, Citation, Evidence, Filters
from ingest.load import LoadFailure, LoadNote
from ingest.pipeline import IngestSummary

AR_TEXT = (
    "وقالت مصادر محلية إنّ أكثر من 30 شخصاً قتلوا في الغارات.\n"
    "وقال المرصد السوري إنّ الغارة وقعت فجراً. وارتفع عدد القتلى إلى 54 شخصاً بينهم 28 مدنياً. "
    "وأضاف أنّ الضربة نفذها التحالف.\n"
    "وتابع قائلاً: لا نملك معلومات أخرى."
)
EN_TEXT = (
    "Officials met on Monday.\n"
    'The <script>alert("x")</script> strike killed 12 people <img src=x onerror=alert(1)>. '
    "More was said later.\n"
    "The end."
)


def _sentences(text: str) -> list[str]:
    return [s for line in text.split("\n") for s in line.replace(". ", ".\0").split("\0")]


def _detail(article_id: str, text: str, **meta: str) -> ArticleDetail:
    spans = tuple((text.index(s), text.index(s) + len(s)) for s in _sentences(text))
    fields = {"title": "", "source": "", "url": "", "date": "", "language": ""} | meta
    return ArticleDetail(
        id=article_id,
        author="",
        origin="",
        content_hash="h",
        n_sentences=len(spans),
        n_chunks=1,
        text=text,
        sentence_spans=spans,
        **fields,
    )


AR = _detail("ar1", AR_TEXT, title="غارة على دير الزور", source="العربي الجديد", date="2018-06-29")
EN = _detail("en1", EN_TEXT, title="A <b>strike</b>", source="Reuters", url="https://x.test/a")


def _citation(number: int, article: ArticleDetail, sentence: str) -> Citation:
    start = article.text.index(sentence)
    return Citation(
        number=number,
        id=f"{article.id}:s0",
        language=article.language,
        article_id=article.id,
        title=article.title,
        source=article.source,
        url=article.url,
        date=article.date,
        sentence_index=0,
        start=start,
        end=start + len(sentence),
        sentence=sentence,
    )


AR_1 = "وقالت مصادر محلية إنّ أكثر من 30 شخصاً قتلوا في الغارات."
AR_2 = "وارتفع عدد القتلى إلى 54 شخصاً بينهم 28 مدنياً."
EN_1 = 'The <script>alert("x")</script> strike killed 12 people <img src=x onerror=alert(1)>.'

ARABIC_ANSWER = Answer(
    question="كم عدد القتلى؟",
    text="تختلف الأرقام بحسب المصدر:\n"
    "- بحسب مصادر محلية: «أكثر من 30 شخصاً» [1]\n"
    "- بحسب المرصد السوري: «54 شخصاً بينهم 28 مدنياً» [2]",
    answered=True,
    citations=[_citation(1, AR, AR_1), _citation(2, AR, AR_2)],
    language="ar",
)
ENGLISH_ANSWER = Answer(
    question="What happened?",
    text="The articles say:\n- According to المرصد السوري: “وقال المرصد السوري” and Reuters [1]",
    answered=True,
    citations=[_citation(1, EN, EN_1)],
    language="en",
)
NEAREST = Evidence(
    id="ar1:s1",
    article_id="ar1",
    title=AR.title,
    source=AR.source,
    url="",
    date=AR.date,
    language="ar",
    sentence_index=1,
    start=0,
    end=len(AR_1),
    sentence=AR_1,
    score=0.2,
)
UNANSWERED = Answer(
    question="What is the capital of France?",
    text="The articles do not say.",
    answered=False,
    evidence=[NEAREST],
    language="en",
)


class FakeStore:
    def __init__(self) -> None:
        self.articles = {a.id: a for a in (AR, EN)}

    def get_article(self, article_id: str) -> ArticleDetail | None:
        return self.articles.get(article_id)


class FakeAssistant:
    """Canned answers by question; "boom" fails unexpectedly, an empty store fails as the API
    does."""

    def __init__(self) -> None:
        self.answers = {a.question: a for a in (ARABIC_ANSWER, ENGLISH_ANSWER, UNANSWERED)}
        self.settings = Settings()
        self.store = FakeStore()
        self.asked: list[dict[str, Any]] = []
        self.ingested: list[tuple[list[str], dict[str, str] | None]] = []
        self.ingest_error: Exception | None = None
        self.warmed = threading.Event()
        self.warmed.set()
        self.warm_error: Exception | None = None

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[str] = (),
    ) -> Answer:
        self.asked.append({"question": question, "k": k, "filters": filters, "history": history})
        if question == "boom":
            raise RuntimeError("backend exploded")
        if not self.store.articles:
            raise StoreError("No articles in ./store: run `news-assistant ingest PATH` first")
        return self.answers[question]

    def warm_up(self) -> None:
        self.warmed.wait(timeout=10)
        if self.warm_error is not None:
            raise self.warm_error

    def chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        k: int | None = None,
        filters: Filters | None = None,
        mode: str | None = None,
    ) -> Answer:
        *earlier, last = [m["content"] for m in messages if m["role"] == "user"]
        return self.ask(last, k=k, filters=filters, history=earlier)

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        defaults: dict[str, str] | None = None,
        progress: Callable[[IngestSummary], None] | None = None,
    ) -> IngestSummary:
        self.ingested.append(([str(p) for p in paths], defaults))
        if self.ingest_error is not None:
            raise self.ingest_error
        summary = IngestSummary()
        for path in paths:
            if str(path).endswith(".bad"):
                summary.failures.append(LoadFailure(str(path), "not UTF-8, UTF-16 or cp1252"))
            else:
                summary.articles += 1
                summary.sentences += 3
                summary.chunks += 1
            if progress is not None:
                progress(summary)
        return summary

    def articles(self) -> list[StoredArticle]:
        return sorted(self.store.articles.values(), key=lambda a: a.title)

    def delete(self, article_id: str) -> bool:
        return self.store.articles.pop(article_id, None) is not None


def tree(html: str) -> ET.Element:
    """Our HTML is well-formed, so XML can parse it (and fails loudly when it is not)."""
    return ET.fromstring(f"<root>{html}</root>")


def text_of(element: ET.Element) -> str:
    return "".join(element.itertext())


def entry(html: str, number: int) -> ET.Element:
    found = tree(html).find(f".//li[@id='src-{number}']")
    assert found is not None, f"no entry src-{number} in {html}"
    return found


# ---- rendering ---------------------------------------------------------------------------


def test_markers_link_to_their_source_entries() -> None:
    answer = tree(render.answer_html(ARABIC_ANSWER))
    links = [a.get("href") for a in answer.iter("a")]
    assert links == ["#src-1", "#src-2"]
    sources = render.sources_html(ARABIC_ANSWER, FakeStore().get_article)
    for c in ARABIC_ANSWER.citations:
        assert text_of(entry(sources, c.number).find(".//mark")) == c.sentence  # type: ignore[arg-type]


def test_an_unknown_marker_is_not_linked() -> None:
    html = render.inline_html("see [7]", [1], "ltr")
    assert "[7]" in html and "href" not in html


def test_arabic_messages_and_entries_are_right_to_left() -> None:
    answer = tree(render.answer_html(ARABIC_ANSWER))[0]
    assert (answer.get("dir"), answer.get("lang")) == ("rtl", "ar")
    assert tree(render.answer_html(ENGLISH_ANSWER))[0].get("dir") == "ltr"
    sources = render.sources_html(ARABIC_ANSWER, FakeStore().get_article)
    assert {entry(sources, n).get("dir") for n in (1, 2)} == {"rtl"}
    english = render.sources_html(ENGLISH_ANSWER, FakeStore().get_article)
    assert entry(english, 1).get("dir") == "ltr"
    assert tree(render.question_html("من نفذ الغارة؟"))[0].get("dir") == "rtl"
    assert tree(render.question_html("Who did it?"))[0].get("dir") == "ltr"


def test_mixed_lines_isolate_the_other_script() -> None:
    line = tree(render.answer_html(ENGLISH_ANSWER)).find(".//li")
    assert line is not None
    isolated = [text_of(b) for b in line.iter("bdi")]
    assert isolated == ["المرصد السوري", "“وقال المرصد السوري”"]
    arabic_line = tree(render.answer_html(ARABIC_ANSWER)).findall(".//li")[0]
    assert [text_of(b) for b in arabic_line.iter("bdi")] == ["«أكثر من 30 شخصاً»"]
    assert render.isolated("قال Al-Araby Al-Jadeed إن", "rtl") == (
        "قال <bdi>Al-Araby Al-Jadeed</bdi> إن"
    )


def test_the_sentence_is_marked_inside_its_paragraph() -> None:
    sources = render.sources_html(ARABIC_ANSWER, FakeStore().get_article)
    context = entry(sources, 2).find(".//p[@class='na-context']")
    assert context is not None
    paragraph = AR_TEXT.split("\n")[1]
    assert text_of(context) == paragraph  # the whole paragraph, nothing of its neighbours
    mark = context.find("mark")
    assert mark is not None and mark.text == AR_2
    assert context.text == "وقال المرصد السوري إنّ الغارة وقعت فجراً. "
    assert mark.tail == " وأضاف أنّ الضربة نفذها التحالف."


def test_an_entry_shows_title_source_and_date() -> None:
    meta = entry(render.sources_html(ARABIC_ANSWER, FakeStore().get_article), 1)[0]
    assert [text_of(b) for b in meta.iter("bdi")] == [AR.title, AR.source, AR.date]
    english = entry(render.sources_html(ENGLISH_ANSWER, FakeStore().get_article), 1)
    link = english.find(".//a")
    assert link is not None and link.get("href") == "https://x.test/a"


def test_article_text_cannot_inject_markup() -> None:
    html = render.sources_html(ENGLISH_ANSWER, FakeStore().get_article)
    assert "<script" not in html and "<img" not in html and "<b>" not in html
    item = entry(html, 1)
    assert not [e for e in item.iter() if e.tag in {"script", "img", "b"}]
    assert '<script>alert("x")</script>' in text_of(item)
    assert "<b>strike</b>" in text_of(item)  # the title, shown as text
    question = render.question_html("<img src=x onerror=alert(1)>")
    assert "<img" not in question


def test_a_missing_or_changed_article_shows_the_sentence_alone() -> None:
    html = render.sources_html(ARABIC_ANSWER, lambda article_id: None)
    context = entry(html, 2).find(".//p[@class='na-context']")
    assert context is not None and text_of(context) == AR_2
    changed = _detail("ar1", AR_TEXT.replace("54", "55"), title="t")
    html = render.sources_html(ARABIC_ANSWER, lambda article_id: changed)
    assert text_of(entry(html, 2).find(".//p[@class='na-context']")) == AR_2  # type: ignore[arg-type]


def test_a_long_paragraph_is_clipped_around_the_sentence() -> None:
    sentence = "The strike killed 12 people."
    text = "word " * 400 + sentence + " more" * 400
    article = _detail("long", text)
    citation = _citation(1, article, sentence)
    shown = text_of(tree(render.context_html(citation, article)))
    assert sentence in shown and shown.startswith("…") and shown.endswith("…")
    assert len(shown) <= len(sentence) + 2 * render.CONTEXT_CHARS + 2


def test_the_quoted_part_is_pointed_out_inside_the_cited_sentence() -> None:
    whole = _citation(1, AR, AR_2)
    start = AR_2.index("28 مدنياً")
    quoted = replace(whole, part_start=start, part_end=start + len("28 مدنياً"))
    mark = tree(render.context_html(quoted, AR)).find(".//mark")
    assert mark is not None and text_of(mark) == AR_2  # the sentence stays verbatim
    part = mark.find("strong")
    assert part is not None and part.get("class") == "na-part" and part.text == "28 مدنياً"
    assert tree(render.context_html(whole, AR)).find(".//strong") is None


def test_paragraph_bounds() -> None:
    text = "a.\nb. c.\nd."
    assert render.paragraph_bounds(text, 6, 8) == (3, 8)
    assert render.paragraph_bounds(text, 0, 2) == (0, 2)
    assert render.paragraph_bounds(text, 9, 11) == (9, 11)


def test_an_unanswered_question_is_marked_and_shows_the_nearest_evidence() -> None:
    message = tree(render.answer_html(UNANSWERED))[0]
    assert "na-unanswered" in (message.get("class") or "")
    assert text_of(message).startswith("Not answered")
    sources = render.sources_html(UNANSWERED, FakeStore().get_article)
    assert "Not answered" in text_of(tree(sources))
    mark = entry(sources, 1).find(".//mark")
    assert mark is not None and mark.text == AR_1


def test_answer_pieces_grow_line_by_line() -> None:
    pieces = render.answer_pieces(ARABIC_ANSWER)
    assert len(pieces) == 3
    texts = [text_of(tree(p)) for p in pieces]
    assert all(a in b for a, b in itertools.pairwise(texts))
    assert pieces[-1] == render.answer_html(ARABIC_ANSWER)


def test_summary_lists_counts_and_each_failure() -> None:
    summary = IngestSummary(articles=2, sentences=30, chunks=5, unchanged=1)
    summary.failures.append(LoadFailure("/tmp/gradio/abc/x.bad", "not UTF-8 <really>"))
    summary.notes.append(LoadNote("/tmp/gradio/abc/old.txt", "decoded as cp1256 (a guess)"))
    html = render.summary_html(summary, ["/tmp/gradio/abc/x.bad", "/tmp/gradio/abc/old.txt"])
    shown = text_of(tree(html))
    assert "articles: 2" in shown and "unchanged: 1" in shown and "failed: 1" in shown
    assert "x.bad: not UTF-8 <really>" in shown and "/tmp/gradio" not in shown
    assert "old.txt: decoded as cp1256 (a guess)" in shown


def test_articles_table() -> None:
    rows = tree(render.articles_html([AR, EN])).findall(".//tbody/tr")
    assert [[text_of(td) for td in row] for row in rows] == [
        ["ar1", AR.title, AR.source, AR.date],
        ["en1", EN.title, "Reuters", ""],
    ]
    assert "0 articles stored" in render.articles_html([])


def test_articles_table_elides_a_long_title_and_keeps_it_in_the_tooltip() -> None:
    long = replace(EN, title="A very long headline " * 10)
    cell = tree(render.articles_html([long])).findall(".//tbody/tr/td")[1]
    assert len(text_of(cell)) <= render.MAX_TITLE_SHOWN and text_of(cell).endswith("…")
    assert cell.get("title") == long.title


# ---- callbacks -----------------------------------------------------------------------------


def respond(
    calls: Callbacks, question: str, conversation: Conversation | None = None, **settings: Any
) -> list[tuple[Any, ...]]:
    options: dict[str, Any] = {"k": 8, "source": "", "since": "", "until": ""} | settings
    return list(calls.respond(question, conversation or Conversation(), **options))


def test_chat_streams_the_answer_and_then_its_sources() -> None:
    calls = Callbacks(FakeAssistant())
    steps = respond(calls, "كم عدد القتلى؟")
    pending, *streamed = steps
    shown, _, sources, box = pending
    assert [m["role"] for m in shown] == ["user", "assistant"]
    assert shown[-1]["content"] == render.PENDING and box == ""
    assert sources == {"__type__": "update"}  # the panel keeps the last sources meanwhile
    assert [s[0][-1]["content"] for s in streamed] == render.answer_pieces(ARABIC_ANSWER, 1)
    assert 'id="src-1-2"' in streamed[0][2]
    final_shown, conversation, _, _ = streamed[-1]
    assert final_shown == list(conversation.shown)
    assert conversation.messages == (
        {"role": "user", "content": "كم عدد القتلى؟"},
        {"role": "assistant", "content": ARABIC_ANSWER.text},
    )


def test_every_answers_markers_open_its_own_sources() -> None:
    calls = Callbacks(FakeAssistant())
    first = respond(calls, "كم عدد القتلى؟")[-1][1]
    steps = respond(calls, "What happened?", first)
    shown, second, _, _ = steps[-1]
    panel = steps[1][2]  # the panel comes with the answer's first line
    assert second.answers == 2
    for message, answer in ((shown[1], ARABIC_ANSWER), (shown[3], ENGLISH_ANSWER)):
        for link in tree(message["content"]).iter("a"):
            target = link.get("href", "").lstrip("#")
            number = int(target.rsplit("-", 1)[1])
            cited = next(c for c in answer.citations if c.number == number)
            found = tree(panel).find(f".//li[@id='{target}']")
            assert found is not None, f"{target} is not in the panel"
            assert text_of(found.find(".//mark")) == cited.sentence  # type: ignore[arg-type]
    assert panel.index("What happened?") < panel.index("كم عدد القتلى؟")  # newest first


def test_follow_ups_send_the_conversation(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeAssistant()
    calls = Callbacks(fake)
    conversation = respond(calls, "كم عدد القتلى؟")[-1][1]
    last = respond(calls, "What happened?", conversation)[-1]
    assert fake.asked[-1]["history"] == ["كم عدد القتلى؟"]
    assert len(last[0]) == 4 and len(last[1].messages) == 4


def test_filters_and_k_are_passed_through() -> None:
    fake = FakeAssistant()
    respond(Callbacks(fake), "What happened?", k=3.0, source="Reuters", since=" 2018-01-01 ")
    assert fake.asked[-1]["k"] == 3
    assert fake.asked[-1]["filters"] == Filters(source="Reuters", since="2018-01-01")
    respond(Callbacks(fake), "What happened?")
    assert fake.asked[-1]["filters"] is None


def test_parse_filters() -> None:
    assert parse_filters("", "", "") is None
    assert parse_filters(None, "2018-01-01", "2018-12-31") == Filters(
        since="2018-01-01", until="2018-12-31"
    )
    for since, until in [("2018-13-01", ""), ("yesterday", ""), ("2018-02-01", "2018-01-01")]:
        with pytest.raises(NewsAssistantError, match=r"since|until"):
            parse_filters("", since, until)


def _last_message(steps: list[tuple[Any, ...]]) -> ET.Element:
    return tree(steps[-1][0][-1]["content"])[0]


def test_errors_become_chat_messages(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeAssistant()
    calls = Callbacks(fake)
    bad_date = respond(calls, "What happened?", since="29/06/2018")
    assert "YYYY-MM-DD" in text_of(_last_message(bad_date))
    assert bad_date[-1][1].messages == ()  # a failed question is not part of the conversation
    with caplog.at_level(logging.ERROR, logger="assistant.frontends.ui"):
        boom = respond(calls, "boom")
    message = _last_message(boom)
    assert message.get("class") == "na-error" and "RuntimeError: backend exploded" in (
        text_of(message)
    )
    assert "backend exploded" in caplog.text and "Traceback" in caplog.text
    fake.store.articles.clear()
    empty = respond(calls, "What happened?")
    assert "news-assistant ingest" in text_of(_last_message(empty))
    assert len(empty[-1][1].shown) == 2  # the question and the error stay on screen


def test_an_empty_question_gets_the_apis_explanation() -> None:
    class Strict(FakeAssistant):
        def ask(self, question: str, **kwargs: Any) -> Answer:
            raise NewsAssistantError("the question is empty: ask something")

    steps = respond(Callbacks(Strict()), "  ")
    assert [m["role"] for m in steps[-1][0]] == ["assistant"]
    assert "the question is empty" in text_of(_last_message(steps))


def test_clear_starts_a_new_conversation() -> None:
    assert Callbacks(FakeAssistant()).clear() == ([], Conversation(), render.EMPTY_SOURCES)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append(args)


def test_upload_ingests_reports_progress_and_lists_articles() -> None:
    fake = FakeAssistant()
    progress = Recorder()
    files = ["/tmp/gradio/1/a.txt", "/tmp/gradio/2/b.bad"]
    status, table, choices, cleared = Callbacks(fake).upload(files, " Reuters ", progress)  # type: ignore[arg-type]
    assert fake.ingested == [(files, {"source": "Reuters"})]
    assert [c[0] for c in progress.calls] == [(1, 2), (2, 2)]  # a missing file counts one
    shown = text_of(tree(status))
    assert "articles: 1" in shown and "failed: 1" in shown
    assert "b.bad: not UTF-8, UTF-16 or cp1252" in shown
    assert "2 articles stored" in table
    assert choices["choices"] == [("Any source", ""), ("Reuters", "Reuters"), (AR.source,) * 2]
    assert cleared is None


def test_upload_problems_are_shown_in_the_panel(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeAssistant()
    calls = Callbacks(fake)
    assert "Choose files" in calls.upload([], "", Recorder())[0]  # type: ignore[arg-type]
    fake.ingest_error = LoadError("x.pdf: not an article format; use .txt .md .html .json")
    assert "not an article format" in calls.upload(["x.pdf"], "", Recorder())[0]  # type: ignore[arg-type]
    fake.ingest_error = OSError("disk full")
    with caplog.at_level(logging.ERROR, logger="assistant.frontends.ui"):
        status = calls.upload(["x.txt"], "", Recorder())[0]  # type: ignore[arg-type]
    assert "OSError: disk full" in status and "disk full" in caplog.text
    assert fake.ingested[-1][1] is None  # no source given: no defaults


def test_delete_by_id() -> None:
    fake = FakeAssistant()
    calls = Callbacks(fake)
    status, table, choices, box = calls.delete(" en1 ")
    assert "Deleted en1" in status and "1 article stored" in table and box == ""
    assert choices["choices"] == [("Any source", ""), (AR.source, AR.source)]
    status, *_ = calls.delete("en1")
    assert "No article 'en1'" in text_of(tree(status))
    assert "Type the id" in calls.delete("")[0]


def test_refresh_shows_a_store_error() -> None:
    class Broken(FakeAssistant):
        def articles(self) -> list[StoredArticle]:
            raise StoreError("cannot reach the Chroma server at http://127.0.0.1:1")

    table, choices = Callbacks(Broken()).refresh()
    assert "cannot reach the Chroma server" in table and choices == {"__type__": "update"}


@pytest.fixture
def gradio_loops() -> Iterator[None]:
    yield
    close_gradio_loops()


@GRADIO_LOOPS
@pytest.mark.usefixtures("gradio_loops")
def test_build_app_wires_the_callbacks() -> None:
    app = build_app(FakeAssistant())
    names = {fn.name for fn in app.fns.values()}
    assert {"respond", "clear", "upload", "delete", "refresh"} <= names


def test_login_needs_both_user_and_password() -> None:
    assert UISettings().auth() is None
    assert UISettings(auth_user="u", auth_password="p").auth() == ("u", "p")
    with pytest.raises(SettingsError, match="both"):
        UISettings(auth_user="u").auth()
    assert UISettings().host == "127.0.0.1" and UISettings().port == 7860


def test_the_models_load_at_start_with_a_loading_state() -> None:
    assistant = FakeAssistant()
    assistant.warmed.clear()  # the warm-up is still loading
    calls = Callbacks(assistant)
    calls.start()
    status = calls.ready()
    assert "Loading the language model" in next(status)
    assistant.warmed.set()
    assert "Ready" in next(status)
    failing = FakeAssistant()
    failing.warm_error = ModelError("cannot build the model: the disk is full")
    assert "the disk is full" in list(Callbacks(failing).ready())[-1]
