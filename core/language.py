"""Guess an article's or a question's language from its script: Arabic, English, or unknown."""

from __future__ import annotations

import re

_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
# A token holding a digit or a character of code or markup ("padding:", "jQuery('#vote')",
# "1px", "http://..."): scraped pages carry style sheets and scripts inside Arabic text, whose
# Latin letters would otherwise outnumber the Arabic ones.
_CODE_TOKEN = re.compile(r"\S*[\d{}()\[\];:=#<>/\\@_|$^*`~&%+]\S*")


def detect_language(text: str) -> str:
    """Return "ar" when Arabic letters dominate, "en" when Latin ones do, "" when neither shows.
    Letters are counted in words, leaving out tokens of code, markup and numbers, unless
    nothing else has letters ("COVID-19?")."""
    sample = _CODE_TOKEN.sub(" ", text[:5000])
    if not _ARABIC.search(sample) and not _LATIN.search(sample):
        sample = text[:5000]
    arabic = len(_ARABIC.findall(sample))
    latin = len(_LATIN.findall(sample))
    if arabic == 0 and latin == 0:
        return ""
    return "ar" if arabic >= latin else "en"
