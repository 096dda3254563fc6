"""The engine's start-up work that reads the CRM, when the database is down at start: it
runs once the database answers, in start's order, and leaves the calls served meanwhile
alone. (Through Asterisk: tests/integration/test_faults_crm.py.)"""
from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import PgServer, pg_server  # noqa: E402

from ivr.config import load_settings  # noqa: E402
from ivr.crm.records import CallEvent, CallRecord  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402
from ivr.app.engine import Engine  # noqa: E402
from hotline_lab.lab import PROJECT, write_config  # noqa: E402


@pytest.fixture
def pg() -> Any:
    pg_server()                                              # skips loudly without binaries
    server = PgServer()
    yield server
    server.stop()


async def until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_start_up_reads_wait_for_the_database_and_spare_the_calls_served_meanwhile(
        pg: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = pg.new_database()
    now = datetime.now(timezone.utc)
    before = now - timedelta(hours=1)
    store = await open_store(url)                            # what the last run left
    store.save_call(CallRecord(call_id="cut", caller="+33611000001", started_at=before))
    store.save_call(CallRecord(call_id="promise", caller="+33611000002", started_at=before,
                               ended_at=before, queue="operator", disposition="callback"))
    store.add_event(CallEvent("promise", before, "callback_request", {"required": None}))
    await store.close()
    pg.halt()

    config = write_config(tmp_path / "config", base_port=29000, dialplan=PROJECT / "dialplans/minimal.yaml",
                          crm=tmp_path / "unused.db", sounds=tmp_path / "sounds",
                          extra={"crm": {"url": url}, "cdr": {"enabled": False}})
    engine = Engine(load_settings(config), agents_ready=False)
    engine.store = await open_store(url, spool_dir=tmp_path / "spool", retry_first_s=0.05, retry_max_s=0.2)
    engine.wire_crm_parts(started_at=datetime.now(timezone.utc))
    task = asyncio.create_task(engine.crm_startup.steps_when_back())
    try:
        # a call served during the outage, still talking: not "cut off"
        engine.store.save_call(CallRecord(call_id="live", caller="+33611000003",
                                          started_at=datetime.now(timezone.utc)))
        await asyncio.sleep(0.5)
        assert not task.done() and engine.crm_startup.cdr_recovery is None and not engine.callbacks.pending

        pg.start()
        await asyncio.wait_for(task, 10)
        await until(lambda: engine.store.spool_depth == 0 and not engine.store.degraded)
        cut = await engine.store.get_call("cut")
        assert cut.recovered and cut.disposition == "recovered" and cut.route == "fallback"
        live = await engine.store.get_call("live")
        assert not live.recovered and live.ended_at is None
        assert list(engine.callbacks.pending) == ["promise"]        # back in its queue
        assert engine.crm_startup.cdr_recovery is not None                      # started after the cut-off calls
        assert "are being taken care of" in caplog.text
    finally:
        task.cancel()
        for t in engine._tasks:
            t.cancel()
        await engine.store.close()
