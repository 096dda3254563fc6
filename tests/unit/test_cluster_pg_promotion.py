"""Leadership across a PostgreSQL promotion (issue 16): the engines' lock lives on the primary,
so when it is fenced and its streaming standby promoted, the leader's session is gone with it.
The leader steps down, the standby engine follows the multi-host URL to the new primary and
takes over with the next term (the cluster row was replicated), never two engines routing at
once, and the new primary refuses the former leader's late writes (the fence trigger came with
the schema)."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import pg_server  # noqa: E402
from pg_replica import ReplicaPair  # noqa: E402
from .test_cluster_pg import NAME, Member, _write_waiting, never_two_routing, until  # noqa: E402

from ivr.cluster.admin import init_cluster  # noqa: E402
from ivr.cluster.leadership import Role  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402


async def test_a_promotion_hands_leadership_to_the_standby_engine_with_the_next_term() -> None:
    pg_server()                                  # skips loudly without the PostgreSQL binaries
    pair = await asyncio.to_thread(ReplicaPair)
    try:
        database = await asyncio.to_thread(pair.new_database)
        url = pair.url(database)
        await (await open_store(url)).close()    # the CRM schema, fence trigger included
        await init_cluster(url, NAME)
        a = await Member(url, "engine-a").start()
        await until(lambda: a.leader.role is Role.ACTIVE)
        b = await Member(url, "engine-b").start()
        term = a.leader.term
        late = await psycopg.AsyncConnection.connect(pair.standby.url(database), autocommit=True)
        await asyncio.to_thread(pair.wait_replayed)
        failover = asyncio.ensure_future(asyncio.to_thread(pair.fail_over))
        check = never_two_routing(a, b)
        await until(lambda: a.leader.role is Role.STEPPED_DOWN, timeout=20, check=check)
        await until(lambda: b.leader.role is Role.ACTIVE, timeout=30, check=check)
        await failover
        assert b.leader.term == term + 1 and b.events == [("active", term + 1)]
        assert a.events[-1][0] == "down" and not a.leader.may_route()
        # on the new primary: the former leader's term is refused, the new one's accepted
        with pytest.raises(psycopg.Error) as refused:
            await _write_waiting(late, term, "late-1")
        assert refused.value.sqlstate == "IVR01"
        await _write_waiting(late, b.leader.term, "new-1")
        await late.close()
        await a.stop()
        await b.stop()
    finally:
        await asyncio.to_thread(pair.stop)
