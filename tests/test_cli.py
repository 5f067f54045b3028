"""The ingest, list, delete and reindex commands: summaries, one line per failure, exit
statuses. The CLI is handed an Assistant over a tmp store with the hashing embedder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import (
    CHROMA,
    LOCAL_HOSTS,
    SAMPLE_ARTICLE,
    _server_env,
    _stop,
    _wait_until_up,
    free_port,
)

from assistant import Assistant, HashingEmbedder, Settings, with_location
from assistant.frontends import cli
from core.chroma import open_store
from core.errors import StoreConnectionError
from core.settings import StoreSettings


@pytest.fixture
def assistant(tmp_path: Path) -> Assistant:
    settings = with_location(Settings(), str(tmp_path / "store"))
    return Assistant(settings, embedder=HashingEmbedder())


@pytest.fixture
def main(assistant: Assistant) -> Callable[[list[str]], int]:
    return lambda argv: cli.main(argv, assistant)


def test_ingest_twice_list_and_delete(
    main: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(SAMPLE_ARTICLE), "--source", "Al-Araby Al-Jadeed"]) == 0
    first = capsys.readouterr().out
    assert "articles: 1  sentences: 17  chunks: 14  unchanged: 0  failed: 0" in first
    assert main(["ingest", str(SAMPLE_ARTICLE), "--source", "Al-Araby Al-Jadeed"]) == 0
    assert (
        "articles: 0  sentences: 0  chunks: 0  unchanged: 1  failed: 0" in capsys.readouterr().out
    )
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "Al-Araby Al-Jadeed" in listed and "airstrike deir ez zor" in listed
    article_id = listed.split()[0]
    assert main(["delete", article_id]) == 0
    assert main(["delete", article_id]) == 1
    assert "no article" in capsys.readouterr().err
    assert main(["list"]) == 0
    assert "0 articles" in capsys.readouterr().out


def test_failures_get_one_line_each_and_exit_status_1(
    main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good.md").write_text("# Good\n\nIt rained on Monday.\n")
    (tmp_path / "in" / "empty.txt").write_text("")
    assert main(["ingest", str(tmp_path / "in"), str(tmp_path / "missing.txt")]) == 1
    captured = capsys.readouterr()
    failures = [line for line in captured.err.splitlines() if line.startswith("failed")]
    assert len(failures) == 2
    assert any("empty.txt" in line and "empty" in line for line in failures)
    assert any("missing.txt" in line for line in failures)
    assert "articles: 1" in captured.out and "failed: 2" in captured.out
    assert "Traceback" not in captured.err


def test_a_guessed_encoding_and_a_wrong_type_are_named(
    main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arabic = tmp_path / "old.txt"
    arabic.write_bytes("خبر قديم\n\nقال المتحدث إن الاجتماع سيعقد غداً في الرياض.".encode("cp1256"))
    typed = tmp_path / "typed.jsonl"
    typed.write_text(json.dumps({"title": True, "content": "Some text."}) + "\n")
    assert main(["ingest", str(arabic), str(typed)]) == 1
    err = capsys.readouterr().err
    assert f"note {arabic}: not UTF-8: decoded as cp1256 (a guess)" in err
    assert f"failed {typed}:1: line 1: the title field is true, expected text" in err
    assert main(["list"]) == 0
    assert "خبر قديم" in capsys.readouterr().out


def test_unknown_options_are_refused_and_eval_is_not_imported(
    main: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["list", "--nonsense"])
    assert "unrecognized arguments: --nonsense" in capsys.readouterr().err
    code = "import assistant.frontends.cli, sys; print('evaluation' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert imported.stdout.strip() == "False", imported.stderr


def test_global_options_may_follow_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "elsewhere"
    code = "import sys; from assistant.frontends.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "NEWS_ASSISTANT_EMBEDDER__MODEL": "hashing"}
    ran = subprocess.run(
        [sys.executable, "-c", code, "ingest", str(SAMPLE_ARTICLE), "--store", str(store), "-v"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "articles: 1" in ran.stdout and store.is_dir()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", "How many?", "--k", "0"], "0 is out of range: give 1 to 50"),
        (["ask", "How many?", "--k", "-5"], "-5 is out of range"),
        (["ask", "How many?", "--since", "abc"], "'abc' is not a date written YYYY-MM-DD"),
        (["ask", "How many?", "--until", "2015-13-45"], "'2015-13-45' is not a date"),
        (["ingest", "x", "--url", "./folder"], "give a Chroma server URL like http://"),
        (["ingest", "x", "--store", "a", "--url", "http://h:1"], "give --store or --url, not"),
        (["ingest", "x", "--ray", "local:2", "--ray-workers", "0"], "'0' is not a number of"),
    ],
)
def test_bad_k_and_dates_are_refused(
    main: Callable[[list[str]], int], argv: list[str], message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_stored_text_is_printed_as_text(
    main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps({"title": "[/bold] \x1b[31mred\x1b[0m", "content": "It rained on Monday."})
    )
    (tmp_path / "b.jsonl").write_text('{"[/x]": 1}\n')
    assert main(["ingest", str(tmp_path)]) == 1
    failed = capsys.readouterr()
    assert "[/x]" not in failed.out and "b.jsonl" in failed.err
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "[/bold] [31mred[0m" in listed and "\x1b" not in listed
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["title"] for r in rows] == ["[/bold] \x1b[31mred\x1b[0m"]


def test_filters_ignore_case_and_say_when_nothing_matches(
    main: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(SAMPLE_ARTICLE), "--source", "Al-Araby Al-Jadeed"]) == 0
    capsys.readouterr()
    assert main(["ask", "كم عدد القتلى؟", "--source", "al-araby al-jadeed", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["evidence"] and {e["source"] for e in answer["evidence"]} == {
        "Al-Araby Al-Jadeed"
    }
    for option in (["--source", "Reuters"], ["--since", "2030-01-01"], ["--article", "nope"]):
        assert main(["ask", "كم عدد القتلى؟", *option]) == 2
        error = capsys.readouterr().err
        assert "no stored article matches" in error and option[1] in error


def test_errors_that_need_no_model_come_before_it_loads(tmp_path: Path) -> None:
    """An empty store and a missing file fail at once: the embedder is never built."""
    code = (
        "import sys\n"
        "import core.embedder as e\n"
        "def refuse(*a, **k): raise SystemExit('the model was loaded')\n"
        "e.build_embedder = refuse\n"
        "import assistant.api as api\n"
        "api.build_embedder = refuse\n"
        "from assistant.frontends.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    store = str(tmp_path / "store")
    run = [sys.executable, "-c", code]
    missing = subprocess.run(
        [*run, "ingest", "missing.txt", "--store", store], capture_output=True, text=True
    )
    assert missing.returncode == 1 and "missing.txt" in missing.stderr, missing.stderr
    assert not Path(store).exists()  # nothing to store: not even an empty store was made
    open_store(StoreSettings(path=Path(store))).close()
    empty = subprocess.run([*run, "ask", "Who?", "--store", store], capture_output=True, text=True)
    assert empty.returncode == 2 and "No articles in" in empty.stderr, empty.stderr


def test_duplicates_and_replaced_are_reported(
    main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"id": "a", "title": "A", "content": "Words."},
        {"id": "b", "title": "A", "content": "Words."},
        {"id": "a", "title": "A2", "content": "Other words."},
    ]
    (tmp_path / "x.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    assert main(["ingest", str(tmp_path / "x.jsonl")]) == 0
    captured = capsys.readouterr()
    assert "articles: 1" in captured.out and "replaced: 1  duplicates: 1" in captured.out
    assert "duplicate" in captured.err and "stored as a" in captured.err


def test_quotes_of_the_other_direction_are_isolated_in_the_terminal() -> None:
    from assistant.frontends.render import FSI, PDI, terminal_line

    line = "- According to المرصد السوري: «54 شخصاً بينهم 28 مدنياً» [2]"
    assert terminal_line(line, "ltr") == (
        f"- According to {FSI}المرصد السوري{PDI}: {FSI}«54 شخصاً بينهم 28 مدنياً»{PDI} [2]"
    )
    arabic = "- بحسب Reuters: “12 people” [1]"
    assert terminal_line(arabic, "rtl") == f"- بحسب {FSI}Reuters{PDI}: {FSI}“12 people”{PDI} [1]"


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `chroma run` server of this test's own, which the test may stop."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    cmd = [str(CHROMA), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)], env=_server_env(), stdout=out, stderr=out
        )
    try:
        _wait_until_up(url, proc, log)
        with pytest.MonkeyPatch.context() as mp:  # the client (httpx) must never use a proxy
            mp.setenv("NO_PROXY", LOCAL_HOSTS)
            mp.setenv("no_proxy", LOCAL_HOSTS)
            yield url, proc
    finally:
        _stop(proc)


@pytest.mark.server
def test_a_server_that_stops_answering_is_a_store_error_with_the_fix(
    own_server: tuple[str, subprocess.Popen[bytes]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, proc = own_server
    settings = with_location(Settings(), url)
    assistant = Assistant(settings, embedder=HashingEmbedder())
    story = tmp_path / "story.txt"
    story.write_text("A story\n\nIt rained on Monday. The river rose.\n")
    other = tmp_path / "other.txt"
    other.write_text("Another story\n\nThe sun came out on Tuesday.\n")
    try:
        assert cli.main(["ingest", str(story)], assistant) == 0
        _stop(proc)
        assert cli.main(["ingest", str(other)], assistant) == 2
        with pytest.raises(StoreConnectionError, match="stopped answering"):
            list(assistant.store.iter_sentences())  # a generator: was a raw httpx error
    finally:
        assistant.store.close()
    err = capsys.readouterr().err
    assert f"the Chroma server at {url} stopped answering" in err
    assert "check that `chroma run` is still running and run the same command again" in err
    assert "Traceback" not in err
