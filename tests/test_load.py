"""The article loaders: every format, every encoding, and one clear failure per bad input."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import LoadError
from core.types import Article, sha256_hex
from ingest.articles import MAX_STORED_TITLE, make_article
from ingest.decode import decode_bytes
from ingest.load import LoadFailure, LoadNote, LoadResult, load_file, load_paths, split_title

FIXTURES = Path(__file__).parent / "fixtures" / "load"
SUPPORTED = "(supported: .txt, .md, .html, .htm, .json, .jsonl, .zip)"


def load(*paths: str | Path, max_bytes: int = 20 * 1024 * 1024) -> list[LoadResult]:
    """The articles and failures of `paths` (notes left out: see `notes`)."""
    results = load_paths(list(paths), max_bytes=max_bytes)
    return [r for r in results if not isinstance(r, LoadNote)]


def notes(*paths: str | Path) -> list[LoadNote]:
    return [r for r in load_paths(list(paths)) if isinstance(r, LoadNote)]


def only_article(results: list[LoadResult]) -> Article:
    assert len(results) == 1, results
    assert isinstance(results[0], Article), results[0]
    return results[0]


def only_failure(results: list[LoadResult]) -> LoadFailure:
    assert len(results) == 1, results
    assert isinstance(results[0], LoadFailure), results[0]
    return results[0]


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# --- plain text and markdown -----------------------------------------------------------------


def test_txt_first_line_is_the_title_and_the_rest_the_body() -> None:
    path = FIXTURES / "harbour.txt"
    article = only_article(load(path))
    assert article.title == "Harbour reopens after storm"
    assert article.text == (
        "The harbour reopened on Tuesday after three days of closure.\n\n"
        "Fishing boats returned to sea at dawn, the port authority said."
    )
    assert article.language == "en"
    assert article.origin == str(path)
    assert article.id == sha256_hex(str(path.resolve()))[:16]


def test_arabic_txt_without_title_line_keeps_first_sentence_and_titles_from_file_name() -> None:
    article = only_article(load(FIXTURES / "deir-ez-zor.ar.txt"))
    raw = (FIXTURES / "deir-ez-zor.ar.txt").read_text(encoding="utf-8")
    assert article.title == "deir ez zor"
    assert article.text == raw.strip()
    assert article.text.startswith('وقالت مصادر محلية، لـ"العربي الجديد"')
    assert article.language == "ar"


def test_short_first_sentence_is_body_not_title(tmp_path: Path) -> None:
    text = "قال المرصد إن عدد القتلى ارتفع إلى 54 شخصاً.\nوأضاف أن الضربة نفذها التحالف.\n"
    article = only_article(load(write(tmp_path, "report_update.txt", text)))
    assert article.title == "report update"
    assert article.text == text.strip()


def test_split_title_rules() -> None:
    assert split_title("Could Yukos be saved?\n\nBody.") == ("Could Yukos be saved?", "Body.")
    assert split_title("Is it over?\nYes it is.") == ("", "Is it over?\nYes it is.")
    marley = "My memories of Marley...'"
    assert split_title(f"{marley}\n\nText.") == (marley, "Text.")
    assert split_title("He said “no.”\nText.") == ("", "He said “no.”\nText.")
    assert split_title("هل انتهت الأزمة؟\n\nنص الخبر.") == ("هل انتهت الأزمة؟", "نص الخبر.")
    assert split_title("x" * 201 + "\nText.") == ("", "x" * 201 + "\nText.")
    assert split_title("---\nText") == ("", "---\nText")
    assert split_title("Only a title") == ("Only a title", "Only a title")
    assert split_title("Title\n=====\n\nBody", markdown=True) == ("Title", "Body")
    assert split_title("## Why now? ##\nBody", markdown=True) == ("Why now?", "Body")


def test_body_inner_text_is_kept_exactly(tmp_path: Path) -> None:
    text = "\n\n  Headline here  \n\n  Indented   first line.\n\n\nSecond  paragraph.\t\n\n"
    article = only_article(load(write(tmp_path, "x.txt", text)))
    assert article.title == "Headline here"
    assert article.text == "Indented   first line.\n\n\nSecond  paragraph."


def test_markdown_heading_becomes_title() -> None:
    article = only_article(load(FIXTURES / "briefing.md"))
    assert article.title == "Council approves new bridge"
    assert article.text == (
        "The city council voted 7-2 on Monday to fund a new footbridge.\n\n"
        "Work is due to start in the spring."
    )


def test_edited_file_keeps_its_id(tmp_path: Path) -> None:
    path = write(tmp_path, "story.txt", "Title\n\nFirst version.")
    before = only_article(load(path))
    path.write_text("Title\n\nSecond version.", encoding="utf-8")
    after = only_article(load(path))
    assert before.id == after.id
    assert before.content_hash != after.content_hash


# --- HTML ------------------------------------------------------------------------------------


def test_html_main_text_and_metadata_without_scripts_styles_or_navigation() -> None:
    path = FIXTURES / "page.html"
    article = only_article(load(path))
    assert article.text == (
        "The harbour reopened on Tuesday after three days of closure caused by the storm that "
        "swept the coast.\n"
        "Fishing boats returned to sea at dawn, and the port authority said damage to the piers "
        "was lighter than feared."
    )
    for noise in ("SCRIPT-ONE", "SCRIPT-TWO", "STYLE-RULE", "NAV-SPORT", "NAV-WEATHER"):
        assert noise not in article.text
    assert article.title == "Harbour reopens after storm"
    assert article.url == "https://example.org/news/harbour-reopens"
    assert article.source == "Coastal Times"
    assert article.author == "Jane Doe"
    assert article.date == "2024-03-05"
    assert article.id == sha256_hex("https://example.org/news/harbour-reopens")[:16]


def test_html_of_only_scripts_styles_and_navigation_fails() -> None:
    failure = only_failure(load(FIXTURES / "scripts-only.html"))
    assert failure.origin == str(FIXTURES / "scripts-only.html")
    assert failure.reason == (
        "no article text found in the HTML (only scripts, styles or navigation)"
    )


def test_html_in_a_declared_legacy_charset(tmp_path: Path) -> None:
    body = "<p>" + "قال المتحدث إن المفاوضات ستستأنف الأسبوع المقبل في العاصمة. " * 4 + "</p>"
    html = (
        '<html><head><meta charset="windows-1256"><title>المفاوضات</title></head>'
        f"<body><article>{body}</article></body></html>"
    )
    article = only_article(load(write(tmp_path, "talks.htm", html.encode("cp1256"))))
    assert article.title == "المفاوضات"
    assert article.text.startswith("قال المتحدث إن المفاوضات ستستأنف")
    assert article.language == "ar"


# --- JSON, JSON lines, zip -------------------------------------------------------------------


def test_json_object_with_case_insensitive_fields() -> None:
    path = FIXTURES / "one.json"
    article = only_article(load(path))
    assert article.title == "Rain expected at the weekend"
    assert article.text == "Forecasters expect heavy rain on Saturday.\nSunday should be drier."
    assert article.url == "https://example.org/rain"
    assert article.source == "Weather Desk"
    assert article.date == "2024-05-01"
    assert article.author == "Ann Lee, Omar Said"
    assert article.id == "42"
    assert article.origin == str(path)


def test_json_object_without_title_or_id_uses_file_name_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, "quiet-day.json", json.dumps({"text": "Nothing happened today."}))
    article = only_article(load(path))
    assert article.title == "quiet day"
    assert article.id == sha256_hex(str(path.resolve()))[:16]


def test_json_list_loads_good_items_and_fails_bad_ones_alone() -> None:
    path = FIXTURES / "list.json"
    first, second, third, fourth = load(path)
    assert isinstance(first, Article)
    assert (first.title, first.text, first.source) == (
        "Market opens higher",
        "Shares rose in early trading.",
        "Biz",
    )
    assert first.origin == f"{path}#1"
    assert first.id == sha256_hex("https://example.org/m1")[:16]
    assert second == LoadFailure(
        f"{path}#2",
        "item 2: no content/text/body field (fields found: title, url); "
        "put the article text in content",
    )
    assert third == LoadFailure(f"{path}#3", "item 3: expected a JSON object (an article), got str")
    assert isinstance(fourth, Article)
    assert fourth.title == "Second story without a title."  # make_article's default: first line
    assert fourth.date == "2024-06-02"
    assert fourth.id == sha256_hex(fourth.text)[:16]


def test_jsonl_bad_line_fails_alone() -> None:
    path = FIXTURES / "lines.jsonl"
    first, broken, third = load(path)
    assert isinstance(first, Article)
    assert (first.title, first.text, first.origin) == (
        "First line story",
        "Line one text.",
        f"{path}:1",
    )
    assert broken == LoadFailure(
        f"{path}:3", "line 3: invalid JSON: Expecting ',' delimiter (column 38)"
    )
    assert isinstance(third, Article)
    assert (third.text, third.language, third.origin) == ("Third story text.", "en", f"{path}:4")


def test_json_language_field_becomes_a_two_letter_code(tmp_path: Path) -> None:
    line = json.dumps({"content": "Short text.", "Language": "ar-SA"})
    assert only_article(load(write(tmp_path, "l.jsonl", line))).language == "ar"


@pytest.mark.parametrize(
    ("field", "value", "found"),
    [
        ("content", 12345, "a number (12345)"),
        ("content", False, "false"),
        ("content", float("nan"), "a number (NaN)"),
        ("text", [1, 2], "a number (1)"),
        ("title", True, "true"),
        ("language", 3, "a number (3)"),
        ("source", {"id": "reuters"}, "an object without a name"),
        ("date", 2024.5, "a number (2024.5)"),
    ],
)
def test_json_field_of_the_wrong_type_fails_that_record_alone(
    tmp_path: Path, field: str, value: object, found: str
) -> None:
    bad = {"title": "A title", "content": "Some text.", field: value}
    lines = [json.dumps(bad), json.dumps({"title": "Fine", "content": "Fine text."})]
    path = write(tmp_path, "typed.jsonl", "\n".join(lines))
    failure, article = load(path)
    expected = "expected text (a string or a list of strings)"
    assert failure == LoadFailure(f"{path}:1", f"line 1: the {field} field is {found}, {expected}")
    assert isinstance(article, Article) and article.title == "Fine"


def test_numeric_id_is_taken_as_text(tmp_path: Path) -> None:
    path = write(tmp_path, "n.json", json.dumps({"id": 7, "content": "Text."}))
    assert only_article(load(path)).id == "7"


def test_make_article_refuses_a_field_that_is_not_a_string() -> None:
    with pytest.raises(LoadError, match=r"the title is bool \(True\), expected a string"):
        make_article("Some text.", title=True)  # type: ignore[arg-type]


def test_long_title_is_cut_at_a_word_and_the_text_kept_whole() -> None:
    title = "word " * 20_000
    article = make_article("The text. " * 1000, title=title)
    assert len(article.title) <= MAX_STORED_TITLE and article.title.endswith("word…")
    assert article.text == "The text. " * 1000


def test_bidi_controls_are_stripped_from_labels_not_from_text() -> None:
    controls = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    article = make_article(
        f"Body {controls}kept.",
        title=f"\u202eTitle{controls}",
        source="\u202eReuters",
        author="A\u200fB",
    )
    assert (article.title, article.source, article.author) == ("Title", "Reuters", "AB")
    assert article.text == f"Body {controls}kept."


def test_invalid_json_file_names_line_and_column(tmp_path: Path) -> None:
    failure = only_failure(load(write(tmp_path, "bad.json", '{\n  "title": "x",\n  content\n}')))
    assert failure.reason == (
        "invalid JSON at line 3, column 3: Expecting property name enclosed in double quotes"
    )


def test_json_edge_shapes(tmp_path: Path) -> None:
    assert only_failure(load(write(tmp_path, "e.json", "[]"))).reason == (
        "no articles: the JSON list is empty"
    )
    blank = only_failure(load(write(tmp_path, "b.json", '{"title": "T", "content": " \\u00a0 "}')))
    assert blank.reason == "the content field is empty (no article text)"
    number = only_failure(load(write(tmp_path, "n.json", "42")))
    assert number.reason == "expected a JSON object (an article), got int"


def saudi_item(number: int, content: str = "") -> dict[str, str]:
    return {
        "source": "alriyadh",
        "url": f"http://www.alriyadh.com/{number}",
        "date_extracted": "2015-07-22 09:54:10",
        "title": f"خبر رقم {number}",
        "author": "الرياض",
        "content": content or f"    نص الخبر رقم {number} في الصحيفة.   ",
    }


def test_saudinewsnet_shaped_zip(tmp_path: Path) -> None:
    archive = tmp_path / "2015-07-21.zip"
    items = [saudi_item(1), saudi_item(2), saudi_item(3, content=" ")]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("2015-07-21.json", json.dumps(items, ensure_ascii=False))
        zf.writestr("__MACOSX/._2015-07-21.json", b"\x00\x05\x16\x07")
        zf.writestr("notes.csv", "a,b")
    first, second, third = load(archive)
    assert isinstance(first, Article)
    assert isinstance(second, Article)
    assert first.origin == f"{archive}!2015-07-21.json#1"
    assert second.origin == f"{archive}!2015-07-21.json#2"
    assert (first.title, first.text, first.source, first.date, first.author) == (
        "خبر رقم 1",
        "نص الخبر رقم 1 في الصحيفة.",
        "alriyadh",
        "2015-07-22 09:54:10",
        "الرياض",
    )
    assert first.id == sha256_hex("http://www.alriyadh.com/1")[:16]
    assert third == LoadFailure(
        f"{archive}!2015-07-21.json#3", "item 3: the content field is empty (no article text)"
    )


def test_zip_member_text_file_and_size_bomb_guard(tmp_path: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("docs/small.txt", "Small title\n\nSmall body.")
        zf.writestr("docs/huge.txt", "A" * 5000)
    small, huge = load(archive, max_bytes=1000)
    assert isinstance(small, Article)
    assert (small.title, small.text, small.origin) == (
        "Small title",
        "Small body.",
        f"{archive}!docs/small.txt",
    )
    assert small.id == sha256_hex("Small body.")[:16]
    assert huge == LoadFailure(
        f"{archive}!docs/huge.txt",
        "member unpacks to 4.9 KB, over the 1000 bytes limit "
        "(raise NEWS_ASSISTANT_INGEST__MAX_FILE_MB to allow it)",
    )


@pytest.mark.parametrize(
    "name", ["../x.txt", "..\\x.txt", "/etc/x.txt", "docs/../../x.txt", "C:/x.txt"]
)
def test_zip_member_named_outside_the_archive_is_reported(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "sly.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "Fine title\n\nFine body.")
        zf.writestr(zipfile.ZipInfo(name), "Sly title\n\nSly body.")
    fine, sly = load(archive)
    assert isinstance(fine, Article) and fine.text == "Fine body."
    assert sly == LoadFailure(
        f"{archive}!{name}",
        "skipped: the member's name points outside the archive (an absolute path or '..'); "
        "re-create the archive with relative names",
    )


def test_folder_does_not_follow_links_that_leave_it(tmp_path: Path) -> None:
    outside = write(tmp_path, "outside/secret.txt", "Secret title\n\nSecret body.")
    folder = tmp_path / "news"
    inside = write(folder, "story.txt", "Story title\n\nStory body.")
    (folder / "secret.txt").symlink_to(outside)
    (folder / "again.txt").symlink_to(inside)
    (folder / "elsewhere").symlink_to(outside.parent, target_is_directory=True)
    results = load(folder)
    failures = [r for r in results if isinstance(r, LoadFailure)]
    assert sorted(failures, key=str) == [
        LoadFailure(
            str(folder / "elsewhere"),
            f"skipped: a link to {outside.parent}, outside the folder {folder}; copy what it "
            "points at into the folder, or name it directly",
        ),
        LoadFailure(
            str(folder / "secret.txt"),
            f"skipped: a link to {outside}, outside the folder {folder}; copy what it points "
            "at into the folder, or name it directly",
        ),
    ]
    assert [r.title for r in results if isinstance(r, Article)] == ["Story title"]


def test_corrupt_zip_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.zip", b"PK\x03\x04 this is not really a zip")
    failure = only_failure(load(path))
    assert failure.origin == str(path)
    assert failure.reason == (
        "not a readable zip archive (File is not a zip file); check the file is whole"
    )


# --- encodings -------------------------------------------------------------------------------

ENCODED = "Café prices rise\n\nA coffee now costs £3 in the city centre."


@pytest.mark.parametrize(
    ("name", "data", "encoding"),
    [
        ("bom8.txt", b"\xef\xbb\xbf" + ENCODED.encode("utf-8"), "utf-8"),
        ("bom16.txt", b"\xff\xfe" + ENCODED.encode("utf-16-le"), "utf-16-le"),
        ("bom16be.txt", b"\xfe\xff" + ENCODED.encode("utf-16-be"), "utf-16-be"),
        ("bom32.txt", ENCODED.encode("utf-32"), "utf-32-le"),
        ("nobom16.txt", ENCODED.encode("utf-16-le"), "utf-16-le"),
        ("nobom16be.txt", ENCODED.encode("utf-16-be"), "utf-16-be"),
        ("latin1.txt", ENCODED.encode("latin-1"), "cp1252"),
    ],
)
def test_encodings(tmp_path: Path, name: str, data: bytes, encoding: str) -> None:
    assert decode_bytes(data).encoding == encoding
    article = only_article(load(write(tmp_path, name, data)))
    assert article.title == "Café prices rise"
    assert article.text == "A coffee now costs £3 in the city centre."


def test_latin1_bytes_decode_to_the_right_characters(tmp_path: Path) -> None:
    data = b"Mutu fined\n\nA \xa315.8m signing, caf\xe9 owner \x93quoted\x94."
    path = write(tmp_path, "sport.txt", data)
    article = only_article(load(path))
    assert article.text == "A £15.8m signing, café owner “quoted”."


def test_arabic_utf16_without_bom(tmp_path: Path) -> None:
    text = "عنوان الخبر\n\nقال المتحدث إن الاجتماع سيعقد غداً في الرياض."
    article = only_article(load(write(tmp_path, "ar16.txt", text.encode("utf-16-le"))))
    assert (article.title, article.language) == ("عنوان الخبر", "ar")
    assert article.text == "قال المتحدث إن الاجتماع سيعقد غداً في الرياض."


ARABIC = "عنوان الخبر\n\nقال المتحدث إن الاجتماع سيعقد غداً في الرياض وأضاف أن الوفد سيصل صباحاً."


@pytest.mark.parametrize("encoding", ["cp1256", "iso-8859-6"])
def test_arabic_code_pages_are_guessed_and_named(tmp_path: Path, encoding: str) -> None:
    text = ARABIC.replace("ً", "") if encoding == "iso-8859-6" else ARABIC  # no tanween there
    path = write(tmp_path, "ar.txt", text.encode(encoding))
    article = only_article(load(path))
    assert (article.title, article.language) == ("عنوان الخبر", "ar")
    assert article.text == text.split("\n\n")[1]
    name = encoding.replace("iso-", "iso")
    assert notes(path) == [
        LoadNote(
            str(path),
            f"not UTF-8: decoded as {name} (a guess); re-save it as UTF-8 if the text looks wrong",
        )
    ]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", ["مرحباالعالمالعربي", "中华人民共和国北京市朝阳区"])
def test_utf16_without_bom_of_letters_only(tmp_path: Path, codec: str, text: str) -> None:
    path = write(tmp_path, "letters.txt", text.encode(codec))
    assert only_article(load(path)).text == text
    assert [n.message for n in notes(path)] == [
        f"not UTF-8: decoded as {codec} (a guess); re-save it as UTF-8 if the text looks wrong"
    ]


def test_mixed_utf8_and_latin1_decodes_each_part_and_says_so(tmp_path: Path) -> None:
    data = "Café opens\n\nThe café opened. ".encode() + b"Its caf\xe9 au lait costs \xa33."
    path = write(tmp_path, "mixed.txt", data)
    assert only_article(load(path)).text == "The café opened. Its café au lait costs £3."
    assert notes(path) == [
        LoadNote(
            str(path),
            "mixes UTF-8 with 2 bytes that are not (the first at byte 38): read those as "
            "cp1252; check the text, and re-save the file as UTF-8",
        )
    ]


def test_utf8_file_has_no_note(tmp_path: Path) -> None:
    assert notes(write(tmp_path, "plain.txt", ENCODED)) == []


def test_windows_line_ends_become_newlines(tmp_path: Path) -> None:
    article = only_article(load(write(tmp_path, "crlf.txt", b"Title\r\n\r\nOne.\r\nTwo.\rThree.")))
    assert (article.title, article.text) == ("Title", "One.\nTwo.\nThree.")


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"  \n\t\r\n ", b"\xef\xbb\xbf\n", "\n \n".encode("utf-16")])
def test_empty_file(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "empty.txt", data)
    assert only_failure(load(path)) == LoadFailure(str(path), "empty file")


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        bytes(range(1, 32)) * 20,
    ],
)
def test_binary_file(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path, "image.txt", data)
    assert only_failure(load(path)) == LoadFailure(str(path), f"binary file, not text {SUPPORTED}")


def test_oversize_file(tmp_path: Path) -> None:
    path = write(tmp_path, "big.txt", "Title\n\n" + "word " * 400)
    failure = only_failure(load(path, max_bytes=1024))
    assert failure.reason == (
        "file is 2 KB, over the 1 KB limit (raise NEWS_ASSISTANT_INGEST__MAX_FILE_MB to allow it)"
    )
    big = only_failure(list(load_file(path, max_bytes=10)))
    assert big.reason.startswith("file is 2 KB, over the 10 bytes limit")


def test_unsupported_extension_named_explicitly(tmp_path: Path) -> None:
    path = write(tmp_path, "report.pdf", b"%PDF-1.4")
    assert only_failure(load(path)) == LoadFailure(
        str(path), f"unsupported file type '.pdf' {SUPPORTED}"
    )


def test_nonexistent_path_unmatched_glob_and_empty_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.txt")
    pattern = str(tmp_path / "*.md")
    assert load(missing, pattern, "") == [
        LoadFailure(missing, "no such file or folder; check the path"),
        LoadFailure(pattern, "no files match this pattern; check the path"),
        LoadFailure("''", "empty path; name a file, folder or glob pattern"),
    ]


def test_unreadable_paths(tmp_path: Path) -> None:
    folder_named_txt = tmp_path / "x.txt"
    folder_named_txt.mkdir()
    assert only_failure(list(load_file(folder_named_txt))).reason == (
        "cannot read: it is a folder, not a file"
    )
    dangling = tmp_path / "gone.txt"
    dangling.symlink_to(tmp_path / "missing-target.txt")
    assert only_failure(load(dangling)) == LoadFailure(
        str(dangling), "cannot read: No such file or directory"
    )
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    assert only_failure(load(fifo)).reason == (
        "cannot read: not a regular file (a pipe, socket or device)"
    )


# --- folders and globs -----------------------------------------------------------------------


def make_tree(root: Path) -> None:
    write(root, "b.txt", "Bee story\n\nAbout bees.")
    write(root, "a.md", "# Ant story\n\nAbout ants.")
    write(root, "sub/c.txt", "Cat story\n\nAbout cats.")
    write(root, "sub/deeper/d.jsonl", '{"title": "Dog story", "content": "About dogs."}\n')
    write(root, "sub/notes.csv", "ignored,silently")
    write(root, "sub/broken.txt", b"")
    write(root, ".hidden.txt", "Hidden\n\nNot loaded.")
    write(root, ".git/e.txt", "Hidden dir\n\nNot loaded.")


def test_folder_is_recursive_sorted_and_skips_hidden_and_unsupported(tmp_path: Path) -> None:
    make_tree(tmp_path)
    results = load(tmp_path)
    summary = [r.title if isinstance(r, Article) else r.reason for r in results]
    assert summary == ["Ant story", "Bee story", "empty file", "Cat story", "Dog story"]
    assert results[2] == LoadFailure(str(tmp_path / "sub" / "broken.txt"), "empty file")


def test_globs_and_duplicates(tmp_path: Path) -> None:
    make_tree(tmp_path)
    titles = [r.title for r in load(tmp_path / "**" / "*.txt") if isinstance(r, Article)]
    assert titles == ["Bee story", "Cat story"]
    everything = [r.title for r in load(tmp_path / "**") if isinstance(r, Article)]
    assert everything == ["Ant story", "Bee story", "Cat story", "Dog story"]
    once = load(tmp_path / "sub" / "c.txt", tmp_path / "sub" / "?.txt", tmp_path / "sub")
    assert [r.title if isinstance(r, Article) else r.reason for r in once] == [
        "Cat story",
        "empty file",
        "Dog story",
    ]


def test_folder_with_nothing_to_load(tmp_path: Path) -> None:
    write(tmp_path, "data.csv", "a,b")
    assert only_failure(load(tmp_path)) == LoadFailure(
        str(tmp_path), f"no supported files in this folder {SUPPORTED}"
    )


def test_one_bad_file_does_not_stop_the_batch(tmp_path: Path) -> None:
    good = write(tmp_path, "good.txt", "Good story\n\nIt loads.")
    bad = write(tmp_path, "bad.json", "{oops")
    results = load(bad, tmp_path / "missing.txt", good)
    assert [type(r).__name__ for r in results] == ["LoadFailure", "LoadFailure", "Article"]
    assert str(results[0]).startswith(f"{bad}: invalid JSON at line 1, column 2")


def test_deep_nesting_and_lone_surrogates_fail_alone(tmp_path: Path) -> None:
    deep: object = "The text."
    for _ in range(900):
        deep = [deep]
    lines = [
        json.dumps({"title": "deep", "content": deep}),
        '{"title": "broken", "content": "A broken emoji \\ud800 here."}',
        json.dumps({"title": "fine", "content": "A fine article."}),
    ]
    results = load(write(tmp_path, "mixed.jsonl", "\n".join(lines)))
    assert [type(r).__name__ for r in results] == ["LoadFailure", "LoadFailure", "Article"]
    deep_failure, surrogate, _ = results
    assert isinstance(deep_failure, LoadFailure) and "nested more than" in deep_failure.reason
    assert isinstance(surrogate, LoadFailure) and "unpaired surrogate \\ud800" in surrogate.reason
    single = write(tmp_path, "one.json", '{"title": "x \\udfff", "content": "Some text."}')
    assert "the title holds an unpaired surrogate" in only_failure(load(single)).reason


_KEYS = st.sampled_from(
    ["title", "content", "text", "body", "id", "date", "author", "source", "[/bold]", "\x1b[31m"]
) | st.text(max_size=8)
_ODD = st.sampled_from(["\ud800", "a\udfffb", "[/bold]", "\x1b[2J", "\u202eevil", "  ", "\ufeff"])
_JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40), _ODD
)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=30,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    articles=st.lists(st.dictionaries(_KEYS, _JSON, max_size=6), min_size=1, max_size=4),
    noise=st.text(st.characters(codec="utf-8", exclude_categories=["Cc", "Zl", "Zp"])),
)
def test_fuzzed_json_gives_one_result_per_article_and_never_raises(
    tmp_path: Path, articles: list[dict[str, object]], noise: str
) -> None:
    """Any JSON objects (nested, odd Unicode, markup-like keys, surrogates) and any junk line:
    one Article or one LoadFailure each, and every Article is storable (hashable text)."""
    lines = [json.dumps(a) for a in articles] + [noise]
    results = load(write(tmp_path, "fuzz.jsonl", "\n".join(lines)))
    assert len(results) == len(articles) + (1 if noise.strip() else 0)
    for result in results:
        if isinstance(result, Article):
            assert result.content_hash and result.text.strip()
        else:
            assert result.reason and result.origin
