"""Spoken answers to survey questions (issue 15), pure: the words of each score per language,
as a speech grammar (intent `score-<n>` → phrases), and the score an intent stands for.

A CSAT question (1-5) also takes the scale's labels ("very satisfied" = 5 … "very
dissatisfied" = 1); an NPS question (0-10) numbers only. The recogniser ranks the longest
phrase found first, so "very satisfied" beats "satisfied" and "très insatisfait" beats
"insatisfait". A plan language with no table here cannot take spoken answers (`ivr check`)."""
from __future__ import annotations

from collections.abc import Mapping

INTENT_PREFIX = "score-"

# 0..10 in words; several spellings where callers say several (fr "un"/"une", ko Sino-Korean
# and native numbers)
NUMBERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (("zero", "nought"), ("one",), ("two",), ("three",), ("four",), ("five",), ("six",),
           ("seven",), ("eight",), ("nine",), ("ten",)),
    "fr": (("zéro",), ("un", "une"), ("deux",), ("trois",), ("quatre",), ("cinq",), ("six",),
           ("sept",), ("huit",), ("neuf",), ("dix",)),
    "de": (("null",), ("eins",), ("zwei",), ("drei",), ("vier",), ("fünf",), ("sechs",),
           ("sieben",), ("acht",), ("neun",), ("zehn",)),
    "es": (("cero",), ("uno", "una"), ("dos",), ("tres",), ("cuatro",), ("cinco",), ("seis",),
           ("siete",), ("ocho",), ("nueve",), ("diez",)),
    "ko": (("영", "공"), ("일", "하나"), ("이", "둘"), ("삼", "셋"), ("사", "넷"), ("오", "다섯"),
           ("육", "여섯"), ("칠", "일곱"), ("팔", "여덟"), ("구", "아홉"), ("십", "열")),
}

# CSAT labels, 1 (worst) to 5 (best)
CSAT_LABELS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (("very dissatisfied", "very unsatisfied"), ("dissatisfied", "unsatisfied", "not satisfied"),
           ("neutral", "neither"), ("satisfied",), ("very satisfied",)),
    "fr": (("très insatisfait", "pas du tout satisfait"), ("insatisfait", "pas satisfait"),
           ("neutre", "moyen"), ("satisfait",), ("très satisfait",)),
    "de": (("sehr unzufrieden",), ("unzufrieden",), ("neutral",), ("zufrieden",), ("sehr zufrieden",)),
    "es": (("muy insatisfecho",), ("insatisfecho",), ("neutral",), ("satisfecho",), ("muy satisfecho",)),
    "ko": (("매우 불만족",), ("불만족",), ("보통",), ("만족",), ("매우 만족",)),
}

SCALES = {"csat": range(1, 6), "nps": range(0, 11)}


def languages() -> frozenset[str]:
    """The languages whose spoken scores are known."""
    return frozenset(NUMBERS)


def score_grammar(kind: str, language: str) -> dict[str, tuple[str, ...]]:
    """{`score-<n>`: phrases} for the scale of `kind` in `language` ({} if unknown)."""
    numbers = NUMBERS.get(language)
    if numbers is None:
        return {}
    labels = CSAT_LABELS.get(language, ()) if kind == "csat" else ()
    out: dict[str, tuple[str, ...]] = {}
    for n in SCALES[kind]:
        out[f"{INTENT_PREFIX}{n}"] = numbers[n] + (labels[n - 1] if labels else ())
    return out


def score_of(intent: str | None, kind: str) -> int | None:
    """The score a recognised intent stands for, if it is one of the scale's."""
    if not intent or not intent.startswith(INTENT_PREFIX):
        return None
    tail = intent[len(INTENT_PREFIX):]
    if not tail.isdigit() or int(tail) not in SCALES[kind]:
        return None
    return int(tail)


def words_for(grammar: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Every phrase of a grammar (for the speech model's vocabulary check)."""
    return [p for phrases in grammar.values() for p in phrases]
