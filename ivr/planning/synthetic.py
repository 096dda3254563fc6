"""A synthetic recorded history (pure, seeded): calls with a weekly and an intraday pattern,
served by the real ACD with phones that ring a few seconds, written as CRM call records.
The tests and bench/planning.py check the forecast and the replay against it."""
from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta, timezone

from acd.config import AcdConfig
from ivr.crm.records import CallRecord

from .profiles import TYPICAL_HOURLY
from .replay import RecordedCall, replay

WEEKDAY_FACTOR = (1.15, 1.05, 1.0, 1.0, 0.95, 0.45, 0.0)   # Monday busiest, Sunday closed


def arrivals(first: date, days: int, per_day: dict[str, float], seed: int,
             holidays: frozenset[date] = frozenset(), open_hours: tuple[int, int] = (8, 20),
             growth_per_week: float = 0.0) -> list[tuple[str, datetime]]:
    """(queue, UTC time) of each call: Poisson per hour around a hotline's intraday shape."""
    rng = random.Random(seed)
    hours = range(*open_hours)
    shape_total = sum(TYPICAL_HOURLY[h] for h in hours)
    out = []
    for i in range(days):
        d = first + timedelta(days=i)
        if d in holidays:
            continue
        trend = 1.0 + growth_per_week * i / 7
        for queue, volume in per_day.items():
            day_calls = volume * WEEKDAY_FACTOR[d.weekday()] * trend
            for h in hours:
                rate = day_calls * TYPICAL_HOURLY[h] / shape_total     # calls in this hour
                t = rng.expovariate(rate) if rate > 0 else math.inf
                while t < 1.0:
                    at = datetime(d.year, d.month, d.day, h, tzinfo=timezone.utc) + timedelta(hours=t)
                    out.append((queue, at))
                    t += rng.expovariate(rate)
    out.sort(key=lambda x: x[1])
    return out


def recorded_history(config: AcdConfig, calls: list[tuple[str, datetime]], seed: int,
                     patience_seconds: float = 120.0, ring: tuple[float, float] = (2.0, 6.0),
                     ivr_seconds: float = 20.0) -> list[CallRecord]:
    """Serve the calls with the real ACD (every agent logged in, phones ringing `ring` seconds,
    exponential handle times at each queue's aht and patience) and record what happened."""
    if not calls:
        return []
    rng = random.Random(seed)
    start = calls[0][1]
    aht = {q.name: q.aht_seconds for q in config.queues}
    planned = []
    rings = {}
    for n, (queue, at) in enumerate(calls):
        cid = f"s{n}"
        planned.append(RecordedCall(cid, (at - start).total_seconds(), queue, 0,
                                    rng.expovariate(1.0 / aht[queue]),
                                    rng.expovariate(1.0 / patience_seconds), "", 0.0))
        rings[cid] = rng.uniform(*ring)
    outcomes: dict[str, tuple[str, float, str]] = {}
    replay(planned, [], config, (calls[-1][1] - start).total_seconds(), rings, outcomes)
    records = []
    for c in planned:
        disposition, wait, agent = outcomes.get(c.call_id, ("failed", 0.0, ""))
        entry = start + timedelta(seconds=c.arrival)
        talk = c.handle_seconds if disposition == "answered" else None
        records.append(CallRecord(
            call_id=c.call_id, caller="+33100000000", dialed="100",
            started_at=entry - timedelta(seconds=ivr_seconds),
            ended_at=entry + timedelta(seconds=wait + (talk or 0.0)), queue=c.queue, priority=0,
            wait_seconds=round(wait, 3), talk_seconds=None if talk is None else round(talk, 3),
            agent=agent or None, disposition=disposition, route="dtmf"))
    return records
