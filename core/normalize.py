"""Normalise text for matching only (lexical search, citation checks); never for what is shown.

Arabic: diacritics (harakat, tanwin, shadda, sukun, superscript alef) and tatweel removed;
alef forms (أ إ آ ٱ) to ا, alef maqsura ى to ي, ta marbuta ة to ه, hamza on waw/ya (ؤ ئ) to
ء; Arabic-Indic and Persian digits to ASCII digits. Latin text is case-folded. Whitespace runs
collapse to one space. What this leaves out: stemming and clitic splitting (و، ال، ب...).
"""

from __future__ import annotations

import re
import unicodedata

_DIACRITICS = re.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED]")
_TATWEEL = "\u0640"
_LETTERS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ؤ": "ء",
        "ئ": "ء",
        "٠": "0",
        "١": "1",
        "٢": "2",
        "٣": "3",
        "٤": "4",
        "٥": "5",
        "٦": "6",
        "٧": "7",
        "٨": "8",
        "٩": "9",
        "۰": "0",
        "۱": "1",
        "۲": "2",
        "۳": "3",
        "۴": "4",
        "۵": "5",
        "۶": "6",
        "۷": "7",
        "۸": "8",
        "۹": "9",
        "٫": ".",
        "٬": ",",
    }
)
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalize(text: str, *, fold_ya: bool = True) -> str:
    """Return the matching form of `text` (see the module docstring for what changes).
    `fold_ya=False` keeps alef maqsura ى apart from ya ي (بنى "built" is not بني "Banu"), for
    matches that must not rest on that folding alone; every other change is the same, so the
    two forms have the same length and words."""
    text = unicodedata.normalize("NFKC", text)
    text = _DIACRITICS.sub("", text).replace(_TATWEEL, "")
    if not fold_ya:
        text = text.replace("ى", "\ue002")
    text = text.translate(_LETTERS).casefold()
    if not fold_ya:
        text = text.replace("\ue002", "ى")
    return _SPACES.sub(" ", text).strip()


def strip_marks(text: str) -> str:
    """`text` without Arabic diacritics and tatweel, nothing else changed: what a fully
    vowelled question is embedded as."""
    return _DIACRITICS.sub("", text).replace(_TATWEEL, "")


def words(text: str, *, fold_ya: bool = True) -> list[str]:
    """Normalised word tokens of `text` (letters and digits; punctuation dropped)."""
    return _WORD.findall(normalize(text, fold_ya=fold_ya))
