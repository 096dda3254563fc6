"""Reads the CRM for planning (the adapter): calls and agent sessions of a window, and the
calls counted per queue, local day and interval for forecasts and learned profiles."""
from __future__ import annotations

import asyncio
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ivr.crm.records import AgentEvent, CallRecord
from ivr.crm import codec
from ivr.crm.store import open_store

from .replay import QUEUED, queue_entry


# Only what planning reads, for the queued calls: a month is read in a fraction of the time
# full records take (no JSON path or trace to decode). Portable SQL; timestamps are the store's
# fixed-width UTC text, so they compare as text and parse with fromisoformat.
_COLUMNS = ("call_id", "started_at", "ended_at", "queue", "priority", "wait_seconds",
            "talk_seconds", "disposition")
_QUEUED_SQL = (f"SELECT {', '.join(_COLUMNS)} FROM calls WHERE queue IS NOT NULL"
               " AND started_at >= ? AND started_at < ? ORDER BY started_at, call_id")
_EVER = ("0000-01-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z")


def read_window(url: str, since: datetime | None, until: datetime | None,
                agents: bool = True) -> tuple[list[CallRecord], list[AgentEvent]]:
    """The queued calls started in [since, until) and the agents' sessions of that window."""
    async def work() -> tuple[list[CallRecord], list[AgentEvent]]:
        store = await open_store(url)
        try:
            low = codec.ts(since) if since else _EVER[0]
            high = codec.ts(until) if until else _EVER[1]
            rows = await store.backend.fetchall(_QUEUED_SQL, [low, high])
            calls = [_record(row) for row in rows]
            events = await store.agent_events(since, until) if agents else []
            return calls, events
        finally:
            await store.close()
    return asyncio.run(work())


def _record(row: tuple) -> CallRecord:
    cid, started, ended, queue, priority, wait, talk, disposition = row
    return CallRecord(call_id=cid, started_at=_when(started), ended_at=_when(ended), queue=queue,
                      priority=priority, wait_seconds=None if wait is None else float(wait),
                      talk_seconds=None if talk is None else float(talk), disposition=disposition)


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def local_slots(records: list[CallRecord], tz: ZoneInfo, interval_minutes: int,
                queued_only: bool = True) -> list[tuple[str, date, int]]:
    """(queue, local date, interval of the day) of each call's queue entry."""
    out = []
    for r in records:
        if queued_only and not (r.queue and r.disposition in QUEUED):
            continue
        at = queue_entry(r)
        if at is None:
            continue
        local = at.astimezone(tz)
        out.append((r.queue or "-", local.date(), (local.hour * 60 + local.minute) // interval_minutes))
    return out
