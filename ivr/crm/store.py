"""CrmStore: the CRM adapter. All writes go through one writer task (writer.py) that batches
queued items into a single transaction, so a burst of calls costs one commit (and never
blocks the event loop: the database work runs in aiosqlite's thread or on psycopg's
socket), and that keeps them in a durable spool (spool.py) while the database fails."""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from ivr.cases.settings import DocumentationSettings

from . import codec
from .backends import Backend, Tx, open_backend
from .contacts import CONTACT_FIELDS, ContactRow, contact_dict, normalise_number, parse_contacts_csv, upsert_contact
from .errors import CrmError, CrmUnreachable
from .outage import is_outage, what_to_do
from .records import AGENT_STATES, CONTACT_TYPES, AgentEvent, CallEvent, CallRecord, is_cut_off
from .schema import MIGRATIONS, VERSION_TABLE, render
from .spool import Spool
from .case_store import CaseCommands
from .contact_store import ContactLinks
from .cases import case_id_for  # noqa: F401  (part of the API: the automatic AE case of a call)
from .writer import CrmWriter, Prepare

log = logging.getLogger("ivr.crm")

_COLS = ", ".join(codec.CALL_COLUMNS)
_ID_CHUNK = 500            # call ids per `IN (...)` query (well under SQLite's variable limit)
T = TypeVar("T")


class CrmStore(CrmWriter, CaseCommands, ContactLinks):
    """The CRM adapter. Writes are queued and never raise (see writer.py); reads and
    people's commands (contacts here; cases, call documentation and contact cards in
    case_store.py) are methods."""

    def __init__(self, backend: Backend, *, batch_max: int = 200, linger_ms: float = 2.0,
                 country_code: str = "", spool: Spool | None = None, retry_first_s: float = 1.0,
                 retry_max_s: float = 30.0, read_wait_s: float = 2.0, live_read_s: float = 3.0,
                 prepare: Prepare | None = None) -> None:
        super().__init__(backend, batch_max=batch_max, linger_ms=linger_ms, spool=spool,
                         retry_first_s=retry_first_s, retry_max_s=retry_max_s, prepare=prepare)
        self.country_code = country_code
        self.read_wait_s = read_wait_s
        self.live_read_s = live_read_s
        self._read_failure: BaseException | None = None     # reads of live calls are failing

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

    async def _caught_up(self) -> None:
        """Read-your-writes: wait until queued writes are committed, but never hold a call up
        behind a failing database (those writes are in the spool, unreadable anyway)."""
        if self.degraded:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.flush()), self.read_wait_s)
        except TimeoutError:
            log.debug("CRM: reading before the writer caught up (it is slow or the database busy)")

    async def live_read(self, read: Awaitable[T], default: T, what: str) -> T:
        """A read a live call needs (caller lookup, screen-pop): its result, or `default` if
        the database fails or does not answer within live_read_s. Never raises: a caller is
        never dropped or held in silence for the CRM. Said once per outage, not per call."""
        task = asyncio.ensure_future(read)
        try:
            # shield: a cancelled query could leave the shared reader connection unusable
            result = await asyncio.wait_for(asyncio.shield(task), self.live_read_s)
        except Exception as exc:
            self._live_read_failed(exc, what)
            return default
        finally:
            if not task.done():                  # still running: nobody waits for it any more
                task.add_done_callback(_forget)
        if self._read_failure is not None:
            log.warning("CRM: %s answers reads again: callers are recognised again", self.backend.where)
            self._read_failure = None
        return result

    def _live_read_failed(self, exc: BaseException, what: str) -> None:
        why = (f"no answer within {self.live_read_s:g} s" if isinstance(exc, TimeoutError)
               else f"{type(exc).__name__}: {exc}" if not is_outage(exc) else str(exc))
        if self._read_failure is not None:
            log.debug("CRM: %s skipped too (%s)", what, why)
            return
        self._read_failure = exc
        where = self.backend.where
        fix = (f"check that {where} is running, reachable and not overloaded"
               if isinstance(exc, TimeoutError) else what_to_do(exc, where))
        log.warning("CRM: cannot read from %s (%s; first: %s). Calls go on: callers are taken as "
                    "unknown (dialplan lookups take their default branch) and screen-pops show no "
                    "history until it answers; said once until then. To fix: %s.", where, why,
                    what, fix, exc_info=not is_outage(exc))

    async def transact(self, job: Callable[[Tx], Awaitable[T]]) -> T:
        """Run job(tx) in one transaction on the writer, in queue order (after the saves
        queued before it), and return its result; its error is raised here. For parts that
        keep their own tables in the CRM database (ivr/knowledge/)."""
        return await self._job(job)

    # ------------------------------------------------------------ reads (flush first: read-your-writes)
    async def list_calls(self, since: datetime | None = None, until: datetime | None = None,
                         limit: int | None = None) -> list[CallRecord]:
        """Calls with since <= started_at < until, oldest first."""
        await self._caught_up()
        where, params = _period("started_at", since, until)
        sql = f"SELECT {_COLS} FROM calls{where} ORDER BY started_at, call_id"
        unwritten = self._unwritten_between(since, until)
        if limit is not None and not unwritten:
            sql += " LIMIT ?"
            params.append(int(limit))
        rows = await self.backend.fetchall(sql, params)
        if unwritten:              # the database is behind: the waiting saves are the latest
            merged = {r[0]: r for r in rows} | unwritten
            rows = sorted(merged.values(), key=lambda r: (r[4] or "", r[0]))[:limit]
        return [codec.row_to_call(r) for r in rows]

    def _unwritten_between(self, since: datetime | None, until: datetime | None) -> dict[str, tuple[Any, ...]]:
        low, high = codec.ts(since), codec.ts(until)
        return {cid: row for cid, row in self.unwritten_calls.items()
                if (low is None or (row[4] or "") >= low) and (high is None or (row[4] or "") < high)}

    async def cut_off_calls(self, call_ids: Collection[str]) -> tuple[set[str], dict[str, CallRecord]]:
        """(the ids the CRM has, the full records of those a killed engine left cut off).
        Reads two columns per call, in chunks: cheap enough for a minute of a busy hotline's
        CDRs without stalling the calls served meanwhile."""
        await self._caught_up()
        ids, present, cut = list(dict.fromkeys(call_ids)), set(), []
        for i in range(0, len(ids), _ID_CHUNK):
            chunk = ids[i:i + _ID_CHUNK]
            rows = await self.backend.fetchall(
                f"SELECT call_id, recovered, disposition FROM calls WHERE call_id IN "
                f"({', '.join('?' * len(chunk))})", chunk)
            for call_id, recovered, disposition in rows:
                present.add(call_id)
                if is_cut_off(recovered, disposition):
                    cut.append(call_id)
        found = {cid: r for cid in cut if (r := await self.get_call(cid)) is not None}
        for cid in ids:            # saves still waiting for the database are the latest
            if (row := self.unwritten_calls.get(cid)) is not None:
                present.add(cid)
                record = codec.row_to_call(row)
                if is_cut_off(record.recovered, record.disposition):
                    found[cid] = record
                else:
                    found.pop(cid, None)
        return present, found

    async def get_call(self, call_id: str) -> CallRecord | None:
        await self._caught_up()
        if (row := self.unwritten_calls.get(call_id)) is not None:
            return codec.row_to_call(row)     # waiting for the database: newer than its copy
        rows = await self.backend.fetchall(f"SELECT {_COLS} FROM calls WHERE call_id = ?", [call_id])
        return codec.row_to_call(rows[0]) if rows else None

    async def call_events(self, call_id: str) -> list[CallEvent]:
        await self._caught_up()
        rows = await self.backend.fetchall(
            "SELECT call_id, at, kind, data FROM call_events WHERE call_id = ? ORDER BY at, id", [call_id])
        return [codec.row_to_event(r) for r in rows]

    async def list_events(self, since: datetime | None = None, until: datetime | None = None,
                          kinds: list[str] | None = None) -> list[CallEvent]:
        """Call events of all calls in [since, until), optionally only these kinds, oldest first."""
        await self._caught_up()
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
        await self._caught_up()
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
        await self._caught_up()
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


def _forget(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()                 # retrieved: no "exception was never retrieved" noise


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
            for step in statements:
                if callable(step):
                    await step(tx)
                else:
                    for sql in render(step, backend.dialect):
                        await tx.execute(sql)
            await tx.execute("INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                             [version, description, codec.ts(datetime.now(timezone.utc))])
            log.info("CRM: %s migrated to schema v%d (%s)", backend.where, version, description)
    return known


async def open_store(url: str, *, batch_max: int = 200, linger_ms: float = 2.0,
                     country_code: str | None = None, spool_dir: str | Path | None = None,
                     busy_timeout_s: float = 10.0, retry_first_s: float = 1.0,
                     retry_max_s: float = 30.0,
                     documentation: DocumentationSettings | None = None) -> CrmStore:
    """Open (creating/migrating as needed) a CRM store.
    url: sqlite:///relative/crm.db, sqlite:////absolute/crm.db or postgresql://user@host:port/db
    (password from IVR_DB_PASSWORD if the URL has none). country_code (default env
    IVR_COUNTRY_CODE) turns national numbers like 030 123 into +49 30 123 for matching.
    spool_dir: where writes wait while the database fails (the engine passes crm.spool_dir);
    what a previous process left there is written before this returns, if the database works.
    Without it, such writes wait in memory only.
    With a spool, a database that is down at start does not stop the store: it starts
    degraded (`store.ready` unset) and spools; a PostgreSQL server that cannot be reached is
    connected, migrated, then sent the spool, when it answers (`await store.wait_ready()`).
    Settings the server refuses (wrong password, unknown database) still raise CrmError.
    documentation: the `documentation:` settings (wrap-up codes checked on save, AE due days);
    without them any code is accepted and due days are 15 serious / 90 non-serious."""
    backend = await open_backend(url, busy_timeout_s=busy_timeout_s, connect_later=spool_dir is not None)
    attempt_started = time.monotonic()
    try:
        outage, prepare = await _prepare_at_open(backend, spool_dir is not None)
    except BaseException:
        await backend.close()
        raise
    cc = os.environ.get("IVR_COUNTRY_CODE", "") if country_code is None else country_code
    try:
        spool = await _open_spool(Path(spool_dir), backend) if spool_dir is not None else None
    except CrmError:
        await backend.close()
        raise
    store = CrmStore(backend, batch_max=batch_max, linger_ms=linger_ms, country_code=cc, spool=spool,
                     retry_first_s=retry_first_s, retry_max_s=retry_max_s, prepare=prepare)
    if documentation is not None:
        store.case_rules, store.wrap_up_codes = documentation.due_rules(), documentation.codes()
    if outage is not None:
        store._attempt_started = attempt_started
        store._outage_seen(outage)
    elif spool is not None and spool.depth:
        log.warning("CRM: %d record(s) a previous run left in the spool %s; writing them to %s",
                    spool.depth, spool.dir, backend.where)
        await store.flush()          # the writer replays first: reads then see those records
    return store


async def _prepare_at_open(backend: Backend, spooled: bool) -> tuple[BaseException | None, Prepare | None]:
    """Migrate now. Returns (None, None), or, with a spool and the database down, (the
    outage the store starts with, the migration its writer runs before writing, if the
    schema could not be checked). Raises CrmError when the store cannot start."""
    unreachable = getattr(backend, "unreachable", None)
    if unreachable is not None:                    # never connected: nothing to try twice
        return unreachable, lambda: _migrate(backend)
    try:
        await _migrate(backend)
        return None, None
    except CrmUnreachable as exc:                  # connected, then dropped: as if down
        if not spooled:
            raise
        return exc, lambda: _migrate(backend)
    except CrmError:
        raise
    except Exception as exc:
        # Locked or failing at start, but the schema is already current: start anyway and
        # spool (an engine restarted during a backup must still serve and log its calls).
        if not spooled or not is_outage(exc) or not await _schema_is_current(backend):
            raise CrmError(f"cannot prepare the CRM schema in {backend.where}: {exc}") from exc
        return exc, None


async def _schema_is_current(backend: Backend) -> bool:
    try:
        rows = await backend.fetchall("SELECT MAX(version) FROM schema_version")
    except Exception:
        return False
    return bool(rows) and rows[0][0] == MIGRATIONS[-1][0]


async def _open_spool(directory: Path, backend: Backend) -> Spool | None:
    """The spool, or None (logged) if unusable: calls are served either way."""
    if backend.dialect == "sqlite" and directory.resolve() == Path(getattr(backend, "path", "")).resolve():
        raise CrmError(f"crm.spool_dir {directory} is the database file itself; use a directory")
    spool = Spool(directory)
    try:
        await asyncio.to_thread(spool.open)
    except CrmError as exc:
        log.error("%s. Without a spool, records wait in memory while the database fails.", exc)
        return None
    return spool
