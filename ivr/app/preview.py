"""Preview dialing (issue 15): the agent sees the next record on the desk, then dials or skips.

    desk ─► preview_next  ─► CampaignStore.reserve_next (the rules: window, DNC, consent, caps)
                             the record is this agent's alone until it dials, skips or
                             the campaign's preview.hold_seconds pass (then back to the list)
         ─► preview_dial  ─► AMI Originate: the agent's phone rings first (channel id = the
                             attempt), once it answers Dial() rings the customer
         ─► preview_skip  ─► the attempt ends as `skipped`, with the agent's reason

The agent is held in the ACD (busy for inbound) from the reservation to the end of the call.
The customer leg's DialEnd gives the outcome; the agent's channel's Hangup ends the attempt.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from ivr.crm.outbound import Reserved
from ivr.outbound.followup import SEGMENT, followup_contacts

log = logging.getLogger(__name__)
SKIP_REASONS = ("wrong_number", "not_today", "already_done", "other")
# Dial()'s DIALSTATUS of the customer's leg → the attempt's outcome
_DIAL_OUTCOMES = {"ANSWER": "answered", "BUSY": "busy", "NOANSWER": "no_answer", "CANCEL": "failed",
                  "CONGESTION": "failed", "CHANUNAVAIL": "failed"}


@dataclass
class Held:
    campaign: str
    agent: str
    reserved: Reserved
    expiry: asyncio.TimerHandle | None = None
    dialled: bool = False
    outcome: str = ""


class Preview:
    def __init__(self, campaigns: Any, endpoint: dict[str, str]) -> None:
        self.campaigns, self.endpoint = campaigns, endpoint
        self.held: dict[str, Held] = {}          # by agent
        self.by_attempt: dict[str, Held] = {}

    def _runner(self, agent: str, name: str | None) -> Any:
        """The agent's preview campaign: adverse-event follow-ups first."""
        runners = sorted(self.campaigns.runners.values(), key=lambda r: r.campaign.list.segment != SEGMENT)
        for runner in runners:
            if runner.campaign.mode == "preview" and name in (None, runner.campaign.name) \
                    and runner.agents is not None and agent in runner.agents.names:
                return runner
        return None

    async def next(self, agent: str, name: str | None = None) -> dict[str, Any]:
        held = self.held.get(agent)
        if held is not None:
            return {"ok": True, "record": self._record(held)}
        runner = self._runner(agent, name)
        if runner is None:
            return {"ok": False, "error": f"{agent} is in no preview campaign on the engine"}
        if runner.state != "running":
            return {"ok": True, "record": None, "why": f"campaign {runner.campaign.name} is {runner.state}"}
        if not runner.acd.free_for_calls(agent):
            return {"ok": True, "record": None, "why": f"{agent} is not ready"}
        c = runner.campaign
        if c.list.segment == SEGMENT:
            await self._followups(runner)
        reserved = await runner.store.reserve_next(c, str(uuid.uuid4()), runner.clock(),
                                                   holidays=runner.holidays())
        if reserved is None:
            return {"ok": True, "record": None, "why": "no contact may be called now (rules)"}
        held = self.held[agent] = self.by_attempt[reserved.attempt_id] = Held(c.name, agent, reserved)
        runner.agents.held.add(agent)
        runner.acd.hold_for_campaign(agent, True)
        held.expiry = asyncio.get_running_loop().call_later(c.preview.hold_seconds, self._expire, held)
        history = [{"at": a.reserved_at, "outcome": a.outcome, "detail": a.detail, "agent": a.agent}
                   for a in await runner.store.attempts(c.name)
                   if a.number == reserved.number and a.attempt_id != reserved.attempt_id]
        return {"ok": True, "record": self._record(held) | {"attempts": history}}

    @staticmethod
    async def _followups(runner: Any) -> None:
        """The segment's contacts: reporters of open AE cases with criteria missing (a
        number already in the campaign keeps its state and history)."""
        cases = await runner.store.store.list_cases(status="open", kind="adverse_event")
        due_days = runner.campaign.preview.followup_due_days
        await runner.store.add_contacts(runner.campaign.name, followup_contacts(cases, due_days),
                                        runner.clock())

    def _record(self, held: Held) -> dict[str, Any]:
        r = held.reserved
        purpose = self.campaigns.runners[held.campaign].campaign.purpose
        return {"campaign": held.campaign, "purpose": purpose, "attempt": r.attempt_id, "number": r.number,
                "name": r.name, "fields": r.fields, "dialled": held.dialled}

    def _expire(self, held: Held) -> None:
        if not held.dialled:
            log.info("preview %s: %s did not act within %.0f s: the record goes back to the list",
                     held.campaign, held.agent,
                     self.campaigns.runners[held.campaign].campaign.preview.hold_seconds)
            self.campaigns.spawn(self._end(held, "expired", "not dialled in time"))

    async def skip(self, agent: str, attempt: str, reason: str) -> dict[str, Any]:
        held = self.held.get(agent)
        if held is None or held.reserved.attempt_id != attempt or held.dialled:
            return {"ok": False, "error": "this record is no longer yours to skip (dialled or expired)"}
        if reason not in SKIP_REASONS:
            return {"ok": False, "error": f"skip reason {reason!r}: one of {', '.join(SKIP_REASONS)}"}
        await self._end(held, "skipped", reason)
        return {"ok": True}

    async def dial(self, agent: str, attempt: str) -> dict[str, Any]:
        held = self.held.get(agent)
        if held is None or held.reserved.attempt_id != attempt or held.dialled:
            return {"ok": False, "error": "this record is no longer yours to dial (expired?)"}
        runner = self.campaigns.runners[held.campaign]
        c, r = runner.campaign, held.reserved
        held.dialled = True
        if held.expiry:
            held.expiry.cancel()
        customer = c.channel.format_map({**r.fields, "number": r.number})
        try:
            ami = runner.originator()
            if ami is None:
                raise ConnectionError("no AMI link to Asterisk")
            await ami.originate(f"PJSIP/{self.endpoint[agent]}", application="Dial",
                                data=f"{customer},{int(c.limits.ring_seconds)}", caller_id=r.number,
                                timeout_s=30, channel_id=r.attempt_id, queued_only=True)
        except Exception as exc:
            await self._end(held, "failed", f"originate: {exc}")
            return {"ok": False, "error": f"the call could not be placed: {exc}"}
        return {"ok": True}

    def on_ami_event(self, event: dict[str, str]) -> None:
        held = self.by_attempt.get(event.get("Uniqueid", ""))
        if held is None or not held.dialled:
            return
        name = event.get("Event")
        if name == "DialEnd":
            held.outcome = _DIAL_OUTCOMES.get(event.get("DialStatus", ""), "failed")
            if held.outcome == "answered":
                runner = self.campaigns.runners[held.campaign]
                self.campaigns.spawn(runner.store.answered(held.reserved.attempt_id, runner.clock()))
        elif name == "OriginateResponse" and event.get("Response") != "Success":
            self.campaigns.spawn(self._end(held, "failed", "the agent's phone did not answer"))
        elif name == "Hangup":
            self.campaigns.spawn(self._end(held, held.outcome or "failed",
                                           f"agent {held.agent}" if held.outcome == "answered" else ""))

    async def _end(self, held: Held, outcome: str, detail: str) -> None:
        if self.held.get(held.agent) is not held:
            return
        del self.held[held.agent]
        self.by_attempt.pop(held.reserved.attempt_id, None)
        if held.expiry:
            held.expiry.cancel()
        runner = self.campaigns.runners[held.campaign]
        await runner.store.finish(held.reserved.attempt_id, outcome, runner.clock(),
                                  agent=held.agent if held.dialled else None, detail=detail)
        runner.agents.release(held.agent, asyncio.get_running_loop())
