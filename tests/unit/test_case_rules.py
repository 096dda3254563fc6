"""The pure case rules: fields and per-field messages, the four AE criteria, day 0 and due
dates (serious, non-serious, upgrade, never later), audit diff, closing, never deleting."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ivr.cases import (Case, CaseError, Clock, DueRules, Regulation, close, deadlines, diff, missing_criteria,
                       open_new, refuse_delete, reopen, update, validate_fields, worklist_order)
from ivr.cases.consent import check_contact_changes
from ivr.cases.documentation import WrapUpCodes, check_documentation
from ivr.cases.settings import DocumentationSettings

RULES = DueRules()
DAY = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
FULL = {"patient": "F, 54 y", "reporter": "Dr Martin (GP)", "product": "Ibuprofen 400", "reaction": "urticaria"}


def days(n: int) -> timedelta:
    return timedelta(days=n)


def ae(fields: dict, now: datetime = DAY, rules: DueRules = RULES) -> Case:
    return open_new("AE-1", "adverse_event", fields, "alice", now, rules)[0]


def test_missing_criteria_named_and_reporter_by_name_or_contact() -> None:
    assert missing_criteria({}) == ["patient", "reporter", "product", "reaction"]
    assert missing_criteria({"reporter_contact": "+33 1 23", "reaction": "rash"}) == ["patient", "product"]
    assert missing_criteria(FULL) == []
    assert ae({"product": "X"}).missing_criteria == ["patient", "reporter", "reaction"]


def test_form_missing_required_fields_gets_one_message_per_field() -> None:
    with pytest.raises(CaseError) as err:
        open_new("PQC-1", "complaint", {"batch": "B12", "expiry": "2027-02-30", "sample_available": "maybe"},
                 "alice", DAY, RULES)
    fields = {p.field: p.message for p in err.value.problems}
    assert set(fields) == {"product", "description", "expiry", "sample_available"}
    assert "required" in fields["product"] and "YYYY-MM-DD" in fields["expiry"]
    assert "yes or no" in fields["sample_available"]
    assert "description: required" in str(err.value)


def test_values_are_cleaned_and_unknown_fields_refused() -> None:
    clean, problems = validate_fields("medinfo", {"question": "  dose? ", "kb_articles": "kb-1, kb-2,kb-1",
                                                  "follow_up": "oui", "colour": "red"}, DAY.date())
    assert clean == {"question": "dose?", "kb_articles": ["kb-1", "kb-2"], "follow_up": True}
    assert [p.field for p in problems] == ["colour"]
    clean, problems = validate_fields("adverse_event", {"seriousness": ["disability", "death", "death"],
                                                        "onset_date": "2026-12-02"}, DAY.date())
    assert clean == {"seriousness": ["death", "disability"]}
    assert problems[0].field == "onset_date" and "future" in problems[0].message
    _, problems = validate_fields("adverse_event", {"seriousness": "fatal"}, DAY.date())
    assert "not a seriousness criterion" in problems[0].message


def test_day0_is_set_when_the_four_criteria_are_first_held() -> None:
    case = ae({"reporter_contact": "+331", "product": "X"})
    assert case.day0 is None and case.due_date is None
    later = DAY + days(3)
    case, audit = update(case, {"patient": "M 70", "reaction": "nausea"}, "bob", later, RULES)
    assert case.day0 == later.date()
    assert case.due_date == later.date() + days(90)                  # non-serious default
    assert {e.field for e in audit} >= {"day0", "due_date", "fields.patient", "fields.reaction"}


def test_serious_due_in_15_days_and_received_date_backdates_day0() -> None:
    case = ae({**FULL, "seriousness": "hospitalisation"})
    assert case.serious and case.due_date == DAY.date() + days(15)
    case = ae({**FULL, "info_received_on": "2026-11-28"})
    assert case.day0 == date(2026, 11, 28) and case.due_date == date(2026, 11, 28) + days(90)


def test_upgrade_to_serious_shortens_the_due_date_from_when_it_was_learnt() -> None:
    case = ae(FULL)
    assert case.due_date == DAY.date() + days(90)
    learnt = DAY + days(10)
    case, _ = update(case, {"seriousness": ["life_threatening"]}, "dso", learnt, RULES)
    assert case.day0 == DAY.date()                                    # day 0 does not move
    assert case.due_date == learnt.date() + days(15)                  # the serious clock starts when learnt
    late = DAY + days(80)
    case2, _ = update(ae(FULL), {"seriousness": ["death"]}, "dso", late, RULES)
    assert case2.due_date == DAY.date() + days(90)                    # never later than already due


def test_day0_and_due_never_move_later() -> None:
    case = ae({**FULL, "seriousness": "death"})
    due = case.due_date
    case, audit = update(case, {"patient": None, "seriousness": []}, "dso", DAY + days(2), RULES)
    assert case.missing_criteria == ["patient"]                      # shown missing again...
    assert case.day0 == DAY.date() and case.due_date == due           # ...but the clock runs on
    assert {e.field for e in audit} == {"fields.patient", "fields.seriousness"}


def test_due_days_per_regulation() -> None:
    rules = DueRules({"eu": Regulation(15, 90), "local": Regulation(7, 30)}, "eu")
    assert ae({**FULL, "regulation": "local"}, rules=rules).due_date == DAY.date() + days(30)
    assert ae(FULL, rules=rules).due_date == DAY.date() + days(90)
    with pytest.raises(CaseError) as err:
        ae({**FULL, "regulation": "mars"}, rules=rules)
    assert err.value.problems[0].field == "regulation"
    clock = deadlines(Clock(), {**FULL, "seriousness": ["death"], "regulation": "local"}, DAY.date(), rules)
    assert clock.due_date == DAY.date() + days(7)


def test_worklist_overdue_first_then_due_date() -> None:
    today = DAY.date()
    soon = ae(FULL, DAY - days(80))                                    # due in 10 days
    overdue_a = ae(FULL, DAY - days(100))                              # 10 days late
    overdue_b = ae({**FULL, "seriousness": "death"}, DAY - days(20))   # 5 days late
    undated = ae({"product": "X"})
    closed = close(ae(FULL, DAY - days(200)), "dso", "reported", DAY)[0]
    got = worklist_order([undated, soon, closed, overdue_b, overdue_a], today)
    assert got == [overdue_a, overdue_b, closed, soon, undated]
    assert overdue_a.overdue(today) and not closed.overdue(today) and not soon.overdue(today)


def test_audit_diff_lists_only_changes() -> None:
    entries = diff("C", {"a": 1, "b": 2}, {"a": 1, "b": 3, "c": "x"}, "eve", DAY)
    assert [(e.field, e.old, e.new, e.by) for e in entries] == [("b", 2, 3, "eve"), ("c", None, "x", "eve")]
    case, audit = open_new("MI-1", "medinfo", {"question": "dose?"}, "alice", DAY, RULES)
    assert [(e.field, e.new) for e in audit] == [("fields.question", "dose?"), ("status", "open")]
    same, audit = update(case, {"question": "dose?"}, "alice", DAY, RULES)
    assert audit == [] and same == case


def test_close_needs_a_reason_and_who_and_closed_case_needs_reopening() -> None:
    case = ae(FULL)
    with pytest.raises(CaseError, match="needs a reason"):
        close(case, "dso", "  ", DAY)
    with pytest.raises(CaseError, match="who made it"):
        close(case, "", "reported", DAY)
    closed, audit = close(case, "dso", "reported to EudraVigilance", DAY + days(1))
    assert closed.status == "closed" and closed.close_reason == "reported to EudraVigilance"
    assert {(e.field, e.old, e.new) for e in audit} == {("status", "open", "closed"),
                                                        ("close_reason", None, "reported to EudraVigilance")}
    with pytest.raises(CaseError, match="already closed"):
        close(closed, "dso", "again", DAY)
    with pytest.raises(CaseError, match="reopen"):
        update(closed, {"narrative": "follow-up"}, "dso", DAY, RULES)
    reopened, audit = reopen(closed, "dso", "follow-up information", DAY + days(5))
    assert reopened.status == "open" and reopened.day0 == case.day0
    assert ("reopen_reason", "follow-up information") in {(e.field, e.new) for e in audit}


def test_an_ae_case_can_never_be_deleted() -> None:
    with pytest.raises(CaseError, match="can never be deleted"):
        refuse_delete(ae(FULL))
    with pytest.raises(CaseError, match="not deleted"):
        refuse_delete(open_new("MI-1", "medinfo", {"question": "q"}, "a", DAY, RULES)[0])


def test_documentation_checks_configured_codes() -> None:
    codes = DocumentationSettings().codes()
    note = check_documentation("c1", "alice", "adverse_event", "case_opened", " n ", ["kb-1", "kb-1", ""], codes)
    assert note.notes == "n" and note.articles == ("kb-1",)
    with pytest.raises(CaseError) as err:
        check_documentation("c1", "alice", "gossip", "", "", [], codes)
    assert {p.field for p in err.value.problems} == {"reason", "outcome"}
    assert "not configured" in str(err.value)
    assert check_documentation("c1", "a", "any", "thing", "", [], WrapUpCodes()).reason == "any"


def test_consent_change_needs_a_source_and_gets_a_date() -> None:
    current = {"name": "Dr Martin", "type": "doctor", "may_contact_phone": None}
    changes, problems = check_contact_changes(current, {"may_contact_phone": "yes"}, DAY.date())
    assert [p.field for p in problems] == ["consent_source"]
    changes, problems = check_contact_changes(current, {"may_contact_phone": True, "consent_source": "phone call",
                                                        "type": "doctor"}, DAY.date())
    assert problems == [] and changes == {"may_contact_phone": True, "consent_source": "phone call",
                                          "consent_date": "2026-12-01"}
    _, problems = check_contact_changes(current, {"type": "alien", "email": "nope", "name": ""}, DAY.date())
    assert {p.field for p in problems} == {"type", "email", "name"}


def test_settings_defaults_and_refusals() -> None:
    s = DocumentationSettings()
    assert "adverse_event" in s.contact_reasons and "callback_promised" in s.outcomes
    assert s.due_rules().regulation(None) == Regulation(15, 90)
    with pytest.raises(ValueError, match="default_regulation"):
        DocumentationSettings(default_regulation="fda")


def test_documentation_errors_in_engine_yaml_point_at_file_and_line(tmp_path) -> None:
    from ivr.config import ConfigError, load_settings
    engine = tmp_path / "engine.yaml"
    engine.write_text("documentation:\n  outcomes:\n    answered: {en: Answered}\n"
                      "  regulations:\n    eu_gvp: {serious_days: 0}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(engine)
    lines = str(err.value).splitlines()
    assert lines[0].startswith(f"{engine}:3:") and "documentation.outcomes.answered.fr: Field required" in lines[0]
    assert lines[1].startswith(f"{engine}:5:") and "serious_days" in lines[1]
