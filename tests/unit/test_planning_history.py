"""The planning read of the CRM (ivr/planning/history.py) on SQLite and on a real PostgreSQL:
the queued calls of a window, the agents' sessions, and the same replay from both."""
from __future__ import annotations

import asyncio
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import crm_url  # noqa: E402,F401  (fixture)

from acd.config import AcdConfig  # noqa: E402
from ivr.crm.records import CallRecord  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402
from ivr.planning.history import read_window  # noqa: E402
from ivr.planning.replay import agent_changes, recorded_calls, replay  # noqa: E402
from ivr.planning.synthetic import arrivals, recorded_history  # noqa: E402

CONFIG = AcdConfig.from_dict({"queues": {"orders": {"requirement": "orders", "aht_seconds": 240}},
                              "agents": {f"o{i}": {"skills": {"orders": 3}} for i in range(3)}})
DAY = date(2026, 10, 6)


def test_the_window_read_gives_queued_calls_and_sessions_on_both_backends(crm_url: str) -> None:
    records = recorded_history(CONFIG, arrivals(DAY, 2, {"orders": 150.0}, seed=2), seed=2)
    self_service = CallRecord(call_id="menu-only", started_at=records[0].started_at,
                              ended_at=records[0].started_at + timedelta(seconds=40),
                              disposition="self_service")
    start = datetime(2026, 10, 6, tzinfo=timezone.utc)

    async def fill() -> None:
        store = await open_store(crm_url)
        for r in [*records, self_service]:
            store.save_call(r)
        store.add_agent_event("o0", start - timedelta(hours=1), "login")
        store.add_agent_event("o0", start + timedelta(hours=12), "pause", "lunch")
        store.add_agent_event("o0", start + timedelta(hours=13), "ready")
        await store.close()
    asyncio.run(fill())

    until = start + timedelta(days=1)
    calls, events = read_window(crm_url, start, until)
    first_day = [r for r in records if r.started_at < until]
    assert sorted(c.call_id for c in calls) == sorted(r.call_id for r in first_day)
    by_id = {r.call_id: r for r in first_day}
    for c in calls:           # what the replay needs comes back as written
        r = by_id[c.call_id]
        assert (c.queue, c.disposition, c.wait_seconds, c.talk_seconds) == \
               (r.queue, r.disposition, r.wait_seconds, r.talk_seconds)
        assert abs((c.ended_at - r.ended_at).total_seconds()) < 1e-3
    assert [(e.agent, e.state) for e in events] == [("o0", "login"), ("o0", "pause"), ("o0", "ready")]
    changes = agent_changes(events, start)
    assert changes[0].at == 0.0          # logged in before the window: in from its start
    result = replay(recorded_calls(calls, start, CONFIG), changes, CONFIG, 86400.0)
    assert result.calls == len(first_day) and result.agents_without_history == ["o1", "o2"]
