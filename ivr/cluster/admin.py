"""`ivr cluster init` and `ivr cluster status`: the cluster row, who holds the lock, the
engines' links to the database and the replicas' lag, read from PostgreSQL itself (works with
both engines down)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ivr.cluster.leadership import ClusterRow, lock_key
from ivr.cluster.pg_leader import APP_PREFIX, ClusterRefused, read_cluster_row, where
from ivr.crm import codec


async def init_cluster(url: str, name: str) -> tuple[ClusterRow, bool]:
    """Migrate the database and write the cluster row (term 0). (row, created). Refused if
    the database already belongs to another cluster."""
    import psycopg
    from ivr.crm.store import open_store
    store = await open_store(url)          # migrations, as the engine would run them
    await store.close()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO cluster_leader (id, name, term, created_at) VALUES (1, %s, 0, %s) "
            "ON CONFLICT (id) DO NOTHING", [name, codec.ts(datetime.now(timezone.utc))])
        row = await read_cluster_row(conn)
    if row is None or row.name != name:
        raise ClusterRefused(f"{where(url)} already belongs to cluster {row.name if row else '?'!r}; "
                             f"not made cluster {name!r}")
    return row, row.term == 0 and row.engine is None


async def cluster_status(url: str, name: str) -> dict[str, Any]:
    """The cluster row and one link per engine session and per replica."""
    import psycopg
    key = lock_key(name)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = await read_cluster_row(conn)
        cur = await conn.execute(
            "SELECT heartbeat_at FROM cluster_leader WHERE id = 1") if row else None
        heartbeat = (await cur.fetchone())[0] if cur else None
        cur = await conn.execute(
            """SELECT a.application_name, a.pid, host(a.client_addr), a.backend_start,
                      EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted
                              AND l.locktype = 'advisory' AND l.classid::bigint = %s
                              AND l.objid::bigint = %s AND l.objsubid = 1)
               FROM pg_stat_activity a WHERE a.application_name LIKE %s ORDER BY a.backend_start""",
            [key >> 32, key & 0xFFFF_FFFF, APP_PREFIX + "%"])
        sessions = await cur.fetchall()
        cur = await conn.execute(
            "SELECT application_name, host(client_addr), state, "
            "EXTRACT(EPOCH FROM replay_lag) FROM pg_stat_replication")
        replicas = await cur.fetchall()
    now = datetime.now(timezone.utc)
    links = [{"link": "engine", "name": app[len(APP_PREFIX):], "role": "active" if holds else "standby",
              "address": addr or "local", "since": codec.ts(since.astimezone(timezone.utc)),
              "pg_pid": pid, "lag_s": None} for app, pid, addr, since, holds in sessions]
    links += [{"link": "replica", "name": app or "?", "role": state, "address": addr or "local",
               "since": None, "pg_pid": None, "lag_s": None if lag is None else round(float(lag), 3)}
              for app, addr, state, lag in replicas]
    holders = [link["name"] for link in links if link["link"] == "engine" and link["role"] == "active"]
    heartbeat_age = None
    if heartbeat:
        heartbeat_age = round((now - codec.parse_ts(heartbeat)).total_seconds(), 1)
    return {"cluster": row.name if row else None, "database": where(url),
            "active": holders[0] if holders else None, "term": row.term if row else None,
            "last_leader": row.engine if row else None, "heartbeat_age_s": heartbeat_age,
            "links": links}
