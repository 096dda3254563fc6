"""Agents on campaign calls (ivr/app/campaigns.py + campaign_calls.py) with the real ACD
driver and a real SQLite CRM: the pacer hears the ACD's agents, its Connect holds the agent in
the ACD (no inbound offer meanwhile), its Abandon comes at the 2 s deadline. Asterisk is a
recorder of originates; the test plays back its events."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acd import events as ev
from acd.config import AcdConfig
from ivr.app.acd_driver import AcdDriver
from ivr.app.campaigns import Campaigns
from ivr.crm.outbound import CampaignStore
from ivr.crm.store import open_store
from ivr.outbound import pacer as P

MONDAY_NOON_BERLIN = datetime(2026, 12, 7, 11, 0, tzinfo=timezone.utc)


def campaign(mode: str, extra: str = "") -> str:
    return f"""\
name: care-agents
purpose: care calls with a pharmacist
caller_id: "+4930123456"
dialplan: care.yaml
mode: {mode}
queue: care
abandon_message: care-abandon
requires_consent: false
limits: {{channels: 3}}
list: {{csv: patients.csv, country_code: "49"}}
{extra}"""


class Asterisk:
    def __init__(self) -> None:
        self.originated: list[dict] = []

    async def originate(self, channel: str, **kw) -> None:
        self.originated.append({"channel": channel, **kw})


@pytest.fixture
async def rig(tmp_path: Path):
    (tmp_path / "patients.csv").write_text("number\n030 1111111\n030 2222222\n030 3333333\n")
    store = await open_store(f"sqlite:///{tmp_path}/crm.db")
    acd = AcdDriver(AcdConfig.from_dict({
        "agents": {"alice": {"skills": {"care": 3}}, "bob": {"skills": {"orders": 3}}},
        "queues": {"care": {"requirement": "care >= 1", "wrapup_seconds": 0}}}),
        start_callback=lambda action: None)
    acd.handle(ev.AgentLoggedIn("alice"))
    acd.handle(ev.AgentLoggedIn("bob"))
    asterisk, clock, tasks = Asterisk(), {"now": MONDAY_NOON_BERLIN}, []
    campaigns = Campaigns(CampaignStore(store), lambda: asterisk, lambda: clock["now"],
                          lambda: frozenset(), lambda c: tasks.append(asyncio.ensure_future(c)),
                          acd=acd)

    async def settle():
        for _ in range(20):
            await asyncio.gather(*tasks)
            await asyncio.sleep(0.01)

    async def start(text: str):
        (tmp_path / "care-agents.yaml").write_text(text)
        assert campaigns.command({"action": "load", "file": str(tmp_path / "care-agents.yaml")})["ok"]
        await settle()
        campaigns.command({"action": "start", "name": "care-agents"})
        await settle()
        return campaigns.runners["care-agents"]

    start.campaigns = campaigns
    yield start, acd, asterisk, clock, settle
    for t in tasks:
        t.cancel()
    await store.close()


def answer(runner, attempt: str) -> asyncio.Future:
    runner.on_ami_event({"Event": "Newstate", "Uniqueid": attempt, "ChannelStateDesc": "Up"})
    return runner.person_answered(runner.calls[attempt])


async def test_progressive_dials_one_call_for_the_queues_one_free_agent_and_holds_it(rig):
    start, acd, asterisk, clock, settle = rig
    runner = await start(campaign("progressive"))
    assert runner.agents.names == ["alice"]           # the queue's agents: bob lacks the skill
    assert len(asterisk.originated) == 1
    decision = answer(runner, asterisk.originated[0]["channel_id"])
    assert decision.done() and decision.result() == "alice"
    # busy for inbound too: the ACD would not offer alice a call now
    assert not acd.free_for_calls("alice") and acd.engaged_by_us("alice")
    runner.agents.release("alice", asyncio.get_running_loop())
    await asyncio.sleep(0.05)
    assert acd.free_for_calls("alice") and not acd.engaged_by_us("alice")


async def test_an_agent_taking_an_inbound_call_stops_progressive_dialling(rig):
    start, acd, asterisk, clock, settle = rig
    acd.handle(ev.AgentPaused("alice", "lunch"))
    runner = await start(campaign("progressive"))
    assert asterisk.originated == [] and runner.pacer.free == {}
    acd.handle(ev.AgentReady("alice"))
    runner.agents.sync()
    await settle()
    assert len(asterisk.originated) == 1


async def test_predictive_places_more_calls_than_agents_and_abandons_at_2_s(rig):
    start, acd, asterisk, clock, settle = rig
    runner = await start(campaign("predictive", "expected_answer_rate: 0.05\n"))
    assert len(asterisk.originated) == 3                 # one free agent, three calls
    first, second = (answer(runner, o["channel_id"]) for o in asterisk.originated[:2])
    assert first.result() == "alice" and not second.done()
    clock["now"] += timedelta(seconds=1.9)
    runner.handle(P.Tick())
    assert not second.done()
    clock["now"] += timedelta(seconds=0.2)
    runner.handle(P.Tick())
    assert second.done() and second.result() is None     # the identification, then hang up
    assert runner.pacer.rolling_abandon_rate(clock["now"].timestamp()) == 0.5


async def test_a_customer_gone_before_the_deadline_is_not_an_abandon(rig):
    start, acd, asterisk, clock, settle = rig
    runner = await start(campaign("predictive", "expected_answer_rate: 0.05\n"))
    ids = [o["channel_id"] for o in asterisk.originated]
    answer(runner, ids[0])
    answer(runner, ids[1])
    runner.on_ami_event({"Event": "Hangup", "Uniqueid": ids[1], "Cause": "16"})
    await settle()
    clock["now"] += timedelta(seconds=3)
    runner.handle(P.Tick())
    assert runner.pacer.rolling_abandon_rate(clock["now"].timestamp()) == 0.0


async def test_preview_reserves_a_record_for_one_agent_then_skip_and_dial(rig):
    start, acd, asterisk, clock, settle = rig
    runner = await start(campaign("preview"))
    assert asterisk.originated == []                    # preview: the pacer never dials
    preview = start.campaigns.preview
    first = (await preview.next("alice"))["record"]
    assert first["number"] == "+49301111111"
    assert not acd.free_for_calls("alice")              # held: no inbound offer meanwhile
    # the same record again until the agent acts; bob is in no preview campaign here
    assert (await preview.next("alice"))["record"]["attempt"] == first["attempt"]
    assert not (await preview.next("bob"))["ok"]
    skip = await preview.skip("alice", first["attempt"], "not_today")
    assert skip == {"ok": True}
    await asyncio.sleep(0.05)
    second = (await preview.next("alice"))["record"]
    assert second["number"] == "+49302222222"      # the skipped one waits
    assert (await preview.dial("alice", second["attempt"]))["ok"]
    [placed] = asterisk.originated
    assert placed["channel"] == "PJSIP/alice" and placed["application"] == "Dial"
    assert placed["data"].startswith("PJSIP/+49302222222@trunk,25")
    preview.on_ami_event({"Event": "DialEnd", "Uniqueid": second["attempt"], "DialStatus": "ANSWER"})
    preview.on_ami_event({"Event": "Hangup", "Uniqueid": second["attempt"]})
    await settle()
    outcomes = {a.number: (a.outcome, a.agent) for a in await runner.store.attempts("care-agents")}
    assert outcomes == {"+49301111111": ("skipped", None), "+49302222222": ("answered", "alice")}
