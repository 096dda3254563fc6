"""The public chat page's languages: every text in every language, and whose choice wins."""
from __future__ import annotations

import re

from ivr.channels.chat_i18n import LANGUAGES, TEXTS, pick_language


def test_every_language_has_every_text_with_the_same_placeholders() -> None:
    keys = set(TEXTS["en"])
    for lang in LANGUAGES:
        assert set(TEXTS[lang]) == keys, lang
        for key in keys:
            assert set(re.findall(r"{\w+}", TEXTS[lang][key])) == set(re.findall(r"{\w+}", TEXTS["en"][key])), key


def test_the_visitors_choice_then_the_browser_then_the_default() -> None:
    assert pick_language("fr", "en", "en", "en") == "fr"
    assert pick_language("xx", "fr", "en", "en") == "fr"                   # unknown choice ignored
    assert pick_language(None, None, "de-CH, fr-CH;q=0.9, en;q=0.8", "en") == "fr"
    assert pick_language(None, None, "en;q=0.2, fr;q=0.7", "en") == "fr"   # by q, not by order
    assert pick_language(None, None, "fr;q=0", "en") == "en"               # q=0: not wanted
    assert pick_language(None, None, "de, es", "fr") == "fr"
    assert pick_language(None, None, "fr;q=abc, *", "en") == "en"           # garbage is not a crash
