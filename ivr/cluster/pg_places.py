"""Waiting callers' places in PostgreSQL (table cluster_waiting, migration 10), the adapter.

The hot path only updates a dict (`record`); a writer task sends what changed in one
transaction per batch (`linger_s` apart), each row carrying the leader's term, which the
database checks (a former leader's late batch is refused whole). A batch that fails for
another reason stays pending and is sent again, merged with newer changes (the newest place
of a call wins): nothing is dropped while this engine is the leader. A kill -9 loses at most
the last `linger_s` of changes; a caller whose arrival was in that window comes back as a new
call (menus again), never lost.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ivr.cluster.places import Place
from ivr.cluster.pg_leader import STALE_TERM_SQLSTATE
from ivr.crm import codec

log = logging.getLogger(__name__)

UPSERT = """INSERT INTO cluster_waiting (call_id, term, state, queue, arrived_at, priority,
        requirement, escalation_step, data, updated_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (call_id) DO UPDATE SET term = EXCLUDED.term, state = EXCLUDED.state,
        queue = EXCLUDED.queue, priority = EXCLUDED.priority, requirement = EXCLUDED.requirement,
        escalation_step = EXCLUDED.escalation_step, data = EXCLUDED.data,
        updated_at = EXCLUDED.updated_at"""


class TermRefused(Exception):
    """The database refused our term: another engine is the leader now."""


def to_row(place: Place, term: int, now: datetime) -> tuple[Any, ...]:
    return (place.call_id, term, place.state, place.queue, codec.ts(place.arrived_at), place.priority,
            place.requirement, place.escalation_step,
            json.dumps({"caller": place.caller, "trace": list(place.trace),
                        "survey_opt_in": place.survey_opt_in}), codec.ts(now))


def from_row(row: tuple[Any, ...]) -> Place:
    call_id, state, queue, arrived_at, priority, requirement, step, data = row
    extra = json.loads(data)
    return Place(call_id, state, queue, codec.parse_ts(arrived_at), int(priority), requirement,
                 int(step), extra.get("caller", ""), tuple(extra.get("trace", ())),
                 bool(extra.get("survey_opt_in", False)))


class PlaceLedger:
    def __init__(self, url: str, term: Callable[[], int | None], linger_s: float = 0.02):
        self.url, self._term, self.linger_s = url, term, linger_s
        self.pending: dict[str, Place] = {}
        self._wake = asyncio.Event()
        self._conn: Any = None
        self.written = 0                      # rows, for tests and the benchmark

    def record(self, places: list[Place]) -> None:
        for place in places:
            self.pending[place.call_id] = place
        if places:
            self._wake.set()

    async def run(self, retry_s: float = 0.5) -> None:
        """Until our term is refused (TermRefused: the leader steps down)."""
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.linger_s)        # let a burst gather into one batch
            self._wake.clear()
            try:
                await self.flush()
            except TermRefused:
                raise
            except Exception as exc:                  # noqa: BLE001 - kept pending, sent again
                log.warning("cluster: waiting callers' places not written yet (%s); retrying",
                            " ".join(str(exc).split()))
                await self._close()
                await asyncio.sleep(retry_s)
                self._wake.set()

    async def flush(self) -> None:
        import psycopg
        if not self.pending:
            return
        term = self._term()
        if term is None:
            raise TermRefused("not the leader: no term")
        batch, self.pending = self.pending, {}
        now = datetime.now(timezone.utc)
        try:
            conn = await self._connection()
            async with conn.transaction():
                async with conn.cursor() as cur:
                    await cur.executemany(UPSERT, [to_row(p, term, now) for p in batch.values()])
        except BaseException as exc:
            self.pending = {**batch, **self.pending}   # newer changes win over the batch
            if isinstance(exc, psycopg.Error) and exc.sqlstate == STALE_TERM_SQLSTATE:
                raise TermRefused(str(exc)) from exc
            raise
        self.written += len(batch)

    async def load(self) -> list[Place]:
        """Every place not done, as the former leader last wrote it."""
        conn = await self._connection()
        cur = await conn.execute(
            "SELECT call_id, state, queue, arrived_at, priority, requirement, escalation_step, data "
            "FROM cluster_waiting WHERE state <> 'done' ORDER BY arrived_at, call_id")
        return [from_row(r) for r in await cur.fetchall()]

    async def _connection(self) -> Any:
        import psycopg
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True,
                                                               connect_timeout=2)
        return self._conn

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:        # noqa: BLE001 - broken already
                pass

    async def close(self) -> None:
        await self._close()
