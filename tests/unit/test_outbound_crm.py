"""Outbound campaigns in the CRM (migration 9), on SQLite and a real PostgreSQL 15: the list,
attempts reserved before dialling, outcomes, the DNC list, the abandon rate an auditor
recomputes, and a restart that dials no number twice."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import crm_url, pg_server  # noqa: E402,F401  (crm_url: fixture)

from ivr.crm.outbound import CampaignError, CampaignStore  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402
from ivr.outbound.campaign import parse_campaign  # noqa: E402
from ivr.outbound.listing import parse_list  # noqa: E402

MONDAY_NOON_BERLIN = datetime(2026, 12, 7, 11, 0, tzinfo=timezone.utc)
TEXT = """\
name: care-q4
purpose: care calls
caller_id: "+4930123456"
dialplan: care.yaml
list: {csv: patients.csv, country_code: "49"}
"""
CAMPAIGN = parse_campaign(TEXT)[0]
LIST = "number,name,consent,drug\n030 1111111,Ann,yes,X\n030 2222222,Bob,yes,Y\n030 3333333,Cy,no,Z\n"


@pytest.fixture
async def campaigns(crm_url: str):
    store = await open_store(crm_url)
    try:
        db = CampaignStore(store)
        await db.save_campaign(CAMPAIGN, TEXT, "/x/care-q4.yaml", MONDAY_NOON_BERLIN)
        assert await db.add_contacts("care-q4", parse_list(LIST, "49")[0], MONDAY_NOON_BERLIN) == 3
        yield db
    finally:
        await store.close()


async def test_a_campaign_is_loaded_once_and_changes_state(campaigns: CampaignStore):
    await campaigns.save_campaign(CAMPAIGN, TEXT + "# v2\n", "/x/care-q4.yaml", MONDAY_NOON_BERLIN)
    await campaigns.set_state("care-q4", "running", MONDAY_NOON_BERLIN)
    await campaigns.save_campaign(CAMPAIGN, TEXT, "/x/care-q4.yaml", MONDAY_NOON_BERLIN)       # a reload keeps running
    [row] = await campaigns.campaigns()
    assert (row.name, row.state, row.mode) == ("care-q4", "running", "agentless")
    with pytest.raises(CampaignError, match="no campaign named 'nope'"):
        await campaigns.set_state("nope", "paused", MONDAY_NOON_BERLIN)
    assert await campaigns.add_contacts("care-q4", parse_list(LIST, "49")[0], MONDAY_NOON_BERLIN) == 0


async def test_reservations_follow_the_rules_and_never_take_a_number_twice(campaigns: CampaignStore):
    now = MONDAY_NOON_BERLIN
    first = await campaigns.reserve_next(CAMPAIGN, "a1", now)
    second = await campaigns.reserve_next(CAMPAIGN, "a2", now)
    assert (first.number, first.fields) == ("+49301111111", {"drug": "X"})
    assert second.number == "+49302222222"
    assert await campaigns.reserve_next(CAMPAIGN, "a3", now) is None        # Cy refused consent
    summary = await campaigns.summary("care-q4", now)
    assert summary["contacts_refused"] == 1 and summary["contacts_dialling"] == 2
    await campaigns.finish("a1", "busy", now + timedelta(seconds=5))
    assert await campaigns.reserve_next(CAMPAIGN, "a4", now + timedelta(minutes=10)) is None
    again = await campaigns.reserve_next(CAMPAIGN, "a4", now + timedelta(minutes=16))  # busy: 15 min
    assert again.number == first.number


async def test_a_restart_dials_no_number_twice(campaigns: CampaignStore):
    now = MONDAY_NOON_BERLIN
    reserved = await campaigns.reserve_next(CAMPAIGN, "a1", now)
    # the engine stops here, after the reservation, before any outcome
    assert await campaigns.recover("care-q4", now + timedelta(minutes=1)) == 1
    later = now + timedelta(hours=2)
    picked = [await campaigns.reserve_next(CAMPAIGN, f"b{i}", later) for i in range(3)]
    assert [p.number for p in picked if p] == ["+49302222222"]
    assert reserved.number not in [p.number for p in picked if p]
    attempts = await campaigns.attempts("care-q4")
    assert [a.outcome for a in attempts] == ["interrupted", None]
    tomorrow = datetime(2026, 12, 8, 9, 0, tzinfo=timezone.utc)
    assert (await campaigns.reserve_next(CAMPAIGN, "c1", tomorrow)).number == reserved.number


async def test_opt_out_refuses_the_number_at_once(campaigns: CampaignStore):
    now = MONDAY_NOON_BERLIN
    await campaigns.reserve_next(CAMPAIGN, "a1", now)
    await campaigns.answered("a1", now + timedelta(seconds=9), "HUMAN", "HUMAN-500-500")
    assert await campaigns.add_dnc("+49301111111", "opt-out key", now, "care-q4")
    assert not await campaigns.add_dnc("+49301111111", "again", now)
    await campaigns.finish("a1", "answered", now + timedelta(seconds=40), detail="opted out")
    assert await campaigns.is_dnc("+49301111111")
    assert (await campaigns.reserve_next(CAMPAIGN, "a2", now)).number == "+49302222222"
    await campaigns.add_dnc("+49302222222", "agent", now)
    await campaigns.finish("a2", "no_answer", now + timedelta(seconds=30))
    assert await campaigns.reserve_next(CAMPAIGN, "a3", now + timedelta(days=1)) is None
    a1 = (await campaigns.attempts("care-q4"))[0]
    assert (a1.amd_status, a1.amd_cause, a1.outcome) == ("HUMAN", "HUMAN-500-500", "answered")


async def test_the_abandon_rate_is_recomputed_from_the_attempts(campaigns: CampaignStore):
    now = MONDAY_NOON_BERLIN
    for i, outcome in enumerate(["answered", "abandoned"]):
        await campaigns.reserve_next(CAMPAIGN, f"a{i}", now)
        await campaigns.finish(f"a{i}", outcome, now + timedelta(seconds=30))
    summary = await campaigns.summary("care-q4", now + timedelta(minutes=1))
    assert (summary["answered_by_person"], summary["abandoned"]) == (2, 1)
    assert summary["abandon_rate_30d"] == 0.5 and summary["outcome_abandoned"] == 1
    assert summary["contacts_done"] == 1 and summary["contacts_pending"] == 2    # Bob: in 72 h
    history = await campaigns.abandon_history("care-q4", now + timedelta(days=1))
    assert sorted(a for _, a in history) == [False, True]
    assert await campaigns.abandon_history("care-q4", now + timedelta(days=31)) == []


async def test_a_contact_segment_takes_matching_cards_with_consent_on_their_first_number(crm_url: str):
    store = await open_store(crm_url)
    try:
        ann = await store.save_contact("Ann Apotheke", ["+4930111", "+4930000"], "pharmacist", language="de")
        bob = await store.save_contact("Bob Praxis", ["+4930222"], "doctor", language="de")
        cy = await store.save_contact("Cy Apotheke", ["+4930333"], "pharmacist", language="de")
        dee = await store.save_contact("Dee Pharmacie", ["+3310444"], "pharmacist", language="fr")
        for who, flag in ((ann, True), (bob, True), (cy, False), (dee, True)):
            await store.update_contact(who, {"may_contact_phone": flag, "consent_source": "call"}, "alice")
        text = TEXT.replace("list: {csv: patients.csv, country_code: \"49\"}",
                            "list:\n  segment: {types: [pharmacist], language: de}\n")
        campaign, problems = parse_campaign(text)
        assert campaign is not None, problems
        found = await CampaignStore(store).segment_contacts(campaign.list.segment)
        # Cy said no to calls, Bob is a doctor, Dee speaks French: only Ann, on her first number
        assert [(c.name, c.number, c.consent, c.fields["contact_id"]) for c in found] == [
            ("Ann Apotheke", "+4930000", True, str(ann))]
        anyone = campaign.list.segment.model_copy(update={"consent": None})   # Cy too, consent kept
        found = await CampaignStore(store).segment_contacts(anyone)
        assert [(c.name, c.consent) for c in found] == [("Ann Apotheke", True), ("Cy Apotheke", False)]
    finally:
        await store.close()
