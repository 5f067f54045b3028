"""Turn a file's bytes into text: byte-order marks, UTF-8, BOM-less UTF-16, a declared charset,
UTF-8 mixed with cp1252 bytes, then a guess among cp1252 and the Arabic code pages
(charset-normalizer). What was guessed is said in `Decoded.note`."""

from __future__ import annotations

import codecs
import re
import unicodedata
from typing import NamedTuple

from charset_normalizer import from_bytes

from core.errors import LoadError

# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
SINGLE_BYTE = ("cp1252", "cp1256", "iso8859_6")  # what a legacy news file is guessed to be
_SAMPLE_CHARS = 65536
_SNIFF_CHARS = 4096
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.1
_PRINTABLE_ASCII = re.compile(rb"[\x20-\x7e\t\n\r]")
_MAX_ASCII_SHARE_UTF16 = 0.7  # text that is mostly printable ASCII bytes is not UTF-16
_MIN_SCRIPT_SHARE_UTF16 = 0.9
# Unicode blocks of the scripts news is written in (Latin, Greek, Cyrillic, Hebrew, Arabic,
# Indic, Thai, punctuation, CJK, Hangul, Arabic presentation forms, full-width forms).
_TEXT_BLOCKS = (
    (0x0009, 0x000D),
    (0x0020, 0x007E),
    (0x00A0, 0x024F),
    (0x0370, 0x052F),
    (0x0590, 0x077F),
    (0x0900, 0x0E7F),
    (0x1E00, 0x1EFF),
    (0x2000, 0x206F),
    (0x20A0, 0x20CF),
    (0x3000, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7AF),
    (0xFB50, 0xFDFF),
    (0xFE70, 0xFEFF),
    (0xFF00, 0xFFEF),
)
_UTF8_MULTIBYTE = (
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_UTF8_SEQUENCE = re.compile(_UTF8_MULTIBYTE)
_UTF8_RUN_OR_BYTE = re.compile(rb"((?:[\x00-\x7f]|" + _UTF8_MULTIBYTE + rb")+)|(.)", re.DOTALL)


class NotTextError(LoadError):
    """The bytes are binary data (NUL bytes that are not UTF-16, or mostly control characters)."""


class Decoded(NamedTuple):
    """The text, the codec it was read with, and one line for the user when that was a guess
    (or a mix), else ""."""

    text: str
    encoding: str
    note: str = ""


def decode_bytes(data: bytes, declared: str | None = None) -> Decoded:
    """Decode `data`: a BOM, UTF-8, BOM-less UTF-16, `declared`, UTF-8 with some cp1252
    bytes, else the likeliest of cp1252, cp1256 and ISO-8859-6 (Latin-1 as a last resort).

    Line ends are normalised ("\\r\\n" and "\\r" become "\\n") so that offsets into the text do
    not depend on the platform that wrote the file; nothing else is changed.
    Raises NotTextError for binary data, LoadError for a BOM followed by undecodable bytes.
    """
    decoded = _decode(data, declared)
    if "\x00" in decoded.text or _mostly_control(decoded.text):
        raise NotTextError("binary file, not text")
    return decoded._replace(text=normalize_newlines(decoded.text))


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode(data: bytes, declared: str | None) -> Decoded:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_after_bom(data[len(bom) :], encoding, len(bom))
    utf8 = _strict(data, "utf-8")
    if utf8 is not None and b"\x00" not in data and not _mostly_control(utf8):
        return Decoded(utf8, "utf-8")
    guessed = _utf16_without_bom(data)
    if guessed is not None:
        return _guess(guessed, _codec_name(guessed.encoding))
    if b"\x00" in data:
        raise NotTextError("binary file, not text")
    if declared and _known_codec(declared) and _strict(data, declared) is not None:
        return Decoded(data.decode(declared), _codec_name(declared))
    return _single_byte_or_mixed(data)


def _decode_after_bom(data: bytes, encoding: str, offset: int) -> Decoded:
    try:
        return Decoded(data.decode(encoding), encoding)
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"starts with a {encoding} byte-order mark but is not valid {encoding} "
            f"(byte {exc.start + offset}); re-save the file as UTF-8"
        ) from exc


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _guess(decoded: Decoded, name: str) -> Decoded:
    note = f"not UTF-8: decoded as {name} (a guess); re-save it as UTF-8 if the text looks wrong"
    return decoded._replace(encoding=name, note=note)


def _codec_name(name: str) -> str:
    """The codec's canonical name: 'iso8859_6' -> 'iso8859-6', 'windows-1256' -> 'cp1256'."""
    return codecs.lookup(name).name


def _known_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


# --- UTF-16 without a byte-order mark -------------------------------------------------------


def _utf16_without_bom(data: bytes) -> Decoded | None:
    """UTF-16 LE or BE when one of them reads as text of known scripts. Bytes that are mostly
    printable ASCII are 8-bit text (read as UTF-16 they would look like CJK): they are tried
    only when they hold NULs, the high byte of ASCII in UTF-16."""
    if len(data) % 2 or not data:
        return None
    ascii_share = len(_PRINTABLE_ASCII.findall(data)) / len(data)
    if b"\x00" not in data and ascii_share >= _MAX_ASCII_SHARE_UTF16:
        return None
    readings = {codec: _strict(data, codec) for codec in ("utf-16-le", "utf-16-be")}
    scored = [(_script_share(text), codec, text) for codec, text in readings.items() if text]
    share, codec, text = max(scored, default=(0.0, "", ""))
    return Decoded(text, codec) if share >= _MIN_SCRIPT_SHARE_UTF16 else None


def _script_share(text: str) -> float:
    """The share of characters that are assigned letters, digits, marks, punctuation or spaces
    of the blocks news is written in. A character U+xx00 above U+00FF counts against: that is
    ASCII read with the wrong byte order."""
    sample = text[:_SNIFF_CHARS]
    good = sum(1 for ch in sample if _is_text_char(ch))
    return good / len(sample) if sample else 0.0


def _is_text_char(ch: str) -> bool:
    point = ord(ch)
    if point > 0xFF and point & 0xFF == 0:
        return False
    if not any(lo <= point <= hi for lo, hi in _TEXT_BLOCKS):
        return False
    return unicodedata.category(ch) not in ("Cn", "Co", "Cs")


# --- single-byte code pages, and UTF-8 mixed with them ------------------------------------


def _single_byte_or_mixed(data: bytes) -> Decoded:
    """The likeliest of cp1252, cp1256 and ISO-8859-6 (charset-normalizer); a cp1252-looking
    file that holds valid UTF-8 sequences too is UTF-8 with some cp1252 bytes."""
    best = from_bytes(data, cp_isolation=list(SINGLE_BYTE)).best()
    encoding = _codec_name(best.encoding) if best is not None else "latin-1"
    if encoding in ("cp1252", "latin-1") and _UTF8_SEQUENCE.search(data):
        return _utf8_with_cp1252(data)
    if best is None:
        return _guess(Decoded(data.decode("latin-1"), "latin-1"), "latin-1")
    return _guess(Decoded(str(best), encoding), encoding)


def _utf8_with_cp1252(data: bytes) -> Decoded:
    """UTF-8 where it is valid, each other byte read as cp1252 (Latin-1 where cp1252 has none)."""
    parts: list[str] = []
    bad: list[int] = []
    for match in _UTF8_RUN_OR_BYTE.finditer(data):
        if match.group(1) is not None:
            parts.append(match.group(1).decode("utf-8"))
        else:
            bad.append(match.start())
            parts.append(_cp1252_byte(match.group(2)))
    note = (
        f"mixes UTF-8 with {len(bad)} byte{'' if len(bad) == 1 else 's'} that are not (the "
        f"first at byte {bad[0]}): read those as cp1252; check the text, and re-save the file "
        "as UTF-8"
    )
    return Decoded("".join(parts), "utf-8+cp1252", note)


def _cp1252_byte(raw: bytes) -> str:
    return _strict(raw, "cp1252") or raw.decode("latin-1")


def _mostly_control(text: str) -> bool:
    sample = text[:_SAMPLE_CHARS]
    return bool(sample) and len(_CONTROL.findall(sample)) > _MAX_CONTROL_SHARE * len(sample)
