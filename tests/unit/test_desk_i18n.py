"""The desk's texts: every key in both languages, with the same {placeholders}."""
from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from ivr.cases.consent import CONSENT_FLAGS
from ivr.cases.kinds import AE_CRITERIA, KINDS, SERIOUSNESS
from ivr.crm.records import CONTACT_TYPES
from ivr.desk.case_forms import CASE_STATUSES
from ivr.desk.i18n import CATALOG, pick_language, translate
from ivr.desk.policy import ROLES

TEMPLATES = Path(__file__).resolve().parents[2] / "ivr/desk/templates"
# t('prefix.' ~ value) in templates: every value each prefix may be given
DYNAMIC = {"role.": ROLES, "case.kind.": tuple(KINDS), "case.status.": CASE_STATUSES,
           "case.criterion.": tuple(AE_CRITERIA), "case.serious.": SERIOUSNESS,
           "case.field.": tuple({s.name for specs in KINDS.values() for s in specs}),
           "case.done.": ("saved", "opened", "closed", "reopened"),
           "contact.type.": CONTACT_TYPES, "contact.": CONSENT_FLAGS}


def test_every_key_exists_in_french_and_in_english():
    assert set(CATALOG["fr"]) == set(CATALOG["en"])
    assert set(CATALOG) == {"fr", "en"}


@pytest.mark.parametrize("key", sorted(CATALOG["en"]))
def test_both_languages_fill_the_same_placeholders(key: str):
    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}
    assert fields(CATALOG["fr"][key]) == fields(CATALOG["en"][key])


def test_every_key_a_template_names_is_in_the_catalog():
    text = "".join(p.read_text() for p in TEMPLATES.glob("*.html"))
    named = set(re.findall(r"\bt\('([a-z_.0-9]+[a-z0-9])'[,)]", text))
    prefixes = set(re.findall(r"\bt\('([a-z_.]+\.)' ~", text))     # t('role.' ~ user.role)
    assert named and "role." in prefixes
    assert not named - set(CATALOG["en"]), sorted(named - set(CATALOG["en"]))
    expanded = {prefix + value for prefix in prefixes & set(DYNAMIC) for value in DYNAMIC[prefix]}
    assert not expanded - set(CATALOG["en"]), sorted(expanded - set(CATALOG["en"]))


def test_translate_fills_values_and_shows_a_missing_key_as_itself():
    assert translate("en", "agent.title", name="alice") == "alice's desk"
    assert translate("fr", "nav.logout") == "Se déconnecter"
    assert translate("en", "no.such.key") == "no.such.key"


@pytest.mark.parametrize("header, chosen", [("en-US,en;q=0.9", "en"), ("de-DE,fr;q=0.8,en;q=0.5", "fr"),
                                            ("de", "fr"), (None, "fr"), ("fr;q=0.2, en;q=0.9", "en"),
                                            ("en;q=0, fr;q=0.1", "fr"), ("en;q=zz", "fr")])
def test_the_sign_in_page_speaks_the_browsers_language_when_it_can(header, chosen):
    assert pick_language(header, "fr") == chosen
