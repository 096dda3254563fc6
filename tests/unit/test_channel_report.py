"""`ivr report --by channel`: the pure figures, and the real CLI on a SQLite CRM with calls
and e-mail tasks."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_calls import CALLS  # noqa: E402

from ivr.channels.channel_report import task_rows  # noqa: E402
from ivr.crm import codec  # noqa: E402
from ivr.crm.cli import crm_group  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def task(channel: str, created_h: float, responded_h: float | None, status: str = "open") -> dict:
    created = NOW - timedelta(hours=created_h)
    return {"channel": channel, "status": status, "created_at": created,
            "first_response_at": None if responded_h is None else created + timedelta(hours=responded_h)}


def test_task_rows_first_response_backlog_and_service_level() -> None:
    rows = task_rows([task("email", 10, 1, "closed"), task("email", 20, 9), task("email", 9, None),
                      task("email", 2, None), task("chat", 1, 0.01, "closed")],
                     {"email": 8 * 3600, "chat": 60}, NOW)
    chat, email = rows
    assert email["volume"] == 4 and email["closed"] == 1 and email["responded"] == 2
    assert email["first_response_avg_s"] == 5 * 3600 and email["backlog"] == 3
    assert email["backlog_oldest_age_s"] == 20 * 3600
    # in SL: the 1 h answer; out: the 9 h answer and the 9 h old unanswered; the 2 h one not due yet
    assert email["service_level"] == round(1 / 3, 4)
    assert chat["service_level"] == 1.0 and chat["backlog"] == 0 and chat["backlog_oldest_age_s"] is None


def test_cli_report_by_channel(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crm.db"

    async def fill() -> None:
        store = await open_store(url)
        for rec in CALLS:
            store.save_call(rec)

        async def tasks(tx):
            for i, (created, responded, status) in enumerate([(3, 1, "closed"), (2, None, "open")]):
                c = datetime.now(timezone.utc) - timedelta(hours=created)
                await tx.execute("INSERT INTO tasks (task_id, channel, queue, priority, status, thread_id, "
                                 "created_at, first_response_at) VALUES (?, 'email', 'q', 0, ?, ?, ?, ?)",
                                 (f"EM-{i}", status, f"EM-{i}", codec.ts(c),
                                  codec.ts(c + timedelta(hours=responded)) if responded else None))
        await store.transact(tasks)
        await store.close()

    asyncio.run(fill())
    res = CliRunner().invoke(crm_group, ["report", "--crm", url, "--by", "channel", "--format", "json"],
                             obj={}, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = {r["channel"]: r for r in json.loads(res.output)["rows"]}
    assert rows["voice"]["volume"] > 0 and rows["voice"]["backlog"] == 0
    assert rows["email"]["volume"] == 2 and rows["email"]["backlog"] == 1
    assert rows["email"]["first_response_avg_s"] == 3600.0 and rows["email"]["service_level"] == 1.0
    res = CliRunner().invoke(crm_group, ["report", "--crm", url, "--by", "channel", "--format", "csv"],
                             obj={}, catch_exceptions=False)
    assert [r["channel"] for r in csv.DictReader(io.StringIO(res.output))] == ["voice", "email"]
    res = CliRunner().invoke(crm_group, ["report", "--crm", url, "--by", "channel"], obj={},
                             catch_exceptions=False, env={"COLUMNS": "220"})
    assert "email" in res.output and "backlog" in res.output


def test_the_wallboard_line_per_channel_sums_its_queues() -> None:
    from ivr.channels.channel_report import live_backlog
    rows = live_backlog([
        {"queue": "pv", "channel": "email", "waiting": 2, "offered": 1, "connected": 0, "oldest_age": 40.04},
        {"queue": "general", "channel": "email", "waiting": 3, "offered": 0, "connected": 2, "oldest_age": 95.0},
        {"queue": "general", "channel": "chat", "waiting": 0, "offered": 0, "connected": 4, "oldest_age": 0.0}])
    assert rows == [{"channel": "chat", "waiting": 0, "offered": 0, "connected": 4, "oldest_wait": 0.0},
                    {"channel": "email", "waiting": 5, "offered": 1, "connected": 2, "oldest_wait": 95.0}]
