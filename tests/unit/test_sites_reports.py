"""Calls record their site (CRM schema v15) and `ivr report --by site` splits the figures
(issue 16), on both database backends; a call spooled before the column still lands."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import crm_url, pg_server  # noqa: E402,F401  (crm_url: fixture)

from ivr.crm import codec  # noqa: E402
from ivr.crm.cli import crm_group  # noqa: E402
from ivr.crm.records import CallRecord  # noqa: E402
from ivr.crm.reports import build_report  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402

T0 = datetime(2026, 11, 24, 9, tzinfo=timezone.utc)


def _call(n: int, site: str | None, wait: float, agent: str | None) -> CallRecord:
    start = T0 + timedelta(minutes=n)
    return CallRecord(call_id=f"{site}-{n}", caller=f"06110000{n:02d}", started_at=start,
                      ended_at=start + timedelta(seconds=90), queue="operator", wait_seconds=wait,
                      agent=agent, talk_seconds=60 if agent else None,
                      disposition="answered" if agent else "abandoned", site=site)


CALLS = [_call(1, "paris", 5, "alice"), _call(2, "paris", 30, "bob"),
         _call(3, "lyon", 4, "alice"), _call(4, "lyon", 60, None), _call(5, None, 2, "carol")]


def test_the_report_splits_by_the_site_that_took_the_call() -> None:
    groups = {g["group"]: g for g in build_report(CALLS, [], by="site", short_abandon=0)["groups"]}
    assert set(groups) == {"paris", "lyon", "-"}          # "-": before sites, or unknown
    assert groups["paris"]["offered"] == 2 and groups["paris"]["service_level"] == 0.5
    assert groups["lyon"]["answered"] == 1 and groups["lyon"]["abandoned"] == 1


def test_site_is_stored_and_reported_by_the_cli(crm_url: str, tmp_path: Path) -> None:
    async def fill() -> list[CallRecord]:
        store = await open_store(crm_url, spool_dir=tmp_path / "spool")
        try:
            for rec in CALLS:
                store.save_call(rec)
            await store.flush()
            return await store.list_calls(None, None)
        finally:
            await store.close()
    stored = {r.call_id: r.site for r in asyncio.run(fill())}
    assert stored == {"paris-1": "paris", "paris-2": "paris", "lyon-3": "lyon", "lyon-4": "lyon",
                      "None-5": None}
    runner = CliRunner()
    res = runner.invoke(crm_group, ["report", "--crm", crm_url, "--by", "site", "--format", "json",
                                    "--short-abandon", "0"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rep = json.loads(res.output)
    assert rep["settings"]["by"] == "site"
    assert {g["group"]: g["offered"] for g in rep["groups"]} == {"-": 1, "lyon": 2, "paris": 2}
    res = runner.invoke(crm_group, ["report", "--crm", crm_url, "--by", "site", "--format", "csv"],
                        catch_exceptions=False)
    assert res.exit_code == 0 and {"lyon", "paris"} <= {row[0] for row in csv.reader(io.StringIO(res.output))}
    res = runner.invoke(crm_group, ["calls", "--crm", crm_url, "--format", "json"], catch_exceptions=False)
    assert {c["call_id"]: c["site"] for c in json.loads(res.output)}["lyon-3"] == "lyon"


def test_a_call_spooled_before_the_site_column_still_lands(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    row = list(codec.call_to_row(_call(7, "lyon", 3, "bob"), "0611000007"))[:-1]   # old width
    (spool / "00000001-test.jsonl").write_text(json.dumps({"kind": "call", "row": row}) + "\n")

    async def replay() -> CallRecord | None:
        store = await open_store(f"sqlite:///{tmp_path}/crm.db", spool_dir=spool)
        try:
            await store.flush()
            return await store.get_call("lyon-7")
        finally:
            await store.close()
    rec = asyncio.run(replay())
    assert rec is not None and rec.agent == "bob" and rec.site is None


def test_cluster_status_lists_each_sites_link(tmp_path: Path) -> None:
    """`ivr cluster status` on a real PostgreSQL: the sites' rows, "unknown" with no engine
    answering here; with the engine's own view, its link states."""
    import yaml

    from ivr.app.sites import site_link_rows
    from ivr.cli.main import main
    from ivr.config import load_settings

    url = pg_server().new_database()
    root = tmp_path / "inst"
    shutil.copytree(Path(__file__).resolve().parents[1] / "configs/good", root)
    engine = root / "config/engine.yaml"
    data = yaml.safe_load(engine.read_text())
    data.update(crm={"url": url}, cluster={"enabled": True, "name": "pharma"},
                control={"socket": str(tmp_path / "none.sock")},
                sites=[{"name": "paris", "ami": {"host": "10.0.0.1", "port": 5038},
                        "trunk": "to-paris", "agents": ["alice"]},
                       {"name": "lyon", "ami": {"host": "10.0.0.2", "port": 5038},
                        "trunk": "to-lyon", "agents": ["bob"]}])
    engine.write_text(yaml.safe_dump(data))
    runner = CliRunner()
    env = {"IVR_AMI_SECRET": "k3T9-vQz7-Lm2P-x8Rw"}
    assert runner.invoke(main, ["--config", str(engine), "cluster", "init"], env=env).exit_code == 0
    res = runner.invoke(main, ["--config", str(engine), "cluster", "status", "--format", "json"], env=env)
    assert res.exit_code == 0, res.output
    sites = [link for link in json.loads(res.output)["links"] if link["link"] == "site"]
    assert [(s["name"], s["role"], s["address"]) for s in sites] == [
        ("paris", "unknown", "10.0.0.1:5038"), ("lyon", "unknown", "10.0.0.2:5038")]
    live = [{"site": "lyon", "state": "down"}, {"site": "paris", "state": "up"}]
    assert [r["role"] for r in site_link_rows(load_settings(engine), live)] == ["up", "down"]
