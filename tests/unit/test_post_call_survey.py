"""The inbound post-call survey (issue 15): the opt-in in the walk, the call core's dial that
keeps the caller after the agent hangs up, the survey walk, and `ivr check`'s rules."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from acd import actions as act
from ivr.call import commands as cmd
from ivr.call.flow import CallFlow
from ivr.crm.records import CallRecord
from ivr.dialplan import check_paths, instructions as ins, load_plan
from ivr.dialplan.walker import Walker
from ivr.outbound.surveys import Answer, opted_in, survey_answers

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "dialplans/inbound-survey.yaml"
WALL = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
ROUTE = ins.Route("operator", "operator", 0, "fr", None, "dtmf")


def flow_ringing(opt_in: bool) -> tuple[CallFlow, list[cmd.Command]]:
    flow = CallFlow(CallRecord(call_id="c1", caller="+33611000001", dialed="100", started_at=WALL),
                    queues={"operator"}, destinations={})
    if opt_in:
        assert [c.kind for c in flow.opted_in_survey()] == ["survey_opt_in"]
        assert flow.opted_in_survey() == []            # said once
    flow.enter_queue(ROUTE, 10.0)
    return flow, flow.acd_actions([act.OfferCall("c1", "alice", 15.0)], 12.0)


def test_an_opted_in_caller_stays_on_the_line_and_hears_the_survey():
    flow, out = flow_ringing(opt_in=True)
    assert out[-1] == cmd.Ring(("alice",), 15.0, caller_stays=True)
    flow.agent_answered("alice", 13.0)
    flow.dial_ended("ANSWER", None, 40.0)
    after = flow.after_conversation(caller_gone=False)
    assert after[-1] == cmd.PostCallSurvey("alice", "operator")
    assert after[0].kind == "survey_start" and flow.record.disposition == "answered"


def test_no_survey_without_opt_in_after_the_caller_left_or_without_a_conversation():
    flow, out = flow_ringing(opt_in=False)
    assert out[-1] == cmd.Ring(("alice",), 15.0)       # hung up with the agent, as before
    flow.agent_answered("alice", 13.0)
    flow.dial_ended("ANSWER", None, 40.0)
    assert flow.after_conversation(caller_gone=False) == []
    flow, _ = flow_ringing(opt_in=True)                 # the caller hung up first
    flow.agent_answered("alice", 13.0)
    flow.dial_ended("ANSWER", None, 40.0)
    assert flow.after_conversation(caller_gone=True) == []
    flow, _ = flow_ringing(opt_in=True)                 # nobody answered: back in line
    flow.dial_ended("NOANSWER", None, 27.0)
    assert flow.after_conversation(caller_gone=False) == []


def test_the_walk_opts_in_then_walks_on_into_the_survey():
    plan = load_plan(PLAN)
    walker = Walker(plan, {}, now=lambda: WALL)
    assert isinstance(walker.start(), ins.AskDigit)
    assert isinstance(walker.send("1"), ins.Play)       # "thank you, stay on the line"
    assert isinstance(walker.send(None), ins.Route)
    assert opted_in(plan.nodes, walker.path)
    survey_from = len(walker.path)
    csat = walker.walk_on(plan.post_call_survey)
    assert isinstance(csat, ins.AskDigits) and csat.max_length == 1
    assert isinstance(walker.send("4"), ins.AskDigits)  # NPS
    assert isinstance(walker.send("9"), ins.Hangup)
    assert survey_answers(plan.nodes, walker.path[survey_from:]) == [
        Answer("survey-csat", "csat", 4), Answer("survey-nps", "nps", 9)]


def test_the_operator_key_alone_does_not_opt_in():
    plan = load_plan(PLAN)
    walker = Walker(plan, {}, now=lambda: WALL)
    walker.start()
    assert isinstance(walker.send("0"), ins.Route)
    assert not opted_in(plan.nodes, walker.path)


def test_the_shipped_inbound_survey_plan_is_clean():
    assert check_paths([PLAN]) == []
