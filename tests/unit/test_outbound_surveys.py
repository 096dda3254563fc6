"""Surveys (issue 15): the dialplan's survey questions, the answers found in a walk, the
scores, and their storage and report on a real SQLite CRM."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner

from ivr.cli.main import main
from ivr.crm.store import open_store
from ivr.crm.surveys import add_answers
from ivr.dialplan.loader import load_plan
from ivr.outbound.surveys import Answer, scores, survey_answers

PROJECT = Path(__file__).resolve().parents[2]


def test_survey_questions_take_only_their_scale():
    plan = load_plan(PROJECT / "dialplans/outbound-survey.yaml")
    csat, nps = plan.nodes["survey-csat"], plan.nodes["survey-nps"]
    assert (csat.pattern, csat.max_length, nps.pattern, nps.max_length) == (
        r"^[1-5]$", 1, r"^([0-9]|10)$", 2)
    path = [{"node": "survey-main", "input": "key", "key": "1"},
            {"node": "survey-csat", "input": "invalid", "value": "7"},
            {"node": "survey-csat", "input": "digits", "value": "5"},
            {"node": "survey-nps", "input": "digits", "value": "10"}]
    assert survey_answers(plan.nodes, path) == [Answer("survey-csat", "csat", 5),
                                                Answer("survey-nps", "nps", 10)]


def test_scores():
    got = scores([("csat", 5), ("csat", 4), ("csat", 2), ("nps", 10), ("nps", 9), ("nps", 7),
                  ("nps", 3)])
    assert got == {"csat_answers": 3, "csat_mean": 3.67, "csat_satisfied": 0.667,
                   "nps_answers": 4, "nps": 25.0}
    assert scores([])["csat_mean"] is None and scores([])["nps"] is None


def test_answers_are_stored_and_reported_per_agent_queue_and_campaign(tmp_path: Path):
    import asyncio
    import json
    url = f"sqlite:///{tmp_path}/crm.db"

    async def write() -> None:
        store = await open_store(url)
        now = datetime(2026, 12, 3, 10, tzinfo=timezone.utc)
        await add_answers(store, "c1", [Answer("q", "csat", 5)], now, agent="alice", queue="operator")
        await add_answers(store, "c2", [Answer("q", "csat", 3), Answer("n", "nps", 10)], now,
                          campaign="care-q4")
        await store.close()
    asyncio.run(write())
    result = CliRunner().invoke(main, ["surveys", "--crm", url, "--by", "agent", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {r["agent"]: r for r in json.loads(result.output)["rows"]}
    assert rows["alice"]["csat_mean"] == 5.0 and rows["-"]["csat_mean"] == 3.0
    result = CliRunner().invoke(main, ["surveys", "--crm", url, "--by", "campaign", "--format", "csv"])
    assert "care-q4" in result.output and result.exit_code == 0
