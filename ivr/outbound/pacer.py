"""The pacer: how many calls to place now. Events and `now` in, actions out (like acd/core.py).

agentless    as many calls as the trunk channels allow (the IVR takes every answer)
progressive  one call per free agent, never more: no call is ever abandoned
predictive   more calls than free agents, from the measured answer rate, time to answer
             and handle time: it places the largest number of calls for which the expected
             share of answered calls finding no agent stays under a target. The target is
             `aim` × the legal limit, shrinks linearly to zero as the rolling 30-day abandon
             rate climbs from `slow_from` to the limit, and at zero predictive becomes
             progressive: the pacer slows BEFORE the limit, never after.

The expectation: answers A ~ Binomial(calls in flight, p); agents able to take them
K = free agents + Binomial(talking agents, q), q = P(a call ends within the time to
answer) = 1 - exp(-time_to_answer / handle_time); abandons ≈ E[max(0, A - K)], from the
normal approximation of A - K (closed form, cheap enough to run on every event).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from .campaign import Mode

DAY = 86_400.0


# ---- events ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AgentReady:          # logged in, or done with a call and its wrap-up
    agent: str


@dataclass(frozen=True, slots=True)
class AgentGone:           # logged out or paused
    agent: str


@dataclass(frozen=True, slots=True)
class Answered:            # a person answered (AMD said HUMAN)
    call_id: str


@dataclass(frozen=True, slots=True)
class NotAnswered:         # busy, no_answer, machine, failed, or no contact to dial
    call_id: str
    outcome: str


@dataclass(frozen=True, slots=True)
class Ended:               # a connected call hung up (the agent goes to wrap-up)
    call_id: str


@dataclass(frozen=True, slots=True)
class ConnectFailed:       # the agent of a Connect did not answer: the customer heard the
    call_id: str           # identification, an abandoned call as the CRM records it


@dataclass(frozen=True, slots=True)
class Paused:
    paused: bool


@dataclass(frozen=True, slots=True)
class Tick:                # nothing happened; timers may be due
    pass


Event = AgentReady | AgentGone | Answered | NotAnswered | Ended | ConnectFailed | Paused | Tick


# ---- actions --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Dial:                # place a call to the next contact the rules allow
    call_id: str


@dataclass(frozen=True, slots=True)
class Connect:             # bridge the answered call to the agent
    call_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class Abandon:             # no agent within the limit: play the identification, hang up
    call_id: str


@dataclass(frozen=True, slots=True)
class RunIvr:              # agentless: the campaign's dialplan takes the answered call
    call_id: str


Action = Dial | Connect | Abandon | RunIvr


@dataclass(frozen=True)
class PacerSettings:
    mode: Mode
    channels: int = 10
    abandon_limit: float = 0.03
    slow_from: float = 0.02
    aim: float = 0.75                # share of the limit the pacer aims at in what it places
    abandon_after: float = 2.0
    window_days: int = 30
    prior_answer_rate: float = 1.0   # as if every call were answered: safe until measured
    prior_weight: int = 20           # outcomes the prior counts for
    prior_handle_time: float = 180.0
    prior_time_to_answer: float = 20.0
    memory: int = 300                # recent outcomes and handle times measured


@dataclass
class _Measure:
    """A running mean of the last `size` samples, starting from a prior."""
    prior: float
    weight: int
    size: int
    samples: deque = field(default_factory=deque)
    total: float = 0.0

    def add(self, x: float) -> None:
        self.samples.append(x)
        self.total += x
        if len(self.samples) > self.size:
            self.total -= self.samples.popleft()

    @property
    def value(self) -> float:
        return (self.total + self.prior * self.weight) / (len(self.samples) + self.weight)


class _AnswerByAge:
    """P(a person answers | the call has rung `age` seconds unresolved), from the last
    `size` resolved calls (1-second bins), starting from a prior of `prior` answered."""

    BINS = 180

    def __init__(self, prior: float, weight: int, size: int) -> None:
        self.prior, self.weight, self.size = prior, weight, size
        self.samples: deque[tuple[int, bool]] = deque()
        self._table: list[float] | None = None

    def add(self, seconds: float, answered: bool) -> None:
        self.samples.append((min(self.BINS - 1, max(0, int(seconds))), answered))
        if len(self.samples) > self.size:
            self.samples.popleft()
        self._table = None

    def at(self, age: float) -> float:
        if self._table is None:
            answered = [0] * (self.BINS + 1)
            resolved = [0] * (self.BINS + 1)
            for b, yes in self.samples:
                resolved[b] += 1
                answered[b] += yes
            table, a, r = [0.0] * self.BINS, 0, 0
            for b in range(self.BINS - 1, -1, -1):   # calls still open at age b
                a, r = a + answered[b], r + resolved[b]
                table[b] = (a + self.prior * self.weight) / (r + self.weight)
            self._table = table
        return self._table[min(self.BINS - 1, max(0, int(age)))]


class Pacer:
    def __init__(self, settings: PacerSettings, *, history: list[tuple[float, bool]] = ()) -> None:
        """history: (time, abandoned) of the campaign's person-answered calls, for the rolling rate."""
        self.settings = settings
        s = settings
        self.answer_rate = _Measure(s.prior_answer_rate, s.prior_weight, s.memory)
        self.handle_time = _Measure(s.prior_handle_time, 5, s.memory)
        self.time_to_answer = _Measure(s.prior_time_to_answer, 5, s.memory)
        self.by_age = _AnswerByAge(s.prior_answer_rate, s.prior_weight, s.memory)
        self.free: dict[str, float] = {}          # agent → since
        self.talking: dict[str, tuple[str, float]] = {}   # agent → (call, since)
        self.dialling: dict[str, float] = {}      # call → placed at
        self.waiting: dict[str, float] = {}       # answered call → abandon deadline
        self.in_ivr: set[str] = set()
        self.connected: set[str] = set()          # bridged to an agent, not yet hung up
        self.connected_at: dict[str, float] = {}  # … and when its answer was counted
        self.answers: deque[tuple[float, bool]] = deque(sorted(history))
        self.abandoned = sum(a for _, a in self.answers)
        self.paused = False
        self._seq = 0

    # ---- the entry point ----------------------------------------------------------
    def handle(self, event: Event, now: float) -> list[Action]:
        out: list[Action] = []
        match event:
            case AgentReady(agent):
                self.free[agent] = now
                self._end_talk(agent, now)
            case AgentGone(agent):
                self.free.pop(agent, None)
                self._end_talk(agent, now)
            case Answered(call_id):
                self._answered(call_id, now, out)
            case NotAnswered(call_id, outcome):
                placed = self.dialling.pop(call_id, None)
                if placed is not None and outcome != "not_dialled":
                    self.answer_rate.add(0.0)
                    self.by_age.add(now - placed, False)
            case Ended(call_id):
                self.in_ivr.discard(call_id)
                # hung up before an agent was free and before the deadline: not abandoned by us
                self.waiting.pop(call_id, None)
                self.connected.discard(call_id)
                self.connected_at.pop(call_id, None)
            case ConnectFailed(call_id):
                self._connect_failed(call_id)
            case Paused(paused):
                self.paused = paused
        self._expire(now, out)
        self._match(now, out)
        self._dial(now, out)
        return out

    def next_deadline(self) -> float | None:
        return min(self.waiting.values(), default=None)

    # ---- what is measured ---------------------------------------------------------
    def rolling_abandon_rate(self, now: float) -> float:
        self._forget(now)
        return self.abandoned / len(self.answers) if self.answers else 0.0

    def target(self, now: float) -> float:
        """The share of answers the pacer accepts to abandon in what it places now."""
        s = self.settings
        rate = self.rolling_abandon_rate(now)
        if rate >= s.abandon_limit:
            return 0.0
        scale = 1.0 if rate <= s.slow_from else (s.abandon_limit - rate) / (s.abandon_limit - s.slow_from)
        return s.abandon_limit * s.aim * scale

    def snapshot(self, now: float) -> dict[str, float | int | bool]:
        return {"free_agents": len(self.free), "talking": len(self.talking),
                "dialling": len(self.dialling), "waiting": len(self.waiting),
                "in_ivr": len(self.in_ivr), "answer_rate": round(self.answer_rate.value, 4),
                "handle_time": round(self.handle_time.value, 1),
                "abandon_rate_30d": round(self.rolling_abandon_rate(now), 4),
                "paused": self.paused}

    # ---- inner workings -----------------------------------------------------------
    def _forget(self, now: float) -> None:
        horizon = now - self.settings.window_days * DAY
        while self.answers and self.answers[0][0] <= horizon:
            self.abandoned -= self.answers.popleft()[1]

    def _end_talk(self, agent: str, now: float) -> None:
        if agent in self.talking:
            _, since = self.talking.pop(agent)
            self.handle_time.add(now - since)

    def _answered(self, call_id: str, now: float, out: list[Action]) -> None:
        placed = self.dialling.pop(call_id, None)
        if placed is None:
            return
        self.answer_rate.add(1.0)
        self.time_to_answer.add(now - placed)
        self.by_age.add(now - placed, True)
        if self.settings.mode == "agentless":
            self.in_ivr.add(call_id)
            self.answers.append((now, False))
            out.append(RunIvr(call_id))
        else:
            self.waiting[call_id] = now + self.settings.abandon_after

    def _expire(self, now: float, out: list[Action]) -> None:
        for call_id, deadline in list(self.waiting.items()):
            if deadline <= now and not self.free:
                del self.waiting[call_id]
                self.answers.append((now, True))
                self.abandoned += 1
                out.append(Abandon(call_id))

    def _connect_failed(self, call_id: str) -> None:
        """The answer counted as served at its Connect is an abandon after all (the CRM's
        attempt ends `abandoned`): the live rate counts it the same way. The agent rang
        without talking: no handle time from it."""
        at = self.connected_at.pop(call_id, None)
        if at is None:
            return
        try:
            i = self.answers.index((at, False))
        except ValueError:       # forgotten already (outside the window)
            return
        self.answers[i] = (at, True)
        self.abandoned += 1
        for agent, (talking, _) in list(self.talking.items()):
            if talking == call_id:
                del self.talking[agent]

    def _match(self, now: float, out: list[Action]) -> None:
        """Answered calls, oldest first, to the agents free the longest."""
        for call_id in sorted(self.waiting, key=self.waiting.__getitem__):
            if not self.free:
                return
            agent = min(self.free, key=self.free.__getitem__)
            del self.free[agent]
            del self.waiting[call_id]
            self.talking[agent] = (call_id, now)
            self.connected.add(call_id)
            self.connected_at[call_id] = now
            self.answers.append((now, False))
            out.append(Connect(call_id, agent))

    def _dial(self, now: float, out: list[Action]) -> None:
        if self.paused or self.settings.mode == "preview":
            return
        busy = len(self.dialling) + len(self.waiting) + len(self.in_ivr) + len(self.connected)
        room = self.settings.channels - busy
        if self.settings.mode == "agentless":
            wanted = room
        elif self.settings.mode == "progressive":
            wanted = len(self.free) - len(self.dialling) - len(self.waiting)
        else:
            wanted = self._predictive(now)
        for _ in range(max(0, min(wanted, room))):
            self._seq += 1
            call_id = f"c{self._seq}"
            self.dialling[call_id] = now
            out.append(Dial(call_id))

    def _predictive(self, now: float) -> int:
        free = len(self.free) - len(self.waiting)
        progressive = free - len(self.dialling)
        target = self.target(now)
        if target <= 0 or not (self.free or self.talking):
            return progressive
        q = 1 - math.exp(-self.time_to_answer.value / max(1.0, self.handle_time.value))
        ps = [self.by_age.at(now - placed) for placed in self.dialling.values()]
        mean, var = sum(ps), sum(p * (1 - p) for p in ps)
        p0 = self.by_age.at(0)
        agents = Agents(free, len(self.talking), q)
        extra = 0
        while (len(ps) + extra < self.settings.channels and expected_abandon_share(
                mean + (extra + 1) * p0, var + (extra + 1) * p0 * (1 - p0), agents) <= target):
            extra += 1
        return max(extra, progressive)


@dataclass(frozen=True)
class Agents:
    free: int       # free now, answered calls waiting for one already taken off
    talking: int
    q: float        # the chance a talking agent is free by the time calls are answered


def expected_abandon_share(answers_mean: float, answers_var: float, agents: Agents) -> float:
    """E[max(0, A - K)] / E[A] for answers A (mean, variance: a Poisson-binomial) and agents
    K = free + Bin(talking, q), from the normal approximation of A - K."""
    if answers_mean <= 0:
        return 0.0
    # No continuity correction: for the small counts at stake it overshoots; without it,
    # Bin(2, .2) against one agent gives .042 (exactly .04), Bin(10, .3) against 3, .58 (.56).
    mean = answers_mean - agents.free - agents.talking * agents.q
    var = answers_var + agents.talking * agents.q * (1 - agents.q)
    if var <= 0:
        return max(0.0, mean) / answers_mean
    sd = math.sqrt(var)
    z = mean / sd
    shortfall = sd * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) + mean * 0.5 * math.erfc(-z / math.sqrt(2))
    return shortfall / answers_mean
