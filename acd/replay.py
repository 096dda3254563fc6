"""Replay recorded arrivals through the real ``Acd`` (the simulator's twin: the calls, their
handle times and their patience come from a record instead of random draws).

Phones ring ``ring_seconds`` before the agent answers (one figure, or one per call id), the
way the recorded waits include ring time. Agents log in, out, pause and come back at the
recorded instants; agents with no recorded change are logged in for the whole window.
A caller offered a callback takes it if its record says it did (``takes_callback``).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import cast

from . import actions as A
from . import events as E
from .config import AcdConfig
from .core import Acd
from .simulate import QueueKpi

_AGENT, _ANSWER, _END, _ABANDON = range(4)
_KPI_FIELDS = ("offered", "answered", "answered_in_sl", "waited", "abandoned", "diverted",
               "callbacks", "wait_sum", "talk_sum")


@dataclass(frozen=True, slots=True)
class RecordedCall:
    call_id: str
    arrival: float            # seconds from the window's start when it joined its queue
    queue: str
    priority: int
    handle_seconds: float
    patience_seconds: float   # math.inf: never gives up
    disposition: str          # what happened in the record ("callback": takes one again)
    wait_seconds: float


@dataclass(frozen=True, slots=True)
class AgentChange:
    at: float
    agent: str
    state: str                # login | logout | pause | ready


@dataclass
class ReplayResult:
    queues: dict[str, QueueKpi]
    total: QueueKpi
    occupancy: float
    calls: int
    agents_without_history: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"queues": {q: k.as_dict() for q, k in self.queues.items()},
                "total": self.total.as_dict(), "occupancy": round(self.occupancy, 4),
                "calls": self.calls, "agents_without_history": self.agents_without_history}


def total_of(kpis: dict[str, QueueKpi]) -> QueueKpi:
    total = QueueKpi()
    for k in kpis.values():
        for f in _KPI_FIELDS:
            setattr(total, f, getattr(total, f) + getattr(k, f))
    return total


class _Live:
    __slots__ = ("call", "kpi", "answered", "done", "offers", "armed")

    def __init__(self, call: RecordedCall, kpi: QueueKpi) -> None:
        self.call, self.kpi = call, kpi
        self.answered = self.done = False
        self.offers: set[str] = set()
        self.armed = True          # its abandonment is in the event heap (or never comes)


def replay(calls: list[RecordedCall], agents: list[AgentChange], config: AcdConfig,
           horizon_seconds: float, ring_seconds: "dict[str, float] | float" = 0.0,
           outcomes: "dict[str, tuple[str, float, str]] | None" = None) -> ReplayResult:
    """Run the calls through a fresh ACD built from `config`. `outcomes`, when given, receives
    each call's (disposition, wait, agent)."""
    acd = Acd(config, trace=False)
    specs = {q.name: q for q in config.queues}
    kpis = {q: QueueKpi(sl_seconds=s.service_level_seconds) for q, s in specs.items()}
    wrap = {q: s.wrapup_seconds for q, s in specs.items()}
    names = {a.name for a in config.agents}
    seen = {ch.agent for ch in agents if ch.agent in names}
    always = sorted(names - seen)
    heap: list[tuple[float, int, int, object]] = []
    seq = 0
    for ch in agents:
        if ch.agent in names:
            seq += 1
            heap.append((ch.at, seq, _AGENT, ch))
    heapq.heapify(heap)
    arrivals = sorted(calls, key=lambda c: c.arrival)   # merged with the heap, never pushed
    for name in always:
        acd.handle(E.AgentLoggedIn(name), 0.0)
    state = {name: "out" for name in seen}
    login_since: dict[str, float] = {}
    logged_seconds = len(always) * horizon_seconds
    busy = 0.0
    live: dict[str, _Live] = {}
    per_call = ring_seconds if isinstance(ring_seconds, dict) else None
    ring_all = 0.0 if per_call is not None else float(ring_seconds)  # type: ignore[arg-type]
    push, pop, inf = heapq.heappush, heapq.heappop, float("inf")
    OfferCall, StartCallback, CancelOffer, Diverted = A.OfferCall, A.StartCallback, A.CancelOffer, A.Diverted
    offer_answered, call_ended, call_arrived = acd.offer_answered, acd.call_ended, acd.call_arrived
    handle, next_deadline = acd.handle, acd.next_deadline
    timers = acd._timers       # peeked only (same package), as the simulator does

    def answer(rec: _Live, agent: str, now: float) -> list:
        nonlocal seq, busy
        rec.answered = True
        c = rec.call
        more = offer_answered(c.call_id, agent, now)
        busy += c.handle_seconds + wrap[c.queue]
        seq += 1
        push(heap, (now + c.handle_seconds, seq, _END, c.call_id))
        k = rec.kpi
        w = now - c.arrival
        if outcomes is not None:
            outcomes[c.call_id] = ("answered", w, agent)
        k.answered += 1
        k.wait_sum += w
        k.talk_sum += c.handle_seconds
        if w > 1e-9:
            k.waited += 1
        if w <= k.sl_seconds + 1e-9:
            k.answered_in_sl += 1
        return more

    def offer(rec: _Live, agent: str, now: float) -> list:
        """The agent's phone rings: answered now, or after the ring (an event)."""
        nonlocal seq
        delay = per_call.get(rec.call.call_id, 0.0) if per_call is not None else ring_all
        if delay > 0:
            rec.offers.add(agent)
            seq += 1
            push(heap, (now + delay, seq, _ANSWER, (rec, agent)))
            return []
        return answer(rec, agent, now)

    def apply(actions: list, now: float) -> None:
        nonlocal seq
        stack = actions[::-1]
        while stack:
            act = stack.pop()
            cls = type(act)
            if cls is OfferCall or cls is StartCallback:
                rec = live.get(act.call_id)
                if rec is not None and not rec.answered:
                    more = offer(rec, act.agent, now)
                    if more:
                        stack.extend(more[::-1])
            elif cls is CancelOffer:
                rec = live.get(act.call_id)
                if rec is not None:
                    rec.offers.discard(act.agent)
                    if not rec.armed and not rec.answered:   # back in line: it may give up now
                        rec.armed = True
                        seq += 1
                        push(heap, (max(now, rec.call.arrival + rec.call.patience_seconds), seq,
                                    _ABANDON, rec))
            elif cls is Diverted:
                rec = live.get(act.call_id)
                if rec is not None and not rec.done:
                    rec.done = True
                    rec.kpi.diverted += 1
                    if outcomes is not None:
                        outcomes[act.call_id] = ("overflowed", now - rec.call.arrival, "")
            elif cls is A.OfferCallbackChoice:
                rec = live.get(act.call_id)
                if rec is not None and rec.call.disposition == "callback" and not rec.done:
                    rec.done = True      # took the callback then: takes it again
                    rec.kpi.callbacks += 1
                    stack.extend(handle(E.CallbackRequested(act.call_id, "0"), now)[::-1])

    def change(ch: AgentChange, now: float) -> float:
        """A recorded login, logout, pause or end of pause; returns the logged-in time it ends."""
        before, event, ended = state[ch.agent], None, 0.0
        if ch.state == "login" and before == "out":
            login_since[ch.agent] = now
            state[ch.agent], event = "in", E.AgentLoggedIn(ch.agent)
        elif ch.state == "logout" and before != "out":
            ended = now - login_since.pop(ch.agent, now)
            state[ch.agent], event = "out", E.AgentLoggedOut(ch.agent)
        elif ch.state == "pause" and before == "in":
            state[ch.agent], event = "paused", E.AgentPaused(ch.agent, "recorded")
        elif ch.state == "ready" and before == "paused":
            state[ch.agent], event = "in", E.AgentReady(ch.agent)
        if event is not None:
            apply(handle(event, now), now)
        return ended

    tick = E.Tick()
    now = 0.0
    i, n_arrivals = 0, len(arrivals)
    next_arrival = arrivals[0].arrival if arrivals else inf
    while True:
        head = heap[0][0] if heap else inf
        first = next_arrival if next_arrival < head else head
        if timers and timers[0][0] <= first:      # the core may have a deadline first
            deadline = next_deadline()
            if deadline is not None and deadline <= first:
                now = deadline
                out = handle(tick, now)
                if out:
                    apply(out, now)
                continue
        if next_arrival < head:
            c = arrivals[i]
            i += 1
            next_arrival = arrivals[i].arrival if i < n_arrivals else inf
            now = c.arrival
            cid = c.call_id
            k = kpis[c.queue]
            live[cid] = rec = _Live(c, k)
            k.offered += 1
            out = call_arrived(cid, c.queue, now, c.priority)
            patience = c.patience_seconds
            if out and len(out) == 1 and type(out[0]) is OfferCall:   # the usual output
                if patience != inf:
                    delay = per_call.get(cid, 0.0) if per_call is not None else ring_all
                    if patience > delay:
                        rec.armed = False   # answered before giving up, unless the offer is cancelled
                    else:
                        seq += 1
                        push(heap, (now + patience, seq, _ABANDON, rec))
                more = offer(rec, out[0].agent, now)
                if more:
                    apply(more, now)
                continue
            if patience != inf:
                seq += 1
                push(heap, (now + patience, seq, _ABANDON, rec))
            if out:
                apply(out, now)
            continue
        if not heap:
            break
        now, _, kind, data = pop(heap)
        if kind == _ANSWER:
            rec, agent = cast("tuple[_Live, str]", data)
            if rec.answered or rec.done or agent not in rec.offers:
                continue
            more = answer(rec, agent, now)
            if more:
                apply(more, now)
        elif kind == _END:
            cid = cast(str, data)
            live.pop(cid).done = True
            out = call_ended(cid, now)
            if out:
                apply(out, now)
        elif kind == _ABANDON:
            rec = cast(_Live, data)
            if rec.answered or rec.done:
                continue
            rec.done = True
            rec.kpi.abandoned += 1
            if outcomes is not None:
                outcomes[rec.call.call_id] = ("abandoned", now - rec.call.arrival, "")
            apply(handle(E.CallAbandoned(rec.call.call_id), now), now)
        else:
            logged_seconds += change(cast(AgentChange, data), now)
    for since in login_since.values():
        logged_seconds += max(0.0, max(now, horizon_seconds) - since)
    occupancy = min(1.0, busy / logged_seconds) if logged_seconds else 0.0
    return ReplayResult(kpis, total_of(kpis), occupancy, len(calls), always)
