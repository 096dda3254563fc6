"""A PostgreSQL primary and its streaming-replication standby on loopback (issue 16), and the
promotion trial that tests/unit/test_crm_pg_promotion.py asserts on and bench/failover.py
reports: the CRM store writes through a libpq multi-host URL with
`target_session_attrs=read-write` while the primary stops and the standby is promoted.

Order of a failover: stop the old primary FIRST (fence it), then promote the standby. The
other way round, for a moment two servers accept writes and the store, still connected to
the old one, would write there: records lost on the new primary. A clean (fast) stop also
waits until the standby has received all of the primary's WAL, so nothing committed is lost.
"""
from __future__ import annotations

import asyncio
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from crm_pg import PG_BIN, PgServer


class ReplicaPair:
    def __init__(self) -> None:
        self.primary = PgServer()
        self.standby = PgServer(start=False)               # its own dir and port
        shutil.rmtree(self.standby.data)
        # -R: standby.signal + primary_conninfo; -X stream: the WAL of the copy itself
        self.standby._run(PG_BIN / "pg_basebackup", "-h", "127.0.0.1", "-p", self.primary.port,
                          "-U", "postgres", "-D", self.standby.data, "-R", "-X", "stream")
        self.standby.start()

    def url(self, database: str) -> str:
        """What an engine's crm.url says: both servers, the one that takes writes wins."""
        return (f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
                f"/{database}?target_session_attrs=read-write")

    def new_database(self) -> str:
        """A fresh database (created on the primary, replicated); its name."""
        url = self.primary.new_database()
        name = url.rsplit("/", 1)[1]
        self.wait_replayed()
        return name

    def wait_replayed(self, timeout: float = 30.0) -> None:
        import psycopg
        with psycopg.connect(self.primary.url(), autocommit=True) as p:
            lsn = p.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.standby.url(), autocommit=True) as s:
            while not s.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]:
                assert time.monotonic() < deadline, "the standby does not replay the primary's WAL"
                time.sleep(0.05)

    def fail_over(self) -> None:
        """Fence the primary (fast stop), then promote the standby (waits until it is)."""
        self.primary.halt()
        self.standby._run(PG_BIN / "pg_ctl", "-D", self.standby.data, "-w", "promote")

    def stop(self) -> None:
        self.primary.stop()
        self.standby.stop()


async def promotion_trial(directory: Path, calls: int = 600, every_s: float = 0.01) -> dict[str, Any]:
    """Write `calls` call records (each with one event) at a steady pace through the CRM store
    on a multi-host URL; a third of the way in, the primary stops and the standby is promoted.
    Then count on the new primary what arrived: each record once."""
    import psycopg

    from ivr.crm.records import CallEvent, CallRecord
    from ivr.crm.store import open_store

    pair = ReplicaPair()
    try:
        database = pair.new_database()
        store = await open_store(pair.url(database), spool_dir=directory / "spool", linger_ms=2.0)
        started = datetime.now(timezone.utc)
        spooled_max, failover_at = 0, calls // 3
        failover: asyncio.Future | None = None
        for i in range(calls):
            at = started + timedelta(milliseconds=i)
            store.save_call(CallRecord(f"call-{i:05d}", caller=f"+3361{i:07d}", started_at=at, ended_at=at,
                                       queue="operator", disposition="answered"))
            store.add_event(CallEvent(f"call-{i:05d}", at, "queue_enter", {"queue": "operator"}))
            if i == failover_at:
                failover = asyncio.ensure_future(asyncio.to_thread(pair.fail_over))
            spooled_max = max(spooled_max, store.spool_depth)
            await asyncio.sleep(every_s)
        await failover
        deadline = time.monotonic() + 60
        while store.spool_depth and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        drained = store.spool_depth == 0
        await store.close()
        with psycopg.connect(pair.standby.url(database)) as conn:     # the new primary
            read_only = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            rows = conn.execute("SELECT count(*), count(DISTINCT call_id) FROM calls").fetchone()
            events = conn.execute("SELECT count(*) FROM call_events").fetchone()[0]
        return {"pg_promotion_written": calls, "pg_promotion_lost_records": calls - rows[1],
                "pg_promotion_duplicate_records": (rows[0] - rows[1]) + max(0, events - calls),
                "pg_promotion_lost_events": max(0, calls - events),
                "pg_promotion_spooled_max": spooled_max, "pg_promotion_spool_drained": drained,
                "pg_promotion_new_primary_writable": not read_only}
    finally:
        pair.stop()
