"""Database adapters: the only place that knows SQLite from PostgreSQL.

Each backend has two connections: a writer (used only by the store's writer task,
inside explicit transactions) and a reader (autocommit, sees committed data), so
reports never read half of an in-flight batch."""
from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Protocol, Sequence
from urllib.parse import unquote, urlsplit

import aiosqlite

from .errors import CrmError, CrmUnreachable
from .outage import refused_by_settings

Params = Sequence[Any]
CONNECT_TIMEOUT_S = 10        # PostgreSQL, unless the URL or PGCONNECT_TIMEOUT says otherwise


class Tx(Protocol):
    async def execute(self, sql: str, params: Params = ()) -> int: ...
    async def executemany(self, sql: str, rows: list[Params]) -> None: ...
    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...


class Backend(Protocol):
    dialect: str
    where: str

    def transaction(self) -> Any: ...
    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]: ...
    async def close(self) -> None: ...


# ---------------------------------------------------------------- SQLite
class _SqliteTx:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._c = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self._c.execute(sql, tuple(params))
        n = cur.rowcount
        await cur.close()
        return n

    async def executemany(self, sql: str, rows: list[Params]) -> None:
        await self._c.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        async with self._c.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())


class SqliteBackend:
    dialect = "sqlite"

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path, self._w, self._r = path, writer, reader
        self.where = f"SQLite database {path}"

    @classmethod
    async def open(cls, path: Path, busy_timeout_s: float = 10.0) -> "SqliteBackend":
        busy_ms = max(0, int(busy_timeout_s * 1000))   # how long a write waits for a lock
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # call records hold patients' numbers and adverse events: owner-only
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
            writer = await aiosqlite.connect(path, isolation_level=None)
            # FULL: an adverse-event record must survive power loss; batching pays for the fsync
            for pragma in ("journal_mode=WAL", "synchronous=FULL", f"busy_timeout={busy_ms}"):
                await writer.execute(f"PRAGMA {pragma}")
            reader = await aiosqlite.connect(path, isolation_level=None)
            await reader.execute(f"PRAGMA busy_timeout={busy_ms}")
        except (OSError, sqlite3.Error) as exc:
            raise CrmError(f"cannot open the CRM database {path}: {exc}. "
                           "Check the path, its permissions and free disk space.") from exc
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.chmod(side, 0o600)
        return cls(path, writer, reader)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteTx]:
        await self._w.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteTx(self._w)
            await self._w.execute("COMMIT")
        except BaseException:
            await self._rollback()
            raise

    async def _rollback(self) -> None:
        # A failed COMMIT (busy, I/O error) can leave the transaction open, and every later
        # BEGIN would then fail; a failing ROLLBACK must not hide the original error.
        try:
            if self._w.in_transaction:
                await self._w.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        async with self._r.execute(sql, tuple(params)) as cur:
            return list(await cur.fetchall())

    async def close(self) -> None:
        await self._r.close()
        await self._w.close()


# ---------------------------------------------------------------- PostgreSQL
def _pg(sql: str) -> str:
    # our SQL is written with '?' placeholders and contains no literal '?' or '%'
    return sql.replace("?", "%s")


class _PgTx:
    # psycopg adapts parameters in the calling thread while holding the GIL (a writer
    # thread doesn't help: measured 200 ms stalls). So the writer stays on the loop and
    # sends batches in small chunks, yielding in between: no long block of the loop.
    CHUNK = 16

    def __init__(self, conn: Any) -> None:
        self._c = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self._c.execute(_pg(sql), tuple(params))
        return cur.rowcount

    async def executemany(self, sql: str, rows: list[Params]) -> None:
        query = _pg(sql)
        async with self._c.cursor() as cur:
            for i in range(0, len(rows), self.CHUNK):
                if i:
                    await asyncio.sleep(0)
                await cur.executemany(query, rows[i:i + self.CHUNK])

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        cur = await self._c.execute(_pg(sql), tuple(params))
        return list(await cur.fetchall())


def describe_pg(info: dict[str, Any]) -> str:
    """'PostgreSQL user@host:port/db' for messages; every server of a multi-host URL
    (h1:p1,h2:p2: a primary and its standby) with its own port."""
    hosts = str(info.get("host") or "localhost").split(",")
    ports = str(info.get("port") or 5432).split(",")
    ports = ports * len(hosts) if len(ports) == 1 else ports       # one port for all hosts
    servers = ",".join(f"{h or 'localhost'}:{p or 5432}" for h, p in zip(hosts, ports))
    return f"PostgreSQL {info.get('user', '?')}@{servers}/{info.get('dbname', '?')}"


class PgBackend:
    dialect = "postgresql"
    # After a failed connection attempt, reads fail at once for this long instead of each
    # trying again: live calls must not queue up behind a server that does not answer.
    READ_RECONNECT_PAUSE_S = 1.0

    def __init__(self, where: str, writer: Any, reader: Any, connect: Any = None) -> None:
        # writer/reader are None while the server has not been reached yet (down at start)
        self.where, self._w, self._r = where, writer, reader
        self._connect = connect
        self._reconnecting = asyncio.Lock()       # one attempt at a time, not one per caller
        self._failed_at = float("-inf")           # monotonic time of the last failed attempt
        self._failure: str | None = None           # what the last failed attempt said
        self.unreachable: CrmUnreachable | None = None   # set by open(connect_later=True)

    async def _alive(self, role: str, *, fail_fast: bool = False) -> Any:
        """The connection `role` ("_w" or "_r"), (re)opened if the server dropped it (restart,
        failover, idle kill) or was never reached. fail_fast: just after a failed attempt,
        fail without trying again (reads of live calls)."""
        conn = getattr(self, role)
        if not _needs_connecting(conn) or self._connect is None:
            return conn
        async with self._reconnecting:
            conn = getattr(self, role)
            if not _needs_connecting(conn):          # another task reconnected meanwhile
                return conn
            if fail_fast and self._failure and time.monotonic() - self._failed_at < self.READ_RECONNECT_PAUSE_S:
                raise CrmUnreachable(self._failure)
            try:
                conn = await self._connect()
            except Exception as exc:
                self._failed_at = time.monotonic()
                self._failure = (f"cannot connect to {self.where}: {_oneline(exc)}" if conn is None else
                                 f"lost the connection to {self.where} and cannot reconnect: {_oneline(exc)}")
                raise CrmUnreachable(self._failure) from exc
            setattr(self, role, conn)
            self._failure = None
            return conn

    def lost_connection(self) -> bool:
        """The writer's connection was dropped (server restart, failover): the next
        transaction reconnects, so a write that just failed is worth retrying at once."""
        return self._w is not None and bool(self._w.closed or self._w.broken) and self._connect is not None

    @classmethod
    async def open(cls, url: str, *, connect_later: bool = False) -> "PgBackend":
        """Connect. A server refusing these settings (wrong password, database or user) is a
        CrmError; one that cannot be reached is a CrmUnreachable, or, with connect_later, a
        backend that connects on first use (`unreachable` says why it is not connected)."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            info = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise CrmError(f"bad PostgreSQL URL: {exc}. Expected postgresql://user@host:port/db") from exc
        extra: dict[str, Any] = {}
        if not info.get("password") and os.environ.get("IVR_DB_PASSWORD"):
            extra["password"] = os.environ["IVR_DB_PASSWORD"]
        if "connect_timeout" not in info and not os.environ.get("PGCONNECT_TIMEOUT"):
            # libpq waits for the OS (minutes) on a host that drops packets: meanwhile the
            # writer holds records in memory rather than in the spool
            extra["connect_timeout"] = CONNECT_TIMEOUT_S
        where = describe_pg(info)

        async def connect() -> Any:
            return await psycopg.AsyncConnection.connect(url, autocommit=True, **extra)

        backend = cls(where, None, None, connect)
        try:
            backend._w = await connect()
            backend._r = await connect()
        except psycopg.Error as exc:
            await backend.close()
            if refused_by_settings(exc):
                raise CrmError(f"cannot connect to {where}: {_oneline(exc)}. The server refused "
                               "these settings: check the user, the database name and the "
                               "password (crm.url, or IVR_DB_PASSWORD).") from exc
            if not connect_later:
                raise CrmUnreachable(f"cannot connect to {where}: {_oneline(exc)}. Check that the "
                                     "server is running and reachable from here.") from exc
            backend._w = backend._r = None
            backend.unreachable = CrmUnreachable(f"cannot connect to {where}: {_oneline(exc)}")
        return backend

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTx]:
        conn = await self._alive("_w")
        async with conn.transaction():
            yield _PgTx(conn)

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        conn = await self._alive("_r", fail_fast=True)
        cur = await conn.execute(_pg(sql), tuple(params))
        return list(await cur.fetchall())

    async def close(self) -> None:
        for conn in (self._r, self._w):
            if conn is not None:
                await conn.close()


def _needs_connecting(conn: Any) -> bool:
    return conn is None or bool(conn.closed or conn.broken)


def _oneline(exc: BaseException) -> str:
    # libpq's messages span lines ("...failed: Connection refused\n\tIs the server running...?")
    # and may end in a full stop: our sentence goes on after them
    return " ".join(str(exc).split()).rstrip(". ")


async def open_backend(url: str, busy_timeout_s: float = 10.0, *, connect_later: bool = False) -> Backend:
    """busy_timeout_s: how long an SQLite write waits for another process's lock before
    failing (the store then spools it); PostgreSQL waits on its own lock settings.
    connect_later: a PostgreSQL server that cannot be reached now is connected on first use
    (PgBackend.open); its settings are still checked if it answers."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        parts = urlsplit(url)
        if parts.netloc or not parts.path.startswith("/") or parts.path in ("/", "/:memory:"):
            raise CrmError(f"bad SQLite URL {url!r}: use sqlite:///relative/crm.db or "
                           "sqlite:////absolute/crm.db (a file; :memory: is not supported)")
        return await SqliteBackend.open(Path(unquote(parts.path[1:])), busy_timeout_s)
    if scheme in ("postgresql", "postgres"):
        return await PgBackend.open(url, connect_later=connect_later)
    raise CrmError(f"unsupported CRM URL {url!r}: use sqlite:///path/crm.db or "
                   "postgresql://user@host:port/db")
