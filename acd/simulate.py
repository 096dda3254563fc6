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
import time
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
    __slots__ = ("traffic", "queue", "arrival", "kpi_on", "answered", "done")

    def __init__(self, traffic: _Traffic, arrival: float, kpi_on: bool) -> None:
        self.traffic, self.queue, self.arrival, self.kpi_on = traffic, traffic.queue, arrival, kpi_on
        self.answered = self.done = False


@dataclass
class Simulator:
    scenario: dict[str, Any]
    progress: Callable[[int, int], None] | None = None
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
            self.traffic.append(_Traffic(
                qname, float(t["calls_per_hour"]) / 3600.0,
                _sampler(self.rng, t.get("handle", "exponential"), aht, float(t.get("handle_cv", 1.0))),
                _sampler(self.rng, t.get("patience", "exponential"), float(t.get("patience_seconds", 0)),
                         float(t.get("patience_cv", 1.0))),
                int(t.get("priority", 0)), t.get("required"), specs[qname].wrapup_seconds))

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
            seq += 1
            heap.append((rng.expovariate(tr.rate), seq, _ARRIVE, tr))
        heapq.heapify(heap)
        recs: dict[str, _CallRec] = {}
        handle = acd.handle
        push, pop = heapq.heappush, heapq.heappop
        events = 0
        generated = 0
        busy_time = 0.0
        now = 0.0
        wall = time.perf_counter()
        for spec in self.config.agents:
            handle(E.AgentLoggedIn(spec.name), 0.0)
        tick = E.Tick()
        report_every = max(1, (max_calls or 10_000) // 100)

        def apply(actions: list, now: float) -> None:
            nonlocal seq, events, busy_time
            stack = actions[::-1]
            while stack:
                act = stack.pop()
                cls = type(act)
                if cls is A.OfferCall or cls is A.StartCallback:
                    rec = recs[act.call_id]
                    if rec.answered:
                        continue  # ring-all: another agent already answered
                    rec.answered = True
                    events += 1
                    more = handle(E.OfferAnswered(act.call_id, act.agent), now)
                    tr = rec.traffic
                    talk = tr.draw_handle()
                    busy_time += talk + tr.wrap
                    seq += 1
                    push(heap, (now + talk, seq, _END, act.call_id))
                    if rec.kpi_on:
                        k = kpis[rec.queue]
                        w = now - rec.arrival
                        k.answered += 1
                        k.wait_sum += w
                        k.talk_sum += talk
                        if w > 1e-9:
                            k.waited += 1
                        if w <= k.sl_seconds:
                            k.answered_in_sl += 1
                    if more:
                        stack.extend(reversed(more))
                elif cls is A.Diverted:
                    rec = recs[act.call_id]
                    rec.done = True
                    if rec.kpi_on:
                        kpis[rec.queue].diverted += 1
                elif cls is A.OfferCallbackChoice:
                    if accept_cb and rng.random() < accept_cb:
                        rec = recs[act.call_id]
                        if rec.kpi_on:
                            kpis[rec.queue].callbacks += 1
                        rec.done = True  # the caller hung up: no abandonment any more
                        events += 1
                        stack.extend(reversed(handle(E.CallbackRequested(act.call_id, "0"), now)))

        while True:
            deadline = acd.next_deadline()
            if heap and (deadline is None or heap[0][0] < deadline):
                now, _, kind, data = pop(heap)
            elif deadline is not None:
                now = deadline
                events += 1
                apply(handle(tick, now), now)
                continue
            else:
                break
            events += 1
            if kind == _ARRIVE:
                tr = data
                if (max_calls is not None and generated >= max_calls) or now > horizon:
                    events -= 1
                    continue
                generated += 1
                cid = f"c{generated}"
                rec = _CallRec(tr, now, now >= warmup)
                recs[cid] = rec
                if rec.kpi_on:
                    kpis[tr.queue].offered += 1
                seq += 1
                push(heap, (now + rng.expovariate(tr.rate), seq, _ARRIVE, tr))
                patience = tr.draw_patience()
                if patience != math.inf:
                    seq += 1
                    push(heap, (now + patience, seq, _ABANDON, cid))
                out = handle(E.CallArrived(cid, tr.queue, tr.priority, "", tr.required), now)
                if out:
                    apply(out, now)
                if self.progress is not None and generated % report_every == 0:
                    self.progress(generated, max_calls or 0)
            elif kind == _END:
                del recs[data]
                out = handle(E.CallEnded(data), now)
                if out:
                    apply(out, now)
            else:
                rec = recs.get(data)
                if rec is None or rec.answered or rec.done:
                    events -= 1
                    continue
                rec.done = True
                if rec.kpi_on:
                    kpis[rec.queue].abandoned += 1
                apply(handle(E.CallAbandoned(data), now), now)
        wall = time.perf_counter() - wall
        total = QueueKpi()
        for k in kpis.values():
            for f in ("offered", "answered", "answered_in_sl", "waited", "abandoned", "diverted",
                      "callbacks", "wait_sum", "talk_sum"):
                setattr(total, f, getattr(total, f) + getattr(k, f))
        n_agents = max(1, len(self.config.agents))
        occupancy = busy_time / (n_agents * now) if now else 0.0
        return SimResult(kpis, total, occupancy, now, events, wall)


def simulate(scenario: dict[str, Any], progress: Callable[[int, int], None] | None = None) -> SimResult:
    return Simulator(scenario, progress).run()
