"""A day of dialling, simulated, with the real pacer: what bench/outbound.py measures.

The world: each call rings; a person answers with probability `answer_rate` after a
time to answer drawn around `ring_mean`; busy and failed calls end within seconds; the
others ring until the campaign's ring timeout. Talk times are exponential around `aht`;
agents then wrap up. The list is long enough never to run dry (a day's list).
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from . import pacer as P


@dataclass(frozen=True)
class World:
    agents: int = 20
    answer_rate: float = 0.30
    busy_rate: float = 0.10
    failed_rate: float = 0.05
    aht: float = 180.0
    wrapup: float = 0.0
    ring_mean: float = 20.0       # time to answer of the calls that are answered
    answer_spread: tuple[float, float] = (0.2, 1.8)   # × ring_mean, uniform
    busy_after: tuple[float, float] = (1.0, 4.0)      # seconds of ringing before busy, uniform
    ring_timeout: float = 25.0    # the campaign's ring time for unanswered calls (≥ 15 s)
    setup: float = 2.0            # originate → ringing
    day: float = 8 * 3600.0


@dataclass(frozen=True)
class DayResult:
    placed: int
    answered: int
    abandoned: int
    talk_seconds: float
    agent_seconds: float
    max_rolling_rate: float

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0

    @property
    def talk_occupancy(self) -> float:
        return self.talk_seconds / self.agent_seconds


def simulate_day(mode: P.Mode, world: World, seed: int, *,
                 settings: P.PacerSettings | None = None) -> DayResult:
    """One day; `settings` default: the pacer's own defaults, 200 channels (no trunk limit)."""
    rng = random.Random(seed)
    pacer = P.Pacer(settings or P.PacerSettings(mode=mode, channels=200))
    queue: list[tuple[float, int, P.Event]] = []
    seq = 0
    placed = answered = abandoned = 0
    talk = 0.0
    max_rate = 0.0

    def at(when: float, event: P.Event) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(queue, (when, seq, event))

    def apply(actions: list[P.Action], now: float) -> None:
        nonlocal placed, answered, abandoned, talk
        for action in actions:
            match action:
                case P.Dial(call_id):
                    placed += 1
                    draw = rng.random()
                    if draw < world.answer_rate:
                        at(now + world.setup + rng.uniform(*world.answer_spread) * world.ring_mean,
                           P.Answered(call_id))
                    elif draw < world.answer_rate + world.busy_rate:
                        at(now + world.setup + rng.uniform(*world.busy_after), P.NotAnswered(call_id, "busy"))
                    elif draw < world.answer_rate + world.busy_rate + world.failed_rate:
                        at(now + world.setup, P.NotAnswered(call_id, "failed"))
                    else:
                        at(now + world.setup + world.ring_timeout, P.NotAnswered(call_id, "no_answer"))
                case P.Connect(call_id, agent):
                    answered += 1
                    length = rng.expovariate(1 / world.aht)
                    talk += min(length, world.day - now)
                    at(now + length, P.Ended(call_id))
                    at(now + length + world.wrapup, P.AgentReady(agent))
                case P.Abandon():
                    answered += 1
                    abandoned += 1

    for i in range(world.agents):
        apply(pacer.handle(P.AgentReady(f"a{i}"), 0.0), 0.0)
    while queue:
        now, _, event = heapq.heappop(queue)
        if now >= world.day:
            break
        before = pacer.next_deadline()
        apply(pacer.handle(event, now), now)
        deadline = pacer.next_deadline()
        if deadline is not None and deadline != before:
            at(deadline, P.Tick())
        max_rate = max(max_rate, pacer.rolling_abandon_rate(now) if answered >= 100 else 0.0)
    return DayResult(placed, answered, abandoned, talk, world.agents * world.day, max_rate)


def idle_ringing_per_connect(world: World) -> float:
    """Progressive mode: an agent waits while its one call at a time rings; the expected
    seconds of dialling until a person answers (Wald: mean attempt length / answer rate)."""
    no_answer = 1 - world.answer_rate - world.busy_rate - world.failed_rate
    attempt = world.setup + (world.answer_rate * sum(world.answer_spread) / 2 * world.ring_mean
                             + world.busy_rate * sum(world.busy_after) / 2
                             + no_answer * world.ring_timeout)
    return attempt / world.answer_rate


def occupancy_ceilings(world: World) -> tuple[float, float]:
    """(progressive, predictive) talk occupancy at best: talk / (talk + wrap-up + the idle
    ringing per connect) when one call per free agent, talk / (talk + wrap-up) when calls are
    placed ahead so that no agent ever waits for an answer."""
    talk, wrap = world.aht, world.wrapup
    return talk / (talk + wrap + idle_ringing_per_connect(world)), talk / (talk + wrap)


def predictive_gain_ceiling(world: World) -> float:
    """The most predictive_gain can be in this world: the ratio of the two ceilings."""
    progressive, predictive = occupancy_ceilings(world)
    return predictive / progressive
