"""CrmStore: the CRM adapter. All writes go through one writer task that batches
queued items into a single transaction, so a burst of calls costs one commit
(and never blocks the event loop: the database work runs in aiosqlite's thread
or on psycopg's socket)."""
from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from . import codec
from .backends import Backend, Tx, open_backend
from .contacts import CONTACT_FIELDS, ContactRow, contact_dict, normalise_number, parse_contacts_csv, upsert_contact
from .errors import CrmError
from .records import AGENT_STATES, CONTACT_TYPES, AgentEvent, CallEvent, CallRecord
from .schema import MIGRATIONS, VERSION_TABLE, render

log = logging.getLogger("ivr.crm")

_COLS = ", ".join(codec.CALL_COLUMNS)
_UPSERT_CALL = (
    f"INSERT INTO calls ({_COLS}, updated_at) VALUES ({', '.join('?' * (len(codec.CALL_COLUMNS) + 1))}) "
    "ON CONFLICT (call_id) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in codec.CALL_COLUMNS[1:] + ("updated_at",))
)
_OPEN_CASE = (
    "INSERT INTO ae_cases (case_id, call_id, opened_at, status) VALUES (?, ?, ?, 'open') "
    "ON CONFLICT (call_id) DO UPDATE SET opened_at = COALESCE(ae_cases.opened_at, excluded.opened_at)"
)
_INSERT_EVENT = "INSERT INTO call_events (call_id, at, kind, data) VALUES (?, ?, ?, ?)"
_INSERT_AGENT = "INSERT INTO agent_events (agent, at, state, reason) VALUES (?, ?, ?, ?)"
_CASE_COLS = ("case_id", "call_id", "opened_at", "status", "closed_at", "closed_by", "note")

Job = Callable[[Tx], Awaitable[Any]]
_STOP = object()


def case_id_for(call_id: str) -> str:
    return f"AE-{call_id}"     # deterministic, so re-saving a call never opens a second case


class CrmStore:
    def __init__(self, backend: Backend, *, batch_max: int = 200, linger_ms: float = 2.0,
                 country_code: str = "") -> None:
        self.backend = backend
        self.batch_max = max(1, batch_max)
        self.linger = max(0.0, linger_ms) / 1000
        self.country_code = country_code
        self.dropped = 0          # items that could not be written even one by one (logged)
        self.batches = 0          # transactions committed by the writer
        self._q: asyncio.Queue[Any] = asyncio.Queue()
        self._closed = False
        self._task = asyncio.create_task(self._writer(), name="crm-writer")

    # ------------------------------------------------------------ enqueueing (never raise)
    def save_call(self, record: CallRecord) -> None:
        """Queue an upsert of the record (snapshot taken now). Returns at once."""
        try:
            row = codec.call_to_row(record, normalise_number(record.caller, self.country_code))
            self._put(("call", row))
        except Exception:
            log.exception("CRM: call %s could not be queued for saving", getattr(record, "call_id", "?"))

    def add_event(self, event: CallEvent) -> None:
        try:
            self._put(("event", codec.event_to_row(event)))
        except Exception:
            log.exception("CRM: event %r of call %s could not be queued", getattr(event, "kind", "?"),
                          getattr(event, "call_id", "?"))

    def add_agent_event(self, agent: str, at: datetime, state: str, reason: str | None = None) -> None:
        try:
            if state not in AGENT_STATES:
                log.warning("CRM: agent %s state %r is not one of %s; occupancy will ignore it",
                            agent, state, ", ".join(AGENT_STATES))
            self._put(("agent", codec.agent_to_row(AgentEvent(agent, at, state, reason))))
        except Exception:
            log.exception("CRM: agent event %s/%s could not be queued", agent, state)

    def _put(self, item: Any) -> None:
        if self._closed:
            log.error("CRM store is closed; dropping %s for %s", item[0], item[1][0])
            self.dropped += 1
            return
        self._q.put_nowait(item)
        if self._q.qsize() % 10000 == 0:       # the database is down or far too slow
            log.warning("CRM: %d items waiting to be written to %s", self._q.qsize(), self.backend.where)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (or logged as dropped)."""
        if self._closed or self._task.done():         # close() drains the queue itself
            await asyncio.shield(self._task)
            return
        fut = asyncio.get_running_loop().create_future()
        self._q.put_nowait(("flush", fut))
        await fut

    async def close(self) -> None:
        """Flush, stop the writer and close the connections. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._q.put_nowait(_STOP)
        await asyncio.shield(self._task)
        await self.backend.close()

    async def _job(self, fn: Job) -> Any:
        """Run fn(tx) in its own transaction on the writer, in queue order."""
        if self._closed:
            raise CrmError("the CRM store is closed")
        fut = asyncio.get_running_loop().create_future()
        self._q.put_nowait(("job", (fn, fut)))
        return await fut

    # ------------------------------------------------------------ the writer task
    async def _writer(self) -> None:
        while True:
            first = await self._q.get()
            if first is _STOP:
                return
            batch, stop = [first], False
            if first[0] not in ("flush", "job") and self.linger and self._q.qsize() < self.batch_max:
                await asyncio.sleep(self.linger)       # let a burst gather into one commit
            while len(batch) < self.batch_max and not self._q.empty():
                item = self._q.get_nowait()
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            try:
                await self._apply(batch)
            except Exception:                          # the writer must outlive any bad batch
                log.exception("CRM writer: unexpected error")
            if stop:
                return

    async def _apply(self, batch: list[Any]) -> None:
        writes: list[tuple[str, Any]] = []
        waiters: list[asyncio.Future[Any]] = []
        for kind, payload in batch:
            if kind == "flush":
                waiters.append(payload)
            elif kind == "job":
                await self._commit(writes)
                writes = []
                fn, fut = payload
                try:
                    async with self.backend.transaction() as tx:
                        result = await fn(tx)
                    self.batches += 1
                    if not fut.done():
                        fut.set_result(result)
                except Exception as exc:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                writes.append((kind, payload))
        await self._commit(writes)
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def _commit(self, writes: list[tuple[str, Any]]) -> None:
        if not writes:
            return
        try:
            async with self.backend.transaction() as tx:
                await self._write(tx, writes)
            self.batches += 1
            return
        except Exception as exc:
            log.warning("CRM: batch of %d failed in %s (%s); retrying one by one",
                        len(writes), self.backend.where, exc)
        for item in writes:                            # isolate the bad item, keep the rest
            try:
                async with self.backend.transaction() as tx:
                    await self._write(tx, [item])
                self.batches += 1
            except Exception:
                self.dropped += 1
                log.exception("CRM: dropped %s for call/agent %s", item[0], item[1][0])

    async def _write(self, tx: Tx, writes: list[tuple[str, Any]]) -> None:
        now = codec.ts(datetime.now(timezone.utc))
        calls = [(*row, now) for kind, row in writes if kind == "call"]
        if calls:
            await tx.executemany(_UPSERT_CALL, calls)
            cases = [(case_id_for(r[0]), r[0], r[4]) for r in calls if r[20]]
            if cases:
                await tx.executemany(_OPEN_CASE, cases)
        events = [row for kind, row in writes if kind == "event"]
        if events:
            await tx.executemany(_INSERT_EVENT, events)
        agents = [row for kind, row in writes if kind == "agent"]
        if agents:
            await tx.executemany(_INSERT_AGENT, agents)

    # ------------------------------------------------------------ reads (flush first: read-your-writes)
    async def list_calls(self, since: datetime | None = None, until: datetime | None = None,
                         limit: int | None = None) -> list[CallRecord]:
        """Calls with since <= started_at < until, oldest first."""
        await self.flush()
        where, params = _period("started_at", since, until)
        sql = f"SELECT {_COLS} FROM calls{where} ORDER BY started_at, call_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [codec.row_to_call(r) for r in await self.backend.fetchall(sql, params)]

    async def get_call(self, call_id: str) -> CallRecord | None:
        await self.flush()
        rows = await self.backend.fetchall(f"SELECT {_COLS} FROM calls WHERE call_id = ?", [call_id])
        return codec.row_to_call(rows[0]) if rows else None

    async def call_events(self, call_id: str) -> list[CallEvent]:
        await self.flush()
        rows = await self.backend.fetchall(
            "SELECT call_id, at, kind, data FROM call_events WHERE call_id = ? ORDER BY at, id", [call_id])
        return [codec.row_to_event(r) for r in rows]

    async def list_events(self, since: datetime | None = None, until: datetime | None = None,
                          kinds: list[str] | None = None) -> list[CallEvent]:
        """Call events of all calls in [since, until), optionally only these kinds, oldest first."""
        await self.flush()
        where, params = _period("at", since, until)
        if kinds:
            where += (" AND" if where else " WHERE") + f" kind IN ({','.join('?' for _ in kinds)})"
            params.extend(kinds)
        rows = await self.backend.fetchall(f"SELECT call_id, at, kind, data FROM call_events{where} ORDER BY at, id",
                                           params)
        return [codec.row_to_event(r) for r in rows]

    async def agent_events(self, since: datetime | None = None, until: datetime | None = None,
                           agent: str | None = None) -> list[AgentEvent]:
        """Events in [since, until) plus each agent's last event before `since`
        (its state when the period starts), oldest first."""
        await self.flush()
        where, params = _period("at", since, until)
        if agent is not None:
            where += (" AND" if where else " WHERE") + " agent = ?"
            params.append(agent)
        sql = f"SELECT agent, at, state, reason, id FROM agent_events{where}"
        if since is not None:
            sql += (" UNION SELECT agent, at, state, reason, id FROM agent_events e WHERE at = "
                    "(SELECT MAX(at) FROM agent_events WHERE agent = e.agent AND at < ?)")
            params.append(codec.ts(since))
            if agent is not None:
                sql += " AND agent = ?"
                params.append(agent)
        rows = await self.backend.fetchall(f"SELECT agent, at, state, reason FROM ({sql}) x ORDER BY at, id", params)
        return [codec.row_to_agent(r) for r in rows]

    # ------------------------------------------------------------ adverse-event cases
    async def list_cases(self, status: str | None = None) -> list[dict[str, Any]]:
        await self.flush()
        sql, params = f"SELECT {', '.join(_CASE_COLS)} FROM ae_cases", []
        if status:
            sql += " WHERE status = ?"
            params.append(status)
        rows = await self.backend.fetchall(sql + " ORDER BY opened_at, case_id", params)
        return [_case(r) for r in rows]

    async def close_case(self, case_id: str, closed_by: str, at: datetime | None = None,
                         note: str | None = None) -> dict[str, Any]:
        """Close an open case (by case id or call id). Raises CrmError if unknown or closed."""
        when = codec.ts(at or datetime.now(timezone.utc))

        async def job(tx: Tx) -> dict[str, Any]:
            rows = await tx.fetchall(f"SELECT {', '.join(_CASE_COLS)} FROM ae_cases "
                                     "WHERE case_id = ? OR call_id = ?", [case_id, case_id])
            if not rows:
                raise CrmError(f"no adverse-event case {case_id!r}; list them with store.list_cases()")
            case = _case(rows[0])
            if case["status"] != "open":
                raise CrmError(f"case {case['case_id']} was already closed at {case['closed_at']} "
                               f"by {case['closed_by']}")
            await tx.execute("UPDATE ae_cases SET status='closed', closed_at=?, closed_by=?, note=? "
                             "WHERE case_id=?", [when, closed_by, note, case["case_id"]])
            return case | {"status": "closed", "closed_at": codec.parse_ts(when), "closed_by": closed_by, "note": note}

        return await self._job(job)

    # ------------------------------------------------------------ contacts
    async def save_contact(self, name: str, numbers: list[str], type: str = "other", *,
                           organisation: str | None = None, language: str | None = None,
                           notes: str | None = None, preferred_agent: str | None = None) -> int:
        """Create or update (matched by any number) a contact; returns its id."""
        if type not in CONTACT_TYPES:
            raise CrmError(f"contact type {type!r} is not one of {', '.join(CONTACT_TYPES)}")
        norm = [(normalise_number(n, self.country_code), n) for n in numbers if n.strip()]
        if not norm or not name.strip():
            raise CrmError("a contact needs a name and at least one phone number")
        row = ContactRow(0, name.strip(), type, norm, organisation, language, notes, preferred_agent)
        return await self._job(lambda tx: upsert_contact(tx, row))

    async def import_contacts_csv(self, path: str | Path) -> int:
        """Import (create or update) contacts from CSV in one transaction; returns the count.
        Raises CrmError listing every bad row as file:line, importing nothing."""
        rows = await asyncio.to_thread(parse_contacts_csv, Path(path), self.country_code)

        async def job(tx: Tx) -> int:
            for row in rows:
                await upsert_contact(tx, row)
            return len(rows)

        return await self._job(job)

    async def find_contact(self, number: str) -> dict[str, Any] | None:
        """The contact owning this number (any format), with all its numbers; None if unknown."""
        await self.flush()
        norm = normalise_number(number, self.country_code)
        cols = ", ".join(f"c.{f}" for f in CONTACT_FIELDS)
        rows = await self.backend.fetchall(
            f"SELECT {cols} FROM contacts c JOIN contact_numbers n ON n.contact_id = c.id WHERE n.number = ?", [norm])
        if not rows:
            return None
        nums = await self.backend.fetchall(
            "SELECT number FROM contact_numbers WHERE contact_id = ? ORDER BY number", [rows[0][0]])
        return contact_dict(rows[0], [n[0] for n in nums])

    async def contact_history(self, number: str, limit: int | None = 100) -> list[CallRecord]:
        """Calls from this number or any other number of the same contact, newest first."""
        contact = await self.find_contact(number)
        numbers = contact["numbers"] if contact else [normalise_number(number, self.country_code)]
        marks = ",".join("?" for _ in numbers)
        sql = f"SELECT {_COLS} FROM calls WHERE caller_norm IN ({marks}) ORDER BY started_at DESC, call_id"
        params: list[Any] = list(numbers)
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [codec.row_to_call(r) for r in await self.backend.fetchall(sql, params)]


def _case(row: tuple[Any, ...]) -> dict[str, Any]:
    d = dict(zip(_CASE_COLS, row))
    d["opened_at"] = codec.parse_ts(d["opened_at"])
    d["closed_at"] = codec.parse_ts(d["closed_at"])
    return d


def _period(col: str, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    parts, params = [], []
    if since is not None:
        parts.append(f"{col} >= ?")
        params.append(codec.ts(since))
    if until is not None:
        parts.append(f"{col} < ?")
        params.append(codec.ts(until))
    return (" WHERE " + " AND ".join(parts) if parts else ""), params


async def _migrate(backend: Backend) -> int:
    """Apply pending migrations, each in its own transaction. Returns the schema version."""
    async with backend.transaction() as tx:
        await tx.execute(VERSION_TABLE)
    known = MIGRATIONS[-1][0]
    for version, description, statements in MIGRATIONS:
        async with backend.transaction() as tx:
            if backend.dialect == "postgresql":       # two processes opening at once: one migrates
                await tx.execute("LOCK TABLE schema_version IN EXCLUSIVE MODE")
            current = (await tx.fetchall("SELECT MAX(version) FROM schema_version"))[0][0] or 0
            if current > known:
                raise CrmError(f"{backend.where} has schema version {current}, newer than this software "
                               f"knows ({known}); upgrade the hotline software before using this database")
            if version <= current:
                continue
            for sql in statements:
                await tx.execute(render(sql, backend.dialect))
            await tx.execute("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                             [version, description, codec.ts(datetime.now(timezone.utc))])
            log.info("CRM: %s migrated to schema v%d (%s)", backend.where, version, description)
    return known


async def open_store(url: str, *, batch_max: int = 200, linger_ms: float = 2.0,
                     country_code: str | None = None) -> CrmStore:
    """Open (creating/migrating as needed) a CRM store.
    url: sqlite:///relative/crm.db, sqlite:////absolute/crm.db or postgresql://user@host:port/db
    (password from IVR_DB_PASSWORD if the URL has none). country_code (default env
    IVR_COUNTRY_CODE) turns national numbers like 030 123 into +49 30 123 for matching."""
    backend = await open_backend(url)
    try:
        await _migrate(backend)
    except CrmError:
        await backend.close()
        raise
    except Exception as exc:
        await backend.close()
        raise CrmError(f"cannot prepare the CRM schema in {backend.where}: {exc}") from exc
    cc = os.environ.get("IVR_COUNTRY_CODE", "") if country_code is None else country_code
    return CrmStore(backend, batch_max=batch_max, linger_ms=linger_ms, country_code=cc)
