"""Turn a file's bytes into text: byte-order marks, UTF-16, UTF-8, then cp1252 and Latin-1."""

from __future__ import annotations

import codecs
import re
from typing import NamedTuple

from core.errors import LoadError

# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SNIFF_BYTES = 4096
_SAMPLE_CHARS = 65536
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.1


class NotTextError(LoadError):
    """The bytes are binary data (NUL bytes that are not UTF-16, or mostly control characters)."""


class Decoded(NamedTuple):
    text: str
    encoding: str


def decode_bytes(data: bytes, declared: str | None = None) -> Decoded:
    """Decode `data`, trying a BOM, BOM-less UTF-16, UTF-8, `declared`, cp1252, then Latin-1.

    Line ends are normalised ("\\r\\n" and "\\r" become "\\n") so that offsets into the text do
    not depend on the platform that wrote the file; nothing else is changed.
    Raises NotTextError for binary data, LoadError for a BOM followed by undecodable bytes.
    """
    text, encoding = _decode(data, declared)
    if "\x00" in text or _mostly_control(text):
        raise NotTextError("binary file, not text")
    return Decoded(normalize_newlines(text), encoding)


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes, declared: str | None) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise LoadError(
                    f"starts with a {encoding} byte-order mark but is not valid {encoding} "
                    f"(byte {exc.start + len(bom)}); re-save the file as UTF-8"
                ) from exc
    if b"\x00" in data:
        return _decode_utf16_without_bom(data)
    for encoding in _candidates(declared):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _candidates(declared: str | None) -> list[str]:
    names = ["utf-8"]
    if declared and _known_codec(declared):
        names.append(declared)
    names.append("cp1252")
    return names


def _known_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _decode_utf16_without_bom(data: bytes) -> tuple[str, str]:
    """UTF-16 text without a BOM has NULs on one byte parity only (the high byte of ASCII)."""
    sample = data[:_SNIFF_BYTES]
    pairs = len(sample) // 2
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    encoding = ""
    if odd >= 0.1 * pairs and even <= 0.05 * odd:
        encoding = "utf-16-le"
    elif even >= 0.1 * pairs and odd <= 0.05 * even:
        encoding = "utf-16-be"
    if encoding:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            pass
    raise NotTextError("binary file, not text")


def _mostly_control(text: str) -> bool:
    sample = text[:_SAMPLE_CHARS]
    return bool(sample) and len(_CONTROL.findall(sample)) > _MAX_CONTROL_SHARE * len(sample)
