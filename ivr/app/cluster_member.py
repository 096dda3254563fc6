"""The engine's part in a cluster (cluster.enabled): standby until PostgreSQL's lock is ours
(ivr/cluster/pg_leader.py), then the active engine: it takes over the former active's waiting
callers' places, writes its own (ivr/cluster/pg_places.py) and names itself on Asterisk.
The engine holds one of these and calls it; the rules live in ivr/cluster/ (pure)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime, timezone
from typing import Any

from acd import events as act_events
from ivr.call.context import Waiter
from ivr.cluster.leadership import Role
from ivr.cluster.pg_leader import PgLeader, engine_name
from ivr.cluster.pg_places import PlaceLedger, TermRefused
from ivr.cluster.places import Place, PlaceBook, resume_event, resume_order
from ivr.config import Settings
from ivr.dialplan.instructions import Route

log = logging.getLogger(__name__)


class ClusterMember:
    """`on_active()` starts what only the active engine runs (the engine's); `step_down()`
    stops the process (fail-stop, see `_step_down`)."""

    def __init__(self, settings: Settings, acd: Any, *, ami: Callable[[], Any],
                 spawn: Callable[[Coroutine], None], on_active: Callable[[], None],
                 step_down: Callable[[], None]):
        self.settings, self.acd = settings, acd
        self._ami, self._spawn = ami, spawn
        self._on_active, self._stop = on_active, step_down
        self.leader: PgLeader | None = None
        self.ledger: PlaceLedger | None = None     # waiting callers' places, for the next active
        self.resumable: dict[str, Place] = {}      # the former active's waiting callers
        self.book = PlaceBook()                    # this engine's waiting callers (when active)

    # ---- the engine's one-line calls --------------------------------------------------
    @property
    def role(self) -> Role:
        return self.leader.role if self.leader else Role.STANDBY

    @property
    def term(self) -> int | None:
        return self.leader.term if self.leader else None

    def may_route(self) -> bool:
        return self.leader is not None and self.leader.may_route()

    async def join(self) -> None:
        """Standby until the cluster's lock is ours; ClusterRefused (wrong database) stops
        the start."""
        c = self.settings.cluster
        self.leader = PgLeader(self.settings.cluster_url(), c.name, engine_name(c.engine_id),
                               poll_s=c.poll_s, lease_s=c.lease_s,
                               on_active=self._became_active, on_step_down=self._step_down)
        self.acd.may_route = self.leader.may_route
        await self.leader.join()
        leader = self.leader
        self.ledger = PlaceLedger(self.settings.cluster_url(),
                                  lambda: leader.term if leader.may_route() else None)
        book, ledger = self.book, self.ledger
        self.acd.observers.append(lambda event, actions: ledger.record(
            book.observe(event, actions, datetime.now(timezone.utc))))

    async def run(self) -> None:
        await self.leader.run()

    def resume(self, call_id: str) -> tuple[Route, float, bool] | None:
        """A caller of the former active engine, back through the dialplan: its place (and
        whether it opted in to the post-call survey)."""
        place = self.resumable.pop(call_id, None) if self.resumable else None
        if place is None:
            return None
        route = Route(place.queue, "resumed", place.priority, place.requirement or None, None, "failover")
        return route, place.waited_s(datetime.now(timezone.utc)), place.survey_opt_in

    def survey_opt_in(self, call_id: str) -> None:
        """A waiting caller opted in to the post-call survey: written with its place."""
        if self.ledger is not None:
            self.ledger.record(self.book.opt_in(call_id))

    def announce_active(self) -> None:
        """Asterisk tries the active engine first: its IVR_ACTIVE global names us."""
        ami = self._ami()
        if self.may_route() and ami and ami.connected:
            s = self.settings
            url = s.cluster.agi_url or f"agi://{s.agi.host}:{s.agi.port}"
            self._spawn(self._setvar(ami, "IVR_ACTIVE", url))

    async def close(self) -> None:
        if self.ledger:
            try:
                await asyncio.wait_for(self.ledger.flush(), 5)
            except Exception as exc:    # noqa: BLE001 - the next active resumes from the last batch
                log.warning("cluster: last waiting places not written: %s", exc)
            await self.ledger.close()
        if self.leader:            # last: the standby takes over once our calls are gone
            await self.leader.close()

    # ---- inside ---------------------------------------------------------------------------
    def _became_active(self, term: int) -> None:
        self._on_active()
        self._spawn(self._keep_places())
        self.announce_active()

    def _hold_places(self, expire_s: float = 25.0) -> None:
        """The former active's callers join the ACD now, all at once and in their original
        order, each with a stand-in for its line: whoever comes back first through the
        dialplan cannot pass the others. The ACD's decisions wait in the stand-in until the
        caller's session takes them (AcdDriver.join); one not back within `expire_s` (hung
        up meanwhile) leaves the queue."""
        now = datetime.now(timezone.utc)
        held = {}
        for place in self.resumable.values():
            held[place.call_id] = Waiter(place.call_id, lambda agent, at: None, lambda: False)
            self.acd.join(held[place.call_id])
            self.acd.handle(resume_event(place, now))

        async def expire() -> None:
            await asyncio.sleep(expire_s)
            for call_id, stand_in in held.items():
                if self.acd.waiters.get(call_id) is stand_in:
                    log.warning("cluster: caller %s of the former active engine did not come "
                                "back within %.0f s: out of its queue", call_id, expire_s)
                    self.resumable.pop(call_id, None)
                    self.acd.handle(act_events.CallAbandoned(call_id))
                    self.acd.leave(call_id)
        self._spawn(expire())

    @staticmethod
    async def _setvar(ami: Any, name: str, value: str) -> None:
        try:
            await ami.action({"Action": "Setvar", "Variable": name, "Value": value})
        except Exception as exc:     # noqa: BLE001 - the dialplan tries both engines anyway
            log.warning("cluster: could not set %s on Asterisk: %s", name, exc)

    async def _keep_places(self) -> None:
        """Take over the former active's waiting callers' places, then write ours."""
        try:
            try:
                self.resumable = {p.call_id: p for p in resume_order(await self.ledger.load())}
            except Exception as exc:    # noqa: BLE001 - those callers come back as new calls
                log.error("cluster: cannot read the former active's waiting callers: %s", exc)
            if self.resumable:
                log.warning("cluster: %d caller(s) of the former active engine were waiting; "
                            "their places are kept for when they come back", len(self.resumable))
                self._hold_places()
            await self.ledger.run()
        except TermRefused as exc:
            self._step_down(f"the database refused our term: {exc}")

    def _step_down(self, reason: str) -> None:
        """Fail-stop: our queues may be stale now that another engine may route. Calls go
        back to Asterisk at once (no grace), the process exits (status 2) for its supervisor
        to restart it as a standby."""
        self._stop()
