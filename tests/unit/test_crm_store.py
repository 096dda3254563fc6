"""CRM store on SQLite and a real PostgreSQL 15: writer, upserts, reads, cases, migrations."""
from __future__ import annotations

import asyncio
import stat
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_calls import AGENT_EVENTS, CALLS, at  # noqa: E402
from crm_pg import crm_url, pg_server  # noqa: E402,F401  (crm_url: fixture)

from ivr.crm.errors import CrmError  # noqa: E402
from ivr.crm.records import CallEvent, CallRecord  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402
from ivr.crm.schema import MIGRATIONS  # noqa: E402


async def test_save_and_read_back_roundtrip(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        for rec in CALLS:
            store.save_call(rec)
        got = await store.list_calls()
        assert [r.call_id for r in got] == [r.call_id for r in CALLS]
        assert got == CALLS                                    # every field survives, incl. UTC datetimes
        assert await store.get_call("c5") == CALLS[4]
        assert await store.get_call("nope") is None
    finally:
        await store.close()


async def test_cut_off_calls_finds_known_ids_and_full_cut_off_records(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        many = [CallRecord(call_id=f"1700000000.{n}", caller="+4930111", started_at=at(9, 0),
                           disposition="answered") for n in range(1200)]     # several chunks
        cut = CallRecord(call_id="1700000001.1", caller="+4930222", started_at=at(9, 1),
                         disposition="recovered", recovered=True, route="fallback")
        for rec in [*many, cut]:
            store.save_call(rec)
        await store.flush()
        wanted = [r.call_id for r in many] + [cut.call_id, "1700000009.9"]
        present, cut_off = await store.cut_off_calls(wanted)
        assert present == {r.call_id for r in many} | {cut.call_id}    # not the unknown id
        assert cut_off == {cut.call_id: cut}
    finally:
        await store.close()


async def test_upsert_last_save_wins_and_record_is_snapshotted(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        rec = CallRecord(call_id="1700000000.1", caller="+4930111", started_at=at(9, 0), path=[{"node": "main"}])
        store.save_call(rec)
        rec.path.append({"node": "queue", "input": "1"})
        rec.disposition, rec.agent, rec.decision_trace = "answered", "a1", ["lang=de", "route=dtmf"]
        store.save_call(rec)
        rec.agent = "mutated-after-save"                      # not saved again: must not leak in
        got = await store.get_call("1700000000.1")
        assert got is not None and got.agent == "a1" and got.disposition == "answered"
        assert got.path == [{"node": "main"}, {"node": "queue", "input": "1"}]
        assert got.decision_trace == ["lang=de", "route=dtmf"]
        assert len(await store.list_calls()) == 1
    finally:
        await store.close()


async def test_list_calls_period_and_limit(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        for rec in CALLS:
            store.save_call(rec)
        ids = lambda rs: [r.call_id for r in rs]  # noqa: E731
        assert ids(await store.list_calls(since=at(10, 0))) == ["c5", "c6", "c7", "c8", "c9", "c10"]
        assert ids(await store.list_calls(until=at(9, 10))) == ["c1", "c2"]     # until is exclusive
        assert ids(await store.list_calls(at(9, 5), at(10, 10))) == ["c2", "c3", "c4", "c5"]
        assert ids(await store.list_calls(limit=3)) == ["c1", "c2", "c3"]
        naive = at(10, 0).replace(tzinfo=None)                                  # naive = UTC
        assert ids(await store.list_calls(since=naive, limit=1)) == ["c5"]
    finally:
        await store.close()


async def test_call_timeline_in_order(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        kinds = ["menu", "input", "queue_enter", "offer", "escalate", "connect", "hangup"]
        for i, kind in enumerate(kinds):
            store.add_event(CallEvent("c1", at(9, 0, i), kind, {"step": i, "text": "Dosierung ü"}))
        store.add_event(CallEvent("c2", at(9, 0), "menu", {}))
        evs = await store.call_events("c1")
        assert [e.kind for e in evs] == kinds
        assert [(e.call_id, e.kind) for e in await store.list_events(kinds=["menu", "hangup"])] == [
            ("c1", "menu"), ("c2", "menu"), ("c1", "hangup")]
        assert len(await store.list_events(since=at(9, 0, 5), until=at(9, 0, 6))) == 1
        assert evs[3].data == {"step": 3, "text": "Dosierung ü"} and evs[3].at == at(9, 0, 3)
    finally:
        await store.close()


async def test_agent_events_with_state_carried_into_period(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        for e in AGENT_EVENTS:
            store.add_agent_event(e.agent, e.at, e.state, e.reason)
        assert await store.agent_events() == sorted(AGENT_EVENTS, key=lambda e: e.at)
        got = await store.agent_events(since=at(9, 50), until=at(10, 6))
        # a1 was 'ready' since 09:45 and a2 'login' since 09:00: both carried in
        assert [(e.agent, e.state) for e in got] == [
            ("a2", "login"), ("a1", "ready"), ("a2", "logout"), ("a1", "wrapup")]
        got = await store.agent_events(since=at(9, 50), agent="a1")
        assert [e.state for e in got] == ["ready", "wrapup", "ready", "logout"]
    finally:
        await store.close()


async def test_adverse_event_case_opened_once_and_closed(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        for rec in CALLS:
            store.save_call(rec)
        store.save_call(CALLS[4])                                 # re-save: still one case
        cases = await store.list_cases()
        assert [(c["call_id"], c["status"], c["opened_at"]) for c in cases] == [
            ("c5", "open", at(10, 0)), ("c10", "open", at(10, 50))]
        closed = await store.close_case(cases[0]["case_id"], "drug-safety-officer", at=at(12, 0), note="reported")
        assert closed["status"] == "closed" and closed["closed_by"] == "drug-safety-officer"
        assert [c["call_id"] for c in await store.list_cases("open")] == ["c10"]
        (c5,) = await store.list_cases("closed")
        assert c5["closed_at"] == at(12, 0) and c5["note"] == "reported"
        with pytest.raises(CrmError, match="needs a reason"):
            await store.close_case("c10", "dso")
        await store.close_case("c10", "dso", "duplicate of c5")   # by call id works too
        with pytest.raises(CrmError, match="already closed"):
            await store.close_case("c10", "dso", "again")
        with pytest.raises(CrmError, match="no case 'AE-missing'"):
            await store.close_case("AE-missing", "dso", "gone")
    finally:
        await store.close()


async def test_close_flushes_everything(crm_url: str) -> None:
    store = await open_store(crm_url)
    for i in range(300):
        store.save_call(CallRecord(call_id=f"k{i}", started_at=at(9, 0) + timedelta(seconds=i)))
        store.add_event(CallEvent(f"k{i}", at(9, 0), "hangup", {}))
    await store.close()                                           # no flush() first
    await store.close()                                           # idempotent
    store.save_call(CallRecord(call_id="late"))                   # after close: logged, never raises
    store = await open_store(crm_url)
    try:
        assert len(await store.list_calls()) == 300
        assert len(await store.call_events("k299")) == 1
    finally:
        await store.close()


async def test_bad_record_is_dropped_alone_and_never_raises(crm_url: str, caplog: pytest.LogCaptureFixture) -> None:
    store = await open_store(crm_url)
    try:
        store.save_call(CallRecord(call_id="ok1", started_at=at(9, 0)))
        store.save_call(CallRecord(call_id="bad", priority="high"))   # type: ignore[arg-type]  int() fails
        store.save_call(None)                                          # type: ignore[arg-type]
        store.add_event(CallEvent("bad", at(9, 0), "x", {"o": object()}))   # str() fallback, saved
        store.save_call(CallRecord(call_id="ok2", started_at=at(9, 1)))
        assert [r.call_id for r in await store.list_calls()] == ["ok1", "ok2"]
        assert "could not be queued" in caplog.text
    finally:
        await store.close()


async def test_writer_batches_a_burst_into_few_transactions(crm_url: str) -> None:
    store = await open_store(crm_url)
    try:
        before = store.batches
        for i in range(1000):
            store.save_call(CallRecord(call_id=f"b{i}", started_at=at(9, 0)))
        await store.flush()
        assert store.batches - before <= 10           # 1,000 records: a handful of commits, not 1,000
        assert len(await store.list_calls()) == 1000
    finally:
        await store.close()


async def test_burst_of_1000_keeps_event_loop_responsive(crm_url: str) -> None:
    """A 1 ms ticker must keep ticking while 1,000 records (+events) are written. A writer that
    blocked the loop would stall every burst; one preemption of this process on a loaded
    2-core box stalls one burst at most, so a burst is tried up to 3 times."""
    store = await open_store(crm_url)
    try:
        problems: list[str] = []
        for attempt in range(3):
            problems = await _burst(store, f"a{attempt}-")
            if not problems:
                break
        assert not problems, "; ".join(problems)
        assert len(await store.list_calls()) == 1000 * (attempt + 1)
    finally:
        await store.close()


async def _burst(store, prefix: str) -> list[str]:
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    try:
        await asyncio.sleep(0.01)
        enqueue = 0.0
        for i in range(1000):
            t0 = time.perf_counter()
            store.save_call(CallRecord(call_id=f"{prefix}{i}", caller="+4930111", started_at=at(9, 0),
                                       path=[{"node": "main", "input": "1"}] * 5, decision_trace=["x"] * 5))
            store.add_event(CallEvent(f"{prefix}{i}", at(9, 0), "hangup", {"cause": 16}))
            enqueue += time.perf_counter() - t0
            if i % 10 == 9:                  # 1,000 live calls hang up: other tasks run in between
                await asyncio.sleep(0)
        await store.flush()
    finally:
        stop.set()
        await task
    gaps.sort()
    problems = []
    if enqueue / 1000 >= 0.002:
        problems.append(f"save_call + add_event took {enqueue * 1000:.1f} ms for 1,000 calls")
    # bounds loose enough for a loaded CI box; bench/crm.py measures against the 5 ms goal
    if len(gaps) <= 5:
        problems.append(f"the ticker ticked only {len(gaps)} times")
    elif gaps[len(gaps) * 9 // 10] * 1000 >= 8:
        problems.append(f"90% of ticks within {gaps[len(gaps) * 9 // 10] * 1000:.1f} ms")
    elif gaps[-1] * 1000 >= 60:
        problems.append(f"event loop stalled {gaps[-1] * 1000:.1f} ms")
    return problems


async def test_migrations_are_versioned_and_reopen_is_idempotent(crm_url: str) -> None:
    store = await open_store(crm_url)
    store.save_call(CallRecord(call_id="m1"))
    await store.close()
    store = await open_store(crm_url)
    try:
        rows = await store.backend.fetchall("SELECT version FROM schema_version ORDER BY version")
        assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
        assert await store.get_call("m1") is not None
        await store._job(lambda tx: tx.execute("INSERT INTO schema_version VALUES (99, 'future', 'x')"))
    finally:
        await store.close()
    with pytest.raises(CrmError, match="schema version 99.*upgrade"):
        await open_store(crm_url)


async def test_sqlite_file_is_private_and_parent_created(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "crm.db"
    store = await open_store(f"sqlite:///{db}")
    store.save_call(CallRecord(call_id="p1"))
    await store.flush()
    for f in db.parent.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert (await store.backend.fetchall("PRAGMA journal_mode"))[0][0] == "wal"
    await store.close()


async def test_relative_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:///var/crm.db")
    await store.close()
    assert (tmp_path / "var" / "crm.db").exists()


@pytest.mark.parametrize("url, msg", [
    ("mysql://x@y/z", "unsupported CRM URL"),
    ("sqlite://", "bad SQLite URL"),
    ("sqlite:///:memory:", "bad SQLite URL"),
    ("postgresql://nobody@127.0.0.1:1/x", "cannot connect to PostgreSQL nobody@127.0.0.1:1/x"),
])
async def test_bad_urls_say_what_to_fix(url: str, msg: str) -> None:
    with pytest.raises(CrmError, match=msg):
        await open_store(url)


async def test_unusable_sqlite_path_is_reported(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")           # a file where a directory is needed (works as root too)
    with pytest.raises(CrmError, match=r"cannot open the CRM database .*afile/x/crm.db.*Check the path"):
        await open_store(f"sqlite:///{tmp_path}/afile/x/crm.db")


async def test_password_taken_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    async def fake_connect(url: str, **kw: object) -> None:
        seen.update(kw)
        raise __import__("psycopg").OperationalError("boom")

    import psycopg
    monkeypatch.setattr(psycopg.AsyncConnection, "connect", fake_connect)
    monkeypatch.setenv("IVR_DB_PASSWORD", "s3cret")
    with pytest.raises(CrmError) as err:
        await open_store("postgresql://ivr@db.example:5432/ivr")
    assert seen["password"] == "s3cret" and "s3cret" not in str(err.value)


async def test_postgres_writer_reconnects_after_server_drops_it() -> None:
    store = await open_store(pg_server().new_database())
    try:
        store.save_call(CallRecord(call_id="r1"))
        await store.flush()
        # the server kills every other session of this database (as a restart would)
        await store.backend.fetchall(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        store.save_call(CallRecord(call_id="r2"))
        await store.flush()
        assert store.dropped == 0
        assert [r.call_id for r in await store.list_calls()] == ["r1", "r2"]
    finally:
        await store.close()


async def test_flush_during_close_does_not_hang(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path}/crm.db")
    store.save_call(CallRecord(call_id="f1"))
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)
    await asyncio.wait_for(store.flush(), 5)
    await closing
