"""Queued callbacks: a caller who asked to be called back keeps its place in the ACD; when its
turn comes the engine reserves the agent, rings the agent's phone through AMI Originate and,
once the agent answers, Asterisk dials the caller ([hotline-callback] context).

The call's CRM record is the one written when the caller left; it is updated when the
callback ends (agent, wait until connected, talk), so reports count it against service level.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from acd import events as ev
from ivr.call.context import AcdPort, StorePort
from ivr.call.flow import callback_made
from ivr.crm.records import CallRecord

log = logging.getLogger(__name__)


@dataclass
class PendingCallback:
    record: CallRecord
    queued_at: float                      # monotonic: when the caller first joined the queue
    channel_id: str | None = None         # the agent leg's uniqueid (we choose it)
    rung_at: float = 0.0                  # monotonic: when that leg's Originate was sent
    agent: str | None = None
    answered_at: float | None = None
    customer_answered_at: float | None = None    # monotonic: the customer picked up
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    failed: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    customer_status: str | None = None


class Originator(Protocol):
    """AMI Originate (ivr/telephony/ami.py AmiLink)."""
    async def originate(self, channel: str, *, context: str, exten: str, caller_id: str,
                        timeout_s: float, channel_id: str, variables: dict[str, str]) -> object: ...


class Callbacks:
    def __init__(self, acd: AcdPort, store: StorePort, agent_endpoint: Mapping[str, str],
                 ring_timeout: Callable[[str | None], float],
                 originator: Callable[[], Originator | None]):
        self.acd, self.store = acd, store
        self.agent_endpoint = agent_endpoint
        self.ring_timeout = ring_timeout        # of the call's queue
        self.originator = originator            # the AMI link, once there is one
        self.pending: dict[str, PendingCallback] = {}     # by call_id
        self._by_channel: dict[str, PendingCallback] = {}

    def request(self, record: CallRecord, queued_at: float) -> None:
        self.pending[record.call_id] = PendingCallback(record, queued_at)
        self.acd.handle(ev.CallbackRequested(record.call_id, record.caller))

    def join(self, record: CallRecord, required: str | None, queued_at: float | None = None) -> None:
        """A callback request entering the queue with the caller gone (a callback destination,
        or a request re-read from the CRM at start): it waits for an agent whoever is staffed."""
        self.pending[record.call_id] = PendingCallback(record, queued_at or time.monotonic())
        self.acd.handle(ev.CallArrived(record.call_id, record.queue or "", record.priority or 0,
                                              record.caller, required, callback=record.caller))

    def start(self, call_id: str, agent: str, number: str) -> None:
        job = self.pending.get(call_id)
        if job is None:
            log.error("callback for unknown call %s: ending it in the ACD", call_id)
            self.acd.handle(ev.CallEnded(call_id))
            return
        log.info("callback for call %s: ringing %s first", call_id, agent)
        asyncio.create_task(self._run_logged(job, agent, number))

    async def _run_logged(self, job: PendingCallback, agent: str, number: str) -> None:
        try:
            await self._run(job, agent, number)
        except Exception:
            log.exception("callback for call %s failed; the request stays queued",
                          job.record.call_id)
            self.acd.handle(ev.OfferFailed(job.record.call_id, agent, "engine error"))

    async def _run(self, job: PendingCallback, agent: str, number: str) -> None:
        rec = job.record
        ring = self.ring_timeout(rec.queue)
        job.agent, job.channel_id, job.rung_at = agent, str(uuid.uuid4()), time.monotonic()
        job.answered.clear(), job.failed.clear()
        self._by_channel[job.channel_id] = job
        try:
            ami = self.originator()
            if ami is None:
                raise ConnectionError("no AMI link to Asterisk")
            await ami.originate(
                f"PJSIP/{self.agent_endpoint[agent]}", context="hotline-callback",
                exten=number, caller_id=f"Callback <{number}>", timeout_s=ring,
                channel_id=job.channel_id, variables={"IVR_CALLBACK_FOR": rec.call_id})
            done = await _first(job.answered, job.failed, timeout=ring + 10)
        except Exception as exc:
            log.warning("callback %s: could not ring %s (%s)", rec.call_id, agent, exc)
            done = job.failed
        if done is not job.answered:
            log.info("callback for call %s: %s did not answer", rec.call_id, agent)
            self.acd.handle(ev.OfferFailed(rec.call_id, agent, "noanswer"))
            return                     # the ACD re-offers the request to the next agent
        self.acd.handle(ev.OfferAnswered(rec.call_id, agent))
        await job.ended.wait()
        self.acd.handle(ev.CallEnded(rec.call_id))
        self.pending.pop(rec.call_id, None)
        callback_made(rec, agent=agent, queued_at=job.queued_at, answered_at=job.answered_at,
                      customer_answered_at=job.customer_answered_at, now=time.monotonic(), customer_status=job.customer_status,
                      trace=self.acd.trace(rec.call_id), wall=datetime.now(timezone.utc))
        self.store.save_call(rec)
        self.acd.release_trace(rec.call_id)       # the record holds it now

    def channel_ids(self, rung_before: float) -> list[str]:
        """Agent legs rung for callbacks before `rung_before` and not yet hung up (re-checked
        after an AMI outage)."""
        return [uid for uid, job in self._by_channel.items() if job.rung_at < rung_before]

    def on_ami_event(self, event: dict[str, str]) -> None:
        name = event.get("Event")
        job = self._by_channel.get(event.get("Uniqueid", ""))
        if job is None:
            return
        if name == "Newstate" and event.get("ChannelStateDesc") == "Up" and not job.answered.is_set():
            job.answered_at = time.monotonic()      # the agent picked up: the reservation holds
            job.answered.set()
        elif name == "OriginateResponse" and event.get("Response") != "Success":
            job.failed.set()
        elif name == "DialEnd":
            job.customer_status = event.get("DialStatus")
            if job.customer_status == "ANSWER":
                job.customer_answered_at = time.monotonic()
        elif name == "Hangup":
            self._by_channel.pop(job.channel_id, None)
            job.ended.set()
            job.failed.set()          # a hangup before the answer is a failure


async def _first(*events: asyncio.Event, timeout: float) -> asyncio.Event | None:
    waiters = {asyncio.ensure_future(e.wait()): e for e in events}
    done, pending = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in done:
        return waiters[task]
    return None
