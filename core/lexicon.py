"""Words the answerer looks for, in normalised form: question words, stopwords, attribution
verbs, hedges, number words, and a small English->Arabic news lexicon so that an English
question can point at the part of an Arabic sentence that answers it.

Arabic entries are stems matched after light prefix stripping (see `stem_match`); what this
leaves out: full morphology, and any domain outside news about violence, politics and disasters.
"""

from __future__ import annotations

from core.normalize import normalize

AR_STOPWORDS = frozenset(
    normalize(w)
    for w in """من ما ماذا كم كيف متى أين اين لماذا هل في على إلى الى عن مع هو هي هم هذا هذه
    ذلك تلك التي الذي الذين و أو ثم قد لقد كان كانت يكون تم عدد أي اي بين حتى منذ عند كل
    بعد قبل إن ان أن لا لم لن ليس""".split()
)
EN_STOPWORDS = frozenset(
    """the a an of in on at to for from by with and or but is are was were be been being do
    does did has have had what which who whom whose when where why how many much did it its
    this that these those there their they he she his her them as about into than then so
    not no any some according""".split()
)

# English word -> Arabic stems (normalised) that express it in news text.
EN_TO_AR: dict[str, tuple[str, ...]] = {
    "kill": ("قتل", "مقتل", "قتلي", "قتيل"),
    "killed": ("قتل", "مقتل", "قتلي", "قتيل"),
    "die": ("قتل", "مقتل", "قتلي", "قتيل", "توفي", "وفاه", "مات"),
    "died": ("قتل", "مقتل", "قتلي", "قتيل", "توفي", "وفاه", "مات"),
    "dead": ("قتل", "قتلي", "قتيل", "وفاه"),
    "death": ("قتل", "مقتل", "قتلي", "وفاه"),
    "deaths": ("قتل", "مقتل", "قتلي", "وفاه"),
    "toll": ("حصيله", "قتلي", "عدد"),
    "civilian": ("مدني",),
    "civilians": ("مدني",),
    "people": ("شخص", "اشخاص", "مدني"),
    "fighters": ("مقاتل",),
    "injured": ("اصيب", "اصابه", "جرحي", "جريح", "مصاب"),
    "wounded": ("اصيب", "اصابه", "جرحي", "جريح", "مصاب"),
    "missing": ("مفقود",),
    "strike": ("غاره", "غارات", "ضربه", "ضربات", "قصف"),
    "airstrike": ("غاره", "غارات", "ضربه", "ضربات", "قصف"),
    "raid": ("غاره", "غارات", "ضربه", "ضربات"),
    "attack": ("هجوم", "غاره", "ضربه", "قصف"),
    "bombing": ("قصف", "غاره", "تفجير"),
    "carried": ("نفذ", "شن"),
    "conducted": ("نفذ", "شن"),
    "launched": ("نفذ", "شن", "اطلق"),
    "coalition": ("تحالف",),
    "observatory": ("مرصد",),
    "sources": ("مصادر",),
}

# Verbs that introduce what someone said (normalised, with their common prefixes handled).
AR_SAY_VERBS = frozenset(
    normalize(w)
    for w in """قال قالت أفاد أفادت ذكر ذكرت أكد أكدت أعلن أعلنت أوضح أوضحت صرح صرحت أشار
    أشارت نقل نقلت كشف كشفت أضاف أضافت تابع تابعت""".split()
)
AR_CONTINUE_VERBS = frozenset(normalize(w) for w in "أضاف أضافت تابع تابعت".split())
AR_ACCORDING = frozenset(normalize(w) for w in ("وفقاً", "وفق", "بحسب", "حسب"))
EN_SAY_VERBS = frozenset("said says told added stated reported announced confirmed".split())

EN_HEDGES = frozenset("likely probably reportedly allegedly apparently possibly".split())
AR_HEDGES = tuple(normalize(w) for w in ("على الأرجح", "ربما", "قد", "يرجح", "على ما يبدو"))

AR_NUMBER_WORDS = {
    normalize(w): v
    for w, v in {
        "واحد": 1, "اثنان": 2, "اثنين": 2, "ثلاثة": 3, "أربعة": 4, "خمسة": 5, "ستة": 6,
        "سبعة": 7, "ثمانية": 8, "تسعة": 9, "عشرة": 10, "عشرات": 0, "مئات": 0, "آلاف": 0,
        "ثلاث": 3, "أربع": 4, "خمس": 5, "ست": 6, "سبع": 7, "ثماني": 8, "تسع": 9, "عشر": 10,
    }.items()
}  # fmt: skip
EN_NUMBER_WORDS = {
    w: v
    for v, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
} | {"dozens": 0, "hundreds": 0, "thousands": 0, "scores": 0}
AR_QUALIFIERS = tuple(
    normalize(w) for w in ("أكثر من", "أقل من", "نحو", "حوالي", "ما لا يقل عن", "قرابة", "زهاء")
)
EN_QUALIFIERS = ("more than", "less than", "at least", "about", "around", "nearly", "over",
                 "up to", "some", "almost", "approximately")  # fmt: skip

_AR_PREFIXES = ("وبال", "وال", "بال", "فال", "كال", "لل", "ال", "و", "ف", "ب", "ل", "ك")


_AR_SUFFIXES = ("ين", "ون", "ات", "هم", "ها", "وا", "ه", "ا", "ي", "ت")


def ar_stem(word: str) -> str:
    """A light Arabic stem of a normalised word: clitic prefixes and plural/pronoun suffixes
    stripped while at least three letters remain (المدنيين -> مدني, وقتلوا -> قتل)."""
    for prefix in _AR_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            word = word[len(prefix) :]
            break
    for suffix in _AR_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def stem_match(word: str, stem: str) -> bool:
    """True when normalised `word` is `stem` with Arabic prefixes/suffixes, or an English
    inflection of it (startswith)."""
    if word.startswith(stem):
        return True
    for prefix in _AR_PREFIXES:
        if word.startswith(prefix) and word[len(prefix) :].startswith(stem):
            return True
    return False


def expand_en(word: str) -> tuple[str, ...]:
    """Arabic stems for an English question word (empty when the lexicon has none)."""
    return EN_TO_AR.get(word, ())
