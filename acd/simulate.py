"""Discrete-event simulation driving the real ``Acd`` on a simulated clock.

Scenario (dict or YAML) = the config/queues.yaml shape plus::

    seed: 1
    calls: 100000            # stop generating after this many arrivals (or duration_seconds)
    duration_seconds: 3600
    warmup_seconds: 0        # arrivals before this are not counted in KPIs
    callback_accept: 0.0     # probability a caller accepts OfferCallbackChoice
    traffic:
      operator: {calls_per_hour: 200, aht_seconds: 180, handle: exponential,  # constant|lognormal
                 handle_cv: 1.0, patience_seconds: 0, patience: exponential, priority: 0,
                 required: null}

Agents answer instantly (OfferCall -> OfferAnswered at the same instant); every agent is
logged in at t=0. The KPIs are computed from the actions, as the real engine would see them.
"""
from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import actions as A
from . import events as E
from .config import AcdConfig
from .core import Acd

_ARRIVE, _END, _ABANDON = range(3)


@dataclass
class QueueKpi:
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    waited: int = 0
    abandoned: int = 0
    diverted: int = 0
    callbacks: int = 0
    wait_sum: float = 0.0
    talk_sum: float = 0.0
    sl_seconds: float = 20.0

    @property
    def service_level(self) -> float:
        """Answered within target over answered + abandoned (diverted calls excluded)."""
        d = self.answered + self.abandoned
        return self.answered_in_sl / d if d else 1.0

    @property
    def p_wait(self) -> float:
        return self.waited / self.answered if self.answered else 0.0

    @property
    def asa_seconds(self) -> float:
        return self.wait_sum / self.answered if self.answered else 0.0

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.offered if self.offered else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
                "diverted": self.diverted, "callbacks": self.callbacks,
                "service_level": round(self.service_level, 4), "p_wait": round(self.p_wait, 4),
                "asa_seconds": round(self.asa_seconds, 2), "abandon_rate": round(self.abandon_rate, 4)}


@dataclass
class SimResult:
    queues: dict[str, QueueKpi]
    total: QueueKpi
    occupancy: float
    sim_seconds: float
    events: int
    wall_seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.wall_seconds if self.wall_seconds else 0.0


@dataclass
class _Traffic:
    queue: str
    rate: float
    draw_handle: Callable[[], float]
    draw_patience: Callable[[], float]
    priority: int = 0
    required: str | None = None
    wrap: float = 0.0
    # exponential draws are inlined in the event loop (same formula as rng.expovariate, so the
    # same numbers): rate of the distribution, or 0.0 to call draw_handle/draw_patience
    handle_rate: float = 0.0
    patience_rate: float = 0.0
    kpi: "QueueKpi | None" = None  # this queue's counters, set by run()


def _exp_rate(kind: str, mean: float) -> float:
    """Rate for an exponential draw the event loop inlines; 0.0 for any other distribution."""
    return 1.0 / mean if kind == "exponential" and mean > 0 else 0.0


def _sampler(rng: random.Random, kind: str, mean: float, cv: float) -> Callable[[], float]:
    if mean <= 0 or kind == "none":
        return lambda: math.inf
    if kind == "constant":
        return lambda: mean
    if kind == "lognormal":
        s2 = math.log(1.0 + cv * cv)
        mu, sigma = math.log(mean) - s2 / 2, math.sqrt(s2)
        return lambda: rng.lognormvariate(mu, sigma)
    if kind == "exponential":
        rate = 1.0 / mean
        return lambda: rng.expovariate(rate)
    raise ValueError(f"unknown distribution {kind!r}")


class _CallRec:
    __slots__ = ("traffic", "arrival", "kpi", "answered", "done")

    def __init__(self, traffic: _Traffic, arrival: float, kpi: QueueKpi | None) -> None:
        self.traffic, self.arrival = traffic, arrival
        self.kpi = kpi  # None: arrived during warm-up, not counted
        self.answered = self.done = False


@dataclass
class Simulator:
    scenario: dict[str, Any]
    progress: Callable[[int, int], None] | None = None
    # A wall clock (e.g. time.perf_counter) only to report the simulator's own speed
    # (SimResult.events_per_s); the simulation itself runs on its simulated clock.
    clock: Callable[[], float] | None = None
    acd: Acd = field(init=False)

    def __post_init__(self) -> None:
        sc = self.scenario
        self.config = AcdConfig.from_dict({k: sc[k] for k in ("agents", "queues", "priority_step_seconds")
                                           if k in sc})
        self.acd = Acd(self.config, trace=bool(sc.get("trace", False)))
        self.rng = random.Random(sc.get("seed", 1))
        specs = {q.name: q for q in self.config.queues}
        self.traffic: list[_Traffic] = []
        for qname, t in (sc.get("traffic") or {}).items():
            aht = float(t.get("aht_seconds", specs[qname].aht_seconds))
            handle_kind = t.get("handle", "exponential")
            patience_kind, patience = t.get("patience", "exponential"), float(t.get("patience_seconds", 0))
            self.traffic.append(_Traffic(
                qname, float(t["calls_per_hour"]) / 3600.0,
                _sampler(self.rng, handle_kind, aht, float(t.get("handle_cv", 1.0))),
                _sampler(self.rng, patience_kind, patience, float(t.get("patience_cv", 1.0))),
                int(t.get("priority", 0)), t.get("required"), specs[qname].wrapup_seconds,
                _exp_rate(handle_kind, aht), _exp_rate(patience_kind, patience)))

    @classmethod
    def from_yaml(cls, path: str | Path, **kw: Any) -> "Simulator":
        import yaml

        return cls(yaml.safe_load(Path(path).read_text(encoding="utf-8")), **kw)

    def run(self) -> SimResult:
        sc, acd, rng = self.scenario, self.acd, self.rng
        max_calls = int(sc.get("calls", 0)) or None
        horizon = float(sc.get("duration_seconds", 0)) or math.inf
        if max_calls is None and math.isinf(horizon):
            raise ValueError("scenario needs calls or duration_seconds")
        warmup = float(sc.get("warmup_seconds", 0))
        accept_cb = float(sc.get("callback_accept", 0.0))
        specs = {q.name: q for q in self.config.queues}
        kpis = {q: QueueKpi(sl_seconds=specs[q].service_level_seconds) for q in specs}
        heap: list[tuple[float, int, int, Any]] = []
        seq = 0
        for tr in self.traffic:
            tr.kpi = kpis[tr.queue]
            seq += 1
            heap.append((rng.expovariate(tr.rate), seq, _ARRIVE, tr))
        heapq.heapify(heap)
        recs: dict[str, _CallRec] = {}
        # hot loop: everything it calls is bound to a local once; the three hot events go through
        # the core's entry points that skip building event objects (same handlers as handle())
        handle, next_deadline = acd.handle, acd.next_deadline
        arrived, answered, ended = acd.call_arrived, acd.offer_answered, acd.call_ended
        timers = acd._timers  # peeked only (same package): see the loop head
        push, pop, replace = heapq.heappush, heapq.heappop, heapq.heapreplace
        log, rand, inf = math.log, rng.random, math.inf
        OfferCall, StartCallback, Diverted = A.OfferCall, A.StartCallback, A.Diverted
        limit = inf if max_calls is None else max_calls
        skipped_until = 0.0  # latest patience deadline not pushed (see the arrival branch)
        events = 0
        generated = 0
        busy_time = 0.0
        now = 0.0
        wall = self.clock() if self.clock else 0.0
        for spec in self.config.agents:
            handle(E.AgentLoggedIn(spec.name), 0.0)
        tick = E.Tick()
        progress = self.progress
        report_every = max(1, (max_calls or 10_000) // 100)

        def answer(act: A.OfferCall | A.StartCallback, now: float) -> list:
            """The agent answers at once; returns the core's actions (usually none)."""
            nonlocal seq, events, busy_time
            cid = act.call_id
            rec = recs[cid]
            if rec.answered:
                return []  # ring-all: another agent already answered
            rec.answered = True
            events += 1
            more = answered(cid, act.agent, now)
            tr = rec.traffic
            rate = tr.handle_rate  # same draw as rng.expovariate(rate), inlined
            talk = -log(1.0 - rand()) / rate if rate else tr.draw_handle()
            busy_time += talk + tr.wrap
            seq += 1
            push(heap, (now + talk, seq, _END, cid))
            k = rec.kpi
            if k is not None:
                w = now - rec.arrival
                k.answered += 1
                k.wait_sum += w
                k.talk_sum += talk
                if w > 1e-9:
                    k.waited += 1
                if w <= k.sl_seconds:
                    k.answered_in_sl += 1
            return more

        def apply(actions: list, now: float) -> None:
            """Play the agents' and callers' side of the actions, in order; an answer's own
            actions come before the remaining ones (depth first, as a real engine would)."""
            nonlocal events
            if len(actions) == 1 and type(actions[0]) is OfferCall:  # the usual output
                more = answer(actions[0], now)
                if not more:
                    return
                actions = more
            actions.reverse()  # the core's fresh list: used as the stack in place
            stack = actions
            while stack:
                act = stack.pop()
                cls = type(act)
                if cls is OfferCall or cls is StartCallback:
                    more = answer(act, now)
                    if more:
                        more.reverse()
                        stack.extend(more)
                elif cls is Diverted:
                    rec = recs[act.call_id]
                    rec.done = True
                    if rec.kpi is not None:
                        rec.kpi.diverted += 1
                elif cls is A.OfferCallbackChoice:
                    if accept_cb and rng.random() < accept_cb:
                        rec = recs[act.call_id]
                        if rec.kpi is not None:
                            rec.kpi.callbacks += 1
                        rec.done = True  # the caller hung up: no abandonment any more
                        events += 1
                        more = handle(E.CallbackRequested(act.call_id, "0"), now)
                        more.reverse()
                        stack.extend(more)

        while True:
            # Next: the earliest simulated event, or the core's deadline when it comes first (a
            # tie goes to the core). The timer heap's raw top is never later than the valid
            # deadline, so when it is later than the next event, next_deadline() (which drops
            # stale entries) is skipped: the same order, without validating on every event.
            if not heap or (timers and timers[0][0] <= heap[0][0]):
                deadline = next_deadline()
                if deadline is not None and (not heap or deadline <= heap[0][0]):
                    now = deadline
                    events += 1
                    out = handle(tick, now)
                    if out:
                        apply(out, now)
                    continue
                if not heap:
                    break
            now, _, kind, data = heap[0]  # taken off below (an arrival is replaced in place)
            if kind == _ARRIVE:
                if generated >= limit or now > horizon:
                    pop(heap)
                    continue  # no more arrivals from this source (not an event)
                events += 1
                generated += 1
                tr = data
                cid = f"c{generated}"
                kpi = tr.kpi if now >= warmup else None
                recs[cid] = rec = _CallRec(tr, now, kpi)
                if kpi is not None:
                    kpi.offered += 1
                seq += 1
                # the source's next arrival takes this one's place: one sift instead of two
                replace(heap, (now + -log(1.0 - rand()) / tr.rate, seq, _ARRIVE, tr))  # expovariate
                rate = tr.patience_rate
                patience = -log(1.0 - rand()) / rate if rate else tr.draw_patience()
                abandon_seq = 0
                if patience != inf:
                    seq += 1
                    abandon_seq = seq  # its place in the event order, taken now
                out = arrived(cid, tr.queue, now, tr.priority, tr.required)
                if out:
                    apply(out, now)
                if abandon_seq:
                    if rec.answered or rec.done:
                        # answered at once (most calls): the abandonment would be popped and
                        # ignored; only the clock it would have advanced is kept (sim_seconds)
                        if now + patience > skipped_until:
                            skipped_until = now + patience
                    else:
                        push(heap, (now + patience, abandon_seq, _ABANDON, cid))
                if progress is not None and generated % report_every == 0:
                    progress(generated, max_calls or 0)
            elif kind == _END:
                pop(heap)
                events += 1
                del recs[data]
                out = ended(data, now)
                if out:
                    apply(out, now)
            else:
                pop(heap)
                rec = recs.get(data)
                if rec is None or rec.answered or rec.done:
                    continue  # answered, diverted or called back before running out of patience
                events += 1
                rec.done = True
                if rec.kpi is not None:
                    rec.kpi.abandoned += 1
                out = handle(E.CallAbandoned(data), now)
                if out:
                    apply(out, now)
        wall = self.clock() - wall if self.clock else 0.0
        now = max(now, skipped_until)
        total = QueueKpi()
        for k in kpis.values():
            for f in ("offered", "answered", "answered_in_sl", "waited", "abandoned", "diverted",
                      "callbacks", "wait_sum", "talk_sum"):
                setattr(total, f, getattr(total, f) + getattr(k, f))
        n_agents = max(1, len(self.config.agents))
        occupancy = busy_time / (n_agents * now) if now else 0.0
        return SimResult(kpis, total, occupancy, now, events, wall)


def simulate(scenario: dict[str, Any], progress: Callable[[int, int], None] | None = None,
             clock: Callable[[], float] | None = None) -> SimResult:
    return Simulator(scenario, progress, clock).run()
