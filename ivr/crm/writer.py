"""The write path of the CRM store: one writer task that batches queued items into one
transaction, and keeps them safe in a durable spool while the database fails.

Order is the invariant: writes reach the database in the order they were queued, so
"last save wins" stays true. While anything older waits (spool files, or the in-memory
backlog when even the spool cannot be written), new writes queue up behind it instead of
going to the database; a timer with backoff replays the spool, then the backlog.

Every write is idempotent, so a batch may be written twice: when a commit went through but
its answer was lost (connection dropped during COMMIT), the batch is retried or spooled and
replayed. Calls are upserts; events and agent events carry a key made when they were
queued (codec.event_key) and are inserted ON CONFLICT (event_key) DO NOTHING: each lands once.

A store opened while its database could not be reached has a `prepare` step (the schema
migrations): the retry timer runs it first, and nothing is written before it succeeded.
`ready` is set once the database is reachable and its schema current (at once otherwise).
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

from ivr.cases import DueRules

from . import codec
from .backends import Backend, Tx
from .cases import open_ivr_cases
from .errors import CrmError
from .outage import is_outage, is_unreachable, what_to_do
from .spool import Spool, SpooledLine, Write, encode

log = logging.getLogger("ivr.crm")

_COLS = ", ".join(codec.CALL_COLUMNS)
_UPSERT_CALL = (
    f"INSERT INTO calls ({_COLS}, updated_at) VALUES ({', '.join('?' * (len(codec.CALL_COLUMNS) + 1))}) "
    "ON CONFLICT (call_id) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in codec.CALL_COLUMNS[1:] + ("updated_at",))
)
# A NULL key (a spool line from before keys) never conflicts: a plain insert, as it was.
_INSERT_EVENT = ("INSERT INTO call_events (call_id, at, kind, data, event_key) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT (event_key) DO NOTHING")
_INSERT_AGENT = ("INSERT INTO agent_events (agent, at, state, reason, event_key) VALUES (?, ?, ?, ?, ?) "
                 "ON CONFLICT (event_key) DO NOTHING")
_UNKEYED_WIDTH = 4         # event / agent rows spooled by a version without event keys
_SET_PROGRESS = (
    "INSERT INTO crm_spool_progress (segment, applied_upto, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (segment) DO UPDATE SET applied_upto = excluded.applied_upto, "
    "updated_at = excluded.updated_at"
)
REMINDER_EVERY_S = 300.0
_ADVERSE_EVENT = codec.CALL_COLUMNS.index("adverse_event")

Job = Callable[[Tx], Awaitable[Any]]
Prepare = Callable[[], Awaitable[Any]]
_STOP = object()


def _sited(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # A call row spooled by a version before the `site` column (schema v15): no site.
    return (*row, None) if len(row) == len(codec.CALL_COLUMNS) - 1 else row


def _keyed(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # An old spool line has no key: NULL. Any other width is left to fail as bad data.
    return (*row, None) if len(row) == _UNKEYED_WIDTH else row


class UnreadableLine(ValueError):
    """A spool line that is not JSON: torn by a crash while it was being written."""


class CrmWriter:
    # Due-date days per regulation for cases (the engine and the desk set them from settings)
    case_rules: DueRules = DueRules()

    def __init__(self, backend: Backend, *, batch_max: int = 200, linger_ms: float = 2.0,
                 spool: Spool | None = None, retry_first_s: float = 1.0,
                 retry_max_s: float = 30.0, prepare: Prepare | None = None) -> None:
        self.backend = backend
        self.batch_max = max(1, batch_max)
        self.linger = max(0.0, linger_ms) / 1000
        self.spool = spool
        self.retry_first_s, self.retry_max_s = retry_first_s, max(retry_first_s, retry_max_s)
        self.dropped = 0          # items not written: refused for a data reason, or lost (logged)
        self.batches = 0          # transactions committed by the writer
        self._q: asyncio.Queue[Any] = asyncio.Queue()
        self._closed = False
        self._backlog: list[Write] = []      # waiting writes the spool could not take either
        # The latest saved row of each call not yet in the database (queued, spooled or in the
        # backlog): reads see it, so nothing reconciles a call from stale data in an outage.
        self.unwritten_calls: dict[str, tuple[Any, ...]] = dict(spool.spooled_calls) if spool else {}
        self._spooled = bool(spool and spool.segments())
        self._outage: BaseException | None = None
        self._spool_error: OSError | None = None
        self._outage_since = 0.0
        self._attempt_started = 0.0          # when the latest database attempt began
        self._reminded_at = 0.0
        self._retry_delay = retry_first_s
        self._retry_at = 0.0                 # monotonic; 0: replay a spool left at start now
        self._prepare = prepare              # still to run before any write (see the docstring)
        self._prepare_said = ""              # the last "cannot prepare" logged, said once
        self.ready = asyncio.Event()         # the database answered and its schema is current
        if prepare is None:
            self.ready.set()
        self._task = asyncio.create_task(self._writer(), name="crm-writer")

    @property
    def spool_depth(self) -> int:
        """Writes waiting for the database (in the spool or, failing that, in memory)."""
        return (self.spool.depth if self.spool else 0) + len(self._backlog)

    @property
    def degraded(self) -> bool:
        """The database is failing, or older writes still wait: reads may miss recent writes."""
        return self._outage is not None or self._waiting()

    def _waiting(self) -> bool:
        # an unprepared database is retried too, with no write waiting: the engine waits
        # for `ready` to do its start-up reads
        return self._spooled or bool(self._backlog) or self._prepare is not None

    async def wait_ready(self) -> None:
        """Return once the database is reachable and its schema current (at once if it was
        at open). Start-up work that must read the CRM waits for this."""
        await self.ready.wait()

    # ------------------------------------------------------------ the writer task
    async def _writer(self) -> None:
        while True:
            if self._waiting() and time.monotonic() >= self._retry_at:
                started = time.monotonic()
                await self._guarded(self._catch_up())
                if self._waiting() and self._retry_at <= started:   # not rescheduled by a
                    self._schedule_retry()                         # failure: never spin
            timeout = max(0.0, self._retry_at - time.monotonic()) if self._waiting() else None
            try:
                first = await asyncio.wait_for(self._q.get(), timeout)
            except TimeoutError:
                continue                               # time to retry the database
            if first is _STOP:
                await self._guarded(self._shutdown())
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
            await self._guarded(self._apply(batch))
            if stop:
                await self._guarded(self._shutdown())
                return

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:                              # the writer must outlive anything
            log.exception("CRM writer: unexpected error")

    async def _apply(self, batch: list[Any]) -> None:
        writes: list[Write] = []
        waiters: list[asyncio.Future[Any]] = []
        try:
            for kind, payload in batch:
                if kind == "flush":
                    waiters.append(payload)
                elif kind == "job":
                    await self._store(writes)
                    writes = []
                    await self._run_job(*payload)
                else:
                    writes.append((kind, payload))
            await self._store(writes)
        finally:             # a flush means "committed or safe in the spool": never left hanging
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    async def _run_job(self, fn: Job, fut: asyncio.Future[Any]) -> None:
        # Jobs are people's commands (close a case, import contacts): they get the error.
        try:
            async with self.backend.transaction() as tx:
                result = await fn(tx)
            self.batches += 1
            if not fut.done():
                fut.set_result(result)
        except Exception as exc:
            if not fut.done():
                fut.set_exception(exc)

    async def _store(self, writes: list[Write]) -> None:
        """Commit the writes, or keep them (in order, behind older ones) for later."""
        # The backlog stays counted (spool_depth, degraded) until it is committed or deferred.
        writes = self._backlog + writes
        if not writes:
            return
        if self._outage is None and not self._spooled and self._prepare is None:
            writes = await self._commit(writes)
        if writes:
            await self._defer(writes)
        else:
            self._backlog = []

    async def _commit(self, writes: list[Write]) -> list[Write]:
        """Write in one transaction; on a data error find and set aside the bad item(s).
        Returns the writes an outage kept from the database (to be deferred), in order."""
        try:
            await self._transact(writes)
            return []
        except Exception as exc:
            if is_outage(exc):
                self._outage_seen(exc)
                return writes
            log.warning("CRM: %s refused a batch of %d (%s); writing them one by one to find "
                        "the bad one", self.backend.where, len(writes), exc)
        for i, item in enumerate(writes):
            try:
                await self._transact([item])
            except Exception as exc:
                if is_outage(exc):
                    self._outage_seen(exc)
                    return writes[i:]
                await self._set_aside(encode(item), item, exc)
        return []

    def _written(self, writes: list[Write]) -> None:
        for kind, row in writes:
            # a newer save of the same call (a different row) still waits: keep it
            if kind == "call" and self.unwritten_calls.get(row[0]) == tuple(row):
                del self.unwritten_calls[row[0]]

    async def _transact(self, writes: list[Write]) -> None:
        self._attempt_started = time.monotonic()
        for attempt in (1, 2):
            try:
                async with self.backend.transaction() as tx:
                    await self._write(tx, writes)
                self.batches += 1
                self._written(writes)
                return
            except Exception:
                # a dropped PostgreSQL connection fails the first use; a reconnect just works
                lost = getattr(self.backend, "lost_connection", None)
                if attempt == 2 or lost is None or not lost():
                    raise

    async def _defer(self, writes: list[Write]) -> None:
        """Keep writes for later: in the spool (fsync'd), else in memory."""
        if self.spool is not None:
            try:
                await asyncio.to_thread(self.spool.append, writes)
                self._spooled, self._backlog = True, []
                if self._spool_error is not None:
                    log.warning("CRM: the spool %s can be written again", self.spool.dir)
                    self._spool_error = None
                return
            except OSError as exc:
                if self._spool_error is None:        # said once per spell, not per batch
                    log.error("CRM: cannot write the spool %s either (%s): records are kept in "
                              "memory only, lost if the engine stops. Free disk space there.",
                              self.spool.dir, exc)
                self._spool_error = exc
        self._backlog = writes

    async def _write(self, tx: Tx, writes: list[Write]) -> None:
        now = codec.ts(datetime.now(timezone.utc))
        calls = [(*_sited(row), now) for kind, row in writes if kind == "call"]
        if calls:
            await tx.executemany(_UPSERT_CALL, calls)
            # the automatic case of an IVR-flagged adverse-event call, in the same transaction
            flagged = [row for kind, row in writes if kind == "call" and row[_ADVERSE_EVENT]]
            if flagged:
                await open_ivr_cases(tx, flagged, self.case_rules)
        events = [_keyed(row) for kind, row in writes if kind == "event"]
        if events:
            await tx.executemany(_INSERT_EVENT, events)
        agents = [_keyed(row) for kind, row in writes if kind == "agent"]
        if agents:
            await tx.executemany(_INSERT_AGENT, agents)

    async def _set_aside(self, text: str, item: Write | None, exc: BaseException) -> None:
        """A record the database refuses for a data reason while it works: keep it out of
        the way (it would block everything behind it forever) but never silently."""
        self.dropped += 1
        if item is not None:
            self._written([item])            # no longer waiting: reads stop showing it
        what = f"{item[0]} of {item[1][0] if item[1] else '?'}" if item else "an unreadable spool line"
        if self.spool is None:
            log.error("CRM: %s refused by %s (%s): not saved", what, self.backend.where, exc)
            return
        try:
            await asyncio.to_thread(self.spool.reject, text, f"{type(exc).__name__}: {exc}")
            log.error("CRM: %s refused by %s (%s): set aside in %s for a person to look at; "
                      "the other records go on", what, self.backend.where, exc, self.spool.rejected)
        except OSError as err:
            log.error("CRM: %s refused by %s (%s) and could not be set aside (%s): lost",
                      what, self.backend.where, exc, err)

    # ------------------------------------------------------------ outage and recovery
    def _outage_seen(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._outage is None:
            # since the failing attempt began: a lock costs a whole busy timeout to notice
            self._outage, self._outage_since, self._reminded_at = exc, self._attempt_started or now, now
            self._retry_delay = self.retry_first_s
            kept = (f"kept in the spool {self.spool.dir}" if self.spool else
                    "kept in memory (no spool configured: lost if this process stops)")
            log.error("CRM: cannot write to %s (%s). Calls are still being served; their records "
                      "are %s and will be written automatically, in order, when the database works "
                      "again (retried every %g-%g s). To fix: %s.", self.backend.where, exc,
                      kept, self.retry_first_s, self.retry_max_s, what_to_do(exc, self.backend.where))
        else:
            self._outage = exc
            if now - self._reminded_at >= REMINDER_EVERY_S:
                self._reminded_at = now
                log.warning("CRM: %s still failing after %.0f s (%s); %d record(s) wait in the spool",
                            self.backend.where, now - self._outage_since, exc, self.spool_depth)
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        self._retry_at = time.monotonic() + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, self.retry_max_s)

    async def _catch_up(self) -> None:
        """Replay the spool, then the in-memory backlog; back to direct writes when both are empty."""
        if self._prepare is not None and not await self._prepared():
            return
        waiting = self.spool_depth
        if await self._replay() and self._backlog:
            rest = await self._commit(self._backlog)    # still counted as waiting meanwhile
            if rest:
                await self._defer(rest)
            else:
                self._backlog = []
        if self._waiting():
            return
        if self._outage is not None:
            log.warning("CRM: %s works again after %.0f s; the %d waiting record(s) are written "
                        "and the spool is empty", self.backend.where,
                        time.monotonic() - self._outage_since, waiting)
        elif waiting:
            log.info("CRM: wrote the %d record(s) a previous run left in the spool", waiting)
        self._outage, self._retry_delay, self._retry_at = None, self.retry_first_s, 0.0

    async def _prepared(self) -> bool:
        """Run the prepare step (migrations) of a database unreachable at open. True once done."""
        assert self._prepare is not None
        self._attempt_started = time.monotonic()
        try:
            await self._prepare()
        except Exception as exc:
            if not is_unreachable(exc):            # it answered, and refused: a person must act
                self._cannot_prepare(exc)
            self._outage_seen(exc)
            return False
        self._prepare = None
        self.ready.set()
        log.warning("CRM: %s is reachable and its schema is ready; writing the %d record(s) "
                    "waiting in the spool, in order", self.backend.where, self.spool_depth)
        return True

    def _cannot_prepare(self, exc: BaseException) -> None:
        said = f"{type(exc).__name__}: {exc}"
        if said == self._prepare_said:           # loud once; the outage reminders go on
            return
        self._prepare_said = said
        where = self.backend.where
        kept = f"in the spool {self.spool.dir}" if self.spool else "in memory (no spool configured)"
        # our own CrmError already says what to do (e.g. "upgrade the hotline software")
        fix = "" if isinstance(exc, CrmError) else f" To fix: {what_to_do(exc, where)}."
        log.error("CRM: %s answers but its schema cannot be prepared (%s). Nothing is lost: "
                  "records wait %s and are written, in order, once this is fixed (retried every "
                  "%g s at most); calls are served meanwhile.%s", where, said, kept,
                  self.retry_max_s, fix, exc_info=not isinstance(exc, CrmError))

    async def _replay(self) -> bool:
        """Replay every segment, oldest first. True when the spool is empty."""
        if self.spool is None or not self._spooled:
            return True
        try:
            for segment in await asyncio.to_thread(self.spool.segments):
                if not await self._replay_segment(segment.name, await asyncio.to_thread(self.spool.read, segment)):
                    return False
                await asyncio.to_thread(self.spool.remove, segment)
                await self._forget_progress(segment.name)
        except OSError as exc:
            log.error("CRM: cannot read or clean the spool %s (%s); retrying later", self.spool.dir, exc)
            return False
        self._spooled = False
        return True

    async def _replay_segment(self, name: str, lines: list[SpooledLine]) -> bool:
        """Apply a segment's lines after those already applied, recording progress in the
        same transaction as the rows: an interrupted replay resumes without duplicates."""
        assert self.spool is not None
        self._attempt_started = time.monotonic()
        try:
            rows = await self.backend.fetchall(
                "SELECT applied_upto FROM crm_spool_progress WHERE segment = ?", [name])
        except Exception as exc:
            self._outage_seen(exc)
            return False
        done = int(rows[0][0]) if rows else 0
        self.spool.mark_applied(name, done)
        self._written([line.write for line in lines[:done] if line.write is not None])
        while done < len(lines):
            chunk = lines[done:done + self.batch_max]
            writes = [line.write for line in chunk if line.write is not None]
            if len(writes) == len(chunk):
                try:
                    await self._apply_lines(name, writes, done + len(chunk))
                    done += len(chunk)
                    continue
                except Exception as exc:
                    if is_outage(exc):
                        self._outage_seen(exc)
                        return False
                    log.warning("CRM: %s refused spooled lines %d-%d of %s (%s); replaying them "
                                "one by one", self.backend.where, done + 1, done + len(chunk), name, exc)
            for line in chunk:           # isolate the bad line(s); the progress moves past them
                try:
                    if line.write is None:
                        raise UnreadableLine("not a JSON spool line (torn by a crash while written?)")
                    await self._apply_lines(name, [line.write], line.index + 1)
                except Exception as exc:
                    if is_outage(exc):
                        self._outage_seen(exc)
                        return False
                    await self._set_aside(line.text, line.write, exc)
                    try:
                        await self._apply_lines(name, [], line.index + 1)
                    except Exception as err:
                        self._outage_seen(err)
                        return False
            done += len(chunk)
        return True

    async def _apply_lines(self, segment: str, writes: list[Write], upto: int) -> None:
        """Write these spooled writes and move the segment's progress to `upto`, atomically."""
        assert self.spool is not None
        async with self.backend.transaction() as tx:
            await self._write(tx, writes)
            await tx.execute(_SET_PROGRESS, [segment, upto, codec.ts(datetime.now(timezone.utc))])
        self.batches += 1
        self.spool.mark_applied(segment, upto)
        self._written(writes)

    async def _forget_progress(self, segment: str) -> None:
        # Best effort: segment names are never reused, so a row left behind is harmless.
        try:
            async with self.backend.transaction() as tx:
                await tx.execute("DELETE FROM crm_spool_progress WHERE segment = ?", [segment])
        except Exception as exc:
            log.debug("CRM: progress row of spool segment %s not removed: %s", segment, exc)

    async def _shutdown(self) -> None:
        """Last chance at close: one retry if one is due, then whatever still waits stays in
        the spool (replayed at the next start). Never waits for the database to come back."""
        if self._waiting() and time.monotonic() >= self._retry_at:
            await self._catch_up()
        if self._backlog and self.spool is not None:
            pending, self._backlog = self._backlog, []
            await self._defer(pending)
        if self._backlog:
            self.dropped += len(self._backlog)
            log.critical("CRM: %d record(s) could not be written to %s nor to a spool and are lost",
                         len(self._backlog), self.backend.where)
            self._backlog = []
        if self._spooled and self.spool is not None:
            log.warning("CRM: %d record(s) stay in the spool %s; they are written to %s when the "
                        "engine next starts", self.spool.depth, self.spool.dir, self.backend.where)

    # ------------------------------------------------------------ queue interface
    def _put(self, item: Any) -> None:
        if self._closed:
            log.error("CRM store is closed; dropping %s for %s", item[0], item[1][0])
            self.dropped += 1
            return
        self._q.put_nowait(item)
        if item[0] == "call":
            self.unwritten_calls[item[1][0]] = item[1]
        if self._q.qsize() % 10000 == 0:       # the database is down or far too slow
            log.warning("CRM: %d items waiting to be written to %s", self._q.qsize(), self.backend.where)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed, or safe in the spool while the
        database fails (or, if even the spool fails, kept in memory and logged)."""
        if self._closed or self._task.done():         # close() drains the queue itself
            await asyncio.shield(self._task)
            return
        fut = asyncio.get_running_loop().create_future()
        self._q.put_nowait(("flush", fut))
        await fut

    async def close(self) -> None:
        """Flush, stop the writer and close the connections. Safe to call twice. With the
        database down it does not wait for it: the spool stays on disk for the next start."""
        if self._closed:
            return
        self._closed = True
        self._q.put_nowait(_STOP)
        await asyncio.shield(self._task)
        try:
            await self.backend.close()
        finally:
            if self.spool is not None:
                self.spool.close()

    async def _job(self, fn: Job) -> Any:
        """Run fn(tx) in its own transaction on the writer, in queue order."""
        if self._closed:
            raise CrmError("the CRM store is closed")
        fut = asyncio.get_running_loop().create_future()
        self._q.put_nowait(("job", (fn, fut)))
        return await fut

