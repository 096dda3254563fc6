"""The start-up work that reads the CRM: calls the last process was cut off from, Asterisk's
CDRs of calls served while no engine ran, and callback promises from before the restart.

A database down at start does not stop the engine: these steps run once it answers, in the
same order, and a step done stays done."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime, timedelta, timezone

from ivr.app.agent_restore import AgentRestore
from ivr.call.callbacks import Callbacks
from ivr.config import Settings
from ivr.crm.cdr_recovery import CdrRecovery
from ivr.crm.records import CUT_OFF
from ivr.crm.store import CrmStore

log = logging.getLogger(__name__)


class CrmStartup:
    def __init__(self, settings: Settings, store: CrmStore, callbacks: Callbacks,
                 agent_restore: AgentRestore, endpoint_agent: Mapping[str, str],
                 queue_names: Collection[str], started_at: datetime,
                 spawn: Callable[[Awaitable[None]], None]):
        self.settings, self.store, self.callbacks = settings, store, callbacks
        self.agent_restore = agent_restore
        self.endpoint_agent = endpoint_agent
        self.queue_names = queue_names
        self.started_at = started_at      # calls from before are the last process's
        self._spawn = spawn
        self.cdr_recovery: CdrRecovery | None = None      # started after the cut-off calls

    async def run(self) -> None:
        """At start: the steps now, or (database down) as soon as it answers."""
        if not (self.store.ready.is_set() and await self.steps()):
            if not self.agent_restore.done:     # before the first call: agents get the default
                self.agent_restore.apply_defaults()
            log.warning("CRM: the engine starts without its database (%s). Calls are served; "
                        "calls cut off when the engine last stopped, Asterisk's CDRs and callback "
                        "promises from before the restart are picked up as soon as it answers, "
                        "automatically", self.store.backend.where)
            self._spawn(self.steps_when_back())

    def on_ami_login(self) -> None:
        if self.cdr_recovery:      # cheap: reads only the CDRs appended since the last run
            self._spawn(self.cdr_recovery.run("AMI logged in"))

    async def steps(self, quiet: bool = False) -> bool:
        """In order: the agents' states from before the restart, mark the cut-off calls, then
        start the CDR recovery (which completes them), then re-queue callback promises. False
        if the database failed."""
        if not self.agent_restore.done and not await self._step(
                lambda: self.agent_restore.restore(self.store, self.started_at),
                "restoring the agents' states from before the restart", quiet):
            return False
        if self.cdr_recovery is None:
            if not await self._step(self._recover_cut_off_calls,
                                    "marking the calls cut off when the engine last stopped", quiet):
                return False
            self.cdr_recovery = CdrRecovery(self.settings, self.store, self.endpoint_agent)
            self._spawn(self.cdr_recovery.run_forever(self.settings.cdr.every_s))
        return await self._step(self._requeue_callbacks,
                                "re-queueing the callback promises from before the restart", quiet)

    async def steps_when_back(self, retry_max_s: float = 30.0) -> None:
        """The steps the database refused, once it answers (store.wait_ready); a step that
        fails again is retried with backoff, quietly."""
        delay, quiet = 1.0, False
        while True:
            await self.store.wait_ready()
            if await self.steps(quiet):
                log.warning("CRM: %s answers: cut-off calls, Asterisk's CDRs and callback "
                            "promises from before the restart are being taken care of",
                            self.store.backend.where)
                return
            await asyncio.sleep(delay)
            delay, quiet = min(delay * 2, retry_max_s), True

    async def _step(self, step: Callable[[], Awaitable[None]], what: str, quiet: bool) -> bool:
        try:
            await step()
            return True
        except Exception as exc:
            (log.debug if quiet else log.warning)(
                "CRM: %s failed (%s); tried again when the database answers", what, exc)
            return False

    async def _recover_cut_off_calls(self, within: timedelta = timedelta(days=2)) -> None:
        """Calls the last engine process started but never finished (it was killed): mark
        them recovered, so the CRM keeps every call; Asterisk's fallback took those callers.
        Only calls from before this process started: when this runs late (the database was
        down at start), calls being served now are not finished either."""
        now = datetime.now(timezone.utc)
        cut = [r for r in await self.store.list_calls(since=now - within, until=self.started_at)
               if r.ended_at is None]
        for rec in cut:
            rec.ended_at, rec.recovered = now, True
            rec.disposition = rec.disposition or CUT_OFF
            rec.route = "fallback"
            rec.hangup_cause = ("the engine stopped abruptly during the call; Asterisk's "
                                "fallback took the caller (see its CDR for the outcome)")
            self.store.save_call(rec)
        if cut:
            log.warning("recovered %d call(s) cut off when the engine last stopped", len(cut))

    async def _requeue_callbacks(self, within: timedelta = timedelta(days=2)) -> None:
        """Callback requests live in the ACD, which a restart empties: the CRM keeps them
        (disposition callback, no agent yet), so a promised callback survives the night."""
        now = datetime.now(timezone.utc)
        waiting = [r for r in await self.store.list_calls(since=now - within, until=self.started_at)
                   if r.disposition == "callback" and r.agent is None and r.caller and r.queue
                   and r.queue in self.queue_names and r.call_id not in self.callbacks.pending]
        for rec in sorted(waiting, key=lambda r: r.started_at or now):
            asked = [e for e in await self.store.call_events(rec.call_id) if e.kind == "callback_request"]
            required = asked[-1].data.get("required") if asked else None
            age = (now - (rec.started_at or now)).total_seconds()
            self.callbacks.join(rec, required, queued_at=time.monotonic() - age)
        if waiting:
            log.info("%d callback request(s) from before the restart are back in their queues",
                     len(waiting))
