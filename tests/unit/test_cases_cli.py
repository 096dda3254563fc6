"""`ivr cases` and the case figures of `ivr report`, end to end on a SQLite store."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_calls import CALLS, at  # noqa: E402

from ivr.crm.cli import crm_group  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402

TODAY = datetime.now(timezone.utc)
FULL = {"patient": "F, 54 y", "reporter": "Dr Martin", "product": "Ibuprofen 400", "reaction": "<script>x</script>"}


@pytest.fixture
def url(tmp_path: Path) -> str:
    """The ten calls (c5, c10 flagged AE: two IVR cases), one overdue AE case, one serious
    AE case, a medinfo case, and documentation of three calls."""
    url = f"sqlite:///{tmp_path}/crm.db"

    async def fill() -> None:
        store = await open_store(url)
        for rec in CALLS:
            store.save_call(rec)
        await store.open_case("adverse_event", FULL, "alice", call_id="c1", now=TODAY - timedelta(days=100))
        await store.open_case("adverse_event", {**FULL, "seriousness": "hospitalisation"}, "bob",
                              call_id="c2", now=TODAY - timedelta(days=2))
        await store.open_case("medinfo", {"question": "max dose?"}, "alice", call_id="c1", now=TODAY)
        await store.update_case("AE-c5", {"patient": "M 70", "product": "Aspirin", "reaction": "bleeding"},
                                "dso", now=at(12, 0) + timedelta(days=1))
        await store.save_call_documentation("c1", "a1", "medical_information", "answered", "", ["kb-dose"])
        await store.save_call_documentation("c2", "a2", "medical_information", "answered", "",
                                            ["kb-dose", "kb-storage"])
        await store.save_call_documentation("c5", "a1", "adverse_event", "case_opened", "", [])
        await store.close()

    asyncio.run(fill())
    return url


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(crm_group, list(args), obj={}, catch_exceptions=False)


def test_worklist_overdue_first_in_every_format(url: str) -> None:
    res = run("cases", "--crm", url, "--kind", "adverse_event", "--format", "json")
    assert res.exit_code == 0, res.output
    cases = json.loads(res.output)
    assert cases[0]["case_id"] == "AE-c5" and cases[0]["due_date"] == "2026-06-01"   # day 0 + 90, long past
    assert cases[1]["calls"] == ["c1"] and cases[1]["overdue"] is True          # 10 days late
    assert cases[2]["calls"] == ["c2"] and cases[2]["serious"] is True          # due in 13 days
    assert not cases[2]["overdue"]
    assert cases[-1]["due_date"] is None and cases[-1]["case_id"] == "AE-c10"  # incomplete: last
    rows = list(csv.DictReader(io.StringIO(run("cases", "--crm", url, "--format", "csv").output)))
    assert rows[1]["overdue"] == "true" and rows[1]["product"] == "Ibuprofen 400"
    assert {r["kind"] for r in rows} == {"adverse_event", "medinfo"}
    res = run("cases", "--crm", url, "--overdue", "--format", "json")
    assert [c["calls"] for c in json.loads(res.output)] == [["c5"], ["c1"]]
    table = run("cases", "--crm", url, "--status", "open").output
    assert "AE-c10" in table and "5 case(s)" in table


def test_show_close_and_export(url: str) -> None:
    res = run("cases", "show", "AE-c5", "--crm", url)
    assert res.exit_code == 0 and "audit trail" in res.output and "bleeding" in res.output
    assert "day0: 2026-03-03" in res.output
    data = json.loads(run("cases", "show", "AE-c10", "--crm", url, "--format", "json").output)
    assert data["missing_criteria"] == ["patient", "product", "reaction"] and data["audit"][-1]["by"] == "ivr"
    res = run("cases", "close", "AE-c10", "--crm", url, "--by", "dso", "--reason", "  ")
    assert res.exit_code == 1 and "needs a reason" in res.output
    res = run("cases", "close", "AE-c10", "--crm", url, "--by", "dso", "--reason", "not a valid case")
    assert res.exit_code == 0 and "closed AE-c10" in res.output
    res = run("cases", "show", "nope", "--crm", url)
    assert res.exit_code == 1 and "no case 'nope'" in res.output
    rows = list(csv.DictReader(io.StringIO(run("cases", "export", "--crm", url).output)))
    assert len(rows) == 4 and {r["status"] for r in rows} == {"open", "closed"}
    c5 = next(r for r in rows if r["case_id"] == "AE-c5")
    assert c5["valid"] == "true" and c5["day0"] == "2026-03-03" and c5["reporter_contact"] == "+4930111"
    assert c5["reaction"] == "bleeding" and c5["calls"] == "c5"
    objs = json.loads(run("cases", "export", "--crm", url, "--format", "json", "--since",
                          (TODAY - timedelta(days=3)).date().isoformat()).output)
    assert [o["seriousness"] for o in objs] == [["hospitalisation"]]


def test_report_by_reason_kb_usage_and_cases(url: str) -> None:
    rep = json.loads(run("report", "--crm", url, "--by", "reason", "--format", "json").output)
    groups = {g["group"]: g for g in rep["groups"]}
    assert groups["medical_information"]["calls"] == 2 and groups["adverse_event"]["calls"] == 1
    assert groups["-"]["calls"] == 7
    kb = rep["kb_usage"]
    assert kb["documented_calls"] == 3 and kb["articles"][0] == {"article": "kb-dose", "calls": 2, "mean_talk": 90.0}
    assert kb["mean_talk_without_article"] == 300.0
    cases = rep["cases"]
    assert cases["open"] == 4 and cases["overdue"] == 2 and cases["open_serious"] == 1
    # c5 on 03-02 with day 0 on 03-03; c1 and c2 (also 03-02) documented 100 and 2 days ago
    to_day0 = sorted([1, *(((TODAY - timedelta(days=n)).date() - date(2026, 3, 2)).days for n in (100, 2))])
    assert cases["call_to_day0_days_max"] == to_day0[-1] and cases["call_to_day0_days_median"] == to_day0[1]
    table = run("report", "--crm", url, "--by", "outcome").output
    assert "Knowledge-base articles used" in table and "Adverse-event cases: 4 open (2 overdue" in table


def test_real_command_line(url: str) -> None:
    ivr = Path(sys.executable).with_name("ivr")
    out = subprocess.run([str(ivr), "cases", "--crm", url, "--format", "json"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 5
    bad = subprocess.run([str(ivr), "cases", "--crm", url, "--kind", "gossip"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 1 and "'gossip' is not one of" in bad.stderr
