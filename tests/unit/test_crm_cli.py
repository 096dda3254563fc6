"""CRM click commands end to end on a SQLite store."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_calls import AGENT_EVENTS, CALLS  # noqa: E402

from ivr.crm.records import CallEvent  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402
from ivr.crm.cli import crm_group, register  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "crm"


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/crm.db"

    async def fill() -> None:
        store = await open_store(url)
        for rec in CALLS:
            store.save_call(rec)
        for e in AGENT_EVENTS:
            store.add_agent_event(e.agent, e.at, e.state, e.reason)
        store.add_event(CallEvent("c2", CALLS[1].started_at, "ring_no_answer",
                                  {"agent": "a1", "queue": "info", "ring_ms": 15000}))
        await store.close()

    asyncio.run(fill())
    return url


def run(*args: str, obj: dict | None = None) -> "click.testing.Result":
    return CliRunner().invoke(crm_group, list(args), obj=obj, catch_exceptions=False)


def test_calls_json_and_table(url: str) -> None:
    res = run("calls", "--crm", url, "--since", "2026-03-02T10:00", "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [c["call_id"] for c in data] == ["c5", "c6", "c7", "c8", "c9", "c10"]
    assert data[0]["started_at"] == "2026-03-02T10:00:00+00:00" and data[0]["adverse_event"] is True
    res = run("calls", "--until", "2026-03-02T09:06", obj={"crm_url": url})       # URL from ctx.obj
    assert res.exit_code == 0 and "c2" in res.output and "c3" not in res.output


def test_report_formats(url: str, tmp_path: Path) -> None:
    res = run("report", "--crm", url, "--by", "queue", "--format", "json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["total"]["offered"] == 7 and rep["total"]["service_level"] == 0.2857
    assert {g["group"] for g in rep["groups"]} == {"-", "info", "safety"}
    res = run("report", "--crm", url, "--format", "csv", "--short-abandon", "0", "--sl-seconds", "30")
    assert res.output.splitlines()[-1].startswith("TOTAL,10,8,4,4,0.5,")
    html = tmp_path / "r.html"
    res = run("report", "--crm", url, "--by", "hour", "--html", str(html))
    assert res.exit_code == 0 and "Service by hour" in res.output and "<svg" in html.read_text()
    res = run("report", "--crm", url, "--since", "2026-03-02T10:00", "--format", "json")
    assert json.loads(res.output)["total"]["calls"] == 6


def test_contacts_import_and_show(url: str, tmp_path: Path) -> None:
    res = run("contacts", "import", "--crm", url, str(FIX / "contacts_good.csv"))
    assert res.exit_code == 0 and "imported 3 contact(s)" in res.output
    res = run("contacts", "show", "--crm", url, "+49 30 222", "--format", "json")
    data = json.loads(res.output)
    assert data["contact"]["name"] == "Dr. Bernd Berg" and [c["call_id"] for c in data["calls"]] == ["c2"]
    res = run("contacts", "show", "--crm", url, "+49 30 222")
    assert "Praxis Berg" in res.output
    res = run("contacts", "import", "--crm", url, str(FIX / "contacts_bad.csv"))
    assert res.exit_code == 1 and "contacts_bad.csv:4: type 'astronaut'" in res.output


def test_export_queue_log(url: str, tmp_path: Path) -> None:
    out = tmp_path / "queue_log"
    res = run("export", "queue-log", "--crm", url, "--out", str(out))
    assert res.exit_code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3 * 4 + 2 * 4 + 1 and all(len(ln.split("|")) >= 6 for ln in lines)
    assert any(ln.endswith("|c2|info|a1|RINGNOANSWER|15000") for ln in lines)
    assert "|ENTERQUEUE|" in run("export", "queue-log", "--crm", url).output


def test_user_errors_exit_1_with_a_fix(tmp_path: Path) -> None:
    res = CliRunner().invoke(crm_group, ["calls"], obj={}, env={"IVR_CRM_URL": ""})
    assert res.exit_code == 1 and "pass --crm URL" in res.output
    res = run("calls", "--crm", "mysql://x/y")
    assert res.exit_code == 1 and "unsupported CRM URL" in res.output
    res = run("calls", "--crm", f"sqlite:///{tmp_path}/c.db", "--since", "yesterday")
    assert res.exit_code == 1 and "not an ISO date" in res.output
    res = run("report", "--crm", f"sqlite:///{tmp_path}/c.db", "--by", "colour")
    assert res.exit_code == 1 and "'colour' is not one of" in res.output
    res = run("contacts", "import", "--crm", f"sqlite:///{tmp_path}/c.db", str(tmp_path / "none.csv"))
    assert res.exit_code == 1 and "cannot read contacts file" in res.output


def test_register_adds_commands_to_a_group() -> None:
    group = click.Group("ivr")
    register(group)
    assert set(group.commands) == {"calls", "contacts", "report", "export", "cases"}


def test_calls_json_gives_every_duration_to_the_millisecond(tmp_path: Path) -> None:
    """One rounding rule for every duration of a record, whatever wrote it (the abandoned
    path stored raw monotonic differences such as 40.16338403899999)."""
    from dataclasses import fields
    from datetime import datetime, timezone
    from ivr.crm.records import CallRecord
    from ivr.crm.records import DURATION_FIELDS
    durations = [f.name for f in fields(CallRecord) if f.name.endswith("_seconds")]
    assert sorted(DURATION_FIELDS) == sorted(durations)     # a new duration gets the rule too
    raw = {name: 40.16338403899999 + i for i, name in enumerate(durations)}
    url = f"sqlite:///{tmp_path}/crm.db"

    async def fill() -> None:
        store = await open_store(url)
        store.save_call(CallRecord("raw", caller="0611", started_at=datetime(2026, 3, 2, 9, 0,
                                   tzinfo=timezone.utc), disposition="abandoned", **raw))
        await store.close()

    asyncio.run(fill())
    res = run("calls", "--crm", url, "--format", "json")
    assert res.exit_code == 0, res.output
    (call,) = json.loads(res.output)
    assert {name: call[name] for name in durations} == {
        name: round(value, 3) for name, value in raw.items()}
    assert '"wait_seconds": 40.163,' in res.output
