"""Agents on campaign calls (issue 15: progressive and predictive modes).

    pacer Connect(call, agent) ─► the ACD holds the agent (busy for inbound too) ─► the agent's
                                  phone rings from the customer's channel, the desk gets a pop
    pacer Abandon(call)        ─► the campaign's identification prompt, then the hang-up
    ACD agent states           ─► the pacer's AgentReady / AgentGone (CampaignAgents.sync)

The pacer decides who takes which answered call; the ACD stays the one truth about agents: an
agent is free for a campaign only when the ACD would offer it a call, and a campaign call holds
the agent in the ACD (its phone counts as busy) until the wrap-up ends.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol

from acd.config import QueueSpec
from ivr.call.caller import AgiCaller
from ivr.outbound import pacer as P

log = logging.getLogger(__name__)
AGENT_MODES = ("progressive", "predictive")


class AcdPort(Protocol):
    """What campaigns need of the ACD driver (ivr/app/acd_driver.py)."""
    def free_for_calls(self, agent: str) -> bool: ...
    def hold_for_campaign(self, agent: str, held: bool) -> None: ...
    def agents_for_queue(self, queue: str) -> list[str]: ...
    def queue(self, name: str | None) -> QueueSpec: ...


class CampaignAgents:
    """One campaign's agents as its pacer sees them, kept in step with the ACD."""

    def __init__(self, acd: AcdPort, names: list[str], handle: Callable[[P.Event], None],
                 queue: str | None) -> None:
        self.acd, self.names, self.handle, self.queue = acd, names, handle, queue
        self.free: set[str] = set()       # told to the pacer as ready
        self.held: set[str] = set()       # on one of our calls or its wrap-up

    def sync(self) -> None:
        """Tell the pacer who became free or stopped being free (logged out, paused, on an
        inbound call) since the last look."""
        for agent in self.names:
            if agent in self.held:
                continue
            free = self.acd.free_for_calls(agent)
            if free and agent not in self.free:
                self.free.add(agent)
                self.handle(P.AgentReady(agent))
            elif not free and agent in self.free:
                self.free.discard(agent)
                self.handle(P.AgentGone(agent))

    def take(self, agent: str) -> bool:
        """The pacer chose `agent`: hold it in the ACD at once (no inbound offer races the
        ring). False if the ACD gave it something else meanwhile."""
        self.free.discard(agent)
        if not self.acd.free_for_calls(agent):
            return False
        self.held.add(agent)
        self.acd.hold_for_campaign(agent, True)
        return True

    def release(self, agent: str, loop: asyncio.AbstractEventLoop) -> None:
        """The call is over: the agent's wrap-up (the queue's), then back to the ACD."""
        def back() -> None:
            if agent in self.held:
                self.held.discard(agent)
                self.acd.hold_for_campaign(agent, False)
                self.sync()
        wrapup = self.acd.queue(self.queue).wrapup_seconds if self.queue else 0.0
        loop.call_later(max(0.0, wrapup), back)


def campaign_agents(acd: AcdPort, agents: list[str], queue: str | None) -> list[str]:
    """The campaign's named agents, else the agents able to take its queue's calls."""
    return list(agents) if agents else acd.agents_for_queue(queue) if queue else []


def offer_facts(attempt_id: str, agent: str, number: str, name: str, campaign: Any,
                language: str) -> dict:
    """The desk's pop for a campaign call, in the shape of an inbound offer (the desk looks
    the number up in the CRM: contact, history, cases)."""
    return {"call_id": attempt_id, "agent": agent, "offered_at": datetime.now(timezone.utc),
            "caller": number, "caller_name": name or None, "dialed": campaign.caller_id,
            "language": language, "path": [], "route": "campaign", "intent": campaign.purpose,
            "transcript": None, "speech_confidence": None,
            "queue": campaign.queue or campaign.name, "priority": 0, "waited_seconds": 0.0,
            "adverse_event": False, "campaign": campaign.name, "direction": "outbound"}


async def serve_answered(runner: Any, call: Any, chan: Any, ctx: Any,
                         publish: Callable[[str, dict], None]) -> None:
    """A person answered a progressive or predictive call: an agent, or the identification."""
    c = runner.campaign
    loop = asyncio.get_running_loop()
    answered_at = loop.time()
    decision = runner.person_answered(call)
    try:
        # the pacer abandons at its deadline (≤ 2 s); the margin only guards a lost decision
        agent = await asyncio.wait_for(decision, c.limits.abandon_after_seconds + 3)
    except TimeoutError:
        log.error("campaign %s: no decision for attempt %s: abandoned", c.name, call.attempt_id)
        agent = None
    caller = AgiCaller(chan, ctx.sounds_prefix)
    plan = runner.loaded_plan().plan
    if agent is not None:
        call.agent = agent
        publish(f"offers/{agent}", offer_facts(call.attempt_id, agent, call.number, call.name,
                                               c, plan.default_language))
        queue = runner.agents.acd.queue(c.queue)
        try:
            status = await caller.dial(f"PJSIP/{ctx.agent_endpoint[agent]}", queue.ring_timeout)
        finally:
            runner.agents.release(agent, loop)
        if status == "ANSWER":
            call.detail = f"agent {agent}"
            return
        log.warning("campaign %s: agent %s did not answer (%s): the customer hears the "
                    "identification", c.name, agent, status)
        runner.handle(P.ConnectFailed(call.call_id))     # abandoned, live as in the CRM
        call.detail = f"agent {agent} did not answer ({status})"
    else:
        log.info("campaign %s: no agent free for attempt %s: the identification plays after "
                 "%.2f s", c.name, call.attempt_id, loop.time() - answered_at)
    call.outcome = "abandoned"
    call.detail = call.detail or "no agent free"
    if c.abandon_message:
        await caller.play((f"{plan.default_language}/{c.abandon_message}",))
