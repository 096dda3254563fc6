"""The case and contact pages' pure rules: what a form changed, how values show, the
prefill from a call, the worklist's filters."""
from __future__ import annotations

from ivr.cases.kinds import FieldProblem
from ivr.crm.errors import CaseRefused
from ivr.desk.case_forms import (case_filters, case_inputs, changed_fields, contact_changes, criteria_held,
                                 form_values, obvious_product, prefill_from_call, problems_by_field, shown)


def test_inputs_follow_the_kind_with_long_text_in_a_textarea():
    inputs = {i.name: i for i in case_inputs("complaint")}
    assert inputs["description"].type == "textarea" and inputs["description"].required
    assert inputs["expiry"].type == "date" and inputs["sample_available"].type == "bool"
    assert case_inputs("nonsense") == []


def test_shown_values_round_trip_through_a_form():
    assert shown(["death", "disability"]) == "death, disability"
    assert shown(True) == "true" and shown(False) == "false" and shown(None) == ""
    form = {"seriousness": ["disability", "death"], "patient": ["  F 34 "], "reporter": [""]}
    typed = form_values("adverse_event", form)
    assert typed["seriousness"] == "death, disability"          # canonical order, as stored
    assert typed["patient"] == "F 34" and typed["reporter"] == ""


def test_only_changed_fields_are_sent_and_an_emptied_one_is_cleared():
    current = {"product": "Dolorex", "seriousness": ["death"], "follow_up": True}
    typed = {"product": "Dolorex", "seriousness": "death", "follow_up": "", "reaction": "rash"}
    assert changed_fields(current, typed) == {"follow_up": None, "reaction": "rash"}


def test_a_consent_change_sends_its_source_even_when_retyped_unchanged():
    current = {"may_contact_phone": None, "consent_source": "phone call", "email": None}
    typed = {"may_contact_phone": "true", "consent_source": "phone call", "consent_date": "", "email": ""}
    assert contact_changes(current, typed) == {"may_contact_phone": "true", "consent_source": "phone call"}
    assert contact_changes(current, {**typed, "may_contact_phone": ""}) == {}


def test_problems_are_keyed_by_field_for_the_form():
    exc = CaseRefused("3 problems", [FieldProblem("description", "required; please fill it in", "required"),
                                     FieldProblem("expiry", "not a date", "not_a_date", {"value": "x"}),
                                     FieldProblem("expiry", "in the future", "something_new")])
    assert problems_by_field(exc.problems, "en") == {
        "description": "Required: please fill it in.",
        # a code the desk has no words for falls back to the rule's own message
        "expiry": "“x” is not a date; write it as YYYY-MM-DD.; in the future"}


def test_the_product_is_guessed_only_when_one_is_named():
    products = ["dolorex", "respiral", "general"]
    assert obvious_product(products, "product-info", "Une question sur le DOLOREX") == "dolorex"
    assert obvious_product(products, None, "Dolorex ou Respiral ?") is None
    assert obvious_product(products, None, "general question") is None       # not a product


def test_a_case_from_a_call_names_the_reporter_and_keeps_only_the_kinds_fields():
    call = {"caller": "+4930111222", "speech_text": " effet après Dolorex ", "language": "fr"}
    contact = {"name": "Hélène", "type": "pharmacist"}
    ae = prefill_from_call("adverse_event", call, contact, "dolorex")
    assert ae == {"product": "dolorex", "transcript": "effet après Dolorex", "language": "fr",
                  "reporter": "Hélène (pharmacist)", "reporter_contact": "+4930111222"}
    mi = prefill_from_call("medinfo", {**call, "caller": "anonymous"}, None, None)
    assert mi == {"question": "effet après Dolorex"}


def test_criteria_held_and_worklist_filters():
    held = criteria_held({"reporter_contact": "+49301", "product": "x"})
    assert held == {"patient": False, "reporter": True, "product": True, "reaction": False}
    assert case_filters(None, None) == (None, "open")
    assert case_filters("complaint", "all") == ("complaint", None)
    assert case_filters("bogus", "closed") == (None, "closed")
