"""The engine's campaign runner (ivr/app/campaigns.py) on a real SQLite CRM and a real control
socket: Asterisk is replaced by a recorder of Originate actions that answers with the AMI
events Asterisk sends, so the dialling rules, the reservation before the originate, the
outcomes and the live commands are checked end to end in the engine's own code."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ivr.app.campaigns import Campaigns
from ivr.app.control import ControlError, ControlServer, request_async
from ivr.crm.outbound import CampaignStore
from ivr.crm.store import open_store

CAMPAIGN = """\
name: care-q4
purpose: care calls
caller_id: "+4930123456"
dialplan: care.yaml
channel: "PJSIP/{number}@customers"
limits: {channels: 2}
machine: {action: leave_message, message: care-message}
list: {csv: patients.csv, country_code: "49"}
"""
LIST = ("number,name,consent\n030 1111111,Ann,yes\n030 2222222,Bob,yes\n030 3333333,Cy,yes\n"
        "030 4444444,Dee,no\n")
MONDAY_NOON_BERLIN = datetime(2026, 12, 7, 11, 0, tzinfo=timezone.utc)


class Asterisk:
    """Records originates; the test plays the events back."""

    def __init__(self) -> None:
        self.originated: list[dict] = []

    async def originate(self, channel: str, **kw) -> None:
        self.originated.append({"channel": channel, **kw})


@pytest.fixture
async def rig(tmp_path: Path):
    (tmp_path / "care-q4.yaml").write_text(CAMPAIGN)
    (tmp_path / "patients.csv").write_text(LIST)
    store = await open_store(f"sqlite:///{tmp_path}/crm.db")
    asterisk = Asterisk()
    clock = {"now": MONDAY_NOON_BERLIN}
    tasks: list[asyncio.Task] = []
    campaigns = Campaigns(CampaignStore(store), lambda: asterisk, lambda: clock["now"],
                          lambda: frozenset(), lambda c: tasks.append(asyncio.ensure_future(c)))
    server = ControlServer(tmp_path / "control.sock", lambda r: campaigns.command(r["payload"]))
    await server.start()

    async def ask(**payload):
        return await request_async(tmp_path / "control.sock", {"cmd": "campaign", "payload": payload})

    async def settle():
        for _ in range(20):
            await asyncio.gather(*tasks)
            await asyncio.sleep(0.01)
            if all(t.done() for t in tasks):
                return

    yield campaigns, asterisk, clock, ask, settle, tmp_path
    await server.stop()
    for t in tasks:
        t.cancel()
    await store.close()


async def test_a_campaign_is_loaded_started_dialled_within_the_trunk_and_paused(rig):
    campaigns, asterisk, clock, ask, settle, folder = rig
    answer = await ask(action="load", file=str(folder / "care-q4.yaml"))
    assert (answer["contacts"], answer["rejected"]) == (4, 0)
    await settle()
    assert asterisk.originated == []                       # loaded, not started
    await ask(action="start", name="care-q4")
    with pytest.raises(ControlError, match="cannot start"):
        await ask(action="start", name="care-q4")
    await settle()
    assert [o["channel"] for o in asterisk.originated] == ["PJSIP/+49301111111@customers",
                                                           "PJSIP/+49302222222@customers"]
    first, second = asterisk.originated
    assert first["context"] == "hotline-outbound" and first["timeout_s"] >= 15
    assert first["variables"]["IVR_ATTEMPT"] == first["channel_id"]
    # Ann is busy, Bob answers and AMD hears a machine: a message is left
    campaigns.on_ami_event({"Event": "OriginateResponse", "Uniqueid": first["channel_id"],
                            "Response": "Failure", "Reason": "5"})
    await settle()
    assert len(asterisk.originated) == 3                   # the trunk has room again: Cy
    campaigns.on_ami_event({"Event": "Newstate", "Uniqueid": second["channel_id"], "ChannelStateDesc": "Up"})
    campaigns.on_ami_event({"Event": "UserEvent", "UserEvent": "OutboundAmd", "Attempt": second["channel_id"],
                            "Status": "MACHINE", "Cause": "LONGGREETING-2000-1500"})
    campaigns.on_ami_event({"Event": "Hangup", "Uniqueid": second["channel_id"]})
    await settle()
    await ask(action="pause", name="care-q4")
    await settle()
    third = asterisk.originated[2]
    campaigns.on_ami_event({"Event": "Hangup", "Uniqueid": third["channel_id"], "Cause": "19"})   # rang out
    await settle()
    assert len(asterisk.originated) == 3                   # paused: no new call
    attempts = await campaigns.store.attempts("care-q4")
    assert sorted((a.number, a.outcome, a.amd_status) for a in attempts) == [
        ("+49301111111", "busy", None), ("+49302222222", "message_left", "MACHINE"),
        ("+49303333333", "no_answer", None)]
    await campaigns.runners["care-q4"].refresh()
    [status] = (await ask(action="status"))["campaigns"]
    assert status["state"] == "paused" and status["attempts"] == 3
    assert status["contacts_refused"] == 1 and status["outcome_busy"] == 1    # Dee: no consent
    # busy: 15 minutes later, resumed, Ann is called again
    clock["now"] += timedelta(minutes=16)
    await ask(action="resume", name="care-q4")
    await settle()
    assert asterisk.originated[-1]["channel"] == "PJSIP/+49301111111@customers"


async def test_outside_the_window_nothing_is_dialled(rig):
    campaigns, asterisk, clock, ask, settle, folder = rig
    clock["now"] = datetime(2026, 12, 7, 20, 0, tzinfo=timezone.utc)          # 21:00 in Berlin
    await ask(action="load", file=str(folder / "care-q4.yaml"))
    await settle()
    await ask(action="start", name="care-q4")
    await settle()
    for runner in campaigns.runners.values():
        from ivr.outbound.pacer import Tick
        runner.handle(Tick())
    await settle()
    assert asterisk.originated == []
    await campaigns.runners["care-q4"].refresh()
    assert campaigns.runners["care-q4"].status()["attempts"] == 0


async def test_a_restart_dials_no_number_twice(rig, tmp_path: Path):
    campaigns, asterisk, clock, ask, settle, folder = rig
    await ask(action="load", file=str(folder / "care-q4.yaml"))
    await settle()
    await ask(action="start", name="care-q4")
    await settle()
    dialled = [o["channel"] for o in asterisk.originated]
    # the engine stops with two calls in the air; a new engine restores the running campaign
    again = Asterisk()
    tasks: list[asyncio.Task] = []
    after = Campaigns(campaigns.store, lambda: again, lambda: clock["now"] + timedelta(minutes=1),
                      lambda: frozenset(), lambda c: tasks.append(asyncio.ensure_future(c)))
    await after.restore()
    for _ in range(5):
        await asyncio.gather(*tasks)
    assert after.runners["care-q4"].state == "running"
    assert [o["channel"] for o in again.originated] == ["PJSIP/+49303333333@customers"]
    assert not set(dialled) & {o["channel"] for o in again.originated}


async def test_a_bad_file_is_refused_with_its_problems(rig):
    campaigns, asterisk, clock, ask, settle, folder = rig
    (folder / "bad.yaml").write_text(CAMPAIGN.replace("limits: {channels: 2}", "limits: {ring_seconds: 5}"))
    with pytest.raises(ControlError) as err:
        await ask(action="load", file=str(folder / "bad.yaml"))
    assert any("bad.yaml:6:" in p and "ring_seconds" in p for p in err.value.problems)
    with pytest.raises(ControlError, match="no campaign named 'nope'"):
        await ask(action="pause", name="nope")


async def test_a_segment_campaign_takes_its_contacts_from_the_crm_cards(rig):
    campaigns, asterisk, clock, ask, settle, folder = rig
    store = campaigns.store.store
    ann = await store.save_contact("Ann Apotheke", ["+49301111111"], "pharmacist")
    await store.save_contact("Bob Praxis", ["+49302222222"], "doctor")
    await store.update_contact(ann, {"may_contact_phone": True, "consent_source": "signed form"}, "alice")
    (folder / "pharmacists.yaml").write_text(CAMPAIGN.replace("name: care-q4", "name: pharmacists").replace(
        'list: {csv: patients.csv, country_code: "49"}', "list: {segment: {types: [pharmacist]}}"))
    answer = await ask(action="load", file=str(folder / "pharmacists.yaml"))
    assert "from the CRM's cards" in answer["note"]
    await settle()
    await ask(action="start", name="pharmacists")
    await settle()
    assert [o["channel"] for o in asterisk.originated] == ["PJSIP/+49301111111@customers"]
