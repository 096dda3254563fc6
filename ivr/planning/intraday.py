"""Staffing per interval: Erlang C (or A with patience) on each interval's calls, then the
peak, the agent-hours and the seats once shrinkage (breaks, training, absence) is added."""
from __future__ import annotations

import math
from dataclasses import dataclass

from acd.erlang import ErlangResult, agents_for_service_level


@dataclass(frozen=True)
class Target:
    aht_seconds: float
    answer_seconds: float          # "answered within" of the service level
    service_level: float           # e.g. 0.8
    patience_seconds: float | None = None   # Erlang A when given
    shrinkage: float = 0.0         # share of paid time off the phones (0.3 = 30 %)
    max_occupancy: float | None = None


@dataclass(frozen=True)
class IntervalStaff:
    label: str
    calls: float
    agents: int
    erlangs: float
    service_level: float
    asa_seconds: float
    occupancy: float
    p_abandon: float

    def as_dict(self) -> dict[str, object]:
        return {"interval": self.label, "calls": round(self.calls, 2), "agents": self.agents,
                "erlangs": round(self.erlangs, 3), "service_level": round(self.service_level, 4),
                "asa_seconds": round(self.asa_seconds, 1), "occupancy": round(self.occupancy, 4),
                "p_abandon": round(self.p_abandon, 4)}


@dataclass(frozen=True)
class DayPlan:
    intervals: list[IntervalStaff]
    interval_minutes: int
    target: Target

    @property
    def calls(self) -> float:
        return sum(i.calls for i in self.intervals)

    @property
    def peak_agents(self) -> int:
        return max((i.agents for i in self.intervals), default=0)

    @property
    def peak_interval(self) -> str:
        return max(self.intervals, key=lambda i: i.agents).label if self.intervals else "-"

    @property
    def agent_hours(self) -> float:
        return sum(i.agents for i in self.intervals) * self.interval_minutes / 60

    @property
    def paid_hours(self) -> float:
        """Agent-hours on the phones grossed up by shrinkage: the hours to schedule."""
        return self.agent_hours / (1 - self.target.shrinkage)

    @property
    def seats(self) -> int:
        """People to staff the peak once shrinkage takes its share (rounded up)."""
        return math.ceil(self.peak_agents / (1 - self.target.shrinkage) - 1e-9)

    @property
    def service_level(self) -> float:
        """The day's service level: intervals weighted by their calls."""
        calls = self.calls
        return sum(i.service_level * i.calls for i in self.intervals) / calls if calls else 1.0

    def summary(self) -> dict[str, object]:
        return {"calls": round(self.calls, 1), "peak_agents": self.peak_agents,
                "peak_interval": self.peak_interval, "agent_hours": round(self.agent_hours, 2),
                "shrinkage": self.target.shrinkage, "paid_hours": round(self.paid_hours, 2),
                "seats": self.seats, "service_level": round(self.service_level, 4),
                "model": "Erlang A" if self.target.patience_seconds else "Erlang C"}


def spread(calls_per_day: float, profile: list[float]) -> list[float]:
    return [calls_per_day * share for share in profile]


def staff_intervals(calls: list[float], labels: list[str], interval_minutes: int,
                    target: Target) -> DayPlan:
    """Agents needed in each interval; an interval with no calls needs none."""
    if not 0 <= target.shrinkage < 1:
        raise ValueError(f"shrinkage {target.shrinkage:g} must be between 0 and 1 (e.g. 0.3 for 30 %)")
    if not 0 < target.service_level < 1:
        raise ValueError(f"service level {target.service_level:g} must be between 0 and 1 (e.g. 0.8)")
    if target.aht_seconds <= 0:
        raise ValueError("the handle time must be positive")
    period = interval_minutes * 60.0
    memo: dict[float, ErlangResult] = {}    # a flat day repeats the same volumes
    rows = []
    for label, n in zip(labels, calls, strict=True):
        if n < 0:
            raise ValueError(f"interval {label}: negative calls ({n:g})")
        if n == 0:
            rows.append(IntervalStaff(label, 0.0, 0, 0.0, 1.0, 0.0, 0.0, 0.0))
            continue
        key = round(n, 6)
        r = memo.get(key)
        if r is None:
            r = memo[key] = agents_for_service_level(n, period, target.aht_seconds,
                                                     target.service_level, target.answer_seconds,
                                                     target.patience_seconds, target.max_occupancy)
        rows.append(IntervalStaff(label, n, r.agents, r.traffic_erlangs, r.service_level,
                                  r.asa_seconds, r.occupancy, r.p_abandon))
    return DayPlan(rows, interval_minutes, target)
