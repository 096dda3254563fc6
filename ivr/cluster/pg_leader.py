"""Leadership from PostgreSQL, the adapter: a session-level advisory lock on a dedicated
connection (freed by the server when the session ends: the process died, or the server saw
the link die), and the cluster row's term, +1 on each takeover. Rules in leadership.py.

Not through a transaction-mode pooler (PgBouncer): the lock belongs to the server session.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ivr.cluster.leadership import (BecomeActive, ClusterRow, Leadership, LinkFailed, LinkOk,
                                    LockWon, Role, StepDown, Superseded, Tick, database_problem,
                                    lock_key)
from ivr.crm import codec

log = logging.getLogger(__name__)
APP_PREFIX = "ivr-engine:"          # application_name of the lock's sessions (cluster status)
STALE_TERM_SQLSTATE = "IVR01"       # raised by the fence trigger (migration 10)


class ClusterRefused(Exception):
    """This engine may not take part in the cluster (wrong database, no cluster): a user error."""


def engine_name(configured: str) -> str:
    return configured or socket.gethostname()


async def connect(url: str, engine: str, lease_s: float) -> Any:
    """The lock's own connection. The server-side keepalives and TCP user timeout make the
    server end a session whose engine vanished behind a partition, freeing its lock for the
    standby a few seconds after the old leader stopped routing on its own (lease_s)."""
    import psycopg
    conn = await psycopg.AsyncConnection.connect(
        url, autocommit=True, application_name=f"{APP_PREFIX}{engine}"[:63],
        connect_timeout=max(2, int(lease_s)))
    lease_ms = int(lease_s * 1000)
    for setting, value in (("tcp_keepalives_idle", 1), ("tcp_keepalives_interval", 1),
                           ("tcp_keepalives_count", 2), ("tcp_user_timeout", lease_ms)):
        await conn.execute(f"SET {setting} = {int(value)}")
    return conn


async def read_cluster_row(conn: Any) -> ClusterRow | None:
    import psycopg
    try:
        cur = await conn.execute("SELECT name, term, engine FROM cluster_leader WHERE id = 1")
    except psycopg.errors.UndefinedTable:
        return None
    row = await cur.fetchone()
    return ClusterRow(row[0], int(row[1]), row[2]) if row else None


def where(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict
    from ivr.crm.backends import describe_pg
    return describe_pg(conninfo_to_dict(url))


class PgLeader:
    """One engine's part in the cluster. `join()` checks the database (ClusterRefused), then
    `run()` tries the lock as a standby and proves its link as the leader, calling
    `on_active(term)` once on takeover and `on_step_down(reason)` once when it lost the lock."""

    def __init__(self, url: str, name: str, engine: str, *, poll_s: float, lease_s: float,
                 on_active: Callable[[int], None], on_step_down: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic):
        if not url.startswith(("postgresql://", "postgres://")) and "=" not in url:
            raise ClusterRefused(f"cluster: the lock needs PostgreSQL, not {url.split(':')[0]}: "
                                 "set crm.url (or cluster.url) to the cluster's PostgreSQL database")
        self.url, self.name, self.engine = url, name, engine
        self.poll_s, self.key = poll_s, lock_key(name)
        self.core = Leadership(lease_s)
        self._on_active, self._on_step_down = on_active, on_step_down
        self._clock = clock
        self._conn: Any = None

    @property
    def role(self) -> Role:
        return self.core.role

    @property
    def term(self) -> int | None:
        return self.core.term

    def may_route(self) -> bool:
        return self.core.may_route(self._clock())

    async def join(self) -> None:
        """Connect and check that the database is this cluster's; the standby starts here."""
        import psycopg
        try:
            self._conn = await connect(self.url, self.engine, self.core.lease_s)
        except psycopg.Error as exc:
            raise ClusterRefused(f"cluster: cannot connect to {where(self.url)}: "
                                 f"{' '.join(str(exc).split())}") from exc
        problem = database_problem(await read_cluster_row(self._conn), self.name, where(self.url))
        if problem:
            await self.close()
            raise ClusterRefused(problem)
        log.info("cluster %r: engine %s joined as standby (%s)", self.name, self.engine, where(self.url))

    async def run(self) -> None:
        while self.core.role is not Role.STEPPED_DOWN:
            started = self._clock()
            try:
                if self.core.role in (Role.ACTIVE, Role.TAKING_OVER):
                    await self._prove_link(started)
                else:
                    await self._try_lock(started)
            except Exception as exc:     # noqa: BLE001 - any failure of the link counts
                self._apply(LinkFailed(self._clock(), " ".join(str(exc).split()) or type(exc).__name__))
                await self._drop_connection()
            self._apply(Tick(self._clock()))
            await asyncio.sleep(max(0.0, self.poll_s - (self._clock() - started)))

    async def _try_lock(self, started: float) -> None:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await connect(self.url, self.engine, self.core.lease_s)
        cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
        if not (await cur.fetchone())[0]:
            return
        now = codec.ts(datetime.now(timezone.utc))
        cur = await self._conn.execute(
            "UPDATE cluster_leader SET term = term + 1, engine = %s, since = %s, heartbeat_at = %s "
            "WHERE id = 1 AND name = %s RETURNING term", [self.engine, now, now, self.name])
        row = await cur.fetchone()
        if row is None:          # the row went away under us: give the lock back, stay standby
            await self._conn.execute("SELECT pg_advisory_unlock(%s)", [self.key])
            log.error("cluster %r: its row is gone from %s; not taking over", self.name, where(self.url))
            return
        self._apply(LockWon(int(row[0]), started))

    async def _prove_link(self, started: float) -> None:
        """One round trip on the lock's session, within the lease. The proof dates from when
        it was sent (`started`): the session was alive at some instant after that."""
        # Not asyncio.timeout: cancelling a psycopg query first tries to cancel it on the
        # server (up to 10 s through a dead link). The round trip is left behind instead,
        # and fails when run() closes the connection.
        trip = asyncio.ensure_future(self._round_trip())
        done, _ = await asyncio.wait({trip}, timeout=self.core.lease_s)
        if not done:
            trip.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise TimeoutError(f"no answer within {self.core.lease_s:g} s")
        current = trip.result()
        if current != self.core.term:
            self._apply(Superseded(self._clock(), current))
        else:
            self._apply(LinkOk(started))

    async def _round_trip(self) -> int:
        """The current term: ours if the heartbeat was written."""
        cur = await self._conn.execute(
            "UPDATE cluster_leader SET heartbeat_at = %s WHERE id = 1 AND term = %s RETURNING term",
            [codec.ts(datetime.now(timezone.utc)), self.core.term])
        if await cur.fetchone() is not None:
            return self.core.term
        cur = await self._conn.execute("SELECT term FROM cluster_leader WHERE id = 1")
        current = await cur.fetchone()
        return int(current[0]) if current else -1

    def _apply(self, event: object) -> None:
        for action in self.core.handle(event):
            if isinstance(action, BecomeActive):
                log.warning("cluster %r: engine %s is ACTIVE (term %d)", self.name, self.engine, action.term)
                self._on_active(action.term)
            elif isinstance(action, StepDown):
                log.error("cluster %r: engine %s STEPS DOWN from term %d: %s; it routes no more calls",
                          self.name, self.engine, action.term, action.reason)
                self._on_step_down(action.reason)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:       # noqa: BLE001 - already broken; the server ends the session
                pass

    async def close(self) -> None:
        """A clean stop: closing the session frees the lock for the standby at once."""
        await self._drop_connection()
