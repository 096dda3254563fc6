"""What-if replay: the CRM's recorded calls as arrivals for the real ACD (`acd/replay.py`
runs them under a given configuration).

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

import math
import random
from collections import Counter
from datetime import datetime, timedelta

from acd.config import AcdConfig
from acd.replay import AgentChange, RecordedCall, ReplayResult, replay, total_of  # noqa: F401
from acd.simulate import QueueKpi
from ivr.crm.records import AgentEvent, CallRecord

QUEUED = {"answered", "abandoned", "callback", "overflowed", "voicemail", "failed", "transferred"}


class ReplayError(ValueError):
    """The history cannot be replayed as asked (the message says why and what to do)."""


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
