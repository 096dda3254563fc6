"""The ACD core (acd/, pure) driven in real time: events in with the monotonic clock, its
actions out to the calls waiting in line (their `Waiter`), a timer task for its deadlines.

It also keeps which agents' phones ring or talk because of us: for those, AMI device states
are our own doing, not news (AgentPresence asks `engaged_by_us`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable

from acd import actions as act
from acd import events as ev
from acd.center import ContactCenter
from acd.config import AcdConfig, QueueSpec
from acd.skills import compile_requirement
from acd.state import AgentState
from ivr.call.context import Waiter
from ivr.channels.channel_report import live_backlog

log = logging.getLogger(__name__)
_TASK_ACTIONS = (act.OfferTask, act.CancelTaskOffer, act.TaskRejected)


class AcdDriver:
    def __init__(self, config: AcdConfig, *, start_callback: Callable[[act.StartCallback], None],
                 agents_touched: Callable[[set[str]], None] | None = None):
        # One ACD for calls and non-voice tasks (acd/center.py); `core` is its call side.
        self.center = ContactCenter(config)
        self.core = self.center.voice
        self.task_sink: Callable[[object], None] | None = None  # ivr/app/tasks.py: task actions
        self.config = config
        self.queues = {q.name: q for q in config.queues}
        self.waiters: dict[str, Waiter] = {}
        self._start_callback = start_callback
        self._agents_touched = agents_touched
        if agents_touched is not None:
            self.core.track_agents()
        self._engaged: Counter[str] = Counter()
        self._timer_wake = asyncio.Event()
        self._timer_due = 0.0         # monotonic instant the timer task wakes up next
        # False on a cluster engine that is not (or no longer) active: it offers no call
        self.may_route: Callable[[], bool] = lambda: True
        # Told every event and its actions (a cluster engine keeps waiting callers' places)
        self.observers: list[Callable[[object, list[object]], None]] = []

    def queue(self, name: str | None) -> QueueSpec:
        """The call's queue; the first one for a call that has none (yet)."""
        return self.queues[name] if name in self.queues else self.config.queues[0]

    def handle(self, event: object) -> list[object]:
        actions = self.center.handle(event, time.monotonic())
        for action in actions:
            self._dispatch(action)
        for observe in self.observers:
            observe(event, actions)
        # Wake the timer task only for a deadline sooner than its own wake-up: waking it on
        # every event (several per call) cost a wait_for task and a timer each time.
        deadline = self.center.next_deadline()
        if deadline is not None and deadline < self._timer_due:
            self._timer_wake.set()
        touched = self.center.changed_agents()
        if self._agents_touched is not None:
            if touched:
                self._agents_touched(touched)
        return actions

    def _dispatch(self, action: object) -> None:
        if isinstance(action, _TASK_ACTIONS):
            if self.task_sink is not None:
                self.task_sink(action)
            elif not isinstance(action, act.Escalated):
                log.warning("ACD task action with no task channel running: %s", action)
            return
        if isinstance(action, act.StartCallback):
            self._start_callback(action)
            return
        call_id = getattr(action, "call_id", None)
        waiter = self.waiters.get(call_id) if call_id else None
        if waiter is None:
            if not isinstance(action, (act.Escalated, act.Overflowed)):
                log.warning("ACD action for a call not waiting here: %s", action)
            return
        if isinstance(action, act.OfferCall) and not self.may_route():
            log.warning("offer of %s to %s dropped: this engine is not the active one",
                        call_id, action.agent)
            return
        if isinstance(action, act.OfferCall) and action.agent not in waiter.offered_agents:
            waiter.offered_agents.add(action.agent)
            self._engaged[action.agent] += 1
        waiter.push(action)

    # ---- the calls in line -------------------------------------------------------------
    def join(self, waiter: Waiter) -> None:
        earlier = self.waiters.get(waiter.call_id)
        if earlier is not None:   # resumed after a failover: what the ACD decided meanwhile
            waiter.offered_agents |= earlier.offered_agents
            for action in earlier.take():
                waiter.push(action)
        self.waiters[waiter.call_id] = waiter

    def leave(self, call_id: str) -> None:
        waiter = self.waiters.pop(call_id, None)
        for agent in list(waiter.offered_agents if waiter else ()):
            self._release(waiter, agent)

    def release_offer(self, call_id: str, agent: str) -> None:
        """An offer is over (no answer, caller gone): AMI device states count again."""
        waiter = self.waiters.get(call_id)
        if waiter is not None:
            self._release(waiter, agent)

    def _release(self, waiter: Waiter, agent: str) -> None:
        if agent in waiter.offered_agents:
            waiter.offered_agents.discard(agent)
            self._engaged[agent] -= 1

    def engaged_by_us(self, agent: str) -> bool:
        return self._engaged[agent] > 0

    # ---- agents on outbound campaign calls (ivr/app/campaign_calls.py) ---------------------
    def free_for_calls(self, agent: str) -> bool:
        """Ready, nothing ringing or talking, phone not busy, not held for tasks: the ACD
        would offer this agent a call now."""
        return self.center.voice.free_for_tasks(agent) and not self.center.held_for_tasks(agent)

    def hold_for_campaign(self, agent: str, held: bool) -> None:
        """A campaign call takes (or gives back) the agent: for the ACD its phone is busy, so
        no inbound offer meanwhile (one truth for both); AMI device states of that phone are
        then our own doing, as for our offers."""
        self._engaged[agent] += 1 if held else -1
        self.handle(ev.DeviceBusy(agent, held))

    def agents_for_queue(self, queue: str) -> list[str]:
        """The agents whose skills meet the queue's requirement, in the configuration's order."""
        requirement = compile_requirement(self.queue(queue).requirement)
        return [a.name for a in self.config.agents if requirement.match(a.skills)]

    def trace(self, call_id: str) -> list[str]:
        return list(self.core.trace(call_id))

    def release_trace(self, call_id: str) -> None:
        self.core.release_trace(call_id)

    # ---- state -------------------------------------------------------------------------
    def agent_state(self, agent: str) -> AgentState:
        return self.core.agent_state(agent)

    def agent_view(self, agent: str) -> dict:
        """One agent for displays (O(1)): state, reason, since and wrap-up end as wall-clock."""
        core, now = self.core, time.monotonic()
        wall = time.time() - now          # monotonic → epoch seconds
        until = core.wrapup_until(agent)
        return {"agent": agent, "state": core.agent_state(agent).value,
                "reason": core.agent_reason(agent), "since": round(wall + core.agent_since(agent), 3),
                "wrapup_until": None if until is None else round(wall + until, 3)}

    def wrapup_left(self, agent: str) -> float | None:
        until = self.core.wrapup_until(agent)
        return None if until is None else until - time.monotonic()

    def agents_in_use(self) -> set[str]:
        """Agents who took a call or changed state since the start (not the default's)."""
        return {a["agent"] for a in self.core.state_snapshot()["agents"]
                if a["calls_taken"] or a["call_id"] or a["state"] not in ("ready", "logged-out")}

    def snapshot(self) -> dict:
        """Agents and queues for displays, with durations in seconds."""
        now = time.monotonic()
        snap = self.core.state_snapshot(now)
        for agent in snap["agents"]:
            since = agent.pop("since", None)
            agent["for_seconds"] = round(now - since, 1) if since is not None else None
        for queue in snap["queues"]:
            queue.pop("oldest_arrival", None)
            queue["longest_wait"] = round(queue["longest_wait"], 1)
        return snap

    def channel_backlog(self) -> list[dict]:
        """The wallboard's line per non-voice channel. O(open tasks): for `ivr status`/`ivr top`,
        not for the queue stats the engine publishes every 2 s."""
        return live_backlog(self.center.tasks.snapshot(time.monotonic())["backlog"])

    async def run_timer(self) -> None:
        """Tick the ACD at its next deadline (escalations, wrap-up ends, announcements)."""
        while True:
            deadline = self.center.next_deadline()
            now = time.monotonic()
            delay = 1.0 if deadline is None else max(0.0, min(1.0, deadline - now))
            self._timer_due = now + delay
            self._timer_wake.clear()
            try:
                async with asyncio.timeout(delay):
                    await self._timer_wake.wait()
            except TimeoutError:
                pass
            if deadline is not None and time.monotonic() >= deadline:
                try:
                    self.handle(ev.Tick())
                except Exception:
                    log.exception("ACD tick failed")
