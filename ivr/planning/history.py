"""Reads the CRM for planning (the adapter): calls and agent sessions of a window, and the
calls counted per queue, local day and interval for forecasts and learned profiles."""
from __future__ import annotations

import asyncio
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ivr.crm.records import AgentEvent, CallRecord
from ivr.crm.store import open_store

from .replay import QUEUED, queue_entry


def read_window(url: str, since: datetime | None, until: datetime | None,
                agents: bool = True) -> tuple[list[CallRecord], list[AgentEvent]]:
    async def work() -> tuple[list[CallRecord], list[AgentEvent]]:
        store = await open_store(url)
        try:
            calls = await store.list_calls(since, until)
            events = await store.agent_events(since, until) if agents else []
            return calls, events
        finally:
            await store.close()
    return asyncio.run(work())


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
