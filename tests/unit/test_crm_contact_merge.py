"""One customer, one card: identities, merging duplicates and the timeline across channels, in
the CRM store on SQLite and on a real PostgreSQL (crm_url), and the pure merge rules."""
from __future__ import annotations

import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import crm_url, pg_server  # noqa: E402,F401  (crm_url: fixture)

from ivr.cases.contact_merge import email_identity, merged_card  # noqa: E402
from ivr.channels.mime import InboundMail  # noqa: E402
from ivr.channels.task_store import ingest_mail  # noqa: E402
from ivr.crm.errors import CaseRefused, CrmError  # noqa: E402
from ivr.crm.records import CallRecord  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
FULL = {"patient": "F, 54 y", "reporter": "Dr Martin", "product": "Ibuprofen 400", "reaction": "urticaria"}


def test_merge_fills_blanks_joins_notes_and_a_refusal_survives() -> None:
    kept = {"id": 1, "name": "H. Müller", "type": "other", "organisation": None, "notes": "prefers mornings",
            "may_contact_phone": True, "may_contact_email": None, "pv_follow_up_consent": True}
    other = {"id": 2, "name": "Hélène Müller", "type": "pharmacist", "organisation": "Apotheke",
             "notes": "calls about Ibuprofen", "may_contact_phone": False, "may_contact_email": True,
             "pv_follow_up_consent": None, "consent_source": "phone call", "consent_date": "2026-11-02"}
    changes = merged_card(kept, other, date(2026, 12, 1))
    assert changes["type"] == "pharmacist" and changes["organisation"] == "Apotheke"
    assert "name" not in changes                                   # the kept card's name stays
    assert changes["notes"] == "prefers mornings\n— Hélène Müller: calls about Ibuprofen"
    assert changes["may_contact_phone"] is False                   # a "no" on either card wins
    assert changes["may_contact_email"] is True and "pv_follow_up_consent" not in changes
    assert changes["consent_source"] == "merge of card #2 (phone call)"
    assert changes["consent_date"] == "2026-11-02"
    assert merged_card(kept, {"id": 3, "name": "x", "type": "other"}, date(2026, 12, 1)) == {}


def test_email_identity() -> None:
    assert email_identity("  Helene.Mueller@Apotheke.DE ") == "helene.mueller@apotheke.de"
    for bad in ("helene", "a@b", "a b@c.de", "<a@b.de>", "x" * 250 + "@b.de"):
        assert email_identity(bad) is None, bad


def _mail(n: int, sender: str) -> InboundMail:
    return InboundMail(message_id=f"<m{n}@clinic.example>", sender=sender, sender_name="", subject=f"Question {n}",
                       text="What is the dose?", html="", in_reply_to="", references="", headers={},
                       return_path=sender, date=NOW)


async def _ingest(store, mail: InboundMail, at: datetime):
    return await ingest_mail(store, mail, queue="medinfo", priority=0, safety=None, pv_queue="pv",
                             pv_priority=9, now=at)


async def test_identities_merge_and_timeline(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        keep = await store.save_contact("Hélène Müller", ["+4930111222"], "pharmacist")
        dup = await store.save_contact("H. Mueller", ["+4930999888"], "other", notes="night shift")
        await store.update_contact(dup, {"may_contact_phone": False, "consent_source": "call"}, "alice", now=NOW)
        assert await store.add_identity(dup, "email", " H.Mueller@Apotheke.de", "alice", now=NOW) == \
            "h.mueller@apotheke.de"
        store.save_call(CallRecord(call_id="c1", caller="+4930111222", started_at=NOW - timedelta(days=2)))
        store.save_call(CallRecord(call_id="c2", caller="+49 30 999 888", started_at=NOW - timedelta(days=1)))
        mail = await _ingest(store, _mail(1, "h.mueller@apotheke.de"), NOW - timedelta(hours=5))
        assert mail.contact_id == dup                                  # matched by the identity
        case = await store.open_case("adverse_event", FULL, "alice", contact_id=dup, now=NOW)

        # an identity of another card is refused, pointing at the merge
        with pytest.raises(CaseRefused) as refused:
            await store.add_identity(keep, "phone", "+49 30 999888", "bob", now=NOW)
        assert refused.value.problems[0].code == "identity_taken"
        assert refused.value.problems[0].params == {"owner": dup}
        with pytest.raises(CaseRefused):
            await store.add_identity(keep, "email", "not an address", "bob", now=NOW)

        changes = await store.merge_contacts(keep, dup, "bob", now=NOW + timedelta(minutes=1))
        assert changes["may_contact_phone"] is False and changes["notes"] == "night shift"
        assert await store.get_contact(dup) is None
        kept = await store.get_contact(keep)
        assert kept["numbers"] == ["+4930111222", "+4930999888"] and kept["may_contact_phone"] is False
        assert {(i["kind"], i["value"]) for i in await store.contact_identities(keep)} == {
            ("phone", "+4930111222"), ("phone", "+4930999888"), ("email", "h.mueller@apotheke.de")}
        moved = await store.get_case(case["case_id"])
        assert moved["contact_id"] == keep
        assert any(a["field"] == "contact_id" and a["old"] == dup and a["new"] == keep
                   for a in await store.case_audit(case["case_id"]))
        audit = await store.contact_audit(keep)
        merged = [a for a in audit if a["field"] == "merged"]
        assert merged and merged[0]["by"] == "bob" and merged[0]["old"] == f"#{dup} H. Mueller"
        assert any(a["field"] == "may_contact_phone" and a["by"] == "alice" for a in audit)  # dup's history kept

        timeline = await store.contact_timeline(keep)
        assert [(i["kind"], i["ref"]) for i in timeline] == [
            ("case", case["case_id"]), ("task", mail.task_id), ("call", "c2"), ("call", "c1")]
        assert timeline[1]["channel"] == "email" and timeline[1]["what"] == "Question 1"
        # a new mail from the duplicate's address now lands on the kept card
        later = await _ingest(store, _mail(2, "h.mueller@apotheke.de"), NOW + timedelta(hours=1))
        assert later.contact_id == keep

        with pytest.raises(CaseRefused):
            await store.merge_contacts(keep, keep, "bob")
        with pytest.raises(CrmError, match="no contact card #"):
            await store.merge_contacts(keep, dup, "bob")
        await store.remove_identity(keep, "phone", "+4930999888", "bob", now=NOW)
        assert (await store.get_contact(keep))["numbers"] == ["+4930111222"]
        await store.remove_identity(keep, "email", "h.mueller@apotheke.de", "bob", now=NOW)
        with pytest.raises(CaseRefused) as last:
            await store.remove_identity(keep, "phone", "+4930111222", "bob", now=NOW)
        assert last.value.problems[0].code == "identity_last"
    finally:
        await store.close()
