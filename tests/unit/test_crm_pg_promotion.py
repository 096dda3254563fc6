"""The CRM on a PostgreSQL primary and its standby (issue 16): a real streaming-replication
pair on loopback; the store writes through `postgresql://h1,h2/db?target_session_attrs=
read-write` while the primary stops and the standby is promoted. It spools meanwhile and
follows the promotion by itself: every record on the new primary, none twice."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import pg_server  # noqa: E402
from pg_replica import promotion_trial  # noqa: E402


async def test_the_crm_follows_a_promoted_standby_nothing_lost_or_duplicated(tmp_path: Path) -> None:
    pg_server()                                  # skips loudly without the PostgreSQL binaries
    result = await promotion_trial(tmp_path, calls=300)
    assert result["pg_promotion_new_primary_writable"], result
    assert result["pg_promotion_spooled_max"] > 0, result      # it did wait through the switch
    assert result["pg_promotion_spool_drained"], result
    assert result["pg_promotion_lost_records"] == 0, result
    assert result["pg_promotion_lost_events"] == 0, result
    assert result["pg_promotion_duplicate_records"] == 0, result


def test_messages_name_every_server_of_a_multi_host_url() -> None:
    from psycopg.conninfo import conninfo_to_dict

    from ivr.crm.backends import describe_pg
    from ivr.crm.outage import what_to_do
    info = conninfo_to_dict("postgresql://crm@db1:5432,db2:5433/hotline?target_session_attrs=read-write")
    where = describe_pg(info)
    assert where == "PostgreSQL crm@db1:5432,db2:5433/hotline"
    assert describe_pg(conninfo_to_dict("postgresql://crm@db1,db2/h")) == "PostgreSQL crm@db1:5432,db2:5432/h"
    hint = what_to_do(Exception('connection to server at "db2", port 5433 failed: session is read-only'), where)
    assert "failover" in hint and "pg_ctl promote" in hint
