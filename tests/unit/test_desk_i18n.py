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


def _refusals() -> list:
    """Problems the case, contact and documentation rules give for bad forms, one of each code
    an agent can meet on a page."""
    from datetime import date

    from ivr.cases import CaseError
    from ivr.cases.consent import check_contact_changes
    from ivr.cases.documentation import WrapUpCodes, check_documentation
    from ivr.cases.kinds import validate_fields
    today = date(2026, 12, 3)
    problems = list(validate_fields("adverse_event", {"onset_date": "yesterday", "seriousness": "bad",
                                                      "patient": ["a", {"b": 1}]}, today)[1])
    problems += validate_fields("adverse_event", {"onset_date": "2027-01-01", "patient": {"x": 1}}, today)[1]
    problems += validate_fields("medinfo", {"follow_up": "perhaps", "product": "x" * 20_001}, today)[1]
    problems += check_contact_changes({"may_contact_phone": None}, {"email": "nope", "may_contact_phone": "yes",
                                                                     "type": "alien"}, today)[1]
    with pytest.raises(CaseError) as refused:
        check_documentation("c1", "alice", "", "nope", "", [], WrapUpCodes(("question",), ("answered",)))
    return problems + refused.value.problems


def test_every_refusal_an_agent_can_meet_reads_in_french():
    from ivr.desk.case_forms import problems_by_field
    problems = _refusals()
    codes = {p.code for p in problems}
    assert {"not_a_date", "not_configured", "in_future", "not_yes_no", "too_long", "not_email",
            "consent_source", "pick_one", "required"} <= codes
    for p in problems:
        assert f"problem.{p.code}" in CATALOG["fr"], p
        french = problems_by_field([p], "fr")[p.field]
        assert french != p.message and "{" not in french, p
    assert problems_by_field([p for p in problems if p.code == "not_a_date"], "fr") == {
        "onset_date": "« yesterday » n’est pas une date ; écrivez-la AAAA-MM-JJ."}
