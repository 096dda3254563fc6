"""Adverse-event follow-ups (ivr/outbound/followup.py, pure): which cases call whom, by when,
and what the desk's form changes in the case."""
from __future__ import annotations

from datetime import date, datetime, timezone

from ivr.outbound.followup import case_changes, followup_contacts, reporter_number


def case(case_id: str, fields: dict, opened: str = "2026-12-01", missing=None, status="open") -> dict:
    from ivr.cases import missing_criteria
    return {"case_id": case_id, "kind": "adverse_event", "status": status, "fields": fields,
            "missing_criteria": missing_criteria(fields) if missing is None else missing,
            "opened_at": datetime.fromisoformat(opened).replace(tzinfo=timezone.utc)}


def test_only_open_incomplete_cases_with_a_phone_number_are_called_earliest_due_first():
    cases = [
        case("AE-1", {"reporter_contact": "+33 1 23 45 67 89", "reaction": "rash"}, "2026-12-02"),
        case("AE-2", {"reporter_contact": "dr@example.org", "reaction": "rash"}),         # no number
        case("AE-3", {"reporter_contact": "01.23.45.67.88", "patient": "m", "product": "X",
                      "reaction": "rash", "reporter": "Dr A"}),                        # complete
        case("AE-4", {"reporter_contact": "+49 30 1234567", "reporter": "Dr B"}, "2026-11-30"),
        case("AE-5", {"reporter_contact": "+49 30 1234567"}, "2026-11-29", status="closed"),
    ]
    contacts = followup_contacts(cases, within_days=3)
    assert [(c.number, c.fields["case_id"], c.fields["follow_up_by"]) for c in contacts] == [
        ("+49301234567", "AE-4", "2026-12-03"), ("+33123456789", "AE-1", "2026-12-05")]
    assert contacts[0].name == "Dr B" and contacts[0].fields["missing"] == "patient,product,reaction"


def test_a_reporter_number_is_read_from_the_contact_details():
    assert reporter_number({"reporter_contact": "(030) 123-4567"}) is None      # starts with "("
    assert reporter_number({"reporter_contact": "030 123 4567"}) == "0301234567"
    assert reporter_number({"reporter_contact": "12 rue de la Paix"}) is None
    assert reporter_number({}) is None


def test_the_form_fills_missing_criteria_only_and_appends_a_signed_note():
    form = {"patient": " woman, 54 ", "product": "", "reaction": "ignored: not missing"}
    changes = case_changes(form, ["patient", "product"], "first call: rash", "reached", "alice",
                           date(2026, 12, 3))
    assert changes == {"patient": "woman, 54",
                       "narrative": "first call: rash\n[follow-up call 2026-12-03, alice] reached"}
    assert case_changes({}, ["patient"], "", "  ", "alice", date(2026, 12, 3)) == {}
