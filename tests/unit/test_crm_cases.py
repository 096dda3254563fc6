"""Cases, call documentation and contact cards in the CRM store, on SQLite and on a real
PostgreSQL 15: migration 5 (ae_cases rows moved), the automatic IVR case, the store API."""
from __future__ import annotations

import sqlite3
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_calls import CALLS, at  # noqa: E402
from crm_pg import crm_url, pg_server  # noqa: E402,F401  (crm_url: fixture)

from ivr.cases.settings import DocumentationSettings, RegulationDays  # noqa: E402
from ivr.crm import store as store_module  # noqa: E402
from ivr.crm.errors import CaseRefused, CrmError  # noqa: E402
from ivr.crm.records import CallRecord  # noqa: E402
from ivr.crm.schema import MIGRATIONS  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
FULL = {"patient": "F, 54 y", "reporter": "Dr Martin", "product": "Ibuprofen 400", "reaction": "urticaria"}


async def test_ivr_flagged_call_opens_a_prefilled_case_once(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        await store.save_contact("Pharmacie Dupont", ["+33 1 40 00 00 01"], "pharmacist")
        call = CallRecord(call_id="1700.5", caller="+33140000001", started_at=NOW, adverse_event=True,
                          language="fr")
        store.save_call(call)
        store.save_call(call)                                       # re-saved: still one case
        call.speech_text = "j'ai eu une éruption après le comprimé"
        store.save_call(call)                                       # the transcript came later
        case = await store.get_case("AE-1700.5")
        assert case is not None and case["status"] == "open" and case["opened_by"] == "ivr"
        assert case["calls"] == ["1700.5"] and case["opened_at"] == NOW
        assert case["fields"]["reporter_contact"] == "+33140000001"
        assert case["fields"]["reporter"] == "Pharmacie Dupont (pharmacist)"
        assert case["fields"]["transcript"] == "j'ai eu une éruption après le comprimé"
        assert case["missing_criteria"] == ["patient", "product", "reaction"] and case["day0"] is None
        contact = await store.find_contact("+33140000001")
        assert case["contact_id"] == contact["id"]
        audit = await store.case_audit("AE-1700.5")
        assert ("status", None, "open", "ivr") in {(a["field"], a["old"], a["new"], a["by"]) for a in audit}
        assert [a["field"] for a in audit].count("fields.transcript") == 1
        assert [c["case_id"] for c in await store.list_cases(call_id="1700.5")] == ["AE-1700.5"]
    finally:
        await store.close()


async def test_case_lifecycle_day0_due_audit_and_no_delete(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        store.save_call(CallRecord(call_id="c-ae", caller="+4930111", started_at=NOW - timedelta(days=2)))
        case = await store.open_case("adverse_event", {"product": "Ibuprofen 400", "reporter_contact": "+4930111"},
                                     "alice", call_id="c-ae", now=NOW)
        cid = case["case_id"]
        assert cid.startswith("AE-20261201-") and case["due_date"] is None
        case = await store.update_case(cid, {"patient": "F 54", "reaction": "rash"}, "alice", now=NOW)
        assert case["day0"] == date(2026, 12, 1) and case["due_date"] == date(2027, 3, 1)
        later = NOW + timedelta(days=4)
        case = await store.update_case(cid, {"seriousness": ["hospitalisation"]}, "dso", now=later)
        assert case["serious"] and case["due_date"] == date(2026, 12, 20)
        with pytest.raises(CaseRefused) as err:
            await store.update_case(cid, {"onset_date": "yesterday", "colour": "red"}, "dso", now=later)
        assert {p.field for p in err.value.problems} == {"onset_date", "colour"}
        with pytest.raises(CrmError, match="can never be deleted"):
            await store.delete_case(cid)
        with pytest.raises(CrmError, match="needs a reason"):
            await store.close_case(cid, "dso", "")
        assert await store.link_call(cid, "c-follow-up", "bob", now=later) is True
        assert await store.link_call(cid, "c-follow-up", "bob", now=later) is False
        closed = await store.close_case(cid, "dso", "reported to EudraVigilance", now=later)
        assert closed["status"] == "closed" and closed["calls"] == ["c-ae", "c-follow-up"]
        audit = await store.case_audit(cid)
        changes = [(a["by"], a["field"], a["new"]) for a in audit]
        assert ("alice", "day0", "2026-12-01") in changes and ("dso", "due_date", "2026-12-20") in changes
        assert ("bob", "call_linked", "c-follow-up") in changes and ("dso", "status", "closed") in changes
        assert await store.get_case(cid) == {**closed, "overdue": False}
        reopened = await store.reopen_case(cid, "dso", "follow-up received", now=later)
        assert reopened["status"] == "open" and reopened["day0"] == date(2026, 12, 1)
        assert await store.get_case("nope") is None
    finally:
        await store.close()


async def test_worklist_sorted_overdue_first_and_filters(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        late = await store.open_case("adverse_event", FULL, "a", now=NOW - timedelta(days=100))   # 10 d late
        serious = await store.open_case("adverse_event", {**FULL, "seriousness": "death"}, "a",
                                        now=NOW - timedelta(days=5))                            # due in 10 d
        plain = await store.open_case("adverse_event", FULL, "a", now=NOW - timedelta(days=1))   # due in 89 d
        medinfo = await store.open_case("medinfo", {"question": "max dose?"}, "a", contact_id=7, now=NOW)
        with pytest.raises(CaseRefused) as err:
            await store.open_case("complaint", {"batch": "L1"}, "a", now=NOW)
        assert {p.field for p in err.value.problems} == {"product", "description"}
        got = await store.list_cases(kind="adverse_event", today=NOW.date())
        assert [c["case_id"] for c in got] == [late["case_id"], serious["case_id"], plain["case_id"]]
        assert [c["overdue"] for c in got] == [True, False, False]
        overdue = await store.list_cases(overdue_only=True, today=NOW.date())
        assert [c["case_id"] for c in overdue] == [late["case_id"]]
        assert [c["case_id"] for c in await store.list_cases(contact_id=7)] == [medinfo["case_id"]]
        assert medinfo["case_id"].startswith("MI-")
    finally:
        await store.close()


async def test_call_documentation_versions_last_save_wins(crm_url: str) -> None:
    store = await open_store(crm_url, documentation=DocumentationSettings())
    try:
        for rec in CALLS:
            store.save_call(rec)
        await store.save_call_documentation("c1", "a1", "medical_information", "follow_up", "first", ["kb-1"],
                                            now=at(9, 5))
        await store.save_call_documentation("c1", "a1", "medical_information", "answered", "<b>final</b>",
                                            ["kb-1", "kb-2"], now=at(9, 6))
        await store.save_call_documentation("c1", "a2", "other", "transferred", "", [], now=at(9, 7))
        docs = await store.call_documentation("c1")
        assert [(d["agent"], d["version"], d["outcome"], d["notes"]) for d in docs] == [
            ("a1", 2, "answered", "<b>final</b>"), ("a2", 1, "transferred", "")]
        assert docs[0]["articles"] == ["kb-1", "kb-2"] and docs[0]["at"] == at(9, 6)
        assert len(await store.call_documentation("c1", history=True)) == 3
        with pytest.raises(CaseRefused) as err:
            await store.save_call_documentation("c1", "a1", "gossip", "", "", [])
        assert {p.field for p in err.value.problems} == {"reason", "outcome"}
        latest = await store.list_call_documentation(since=at(9, 0), until=at(9, 1))
        assert [(d["call_id"], d["agent"], d["version"]) for d in latest] == [("c1", "a1", 2), ("c1", "a2", 1)]
    finally:
        await store.close()


async def test_contact_card_edit_consent_audit_and_search(crm_url: str) -> None:
    store = await open_store(crm_url, country_code="49")
    try:
        cid = await store.save_contact("Dr Anna Müller", ["030 1234567"], "doctor", organisation="Charité")
        await store.save_contact("Apotheke 100% Süd", ["+49 89 55555"], "pharmacist")
        with pytest.raises(CaseRefused) as err:
            await store.update_contact(cid, {"may_contact_phone": True}, "alice", now=NOW)
        assert err.value.problems[0].field == "consent_source"
        card = await store.update_contact(cid, {"may_contact_phone": True, "pv_follow_up_consent": False,
                                                "consent_source": "phone call", "email": "anna@example.org"},
                                          "alice", now=NOW)
        assert card["may_contact_phone"] is True and card["pv_follow_up_consent"] is False
        assert card["consent_date"] == "2026-12-01" and card["may_contact_sms"] is None
        audit = await store.contact_audit(cid)
        assert {(a["field"], a["old"], a["new"], a["by"]) for a in audit} >= {
            ("may_contact_phone", None, True, "alice"), ("email", None, "anna@example.org", "alice")}
        assert (await store.find_contact("+49301234567"))["email"] == "anna@example.org"
        assert [c["id"] for c in await store.search_contacts("müller")] == [cid]
        assert [c["id"] for c in await store.search_contacts("MULLER")] == [cid]          # accents folded
        assert [c["name"] for c in await store.search_contacts("100% SUD")] == ["Apotheke 100% Süd"]
        assert [c["id"] for c in await store.search_contacts("CHARIT")] == [cid]
        assert [c["id"] for c in await store.search_contacts("030 1234")] == [cid]     # national form
        assert [c["name"] for c in await store.search_contacts("100%")] == ["Apotheke 100% Süd"]
        assert await store.search_contacts("_") == []                    # LIKE wildcards are escaped
        with pytest.raises(CrmError, match="no contact"):
            await store.update_contact(999, {"notes": "x"}, "alice")
    finally:
        await store.close()


async def test_configured_due_days_apply(crm_url: str) -> None:
    doc = DocumentationSettings(regulations={"local": RegulationDays(serious_days=7, non_serious_days=30)},
                                default_regulation="local")
    store = await open_store(crm_url, documentation=doc)
    try:
        case = await store.open_case("adverse_event", FULL, "a", now=NOW)
        assert case["due_date"] == date(2026, 12, 31)
    finally:
        await store.close()


async def test_migration_5_moves_ae_cases_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/crm.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", [m for m in MIGRATIONS if m[0] <= 4])
    old = await open_store(url)
    await old.close()
    con = sqlite3.connect(tmp_path / "crm.db")        # rows as the version before cases wrote them
    con.execute("INSERT INTO contacts (id, name, type, updated_at) VALUES (1, 'Dr Ölmann', 'doctor', 'x')")
    con.execute("INSERT INTO contact_numbers VALUES ('+4930111', 1, '+49 30 111')")
    con.execute("INSERT INTO calls (call_id, caller, caller_norm, dialed, started_at, path, adverse_event, "
                "decision_trace, recovered, updated_at, speech_text) VALUES ('k1', '+4930111', '+4930111', '100', "
                "'2026-03-02T10:00:00.000000Z', '[]', 1, '[]', 0, '2026-03-02T10:00:00.000000Z', 'rash after pill')")
    con.execute("INSERT INTO ae_cases VALUES ('AE-k1', 'k1', '2026-03-02T10:00:00.000000Z', 'open', NULL, NULL, NULL)")
    con.execute("INSERT INTO ae_cases VALUES ('AE-k2', 'k2', NULL, 'closed', '2026-03-03T08:00:00.000000Z', "
                "'dso', 'reported')")
    con.commit()
    con.close()
    monkeypatch.undo()
    store = await open_store(url)
    try:
        k1, k2 = await store.get_case("AE-k1"), await store.get_case("AE-k2")
        assert k1["status"] == "open" and k1["calls"] == ["k1"] and k1["fields"]["transcript"] == "rash after pill"
        assert k1["fields"]["reporter"] == "Dr Ölmann (doctor)" and k1["contact_id"] == 1
        assert [c["id"] for c in await store.search_contacts("olmann")] == [1]          # key filled
        assert k2["status"] == "closed" and k2["close_reason"] == "reported" and k2["closed_by"] == "dso"
        await store.close_case("k1", "dso", "reported")                  # by call id, as before
        assert {c["case_id"] for c in await store.list_cases("closed")} == {"AE-k1", "AE-k2"}
    finally:
        await store.close()


async def test_screen_pop_shows_the_callers_open_ae_cases(crm_url: str) -> None:
    from ivr.call.screenpop import caller_history
    store = await open_store(crm_url)
    try:
        contact_id = await store.save_contact("Dr A", ["+4930111"], "doctor")
        store.save_call(CallRecord(call_id="p1", caller="+4930111", started_at=NOW, adverse_event=True))
        store.save_call(CallRecord(call_id="p2", caller="anonymous", started_at=NOW, adverse_event=True))
        by_card = await store.open_case("adverse_event", {"product": "X"}, "alice", contact_id=contact_id, now=NOW)
        await store.open_case("medinfo", {"question": "q"}, "alice", contact_id=contact_id, now=NOW)
        done = await store.open_case("adverse_event", {"product": "Z"}, "alice", contact_id=contact_id, now=NOW)
        await store.close_case(done["case_id"], "dso", "duplicate")
        contact, history, cases = await caller_history(store, "+49 30 111")
        assert contact["name"] == "Dr A" and [c.call_id for c in history] == ["p1"]
        assert {c["case_id"] for c in cases} == {"AE-p1", by_card["case_id"]}
        anonymous = await store.get_case("AE-p2")           # no number: the reporter is still missing
        assert "reporter_contact" not in anonymous["fields"] and "reporter" in anonymous["missing_criteria"]
    finally:
        await store.close()


async def test_a_case_the_rules_refuse_never_costs_the_call_record(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        store.save_call(CallRecord(call_id="x1", caller="+4930111", started_at=NOW, adverse_event=True,
                                   language="fr"))
        await store.close_case("AE-x1", "dso", "test")
        store.save_call(CallRecord(call_id="x1", caller="+4930111", started_at=NOW, adverse_event=True,
                                   speech_text="z" * 30_000))       # closed: nothing to add, call saved
        assert (await store.get_call("x1")).speech_text == "z" * 30_000
        assert store.dropped == 0 and "transcript" not in (await store.get_case("AE-x1"))["fields"]
        store.save_call(CallRecord(call_id="x2", caller="+4930111", started_at=NOW, adverse_event=True,
                                   speech_text="y" * 30_000))       # longer than a case field may be
        assert (await store.get_call("x2")).speech_text == "y" * 30_000
        assert (await store.get_case("AE-x2"))["fields"]["transcript"] == "y" * 20_000
    finally:
        await store.close()


async def test_purge_blanks_old_call_notes_but_keeps_adverse_event_ones(crm_url: str) -> None:
    from ivr.crm.purge import purge
    store = await open_store(crm_url)
    try:
        old = NOW - timedelta(days=400)
        store.save_call(CallRecord(call_id="o1", caller="+4930111", started_at=old))
        store.save_call(CallRecord(call_id="o2", caller="+4930111", started_at=old, adverse_event=True))
        store.save_call(CallRecord(call_id="n1", caller="+4930111", started_at=NOW))
        for cid in ("o1", "o2", "n1"):
            await store.save_call_documentation(cid, "a1", "other", "answered", f"patient said {cid}", ["kb-1"])
        report = await purge(store, 365, now=NOW)
        assert report.notes_cleared == 1
        notes = {cid: (await store.call_documentation(cid))[0] for cid in ("o1", "o2", "n1")}
        assert notes["o1"]["notes"] == "" and notes["o1"]["articles"] == ["kb-1"]
        assert notes["o2"]["notes"] == "patient said o2" and notes["n1"]["notes"] == "patient said n1"
    finally:
        await store.close()


async def test_the_database_refuses_deleting_an_ae_case_or_rewriting_the_audit(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        ae = await store.open_case("adverse_event", FULL, "alice", now=NOW)
        info = await store.open_case("medinfo", {"question": "q"}, "alice", now=NOW)
        for sql, args in (("DELETE FROM cases WHERE case_id = ?", [ae["case_id"]]),
                          ("DELETE FROM case_audit WHERE case_id = ?", [ae["case_id"]]),
                          ("UPDATE case_audit SET changed_by = 'nobody' WHERE case_id = ?", [ae["case_id"]])):
            with pytest.raises(Exception, match="never be deleted|append-only"):
                await store._job(lambda tx: tx.execute(sql, args))
        assert await store.get_case(ae["case_id"]) is not None
        assert {a["by"] for a in await store.case_audit(ae["case_id"])} == {"alice"}
        await store._job(lambda tx: tx.execute("DELETE FROM cases WHERE case_id = ?", [info["case_id"]]))
        assert await store.get_case(info["case_id"]) is None      # only AE cases are protected this way
    finally:
        await store.close()
