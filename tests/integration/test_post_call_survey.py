"""The inbound post-call survey through real Asterisk (issue 15): a SIPp caller opts in with
key 1, talks to a SIPp agent phone that hangs up, stays on the line (Dial's g option) and
answers the CSAT question; `ivr surveys --by agent` shows it for that agent. A caller who did
not opt in is hung up with the agent. A caller who presses star (the survey's safety key) in
the survey reaches pharmacovigilance, an adverse-event case opened."""
from __future__ import annotations

import json
import shutil

import pytest

from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sipp import AwaitHangup, Pause, Press
from tests.integration.conftest import OFFICE_HOURS, lab_config, sounds_of

pytestmark = pytest.mark.asterisk


@pytest.fixture
def survey_lab(lab: Lab, tmp_path):
    plan = tmp_path / "inbound-survey.yaml"
    shutil.copy(PROJECT / "dialplans/inbound-survey.yaml", plan)
    lab.ivr("sounds", "build", str(plan))
    lab.sandbox.sync_sounds()
    other = Lab(lab_config(tmp_path, plan, sounds_of(lab)))
    other.start_engine("--clock", OFFICE_HOURS)
    yield other
    other.stop_phones()
    other.stop_engine()


def test_an_opted_in_caller_rates_the_agent_after_the_agent_hangs_up(survey_lab: Lab):
    survey_lab.start_phones(answer_after=0.5, talk_seconds=1.5)
    # 1: opt in; the agent answers ~4 s in and hangs up 1.5 s later; the CSAT prompt follows.
    # 4 is pressed twice, 3 s apart: the first key may still reach the conversation on a slow
    # run; the second then answers CSAT (and, when the first did, NPS: not asserted).
    call = survey_lab.call("0611000150", [Pause(1.5), Press("1"), Pause(7.0), Press("4"),
                                          Pause(3.0), Press("4"), AwaitHangup(60)])
    assert call.wait(90) == 0
    rec = survey_lab.call_record("0611000150")
    assert rec["disposition"] == "answered" and rec["agent"], rec
    kinds = [e["kind"] for e in survey_lab.call_events(rec["call_id"])]
    assert "survey_opt_in" in kinds and "survey_start" in kinds, kinds
    out = survey_lab.ivr("surveys", "--crm", survey_lab.settings.crm_url(), "--by", "agent",
                         "--format", "json").stdout
    [row] = [r for r in json.loads(out)["rows"] if r["agent"] == rec["agent"]]
    assert (row["csat_answers"], row["csat_mean"]) == (1, 4.0), row


def test_a_caller_who_did_not_opt_in_hears_no_survey(survey_lab: Lab):
    survey_lab.start_phones(answer_after=0.5, talk_seconds=1.5)
    call = survey_lab.call("0611000151", [Pause(1.5), Press("0"), AwaitHangup(60)])
    assert call.wait(90) == 0
    rec = survey_lab.call_record("0611000151")
    assert rec["disposition"] == "answered"
    kinds = [e["kind"] for e in survey_lab.call_events(rec["call_id"])]
    assert "survey_start" not in kinds and "survey_opt_in" not in kinds, kinds


def test_star_in_the_survey_reaches_pharmacovigilance_with_a_case(survey_lab: Lab):
    survey_lab.start_phones(answer_after=0.5, talk_seconds=1.5)
    # opt in; the conversation ends ~6 s in; the CSAT prompt (which announces star) follows
    call = survey_lab.call("0611000152", [Pause(1.5), Press("1"), Pause(8.5), Press("*"),
                                          AwaitHangup(60)])
    assert call.wait(90) == 0
    rec = survey_lab.call_record("0611000152")
    assert rec["adverse_event"] and rec["queue"] == "pharmacovigilance", rec
    assert rec["disposition"] == "answered" and rec["priority"] == 100, rec
    assert [s["node"] for s in rec["path"] if s.get("input") == "safety"] == ["survey-csat"]
    events = survey_lab.call_events(rec["call_id"])
    kinds = [e["kind"] for e in events]
    assert kinds.index("survey_start") < kinds.index("survey_safety"), kinds
    offers = [e["queue"] for e in events if e["kind"] == "offer"]
    assert offers[0] == "operator" and offers[-1] == "pharmacovigilance", offers
    case = json.loads(survey_lab.ivr("cases", "show", f"AE-{rec['call_id']}", "--format", "json").stdout)
    assert case["kind"] == "adverse_event" and case["status"] == "open", case
    out = survey_lab.ivr("surveys", "--crm", survey_lab.settings.crm_url(), "--by", "agent",
                         "--format", "json").stdout
    assert not [r for r in json.loads(out)["rows"] if r["agent"] == rec["agent"]
                and r["csat_answers"]], "the star was read as a score"
