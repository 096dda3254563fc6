"""Survey scores in `ivr report --surveys call|agent|queue|campaign` (issue 15), through the
CLI on a real CRM (SQLite file and PostgreSQL), and a campaign's live figures."""
from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import crm_url  # noqa: E402,F401  (fixture)

from ivr.cli.main import main  # noqa: E402
from ivr.crm.outbound import CampaignStore  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402
from ivr.crm.surveys import add_answers  # noqa: E402
from ivr.outbound.surveys import Answer  # noqa: E402

DAY = datetime(2026, 12, 3, 10, tzinfo=timezone.utc)


async def answered(url: str) -> None:
    store = await open_store(url)
    try:
        await add_answers(store, "c1", [Answer("q", "csat", 5), Answer("n", "nps", 10)], DAY,
                          agent="alice", queue="operator")
        await add_answers(store, "c2", [Answer("q", "csat", 2), Answer("n", "nps", 6)], DAY,
                          agent="alice", queue="operator")
        await add_answers(store, "c3", [Answer("q", "csat", 4), Answer("n", "nps", 9)],
                          DAY.replace(day=5), campaign="care-q4")
    finally:
        await store.close()


def report(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["report", "--crm", url, *args])
    return result.exit_code, result.output


def test_report_surveys_per_call_agent_queue_and_campaign(crm_url: str):
    asyncio.run(answered(crm_url))
    code, out = report(crm_url, "--surveys", "agent", "--format", "json")
    assert code == 0, out
    rows = {r["agent"]: r for r in json.loads(out)["rows"]}
    assert (rows["alice"]["csat_answers"], rows["alice"]["csat_mean"]) == (2, 3.5)
    assert (rows["alice"]["nps_answers"], rows["alice"]["nps"]) == (2, 0.0)   # 1 promoter, 1 detractor
    assert rows["-"]["nps"] == 100.0
    code, out = report(crm_url, "--surveys", "call", "--format", "json")
    calls = {r["call_id"]: r for r in json.loads(out)["rows"]}
    assert sorted(calls) == ["c1", "c2", "c3"] and calls["c2"]["csat_mean"] == 2.0
    code, out = report(crm_url, "--surveys", "campaign", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("campaign,csat_answers,csat_mean")
    assert any(line.startswith("care-q4,1,4.0,") for line in out.splitlines()), out
    code, out = report(crm_url, "--surveys", "queue", "--since", "2026-12-04T00:00:00",
                       "--format", "json")
    assert [r["queue"] for r in json.loads(out)["rows"]] == ["-"]       # only the 5th's answer
    code, out = report(crm_url, "--surveys", "queue", "--format", "table")
    assert code == 0 and "operator" in out


def test_report_surveys_refuses_by(tmp_path: Path):
    code, out = report(f"sqlite:///{tmp_path}/crm.db", "--surveys", "agent", "--by", "queue")
    assert code == 1 and "--surveys is a report of its own" in out


def test_campaign_status_figures_carry_its_survey_scores(crm_url: str):
    asyncio.run(answered(crm_url))

    async def summaries() -> tuple[dict, dict]:
        store = await open_store(crm_url)
        try:
            campaigns = CampaignStore(store)
            return (await campaigns.summary("care-q4", DAY.replace(day=6)),
                    await campaigns.summary("other", DAY.replace(day=6)))
        finally:
            await store.close()
    care, other = asyncio.run(summaries())
    assert (care["survey_csat_answers"], care["survey_csat_mean"], care["survey_nps"]) == (1, 4.0, 100.0)
    assert other["survey_csat_answers"] == 0 and other["survey_nps"] is None
