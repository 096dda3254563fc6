"""The CRM's durable spool, on a real SQLite file: a locked database, a failing disk, a
restart with a spool left behind, an interrupted replay, and bad records set aside; on
PostgreSQL: a server down while running, and down at start (then migrated when it is back)."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
import sys
import time
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import PgServer, crm_url, pg_server  # noqa: E402,F401  (crm_url: fixture)

import ivr.crm.store as store_module  # noqa: E402
from ivr.crm.errors import CrmError  # noqa: E402
from ivr.crm.records import CallEvent, CallRecord  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402
from ivr.crm.errors import CrmUnreachable  # noqa: E402
from ivr.crm.schema import MIGRATIONS  # noqa: E402
from ivr.crm.spool import REJECTED, Spool  # noqa: E402
from ivr.crm.store import CrmStore  # noqa: E402

T0 = datetime(2026, 11, 24, 9, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def open_spooled(tmp_path: Path, **options: Any) -> CrmStore:
    """A store whose writes give up on a lock after 0.2 s and retry within 0.2 s."""
    options = {"busy_timeout_s": 0.2, "retry_first_s": 0.05, "retry_max_s": 0.2} | options
    return await open_store(f"sqlite:///{tmp_path}/crm.db", spool_dir=tmp_path / "spool", **options)


class ExclusiveLock:
    """Another connection holding the database's write lock (BEGIN EXCLUSIVE)."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(db, isolation_level=None, timeout=5)
        self.conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


class FailingDisk:
    """Wraps a backend: while `failing`, every write transaction fails as a broken disk would.
    `fail_after` lets that many transactions through first."""

    def __init__(self, inner: Any, failing: bool = True, fail_after: int = 0) -> None:
        self.inner, self.failing, self.fail_after = inner, failing, fail_after
        self.dialect, self.where = inner.dialect, inner.where

    def transaction(self) -> Any:
        if self.failing:
            if self.fail_after <= 0:
                raise sqlite3.OperationalError("disk I/O error")
            self.fail_after -= 1
        return self.inner.transaction()

    async def fetchall(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return await self.inner.fetchall(sql, params)

    async def close(self) -> None:
        await self.inner.close()


def save_calls(store: CrmStore, prefix: str, n: int, disposition: str = "answered") -> None:
    for i in range(n):
        call_id = f"{prefix}{i}"
        store.add_event(CallEvent(call_id, at(i), "arrived", {"i": i}))
        store.save_call(CallRecord(call_id=call_id, caller=f"+3361100{i:04d}", started_at=at(i),
                                   ended_at=at(i + 60), disposition=disposition))
        store.add_event(CallEvent(call_id, at(i + 60), "hangup", {}))
    store.add_agent_event("alice", at(n), "pause", "coffee")


def segments(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "spool").glob("*.jsonl") if p.name != REJECTED]


def spooled_lines(tmp_path: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in segments(tmp_path))


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def counts(store: CrmStore) -> tuple[int, int, int]:
    rows = [await store.backend.fetchall(f"SELECT COUNT(*) FROM {t}")
            for t in ("calls", "call_events", "agent_events")]
    return rows[0][0][0], rows[1][0][0], rows[2][0][0]


async def test_locked_database_saves_return_at_once_then_land_exactly_once(tmp_path: Path) -> None:
    store = await open_spooled(tmp_path, busy_timeout_s=1.0)   # each attempt waits 1 s for the lock
    try:
        store.save_call(CallRecord(call_id="early", started_at=at(0), disposition="queued"))
        await store.flush()
        lock = ExclusiveLock(tmp_path / "crm.db")
        started = time.perf_counter()
        save_calls(store, "c", 20)
        store.save_call(CallRecord(call_id="early", started_at=at(0), disposition="answered"))
        assert time.perf_counter() - started < 0.5           # saving never waits for the database
        await asyncio.wait_for(store.flush(), 5)             # "safe in the spool" counts as flushed
        assert spooled_lines(tmp_path) == 20 * 3 + 2 and store.spool_depth == 62
        assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in segments(tmp_path))
        started = time.perf_counter()                        # a call's lookup is not held up
        assert await store.find_contact("+33611000000") is None
        assert time.perf_counter() - started < 0.8
        save_calls(store, "d", 5)                            # later writes queue behind the spool
        await store.flush()
        assert spooled_lines(tmp_path) == 62 + 5 * 3 + 1
        # reads see the waiting saves (nothing reconciles a call from the stale database copy)
        assert (await store.get_call("early")).disposition == "answered"
        assert [r.call_id for r in await store.list_calls(since=at(5), until=at(7))] == ["c5", "c6"]
        assert [r.call_id for r in await store.list_calls(limit=3)] == ["c0", "d0", "early"]
        assert len(await store.list_calls()) == 26

        lock.release()
        # not degraded: the replay's last step (forgetting its progress row) is done too
        await until(lambda: store.spool_depth == 0 and not store.degraded)
        assert segments(tmp_path) == []
        assert await counts(store) == (1 + 20 + 5, 2 * 25, 2)
        assert (await store.get_call("early")).disposition == "answered"   # the last save won
        assert [e.kind for e in await store.call_events("c7")] == ["arrived", "hangup"]
        assert await store.backend.fetchall("SELECT * FROM crm_spool_progress") == []
        assert store.dropped == 0
        store.save_call(CallRecord(call_id="after", started_at=at(99)))   # straight to the database
        await store.flush()
        assert await store.get_call("after") is not None and segments(tmp_path) == []
    finally:
        await store.close()


async def test_disk_io_error_for_a_while_is_logged_once_and_caught_up(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = await open_spooled(tmp_path)
    disk = store.backend = FailingDisk(store.backend)
    try:
        save_calls(store, "io", 10)
        await store.flush()
        for n in range(3):                                  # a few failed retries meanwhile
            save_calls(store, f"more{n}-", 1)
            await asyncio.sleep(0.15)
        await store.flush()
        assert store.spool_depth == 10 * 3 + 1 + 3 * 4
        outage_logs = [r.getMessage() for r in caplog.records if "cannot write to" in r.getMessage()]
        assert len(outage_logs) == 1, outage_logs
        assert "disk I/O error" in outage_logs[0] and str(tmp_path / "spool") in outage_logs[0]
        assert "still being served" in outage_logs[0] and "To fix: check the disk" in outage_logs[0]

        disk.failing = False
        await until(lambda: store.spool_depth == 0)
        assert await counts(store) == (13, 2 * 13, 4)
        assert "works again" in caplog.text
    finally:
        await store.close()


async def test_close_with_database_locked_leaves_the_spool_and_restart_replays_it(tmp_path: Path) -> None:
    store = await open_spooled(tmp_path)
    lock = ExclusiveLock(tmp_path / "crm.db")
    save_calls(store, "r", 8)
    started = time.monotonic()
    await asyncio.wait_for(store.close(), 5)                 # does not wait for the database
    assert time.monotonic() - started < 2
    assert spooled_lines(tmp_path) == 8 * 3 + 1
    lock.release()

    store = await open_spooled(tmp_path)                    # written before open_store returns
    try:
        assert segments(tmp_path) == []
        assert await counts(store) == (8, 16, 1)
    finally:
        await store.close()


async def make_spool(tmp_path: Path, calls: int) -> None:
    """A spool left behind by a process that stopped while the database was locked."""
    store = await open_spooled(tmp_path)
    lock = ExclusiveLock(tmp_path / "crm.db")
    save_calls(store, "s", calls)
    await store.close()
    lock.release()


async def test_interrupted_replay_resumes_without_duplicates(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    await make_spool(tmp_path, 10)                           # 31 lines
    real_open_backend = store_module.open_backend

    async def flaky_open_backend(url: str, **kw: Any) -> Any:
        # migrations pass, then two replay chunks commit, then the disk fails
        return FailingDisk(await real_open_backend(url, **kw), fail_after=len(store_module.MIGRATIONS) + 3)

    monkeypatch.setattr(store_module, "open_backend", flaky_open_backend)
    store = await open_spooled(tmp_path, batch_max=5)
    assert store.spool_depth == 31 - 10                       # two chunks of 5 are in
    await store.close()
    monkeypatch.setattr(store_module, "open_backend", real_open_backend)

    store = await open_spooled(tmp_path, batch_max=5)
    try:
        assert segments(tmp_path) == []
        assert await counts(store) == (10, 20, 1)
        assert [e.kind for e in await store.call_events("s0")] == ["arrived", "hangup"]
    finally:
        await store.close()


async def test_crash_between_replay_and_removing_the_file_is_not_duplicated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await make_spool(tmp_path, 4)

    def cannot_remove(self: Spool, segment: Path) -> None:
        raise OSError("simulated crash before the spool file was removed")

    monkeypatch.setattr(Spool, "remove", cannot_remove)
    store = await open_spooled(tmp_path)
    assert await counts(store) == (4, 8, 1)                  # all in, yet the file is still there
    await store.close()
    monkeypatch.undo()
    assert spooled_lines(tmp_path) == 13

    store = await open_spooled(tmp_path)
    try:
        assert segments(tmp_path) == []
        assert await counts(store) == (4, 8, 1)              # the progress row skipped every line
    finally:
        await store.close()


async def test_bad_records_are_set_aside_and_do_not_block_the_spool(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    good = {"kind": "event", "row": ["g1", "2026-11-24T09:00:00.000000Z", "arrived", "{}"]}
    lines = [json.dumps(good),
             json.dumps({"kind": "event", "row": ["bad", "2026-11-24T09:00:00.000000Z"]}),  # 2 of 4 values
             '{"kind": "call", "row": ["torn',                                              # crash mid-line
             json.dumps(good | {"row": ["g2", *good["row"][1:]]})]
    (spool_dir / "00000001-test.jsonl").write_text("\n".join(lines) + "\n")

    store = await open_spooled(tmp_path, batch_max=10)
    try:
        assert segments(tmp_path) == [] and store.dropped == 2
        assert await counts(store) == (0, 2, 0)
        rejected = [json.loads(line) for line in (spool_dir / REJECTED).read_text().splitlines()]
        assert [r["item"] for r in rejected] == [lines[1], lines[2]]
        assert "set aside in" in caplog.text
        # live, while the database works: the bad item alone is set aside, its batch goes in
        store._put(("event", ("live-bad", "x")))
        store.add_event(CallEvent("live-good", at(0), "arrived", {}))
        await store.flush()
        assert [e.kind for e in await store.call_events("live-good")] == ["arrived"]
        assert store.dropped == 3 and store.spool_depth == 0
    finally:
        await store.close()


async def test_unwritable_spool_keeps_writes_in_memory_until_the_database_is_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    store = await open_spooled(tmp_path)
    disk = store.backend = FailingDisk(store.backend)

    def disk_full(self: Spool, writes: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Spool, "append", disk_full)
    try:
        save_calls(store, "m", 3)
        await store.flush()
        assert store.spool_depth == 10 and "kept in memory only" in caplog.text
        disk.failing = False
        await until(lambda: store.spool_depth == 0)
        assert await counts(store) == (3, 6, 1)
    finally:
        await store.close()


class HeldDisk(FailingDisk):
    """Working again, but each write transaction waits for `opened` before it begins."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner, failing=False)
        self.opened = asyncio.Event()
        self.entered = asyncio.Event()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        self.entered.set()
        await self.opened.wait()
        async with self.inner.transaction() as tx:
            yield tx


async def test_writes_kept_in_memory_count_as_waiting_until_they_are_committed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A reader that sees "nothing waits" must find the rows in the database: the in-memory
    # backlog is still counted while its commit is under way.
    store = await open_spooled(tmp_path)
    inner = store.backend
    store.backend = FailingDisk(inner)

    def disk_full(self: Spool, writes: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Spool, "append", disk_full)
    held = HeldDisk(inner)
    try:
        save_calls(store, "m", 3)
        await store.flush()
        store.backend = held
        await asyncio.wait_for(held.entered.wait(), 5)
        assert store.spool_depth == 10 and store.degraded
        held.opened.set()
        await until(lambda: store.spool_depth == 0)
        assert await counts(store) == (3, 6, 1) and not store.degraded
    finally:
        held.opened.set()
        await store.close()


async def test_second_process_on_the_same_spool_runs_without_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = await open_spooled(tmp_path)
    second = await open_spooled(tmp_path)
    try:
        assert first.spool is not None and second.spool is None
        assert "in use by another process" in caplog.text
    finally:
        await second.close()
        await first.close()


async def test_outage_and_replay_on_both_backends(crm_url: str, tmp_path: Path) -> None:
    store = await open_store(crm_url, spool_dir=tmp_path / "spool", retry_first_s=0.05, retry_max_s=0.2,
                             batch_max=4)
    disk = store.backend = FailingDisk(store.backend)
    try:
        save_calls(store, "b", 5)
        store.save_call(CallRecord(call_id="b0", started_at=at(0), disposition="callback"))
        await store.flush()
        assert store.spool_depth == 17
        disk.failing = False
        await until(lambda: store.spool_depth == 0 and not store.degraded)
        assert await counts(store) == (5, 10, 1)
        assert (await store.get_call("b0")).disposition == "callback"
        assert await store.backend.fetchall("SELECT * FROM crm_spool_progress") == []
    finally:
        await store.close()


async def test_postgres_server_down_spools_and_replays_at_restart(tmp_path: Path) -> None:
    url = pg_server().new_database()
    store = await open_store(url, spool_dir=tmp_path / "spool")
    # the server goes away: every session of this database is killed, reconnects refused
    await store.backend.fetchall("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    store.backend._connect = None                            # as if the server did not come back
    save_calls(store, "pg", 3)
    await asyncio.wait_for(store.flush(), 10)
    assert spooled_lines(tmp_path) == 10
    await asyncio.wait_for(store.close(), 10)
    store = await open_store(url, spool_dir=tmp_path / "spool")   # the server is back
    try:
        assert await counts(store) == (3, 6, 1) and segments(tmp_path) == []
    finally:
        await store.close()


async def test_engine_start_while_the_database_is_locked_spools_from_the_first_call(tmp_path: Path) -> None:
    await (await open_spooled(tmp_path)).close()            # the schema exists
    await make_spool(tmp_path, 2)                            # and a spool from the last run
    lock = ExclusiveLock(tmp_path / "crm.db")
    try:
        store = await asyncio.wait_for(open_spooled(tmp_path), 5)   # starts degraded, not failing
        save_calls(store, "x", 3)
        await store.flush()
        assert store.spool_depth == 7 + 10 and store.degraded
        assert (await store.get_call("s1")).ended_at == at(61)      # spooled by the last run
        assert len(await store.list_calls()) == 5
    finally:
        lock.release()
    try:
        await until(lambda: store.spool_depth == 0 and not store.degraded)
        assert await counts(store) == (5, 10, 2) and not store.degraded
    finally:
        await store.close()



def lost_answer(dialect: str) -> Exception:
    """The error a client sees when the connection drops before COMMIT's answer arrives."""
    if dialect == "postgresql":
        import psycopg
        return psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")
    return sqlite3.OperationalError("disk I/O error")


class LostCommitAnswer:
    """Wraps a backend: the next `times` write transactions COMMIT, then fail with an outage
    error as if the answer to COMMIT never arrived. `reconnects`: the backend then reports a
    lost connection (as PostgreSQL's does), so the writer retries the batch at once;
    otherwise the batch goes to the spool and is replayed."""

    def __init__(self, inner: Any, times: int, reconnects: bool) -> None:
        self.inner, self.times, self.reconnects = inner, times, reconnects
        self.dialect, self.where = inner.dialect, inner.where
        self._lost = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.inner.transaction() as tx:
            yield tx
        if self.times > 0:                                   # committed; the answer is lost
            self.times -= 1
            if self.dialect == "postgresql":
                await self.inner._w.close()                  # really dropped: the retry reconnects
            self._lost = self.reconnects
            raise lost_answer(self.dialect)

    def lost_connection(self) -> bool:
        lost, self._lost = self._lost, False
        return lost

    async def fetchall(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return await self.inner.fetchall(sql, params)

    async def close(self) -> None:
        await self.inner.close()


async def keys(store: CrmStore, table: str) -> tuple[int, int]:
    """(rows with a key, distinct keys) in call_events or agent_events."""
    rows = await store.backend.fetchall(f"SELECT COUNT(event_key), COUNT(DISTINCT event_key) FROM {table}")
    return rows[0][0], rows[0][1]


@pytest.mark.parametrize("reconnects", [True, False], ids=["retried", "spooled"])
async def test_batch_whose_commit_answer_is_lost_writes_each_event_once(
        crm_url: str, tmp_path: Path, reconnects: bool, caplog: pytest.LogCaptureFixture) -> None:
    store = await open_store(crm_url, spool_dir=tmp_path / "spool", retry_first_s=0.05, retry_max_s=0.2)
    # spooled: the first replay's commit loses its answer too (its progress row went in with it)
    lossy = store.backend = LostCommitAnswer(store.backend, times=1 if reconnects else 2, reconnects=reconnects)
    try:
        save_calls(store, "u", 5)
        store.save_call(CallRecord(call_id="u0", started_at=at(0), disposition="callback"))
        await store.flush()
        await until(lambda: store.spool_depth == 0 and not store.degraded)
        assert lossy.times == 0 and store.dropped == 0
        assert ("cannot write to" in caplog.text) is not reconnects    # retried at once, or spooled
        assert await counts(store) == (5, 10, 1)
        assert await keys(store, "call_events") == (10, 10) and await keys(store, "agent_events") == (1, 1)
        assert (await store.get_call("u0")).disposition == "callback"    # the last save won
        assert [e.kind for e in await store.call_events("u3")] == ["arrived", "hangup"]
        assert segments(tmp_path) == []
    finally:
        await store.close()


async def test_spool_lines_without_event_keys_still_replay(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    t = "2026-11-24T09:00:00.000000Z"
    old_event = {"kind": "event", "row": ["o1", t, "arrived", "{}"]}           # before event keys
    old_agent = {"kind": "agent", "row": ["alice", t, "ready", None]}
    new_event = {"kind": "event", "row": ["n1", t, "arrived", "{}", "k-1"]}
    lines = [old_event, old_agent, new_event, new_event]     # the same keyed event spooled twice
    (spool_dir / "00000001-test.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))

    store = await open_spooled(tmp_path)
    try:
        assert segments(tmp_path) == [] and store.dropped == 0
        assert await counts(store) == (0, 2, 1)
        assert await keys(store, "call_events") == (1, 1) and await keys(store, "agent_events") == (0, 0)
        assert [e.kind for e in await store.call_events("o1")] == ["arrived"]
        assert [(e.agent, e.state) for e in await store.agent_events()] == [("alice", "ready")]
        store.add_event(CallEvent("live", at(0), "arrived", {}))   # new writes: keyed, in the spool too
        store.add_agent_event("bob", at(1), "pause")
        store.add_agent_event("bob", at(2), "ready")
        await store.flush()
        assert await keys(store, "call_events") == (2, 2) and await keys(store, "agent_events") == (2, 2)
    finally:
        await store.close()


async def test_database_at_schema_3_gets_event_keys_and_keeps_its_events(
        crm_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:3])   # the previous version
    store = await open_store(crm_url)
    for _ in range(2):                                                 # old duplicates stay
        await store._job(lambda tx: tx.execute(
            "INSERT INTO call_events (call_id, at, kind, data) VALUES ('v3', ?, 'arrived', '{}')",
            [f"{T0:%Y-%m-%dT%H:%M:%S.%fZ}"]))
    await store.close()
    monkeypatch.undo()

    store = await open_store(crm_url, spool_dir=tmp_path / "spool")
    try:
        rows = await store.backend.fetchall("SELECT MAX(version) FROM schema_version")
        assert rows[0][0] == MIGRATIONS[-1][0] >= 4      # migrated to the latest, through 4
        store.add_event(CallEvent("v3", at(1), "hangup", {}))
        store.add_agent_event("alice", at(2), "pause", "coffee")
        await store.flush()
        assert [e.kind for e in await store.call_events("v3")] == ["arrived", "arrived", "hangup"]
        assert [e.kind for e in await store.list_events(kinds=["hangup"])] == ["hangup"]
        assert [e.reason for e in await store.agent_events(since=at(3))] == ["coffee"]
        assert await keys(store, "call_events") == (1, 1)
    finally:
        await store.close()


# ---------------------------------------------------------------- PostgreSQL down at start
@pytest.fixture(scope="module")
def own_pg() -> Any:
    """A PostgreSQL server of these tests' own, which they stop and start again."""
    pg_server()                                              # skips loudly without binaries
    server = PgServer()
    server.require_password("secretive", "right")            # the others are trusted
    yield server
    server.stop()


@pytest.fixture
def pg(own_pg: Any) -> Any:
    yield own_pg
    if not own_pg.running:                                   # a failed test left it down
        own_pg.start()


def outage_lines(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


async def test_postgres_down_at_start_starts_spooling_then_migrates_and_writes_each_once_in_order(
        pg: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = pg.new_database()                                  # created, but no schema yet
    pg.halt()
    store = await asyncio.wait_for(open_store(url, spool_dir=tmp_path / "spool", retry_first_s=0.05,
                                              retry_max_s=0.2, batch_max=4), 10)
    try:
        assert store.degraded and not store.ready.is_set()
        assert len(outage_lines(caplog, "cannot write to")) == 1
        assert "Connection refused" in caplog.text and str(tmp_path / "spool") in caplog.text
        save_calls(store, "pd", 5)
        store.save_call(CallRecord(call_id="pd0", started_at=at(0), disposition="callback"))
        await asyncio.wait_for(store.flush(), 5)
        assert spooled_lines(tmp_path) == store.spool_depth == 17
        assert (await store.get_call("pd0")).disposition == "callback"   # the waiting save
        started = time.perf_counter()                        # a live call's lookup: unknown caller
        for _ in range(3):
            assert await store.live_read(store.find_contact("+33611000001"), None, "a lookup") is None
        assert time.perf_counter() - started < 1.0
        assert len(outage_lines(caplog, "cannot read from")) == 1      # once per outage
        assert "callers are taken as unknown" in caplog.text
        await asyncio.sleep(0.5)                             # retries fail meanwhile, quietly
        assert len(outage_lines(caplog, "cannot write to")) == 1 and not store.ready.is_set()

        pg.start()
        await asyncio.wait_for(store.wait_ready(), 10)
        await until(lambda: store.spool_depth == 0 and not store.degraded)
        rows = await store.backend.fetchall("SELECT MAX(version) FROM schema_version")
        assert rows[0][0] == MIGRATIONS[-1][0]
        assert await counts(store) == (5, 10, 1) and segments(tmp_path) == []
        assert (await store.get_call("pd0")).disposition == "callback"  # the last save won
        assert [e.kind for e in await store.call_events("pd3")] == ["arrived", "hangup"]
        assert await keys(store, "call_events") == (10, 10)
        assert "is reachable and its schema is ready" in caplog.text and "works again" in caplog.text
        assert await store.live_read(store.find_contact("+33611000001"), None, "a lookup") is None
        assert "answers reads again" in caplog.text
        store.save_call(CallRecord(call_id="pd-after", started_at=at(99)))   # straight in
        await store.flush()
        assert await store.get_call("pd-after") is not None and segments(tmp_path) == []
        assert store.dropped == 0
    finally:
        await store.close()


async def test_postgres_down_at_close_too_keeps_the_spool_for_the_next_start(
        pg: Any, tmp_path: Path) -> None:
    url = pg.new_database()
    pg.halt()
    store = await open_store(url, spool_dir=tmp_path / "spool")
    save_calls(store, "pc", 3)
    await asyncio.wait_for(store.close(), 10)
    assert spooled_lines(tmp_path) == 10
    pg.start()
    store = await open_store(url, spool_dir=tmp_path / "spool")      # migrates, then replays
    try:
        assert await counts(store) == (3, 6, 1) and segments(tmp_path) == []
    finally:
        await store.close()


async def test_schema_newer_than_the_software_when_the_server_comes_back_keeps_spooling(
        pg: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = pg.new_database()
    await (await open_store(url)).close()
    newer = MIGRATIONS[-1][0] + 1
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version VALUES (%s, 'from a newer release', 'x')", [newer])
    pg.halt()
    store = await open_store(url, spool_dir=tmp_path / "spool", retry_first_s=0.05, retry_max_s=0.2)
    try:
        save_calls(store, "pn", 2)
        pg.start()
        await until(lambda: "schema cannot be prepared" in caplog.text)
        await asyncio.sleep(0.5)                             # retried meanwhile: said once
        assert len(outage_lines(caplog, "schema cannot be prepared")) == 1
        assert f"schema version {newer}" in caplog.text and "upgrade the hotline software" in caplog.text
        assert "Nothing is lost" in caplog.text
        assert not store.ready.is_set() and store.spool_depth == 7 and spooled_lines(tmp_path) == 7
        with psycopg.connect(url, autocommit=True) as conn:  # the person's fix
            conn.execute("DELETE FROM schema_version WHERE version = %s", [newer])
        await asyncio.wait_for(store.wait_ready(), 10)
        await until(lambda: store.spool_depth == 0 and not store.degraded)
        assert await counts(store) == (2, 4, 1) and store.dropped == 0
    finally:
        await store.close()


@pytest.mark.parametrize("case, words", [
    ("unknown database", 'database "nope" does not exist'),
    ("unknown user", 'role "nobody" does not exist'),
    ("wrong password", 'password authentication failed for user "secretive"'),
    ("no password", "no password supplied"),
])
async def test_postgres_settings_the_server_refuses_are_a_clear_start_error(
        pg: Any, tmp_path: Path, case: str, words: str) -> None:
    url = {"unknown database": pg.url("nope"), "unknown user": pg.url(user="nobody"),
           "wrong password": pg.url().replace("postgres@", "secretive:wrong@"),
           "no password": pg.url(user="secretive")}[case]
    with pytest.raises(CrmError) as err:
        await asyncio.wait_for(open_store(url, spool_dir=tmp_path / "spool"), 10)
    assert not isinstance(err.value, CrmUnreachable)
    assert words in str(err.value) and "refused these settings" in str(err.value)
    assert "wrong" not in str(err.value)                     # the password is not shown
    assert not segments(tmp_path)


class Hanging:
    """Wraps a backend whose reads never answer (a network that drops packets)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.dialect, self.where = inner, inner.dialect, inner.where

    def transaction(self) -> Any:
        return self.inner.transaction()

    async def fetchall(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        await asyncio.sleep(3600)
        return []

    async def close(self) -> None:
        await self.inner.close()


async def test_live_reads_never_hold_a_call_up_and_say_so_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = await open_spooled(tmp_path)
    real = store.backend
    store.backend = Hanging(real)
    store.live_read_s = 0.2
    try:
        started = time.perf_counter()
        assert await store.live_read(store.find_contact("+33611000001"), None, "the lookup of call a") is None
        assert await store.live_read(store.find_contact("+33611000002"), None, "the lookup of call b") is None
        assert 0.35 < time.perf_counter() - started < 1.0
        assert outage_lines(caplog, "cannot read from") == [
            f"CRM: cannot read from {real.where} (no answer within 0.2 s; first: the lookup of call a). "
            "Calls go on: callers are taken as unknown (dialplan lookups take their default branch) "
            "and screen-pops show no history until it answers; said once until then. To fix: check "
            f"that {real.where} is running, reachable and not overloaded."]
        store.backend = real
        assert await store.live_read(store.find_contact("+33611000001"), None, "the lookup of call c") is None
        assert "answers reads again" in caplog.text
    finally:
        store.backend = real
        await store.close()
