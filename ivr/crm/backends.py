"""Database adapters: the only place that knows SQLite from PostgreSQL.

Each backend has two connections: a writer (used only by the store's writer task,
inside explicit transactions) and a reader (autocommit, sees committed data), so
reports never read half of an in-flight batch."""
from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Protocol, Sequence
from urllib.parse import unquote, urlsplit

import aiosqlite

from .errors import CrmError

Params = Sequence[Any]


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


class PgBackend:
    dialect = "postgresql"

    def __init__(self, where: str, writer: Any, reader: Any, connect: Any = None) -> None:
        self.where, self._w, self._r = where, writer, reader
        self._connect = connect

    async def _alive(self, conn: Any) -> Any:
        """Reconnect a connection the server dropped (restart, failover, idle kill)."""
        if (conn.closed or conn.broken) and self._connect is not None:
            import psycopg
            try:
                return await self._connect()
            except psycopg.Error as exc:
                raise CrmError(f"lost the connection to {self.where} and cannot reconnect: {exc}") from exc
        return conn

    def lost_connection(self) -> bool:
        """The writer's connection was dropped (server restart, failover): the next
        transaction reconnects, so a write that just failed is worth retrying at once."""
        return bool(self._w.closed or self._w.broken) and self._connect is not None

    @classmethod
    async def open(cls, url: str) -> "PgBackend":
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            info = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise CrmError(f"bad PostgreSQL URL: {exc}. Expected postgresql://user@host:port/db") from exc
        extra: dict[str, Any] = {}
        if not info.get("password") and os.environ.get("IVR_DB_PASSWORD"):
            extra["password"] = os.environ["IVR_DB_PASSWORD"]
        where = (f"PostgreSQL {info.get('user', '?')}@{info.get('host', 'localhost')}:"
                 f"{info.get('port', 5432)}/{info.get('dbname', '?')}")

        async def connect() -> Any:
            return await psycopg.AsyncConnection.connect(url, autocommit=True, **extra)

        try:
            writer = await connect()
            reader = await connect()
        except psycopg.Error as exc:
            raise CrmError(f"cannot connect to {where}: {str(exc).strip()}. Check that the server is "
                           "running, the URL, and IVR_DB_PASSWORD.") from exc
        return cls(where, writer, reader, connect)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgTx]:
        self._w = await self._alive(self._w)
        async with self._w.transaction():
            yield _PgTx(self._w)

    async def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        self._r = await self._alive(self._r)
        cur = await self._r.execute(_pg(sql), tuple(params))
        return list(await cur.fetchall())

    async def close(self) -> None:
        await self._r.close()
        await self._w.close()


async def open_backend(url: str, busy_timeout_s: float = 10.0) -> Backend:
    """busy_timeout_s: how long an SQLite write waits for another process's lock before
    failing (the store then spools it); PostgreSQL waits on its own lock settings."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        parts = urlsplit(url)
        if parts.netloc or not parts.path.startswith("/") or parts.path in ("/", "/:memory:"):
            raise CrmError(f"bad SQLite URL {url!r}: use sqlite:///relative/crm.db or "
                           "sqlite:////absolute/crm.db (a file; :memory: is not supported)")
        return await SqliteBackend.open(Path(unquote(parts.path[1:])), busy_timeout_s)
    if scheme in ("postgresql", "postgres"):
        return await PgBackend.open(url)
    raise CrmError(f"unsupported CRM URL {url!r}: use sqlite:///path/crm.db or "
                   "postgresql://user@host:port/db")
