"""Load articles from files, folders, globs and zips, yielding an Article or a LoadFailure each,
and a LoadNote for a file whose encoding was guessed."""

from __future__ import annotations

import dataclasses
import glob
import json
import lzma
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from core.errors import LoadError
from core.settings import IngestSettings
from core.types import Article
from ingest.articles import clean_label, make_article
from ingest.decode import NotTextError, decode_bytes, normalize_newlines
from ingest.html_text import declared_charset, extract_page

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".zip")
DEFAULT_MAX_BYTES = IngestSettings().max_bytes
MAX_TITLE_CHARS = 200
MAX_FIELD_DEPTH = 20  # lists in lists in a JSON field (paragraphs of sections is 2)

_SUPPORTED = ", ".join(SUPPORTED_SUFFIXES)
_SEE_SUPPORTED = f"(supported: {_SUPPORTED})"
_HTML = (".html", ".htm")
_GLOB_CHARS = frozenset("*?[")
_SENTENCE_END = (".", "…", "!", "?", "؟", "۔", "。")
_HEADLINE_ENDS = ("!", "?", "؟", "…", "...")
_SHORT_HEADLINE = 120
_CLOSERS = "\"'”’»›)]}"
_LANGUAGE_SUFFIX = re.compile(r"\.[A-Za-z]{2}(?:[-_][A-Za-z]{2})?$")
_MD_HEADING = re.compile(r"^#{1,6}\s+|^#{1,6}$")
_SETEXT_RULE = re.compile(r"^(?:=+|-+)\s*$")
_DRIVE = re.compile(r"[A-Za-z]:")
# What a damaged, encrypted or exotic zip raises while it is opened or read.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    RuntimeError,
    NotImplementedError,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
)

_TITLE_KEYS = ("title", "headline")
_TEXT_KEYS = ("content", "text", "body", "article")
_URL_KEYS = ("url", "link")
_SOURCE_KEYS = ("source", "publisher", "site", "site_name")
_DATE_KEYS = ("date", "published", "published_at", "date_published", "date_extracted", "pubdate")
_AUTHOR_KEYS = ("author", "authors", "byline")
_LANGUAGE_KEYS = ("language", "lang")


@dataclass(frozen=True)
class LoadFailure:
    """An input that gave no article: where it was and one line on what was wrong and the fix."""

    origin: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.reason}"


@dataclass(frozen=True)
class LoadNote:
    """Something the user should know about an input that was loaded: its encoding was a guess."""

    origin: str
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}"


LoadResult = Article | LoadFailure | LoadNote


def load_paths(
    paths: Sequence[str | Path] | str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[LoadResult]:
    """Load files, folders (recursive, sorted, hidden skipped) and glob patterns, in order.

    Never raises for bad input: each problem is one LoadFailure and the rest of the batch goes on.
    A file reached twice (say by a folder and a glob) is loaded once.
    """
    for item in input_files(paths):
        if isinstance(item, LoadFailure):
            yield item
        else:
            yield from load_file(item, max_bytes=max_bytes)


def input_files(paths: Sequence[str | Path] | str | Path) -> Iterator[Path | LoadFailure]:
    """The files `load_paths` loads, in its order, each once, and a LoadFailure for each path
    that names none (what `load_file` then loads can run elsewhere: see ingest/distributed.py)."""
    seen: set[Path] = set()
    for raw in [paths] if isinstance(paths, str | Path) else paths:
        for item in _expand(raw):
            if isinstance(item, LoadFailure):
                yield item
            elif _absolute(item) not in seen:
                seen.add(_absolute(item))
                yield item


def load_file(
    path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, origin: str | None = None
) -> Iterator[LoadResult]:
    """Load one file of a supported type: one Article, several (json, jsonl, zip), or failures.
    `origin`: how results name the file (default: the path as given)."""
    path = Path(path)
    origin = str(path) if origin is None else origin
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kind = f"'{suffix}'" if suffix else "(no extension)"
        yield LoadFailure(origin, f"unsupported file type {kind} {_SEE_SUPPORTED}")
        return
    if suffix == ".zip":
        yield from _load_zip(path, origin, max_bytes)
        return
    try:
        data = _read_file(path, max_bytes)
    except LoadError as exc:
        yield LoadFailure(origin, str(exc))
        return
    identity = str(_absolute(path))
    yield from _load_bytes(data, suffix, name=path.name, origin=origin, identity=identity)


DEFAULTABLE = ("source", "date", "author", "language")


def with_defaults(items: Iterable[LoadResult], defaults: dict[str, str]) -> Iterator[LoadResult]:
    """The loaded items, with `defaults` filling the metadata (source, date, author, language)
    an article does not carry."""
    unknown = set(defaults) - set(DEFAULTABLE)
    if unknown:
        raise ValueError(f"cannot default {sorted(unknown)}; allowed: {', '.join(DEFAULTABLE)}")
    for item in items:
        if isinstance(item, Article) and defaults:
            missing: dict[str, Any] = {
                k: clean_label(v) for k, v in defaults.items() if v and not getattr(item, k)
            }
            item = dataclasses.replace(item, **missing)
        yield item


def count_articles(
    paths: Sequence[str | Path] | str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> int:
    """About how many results `load_paths` will give (for a progress bar's total), without
    building articles: a JSON Lines file counts its non-blank lines, a JSON file its list, a
    zip its members, any other file one. Unreadable inputs count one (their failure)."""
    total = 0
    seen: set[Path] = set()
    for raw in [paths] if isinstance(paths, str | Path) else paths:
        for item in _expand(raw):
            if isinstance(item, LoadFailure):
                total += 1
            elif _absolute(item) not in seen:
                seen.add(_absolute(item))
                total += _count_in_file(item, max_bytes)
    return total


def _count_in_file(path: Path, max_bytes: int) -> int:
    suffix = path.suffix.lower()
    try:
        if suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = _listed_members(archive)
                return max(1, sum(_count_member(archive, info, max_bytes) for info in members))
        if suffix in (".json", ".jsonl"):
            return _count_in_bytes(_read_file(path, max_bytes), suffix)
    except (LoadError, *_ZIP_ERRORS):
        pass
    return 1


def _count_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> int:
    suffix = PurePosixPath(info.filename).suffix.lower()
    unread = _outside_archive(info.filename) or info.file_size > max_bytes
    if suffix not in (".json", ".jsonl") or unread:
        return 1
    with archive.open(info) as handle:
        return _count_in_bytes(handle.read(max_bytes + 1), suffix)


def _count_in_bytes(data: bytes, suffix: str) -> int:
    lines = max(1, sum(1 for line in data.splitlines() if line.strip()))
    if suffix == ".jsonl":
        return lines
    try:
        items = _article_list(json.loads(data))
    except (ValueError, RecursionError):  # one object per line in a .json file, or broken
        return lines
    return max(1, len(items)) if items is not None else 1


# --- finding files ---------------------------------------------------------------------------


def _expand(raw: str | Path) -> Iterator[Path | LoadFailure]:
    text = os.path.expanduser(str(raw))
    path = Path(text)
    if not text.strip():
        yield LoadFailure(repr(str(raw)), "empty path; name a file, folder or glob pattern")
    elif path.is_dir():
        yield from _folder_files(path, report_empty=True)
    elif path.exists() or path.is_symlink():
        yield path
    elif _GLOB_CHARS.intersection(text):
        yield from _glob_files(text)
    else:
        yield LoadFailure(str(raw), "no such file or folder; check the path")


def _folder_files(folder: Path, *, report_empty: bool) -> Iterator[Path | LoadFailure]:
    """The supported files under `folder`; a link that leads out of it is reported, not
    followed (links to folders are never walked: what they hold inside is reached anyway)."""
    errors: list[OSError] = []
    found: list[Path] = []
    links: list[Path] = []
    for root, dirs, names in os.walk(folder, onerror=errors.append):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        links += [Path(root, d) for d in dirs if Path(root, d).is_symlink()]
        found += [Path(root, n) for n in names if not n.startswith(".") and _supported(n)]
    for err in errors:
        yield LoadFailure(str(err.filename or folder), f"cannot read folder: {_why(err)}")
    if report_empty and not found and not errors:
        yield LoadFailure(str(folder), f"no supported files in this folder {_SEE_SUPPORTED}")
    inside = _absolute(folder)
    for path in sorted(found + links):
        target = _absolute(path)
        if path.is_symlink() and not target.is_relative_to(inside):
            yield LoadFailure(str(path), _link_outside(target, folder))
        elif path not in links:
            yield path


def _link_outside(target: Path, folder: Path) -> str:
    return (
        f"skipped: a link to {target}, outside the folder {folder}; copy what it points at "
        "into the folder, or name it directly"
    )


def _glob_files(pattern: str) -> Iterator[Path | LoadFailure]:
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        yield LoadFailure(pattern, "no files match this pattern; check the path")
        return
    found: list[Path | LoadFailure] = []
    walked: set[Path] = set()
    for match in map(Path, matches):
        if match.is_dir():
            if not walked.intersection(match.parents):  # "**" also matches every subfolder
                walked.add(match)
                found += _folder_files(match, report_empty=False)
        elif _supported(match.name):
            found.append(match)
    if not found:
        yield LoadFailure(pattern, f"no supported files match this pattern {_SEE_SUPPORTED}")
    yield from found


def _supported(name: str) -> bool:
    return Path(name).suffix.lower() in SUPPORTED_SUFFIXES


def _absolute(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return path.absolute()


# --- reading bytes ---------------------------------------------------------------------------


def _regular_file_size(path: Path) -> int:
    """The size of a regular file; pipes, sockets and devices are refused (a FIFO would block)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise LoadError(f"cannot read: {_why(exc)}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise LoadError("cannot read: it is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise LoadError("cannot read: not a regular file (a pipe, socket or device)")
    return info.st_size


def _read_file(path: Path, max_bytes: int) -> bytes:
    _check_size(_regular_file_size(path), max_bytes)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise LoadError(f"cannot read: {_why(exc)}") from exc
    _check_size(len(data), max_bytes)
    return data


def _check_size(size: int, max_bytes: int, what: str = "file is") -> None:
    if size > max_bytes:
        raise LoadError(
            f"{what} {_size(size)}, over the {_size(max_bytes)} limit "
            "(raise NEWS_ASSISTANT_INGEST__MAX_FILE_MB to allow it)"
        )


def _size(n: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _load_zip(path: Path, origin: str, max_bytes: int) -> Iterator[LoadResult]:
    """Every supported member, loaded as if it were a file; max_bytes applies per member."""
    try:
        _regular_file_size(path)
        archive = zipfile.ZipFile(path)
    except LoadError as exc:
        yield LoadFailure(origin, str(exc))
        return
    except _ZIP_ERRORS as exc:
        yield LoadFailure(origin, f"not a readable zip archive ({exc}); check the file is whole")
        return
    with archive:
        members = _listed_members(archive)
        if not members:
            yield LoadFailure(origin, f"no supported files in the archive {_SEE_SUPPORTED}")
        for info in members:
            where = f"{origin}!{info.filename}"
            if _outside_archive(info.filename):
                yield LoadFailure(where, _OUTSIDE_ARCHIVE)
            else:
                yield from _load_member(archive, info, where, max_bytes)


_OUTSIDE_ARCHIVE = (
    "skipped: the member's name points outside the archive (an absolute path or '..'); "
    "re-create the archive with relative names"
)


def _listed_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members to load, and those to report: named outside the archive (never read)."""
    return [
        info
        for info in archive.infolist()
        if not info.is_dir() and (_outside_archive(info.filename) or _wanted_member(info))
    ]


def _outside_archive(name: str) -> bool:
    """An absolute name ('/x', 'C:/x', '\\x') or one with a '..' part ('/' or '\\')."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or bool(_DRIVE.match(name))


def _wanted_member(info: zipfile.ZipInfo) -> bool:
    parts = PurePosixPath(info.filename).parts
    hidden = any(p.startswith(".") or p == "__MACOSX" for p in parts)
    return not info.is_dir() and not hidden and _supported(info.filename)


def _load_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, origin: str, max_bytes: int
) -> Iterator[LoadResult]:
    suffix = PurePosixPath(info.filename).suffix.lower()
    if suffix == ".zip":
        yield LoadFailure(origin, "zip archives inside a zip are not loaded; extract it first")
        return
    try:
        _check_size(info.file_size, max_bytes, "member unpacks to")
        with archive.open(info) as handle:
            data = handle.read(max_bytes + 1)
        _check_size(len(data), max_bytes, "member unpacks to")
    except LoadError as exc:
        yield LoadFailure(origin, str(exc))
        return
    except _ZIP_ERRORS as exc:
        yield LoadFailure(origin, f"cannot read this member of the archive: {exc}")
        return
    name = PurePosixPath(info.filename).name
    yield from _load_bytes(data, suffix, name=name, origin=origin, identity="")


# --- bytes to articles -----------------------------------------------------------------------


def _load_bytes(
    data: bytes, suffix: str, *, name: str, origin: str, identity: str
) -> Iterator[LoadResult]:
    try:
        decoded = decode_bytes(data, declared_charset(data) if suffix in _HTML else None)
    except NotTextError:
        yield LoadFailure(origin, f"binary file, not text {_SEE_SUPPORTED}")
        return
    except LoadError as exc:
        yield LoadFailure(origin, str(exc))
        return
    text = decoded.text
    if decoded.note and text.strip():
        yield LoadNote(origin, decoded.note)
    if not text.strip():
        yield LoadFailure(origin, "empty file")
    elif suffix == ".json":
        yield from _json_file(text, name=name, origin=origin, identity=identity)
    elif suffix == ".jsonl":
        yield from _json_lines(text, origin)
    elif suffix in _HTML:
        yield _html_article(text, name=name, origin=origin, identity=identity)
    else:
        title, body = split_title(text, markdown=suffix == ".md")
        title = title or title_from_filename(name)
        yield _article(body, title=title, origin=origin, identity=identity)


def _html_article(html: str, *, name: str, origin: str, identity: str) -> LoadResult:
    try:
        page = extract_page(html)
    except LoadError as exc:
        return LoadFailure(origin, str(exc))
    return _article(
        page.text,
        title=page.title or title_from_filename(name),
        url=page.url,
        source=page.source,
        date=page.date,
        author=page.author,
        origin=origin,
        identity=identity,
    )


def split_title(text: str, *, markdown: bool = False) -> tuple[str, str]:
    """(title, body) when the first non-empty line looks like a title, else ("", whole text).

    A title is at most MAX_TITLE_CHARS and does not end a sentence (. … ! ? ؟, maybe followed
    by closing quotes or brackets); a short line ending in ! ? ؟ or an ellipsis still counts
    when a blank line follows it (headlines ask questions and trail off). A markdown `#` heading
    always counts. The body is the rest, stripped at both ends only; a lone title line is also
    the body.
    """
    whole = text.strip()
    first, _, rest = whole.partition("\n")
    line = first.strip()
    heading = markdown and bool(_MD_HEADING.match(line))
    if heading:
        line = _MD_HEADING.sub("", line).rstrip("#").strip()
    if markdown:
        rule, _, after = rest.lstrip(" \t").partition("\n")
        if _SETEXT_RULE.match(rule):
            rest = "\n" + after
    body = rest.strip()
    blank_after = bool(re.match(r"[ \t]*\n", rest))
    if not _looks_like_title(line, heading=heading, blank_after=blank_after):
        return "", whole
    return line, body or whole


def _looks_like_title(line: str, *, heading: bool, blank_after: bool) -> bool:
    if not line or len(line) > MAX_TITLE_CHARS or not any(ch.isalnum() for ch in line):
        return False
    if heading:
        return True
    core = line.rstrip(_CLOSERS + " ")
    if core.endswith(_HEADLINE_ENDS):
        return blank_after and len(line) <= _SHORT_HEADLINE
    return not core.endswith(_SENTENCE_END)


def title_from_filename(name: str) -> str:
    """'airstrike-deir-ez-zor.ar.txt' -> 'airstrike deir ez zor' (language suffix dropped)."""
    stem = Path(name).stem
    stem = _LANGUAGE_SUFFIX.sub("", stem) or stem
    return " ".join(re.sub(r"[-_]+", " ", stem).split())


# --- JSON ------------------------------------------------------------------------------------


def _json_file(text: str, *, name: str, origin: str, identity: str) -> Iterator[LoadResult]:
    """One article object, a list of them, or {"articles": [...]}."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one object per line in a .json file
            yield from _json_lines(text, origin)
        else:
            where = f"line {exc.lineno}, column {exc.colno}"
            yield LoadFailure(origin, f"invalid JSON at {where}: {exc.msg}")
        return
    except RecursionError:
        yield LoadFailure(origin, "invalid JSON: nested too deeply")
        return
    items = _article_list(data)
    if items is None:
        fallback = title_from_filename(name)
        yield _json_article(data, origin=origin, identity=identity, title=fallback, label="")
    elif not items:
        yield LoadFailure(origin, "no articles: the JSON list is empty")
    else:
        for number, item in enumerate(items, 1):
            yield _json_article(item, origin=f"{origin}#{number}", label=f"item {number}: ")


def _article_list(data: Any) -> list[Any] | None:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        keys = {str(k).lower(): v for k, v in data.items()}
        wrapped = keys.get("articles")
        if isinstance(wrapped, list) and not any(keys.get(k) for k in _TEXT_KEYS):
            return wrapped
    return None


def _json_lines(text: str, origin: str) -> Iterator[LoadResult]:
    """One article object per line; blank lines skipped, a bad line fails alone."""
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            reason = f"line {number}: invalid JSON: {exc.msg} (column {exc.colno})"
            yield LoadFailure(where, reason)
            continue
        except RecursionError:
            yield LoadFailure(where, f"line {number}: invalid JSON: nested too deeply")
            continue
        yield _json_article(item, origin=where, label=f"line {number}: ")


def _json_article(
    item: Any, *, origin: str, label: str, identity: str = "", title: str = ""
) -> LoadResult:
    if not isinstance(item, dict):
        got = type(item).__name__.replace("NoneType", "null").replace("dict", "object")
        return LoadFailure(origin, f"{label}expected a JSON object (an article), got {got}")
    fields = {str(k).lower(): v for k, v in item.items()}
    try:
        text = normalize_newlines(_pick(fields, _TEXT_KEYS, sep="\n")).strip()
        if not text:
            return LoadFailure(origin, label + _missing_text(fields))
        return make_article(
            text,
            title=_pick(fields, _TITLE_KEYS) or title,
            article_id=_pick(fields, ("id",)),
            url=_pick(fields, _URL_KEYS),
            source=_pick(fields, _SOURCE_KEYS),
            date=_pick(fields, _DATE_KEYS),
            author=_pick(fields, _AUTHOR_KEYS, sep=", "),
            language=_language_code(_pick(fields, _LANGUAGE_KEYS)),
            origin=origin,
            identity=identity,
        )
    except LoadError as exc:
        return LoadFailure(origin, f"{label}{exc}")


def _article(text: str, *, origin: str, **fields: str) -> LoadResult:
    """make_article's Article, or the LoadFailure saying why the text cannot be stored."""
    try:
        return make_article(text, origin=origin, **fields)
    except LoadError as exc:
        return LoadFailure(origin, str(exc))


def _language_code(value: str) -> str:
    """'ar-SA', 'AR', 'Arabic' -> 'ar'; the project's language codes are two letters."""
    code = value.lower().replace("_", "-").split("-")[0]
    return {"arabic": "ar", "english": "en"}.get(code, code)


def _missing_text(fields: dict[str, Any]) -> str:
    present = [key for key in _TEXT_KEYS if key in fields]
    if present:
        return f"the {present[0]} field is empty (no article text)"
    keys = ", ".join(sorted(fields)) or "none"
    return f"no content/text/body field (fields found: {keys}); put the article text in content"


def _pick(fields: dict[str, Any], keys: tuple[str, ...], sep: str = ", ") -> str:
    """The first of `keys` with a non-empty value, as a stripped string; LoadError naming the
    field when any of them holds something that is not text (a number, true/false): that is
    never coerced."""
    values = [_as_text(fields.get(key), sep, key, numbers=key == "id") for key in keys]
    return next((value for value in values if value), "")


def _as_text(value: Any, sep: str, key: str, *, numbers: bool = False, depth: int = 0) -> str:
    """A field's value as text: lists joined by `sep`, {"name": ...} objects by their name;
    an integer only where `numbers` (ids)."""
    if value is None:
        return ""
    if depth > MAX_FIELD_DEPTH:
        raise LoadError(
            f"a field is nested more than {MAX_FIELD_DEPTH} lists deep; give the text as a "
            "string or a flat list of strings"
        )
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        parts = (_as_text(v, sep, key, numbers=numbers, depth=depth + 1) for v in value)
        return sep.join(part for part in parts if part)
    if isinstance(value, dict) and "name" in value:  # {"name": "Jane Doe"} in author lists
        return _as_text(value["name"], sep, key, numbers=numbers, depth=depth + 1)
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise LoadError(
        f"the {key} field is {_json_kind(value)}, expected text (a string or a list of strings)"
    )


def _json_kind(value: Any) -> str:
    """How a JSON value that is not text reads in a message: 'a number (12)', 'true'."""
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return f"a number ({json.dumps(value)})"
    if isinstance(value, dict):
        return "an object without a name"
    return type(value).__name__
