"""Leadership through a real PostgreSQL (ivr/cluster/pg_leader.py, migration 10): exactly one
active engine, a takeover when the leader's session dies, the term fence in the database, a
partition, the wrong database refused."""
from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import pg_server  # noqa: E402

from ivr.cluster.admin import cluster_status, init_cluster  # noqa: E402
from ivr.cluster.leadership import Role  # noqa: E402
from ivr.cluster.pg_leader import ClusterRefused, PgLeader  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402

NAME = "pharma"


class Member:
    """A PgLeader running as an engine would, recording what it was told."""

    def __init__(self, url: str, engine: str, lease_s: float = 1.0, name: str = NAME):
        self.events: list[tuple[str, object]] = []
        self.leader = PgLeader(url, name, engine, poll_s=0.1, lease_s=lease_s,
                               on_active=lambda term: self.events.append(("active", term)),
                               on_step_down=lambda why: self.events.append(("down", why)))
        self.task: asyncio.Task | None = None

    async def start(self) -> "Member":
        await self.leader.join()
        self.task = asyncio.create_task(self.leader.run())
        return self

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.leader.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0,
                check: Callable[[], None] = lambda: None) -> float:
    """Seconds until `condition`; `check` runs at every step (an invariant)."""
    started = time.monotonic()
    while not condition():
        check()
        assert time.monotonic() - started < timeout, "timed out"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
async def url() -> str:
    url = pg_server().new_database()
    await init_cluster(url, NAME)
    return url


def never_two_routing(*members: Member) -> Callable[[], None]:
    def check() -> None:
        assert sum(m.leader.may_route() for m in members) <= 1, "two engines route at once"
    return check


async def test_two_engines_exactly_one_active_and_a_dead_session_hands_over_with_a_new_term(
        url: str) -> None:
    a, b = await Member(url, "engine-a").start(), await Member(url, "engine-b").start()
    try:
        await until(lambda: a.leader.role is Role.ACTIVE or b.leader.role is Role.ACTIVE,
                    check=never_two_routing(a, b))
        await asyncio.sleep(0.5)             # several polls: the other stays standby
        leader, standby = (a, b) if a.leader.role is Role.ACTIVE else (b, a)
        assert standby.leader.role is Role.STANDBY and not standby.leader.may_route()
        term = leader.leader.term
        status = await cluster_status(url, NAME)
        assert status["active"] == leader.leader.engine and status["term"] == term
        assert {(link["name"], link["role"]) for link in status["links"]} == {
            (leader.leader.engine, "active"), (standby.leader.engine, "standby")}

        # the leader's session dies (as when its process is killed): the server frees the lock
        [pid] = [link["pg_pid"] for link in status["links"] if link["role"] == "active"]
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("SELECT pg_terminate_backend(%s)", [pid])
        took = await until(lambda: standby.leader.role is Role.ACTIVE, check=never_two_routing(a, b))
        assert took < 3.0
        assert standby.leader.term == term + 1 and standby.events == [("active", term + 1)]
        assert leader.leader.role is Role.STEPPED_DOWN and leader.events[-1][0] == "down"
        assert (await cluster_status(url, NAME))["active"] == standby.leader.engine
    finally:
        await a.stop()
        await b.stop()


async def test_a_clean_stop_frees_the_lock_at_once(url: str) -> None:
    a = await Member(url, "engine-a").start()
    await until(lambda: a.leader.role is Role.ACTIVE)
    b = await Member(url, "engine-b").start()
    try:
        await a.stop()
        took = await until(lambda: b.leader.role is Role.ACTIVE)
        assert 1.0 <= took < 1.5            # the lock at once, then one lease waited out
    finally:
        await b.stop()


async def _write_waiting(conn: Any, term: int, call_id: str = "c1") -> None:
    await conn.execute(
        "INSERT INTO cluster_waiting (call_id, term, state, queue, arrived_at, priority, requirement,"
        " escalation_step, data, updated_at) VALUES (%s, %s, 'waiting', 'pv', 't0', 0, '', 0, '{}', 't0')"
        " ON CONFLICT (call_id) DO UPDATE SET term = EXCLUDED.term, state = 'offered'",
        [call_id, term])


async def test_the_database_refuses_a_former_leaders_late_writes(url: str) -> None:
    a = await Member(url, "engine-a").start()
    await until(lambda: a.leader.role is Role.ACTIVE)
    old = a.leader.term
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await _write_waiting(conn, old)                      # the leader's write: accepted
        await a.stop()
        b = await Member(url, "engine-b").start()
        try:
            await until(lambda: b.leader.role is Role.ACTIVE)
            for call_id in ("c1", "c2"):                     # an update and an insert, both late
                with pytest.raises(psycopg.Error) as refused:
                    await _write_waiting(conn, old, call_id)
                assert refused.value.sqlstate == "IVR01" and "not the current one" in str(refused.value)
            await _write_waiting(conn, b.leader.term, "c2")  # the new leader's
            cur = await conn.execute("SELECT call_id, term FROM cluster_waiting ORDER BY call_id")
            assert await cur.fetchall() == [("c1", old), ("c2", b.leader.term)]
        finally:
            await b.stop()


async def test_a_write_racing_a_takeover_waits_for_it_then_is_refused(url: str) -> None:
    """FOR SHARE in the fence: the takeover's row lock orders the two, never both pass."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as takeover, \
            await psycopg.AsyncConnection.connect(url, autocommit=True) as late:
        await takeover.execute("UPDATE cluster_leader SET term = 5")
        async with takeover.transaction():
            await takeover.execute("UPDATE cluster_leader SET term = term + 1")
            write = asyncio.create_task(_write_waiting(late, 5))
            await asyncio.sleep(0.3)
            assert not write.done()                          # held by the takeover's lock
        with pytest.raises(psycopg.Error, match="not the current one"):
            await write


async def test_the_fence_holds_on_sqlite_too(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    await (await open_store(f"sqlite:///{db}")).close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO cluster_leader (id, name, term, created_at) VALUES (1, 'x', 3, 't')")
        row = ("c1", 3, "waiting", "pv", "t0", 0, "", 0, "{}", "t0")
        conn.execute("INSERT INTO cluster_waiting VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        conn.execute("UPDATE cluster_leader SET term = 4")
        with pytest.raises(sqlite3.IntegrityError, match="not the current one"):
            conn.execute("UPDATE cluster_waiting SET state = 'offered', term = 3")
        with pytest.raises(sqlite3.IntegrityError, match="not the current one"):
            conn.execute("INSERT INTO cluster_waiting VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         ("c2",) + row[1:])


async def test_an_engine_on_the_wrong_database_is_refused(url: str, tmp_path: Path) -> None:
    fresh = pg_server().new_database()              # reachable, but not the cluster's
    await (await open_store(fresh)).close()
    with pytest.raises(ClusterRefused, match="holds no hotline cluster"):
        await Member(fresh, "engine-b").leader.join()
    with pytest.raises(ClusterRefused, match="belongs to cluster 'pharma', not 'vaccines'"):
        await Member(url, "engine-b", name="vaccines").leader.join()
    with pytest.raises(ClusterRefused, match="already belongs to cluster 'pharma'"):
        await init_cluster(url, "vaccines")
    with pytest.raises(ClusterRefused, match="needs PostgreSQL"):
        Member(f"sqlite:///{tmp_path}/crm.db", "engine-b")


class Proxy:
    """A TCP relay to the server that can freeze (a partition: packets stop, nothing closes)
    and then cut its connections."""

    def __init__(self, port: int):
        self.port, self.frozen = port, asyncio.Event()
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if self.frozen.is_set():
                await asyncio.Event().wait()      # swallowed, as by a dead link
            writer.write(data)
            await writer.drain()

    def cut(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.server.close()


async def test_a_partition_makes_the_leader_stop_routing_and_never_two_actives(url: str) -> None:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
    info = conninfo_to_dict(url)
    proxy = Proxy(int(info["port"]))
    via_proxy = make_conninfo(url, port=str(await proxy.start()))
    a = await Member(via_proxy, "engine-a", lease_s=1.0).start()
    await until(lambda: a.leader.role is Role.ACTIVE)
    b = await Member(url, "engine-b", lease_s=1.0).start()
    try:
        proxy.frozen.set()
        frozen_at = time.monotonic()
        stopped = await until(lambda: not a.leader.may_route(), check=never_two_routing(a, b))
        assert stopped <= 1.0 + 0.3                        # within its lease (+ one poll)
        await until(lambda: a.leader.role is Role.STEPPED_DOWN, timeout=5)
        # the server still sees a live session (the proxy's end): the lock stays held,
        # so the standby waits rather than becoming a second active
        await asyncio.sleep(1.0)
        assert b.leader.role is Role.STANDBY
        proxy.cut()                                      # the server sees the session die
        await until(lambda: b.leader.role is Role.ACTIVE, check=never_two_routing(a, b))
        assert b.leader.term == a.leader.term + 1 and time.monotonic() - frozen_at > 1.0
    finally:
        proxy.cut()
        await a.stop()
        await b.stop()
