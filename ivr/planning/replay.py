"""What-if replay: recorded arrivals through the real ACD under a given configuration.

Each recorded queued call comes back at the instant it joined its queue, with its queue, its
priority and its handle time. Patience is what the record tells: a caller who abandoned after
W seconds had W seconds of patience; a caller who was answered after W seconds would have
waited at least W, so gets W plus a draw from the exponential patience estimated from the
whole window (abandons ÷ total waiting time: the maximum-likelihood rate with the answered
callers as censored observations; memorylessness makes "W plus a draw" exact for it).
A caller who took a callback when offered takes it again; others decline.

Agents log in, out and pause when the CRM says they did; agents of the configuration that
the CRM never saw are taken as logged in for the whole window (the result says how many).
"""
from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from acd import actions as A
from acd import events as E
from acd.config import AcdConfig
from acd.core import Acd
from acd.simulate import QueueKpi
from ivr.crm.records import AgentEvent, CallRecord

QUEUED = {"answered", "abandoned", "callback", "overflowed", "voicemail", "failed", "transferred"}
_AGENT, _ARRIVE, _ANSWER, _END, _ABANDON = range(5)


class ReplayError(ValueError):
    """The history cannot be replayed as asked (the message says why and what to do)."""


@dataclass(frozen=True, slots=True)
class RecordedCall:
    call_id: str
    arrival: float            # seconds from the window's start when it joined its queue
    queue: str
    priority: int
    handle_seconds: float
    patience_seconds: float   # math.inf: never gives up
    disposition: str
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


def queue_entry(record: CallRecord) -> datetime | None:
    """When the caller joined the queue: the end of the call less its talk and its wait."""
    if record.ended_at is None:
        return record.started_at
    back = (record.wait_seconds or 0.0) + (record.talk_seconds or 0.0)
    entry = record.ended_at - timedelta(seconds=back)
    return max(entry, record.started_at) if record.started_at else entry


def mean_patience(records: list[CallRecord]) -> float:
    """Exponential patience, censored MLE: total time waited by queued callers ÷ abandons."""
    queued = [r for r in records if r.queue and r.disposition in QUEUED]
    abandons = sum(r.disposition == "abandoned" for r in queued)
    waited = sum(r.wait_seconds or 0.0 for r in queued)
    return waited / abandons if abandons else math.inf


def recorded_calls(records: list[CallRecord], start: datetime, config: AcdConfig, *, seed: int = 1,
                   rename: dict[str, str] | None = None) -> list[RecordedCall]:
    """The queued calls of the records, as arrivals to replay (sorted by arrival)."""
    rename = rename or {}
    rng = random.Random(seed)
    queued = [r for r in records if r.queue and r.disposition in QUEUED and r.started_at]
    if not queued:
        raise ReplayError("no queued calls in this window: nothing to replay (pick a window with "
                          "calls, see `ivr report --since … --until …`)")
    known = {q.name for q in config.queues}
    unknown = Counter(rename.get(r.queue, r.queue) for r in queued
                      if rename.get(r.queue, r.queue) not in known)
    if unknown:
        listed = ", ".join(f"{q} ({n} calls)" for q, n in unknown.most_common())
        raise ReplayError(f"the configuration has no queue {listed}; its queues are "
                          f"{', '.join(sorted(known))}. Add them, or say where their calls go "
                          "with --rename OLD=NEW")
    talks: dict[str, list[float]] = {}
    for r in queued:
        if r.disposition == "answered" and r.talk_seconds:
            talks.setdefault(rename.get(r.queue, r.queue), []).append(r.talk_seconds)
    aht = {q.name: q.aht_seconds for q in config.queues}
    mean = mean_patience(queued)
    out = []
    for r in queued:
        queue = rename.get(r.queue, r.queue)
        wait = r.wait_seconds or 0.0
        if r.disposition == "answered" and r.talk_seconds:
            handle = r.talk_seconds
        elif talks.get(queue):        # never answered: a handle time like its queue's answered calls
            handle = rng.choice(talks[queue])
        else:
            handle = rng.expovariate(1.0 / aht[queue])
        if r.disposition == "abandoned":
            patience = wait
        elif math.isinf(mean):
            patience = math.inf
        else:
            patience = wait + rng.expovariate(1.0 / mean)
        entry = queue_entry(r)
        assert entry is not None
        out.append(RecordedCall(r.call_id, (entry - start).total_seconds(), queue, r.priority or 0,
                                handle, patience, r.disposition or "", wait))
    out.sort(key=lambda c: (c.arrival, c.call_id))
    return out


def ring_estimate(records: list[CallRecord], config: AcdConfig) -> float:
    """How long phones ring before an agent answers, which the CRM's wait includes: the median
    wait of answered calls that waited less than their queue's ring timeout (mostly callers
    who found an agent free, so their whole wait was the ring)."""
    timeout = {q.name: q.ring_timeout for q in config.queues}
    short = sorted(r.wait_seconds for r in records
                   if r.disposition == "answered" and r.wait_seconds is not None and r.queue
                   and r.wait_seconds < timeout.get(r.queue, 15.0))
    return short[len(short) // 2] if short else 0.0


def agent_changes(events: list[AgentEvent], start: datetime) -> list[AgentChange]:
    """Logins, logouts, pauses and the readies that end a pause (wrap-up is the ACD's own)."""
    out = []
    for ev in sorted(events, key=lambda e: e.at):
        if ev.state in ("login", "logout", "pause", "ready"):
            out.append(AgentChange(max(0.0, (ev.at - start).total_seconds()), ev.agent, ev.state))
    return out


def recorded_kpis(calls: list[RecordedCall], config: AcdConfig) -> dict[str, QueueKpi]:
    """The KPIs the records themselves show, by the simulator's definitions."""
    kpis = {q.name: QueueKpi(sl_seconds=q.service_level_seconds) for q in config.queues}
    for c in calls:
        k = kpis[c.queue]
        k.offered += 1
        if c.disposition == "answered":
            k.answered += 1
            k.wait_sum += c.wait_seconds
            k.talk_sum += c.handle_seconds
            k.waited += c.wait_seconds > 1e-9
            k.answered_in_sl += c.wait_seconds <= k.sl_seconds
        elif c.disposition == "abandoned":
            k.abandoned += 1
        elif c.disposition == "callback":
            k.callbacks += 1
        else:
            k.diverted += 1
    return kpis


def total_of(kpis: dict[str, QueueKpi]) -> QueueKpi:
    total = QueueKpi()
    for k in kpis.values():
        for f in ("offered", "answered", "answered_in_sl", "waited", "abandoned", "diverted",
                  "callbacks", "wait_sum", "talk_sum"):
            setattr(total, f, getattr(total, f) + getattr(k, f))
    return total


class _Live:
    __slots__ = ("call", "answered", "done", "offers")

    def __init__(self, call: RecordedCall) -> None:
        self.call = call
        self.answered = self.done = False
        self.offers: set[str] = set()


def replay(calls: list[RecordedCall], agents: list[AgentChange], config: AcdConfig,
           horizon_seconds: float, ring_seconds: "dict[str, float] | float" = 0.0,
           outcomes: "dict[str, tuple[str, float, str]] | None" = None) -> ReplayResult:
    """Run the arrivals through a fresh ACD built from `config`. `ring_seconds`: how long an
    offered agent's phone rings before the answer (per call id, or one figure for all).
    `outcomes`, when given, receives each call's (disposition, wait, agent)."""
    acd = Acd(config, trace=False)
    specs = {q.name: q for q in config.queues}
    kpis = {q: QueueKpi(sl_seconds=s.service_level_seconds) for q, s in specs.items()}
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
    # arrivals come sorted: merged with the heap's head instead of going through it
    arrivals = sorted(calls, key=lambda c: c.arrival)
    n_arrivals = len(arrivals)
    for name in always:
        acd.handle(E.AgentLoggedIn(name), 0.0)
    state = {name: "out" for name in seen}
    login_since: dict[str, float] = {}
    logged_seconds = len(always) * horizon_seconds
    busy = 0.0
    live: dict[str, _Live] = {}
    ring = ring_seconds if isinstance(ring_seconds, dict) else None
    ring_all = 0.0 if isinstance(ring_seconds, dict) else float(ring_seconds)
    push, pop = heapq.heappush, heapq.heappop

    def answer(rec: _Live, agent: str, now: float) -> list:
        nonlocal seq, busy
        rec.answered = True
        c = rec.call
        more = acd.offer_answered(c.call_id, agent, now)
        busy += c.handle_seconds + specs[c.queue].wrapup_seconds
        seq += 1
        push(heap, (now + c.handle_seconds, seq, _END, c.call_id))
        k = kpis[c.queue]
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

    def apply(actions: list, now: float) -> None:
        nonlocal seq
        stack = actions[::-1]
        while stack:
            act = stack.pop()
            cls = type(act)
            if cls is A.OfferCall or cls is A.StartCallback:
                rec = live.get(act.call_id)
                if rec is None or rec.answered:
                    continue
                delay = ring.get(act.call_id, 0.0) if ring is not None else ring_all
                if delay > 0:
                    rec.offers.add(act.agent)
                    seq += 1
                    push(heap, (now + delay, seq, _ANSWER, (act.call_id, act.agent)))
                else:
                    stack.extend(answer(rec, act.agent, now)[::-1])
            elif cls is A.CancelOffer:
                rec = live.get(act.call_id)
                if rec is not None:
                    rec.offers.discard(act.agent)
            elif cls is A.Diverted:
                rec = live.get(act.call_id)
                if rec is not None and not rec.done:
                    rec.done = True
                    kpis[rec.call.queue].diverted += 1
                    if outcomes is not None:
                        outcomes[act.call_id] = ("overflowed", now - rec.call.arrival, "")
            elif cls is A.OfferCallbackChoice:
                rec = live.get(act.call_id)
                if rec is not None and rec.call.disposition == "callback" and not rec.done:
                    rec.done = True      # took the callback then: takes it again
                    kpis[rec.call.queue].callbacks += 1
                    stack.extend(acd.handle(E.CallbackRequested(act.call_id, "0"), now)[::-1])

    tick = E.Tick()
    now = 0.0
    next_deadline, call_arrived, inf = acd.next_deadline, acd.call_arrived, math.inf
    i = 0
    while True:
        head = heap[0][0] if heap else inf
        if i < n_arrivals and arrivals[i].arrival < head:
            head, kind = arrivals[i].arrival, _ARRIVE
        else:
            kind = -1
        deadline = next_deadline()
        if deadline is not None and deadline <= head:
            now = deadline
            out = acd.handle(tick, now)
            if out:
                apply(out, now)
            continue
        if kind == _ARRIVE:
            c = arrivals[i]
            i += 1
            now = c.arrival
            cid = c.call_id
            live[cid] = _Live(c)
            kpis[c.queue].offered += 1
            out = call_arrived(cid, c.queue, now, c.priority)
            if c.patience_seconds != inf:
                seq += 1
                push(heap, (now + c.patience_seconds, seq, _ABANDON, cid))
            if out:
                apply(out, now)
            continue
        if not heap:
            break
        now, _, kind, data = pop(heap)
        if kind == _ANSWER:
            cid, agent = data  # type: ignore[misc]
            rec = live.get(cid)
            if rec is None or rec.answered or rec.done or agent not in rec.offers:
                continue
            apply(answer(rec, agent, now), now)
        elif kind == _END:
            rec = live.pop(data)  # type: ignore[arg-type]
            rec.done = True
            out = acd.call_ended(data, now)  # type: ignore[arg-type]
            if out:
                apply(out, now)
        elif kind == _ABANDON:
            rec = live.get(data)  # type: ignore[arg-type]
            if rec is None or rec.answered or rec.done:
                continue
            rec.done = True
            kpis[rec.call.queue].abandoned += 1
            if outcomes is not None:
                outcomes[rec.call.call_id] = ("abandoned", now - rec.call.arrival, "")
            apply(acd.handle(E.CallAbandoned(data), now), now)  # type: ignore[arg-type]
        else:
            ch = data  # an AgentChange
            before = state[ch.agent]
            if ch.state == "login" and before == "out":
                login_since[ch.agent] = now
                state[ch.agent] = "in"
                apply(acd.handle(E.AgentLoggedIn(ch.agent), now), now)
            elif ch.state == "logout" and before != "out":
                logged_seconds += now - login_since.pop(ch.agent, now)
                state[ch.agent] = "out"
                apply(acd.handle(E.AgentLoggedOut(ch.agent), now), now)
            elif ch.state == "pause" and before == "in":
                state[ch.agent] = "paused"
                apply(acd.handle(E.AgentPaused(ch.agent, "recorded"), now), now)
            elif ch.state == "ready" and before == "paused":
                state[ch.agent] = "in"
                apply(acd.handle(E.AgentReady(ch.agent), now), now)
    for name, since in login_since.items():
        logged_seconds += max(0.0, max(now, horizon_seconds) - since)
    occupancy = min(1.0, busy / logged_seconds) if logged_seconds else 0.0
    return ReplayResult(kpis, total_of(kpis), occupancy, len(calls), always)
