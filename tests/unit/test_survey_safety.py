"""The safety key during a survey (issue 15): a caller who reports a side effect in a survey
question reaches pharmacovigilance and is never read as a score. The rule: the plan's
`policy.survey_safety_key` (default "*", not a score, announced by the first question) ends
the survey and jumps to `policy.safety_route`; `ivr check` refuses it on an answer key."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import yaml

from acd import actions as act
from ivr.call import commands as cmd
from ivr.call.caller import AgiCaller
from ivr.call.flow import CallFlow
from ivr.crm.records import CallRecord
from ivr.dialplan import check_paths, instructions as ins, load_plan
from ivr.dialplan.walker import Walker
from ivr.outbound.surveys import survey_answers

ROOT = Path(__file__).resolve().parents[2]
INBOUND = ROOT / "dialplans/inbound-survey.yaml"
OUTBOUND = ROOT / "dialplans/outbound-survey.yaml"
WALL = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


def survey_walk(first_keys: list[str]) -> tuple[Walker, int, ins.Instruction]:
    """The inbound plan: opt in (1), the conversation, then the survey with these answers."""
    plan = load_plan(INBOUND)
    walker = Walker(plan, {}, now=lambda: WALL)
    walker.start()
    walker.send("1")
    walker.send(None)                        # "stay on the line", then the operator's route
    start = len(walker.path)
    instr = walker.walk_on(plan.post_call_survey)
    for key in first_keys:
        instr = walker.send(key)
    return walker, start, instr


def test_the_survey_questions_announce_star_and_accept_it_at_once():
    walker, _, instr = survey_walk([])
    assert isinstance(instr, ins.AskDigits) and instr.escape == "*"
    assert walker.plan.policy.survey_safety_key == "*"


def test_star_in_the_csat_question_routes_to_pharmacovigilance_with_no_score():
    walker, start, instr = survey_walk(["*"])
    assert isinstance(instr, ins.Route)
    assert (instr.queue, instr.priority, instr.adverse_event) == ("pharmacovigilance", 100, True)
    assert {"node": "survey-csat", "input": "safety", "key": "*"} in walker.path[start:]
    assert survey_answers(walker.plan.nodes, walker.path[start:]) == []


def test_star_in_the_nps_question_keeps_the_csat_answer_and_routes():
    walker, start, instr = survey_walk(["4", "*"])
    assert isinstance(instr, ins.Route) and instr.adverse_event
    [answer] = survey_answers(walker.plan.nodes, walker.path[start:])
    assert (answer.kind, answer.score) == ("csat", 4)


def test_nine_stays_an_nps_score_in_the_survey():
    # 9 is the menus' safety key (policy.safety_key) but a score here: the survey's own key is *
    walker, start, instr = survey_walk(["4", "9"])
    assert isinstance(instr, ins.Hangup)
    assert [a.score for a in survey_answers(walker.plan.nodes, walker.path[start:])] == [4, 9]


def test_star_within_the_digits_of_an_engine_without_escape_still_routes():
    walker, _, instr = survey_walk(["4", "1*"])
    assert isinstance(instr, ins.Route) and instr.adverse_event


def test_star_in_a_campaign_survey_routes_to_pharmacovigilance():
    plan = load_plan(OUTBOUND)
    walker = Walker(plan, {}, now=lambda: WALL)
    walker.start()
    assert isinstance(walker.send("1"), ins.AskDigits)     # the CSAT question
    instr = walker.send("*")
    assert isinstance(instr, ins.Route) and instr.queue == "pharmacovigilance" and instr.adverse_event


def test_the_call_goes_back_in_line_for_pharmacovigilance_after_the_survey_key():
    flow = CallFlow(CallRecord(call_id="c1", caller="+33611000001", dialed="100", started_at=WALL),
                    queues={"operator", "pharmacovigilance"}, destinations={})
    flow.opted_in_survey()
    flow.enter_queue(ins.Route("operator", "operator", 0, None, None, "main"), 10.0)
    flow.acd_actions([act.OfferCall("c1", "alice", 15.0)], 12.0)
    flow.agent_answered("alice", 13.0)
    flow.dial_ended("ANSWER", None, 40.0)
    assert isinstance(flow.after_conversation(caller_gone=False)[-1], cmd.PostCallSurvey)
    pv = ins.Route("pharmacovigilance", "adverse-event", 100, None, None, "safety", True)
    out = flow.survey_safety(pv, 50.0)
    assert out[0] == cmd.Timeline("survey_safety", {"agent": "alice", "queue": "pharmacovigilance"})
    assert isinstance(out[1], cmd.SaveRecord)      # the CRM opens the AE case now
    assert flow.record.adverse_event and flow.in_queue and flow.record.queue == "pharmacovigilance"
    arrived = [c.event for c in out if isinstance(c, cmd.ToAcd)]
    assert arrived[0].queue == "pharmacovigilance" and arrived[0].priority == 100
    ring = flow.acd_actions([act.OfferCall("c1", "paula", 15.0)], 52.0)
    assert ring[-1] == cmd.Ring(("paula",), 15.0)   # hung up with the PV agent: no caller_stays
    assert flow.agent_answered("paula", 53.0)       # a new answer is heard
    flow.dial_ended("ANSWER", None, 90.0)
    assert flow.record.agent == "paula" and flow.record.disposition == "answered"
    assert flow.after_conversation(caller_gone=False) == []      # no second survey


def _plan_with(tmp_path: Path, **policy: str) -> Path:
    doc = yaml.safe_load(INBOUND.read_text(encoding="utf-8"))
    doc["policy"].update(policy)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_check_refuses_a_survey_safety_key_that_is_a_score_or_the_terminator(tmp_path: Path):
    problems = check_paths([_plan_with(tmp_path, survey_safety_key="7")])
    text = [p.message for p in problems if p.severity == "error"]
    assert any("'7' is a nps score key in survey question 'survey-nps'" in t for t in text), text
    assert not any("survey-csat" in t for t in text), text        # 7 is no CSAT key
    [nps] = [p for p in problems if "survey-nps" in p.message]
    lines = _plan_with(tmp_path, survey_safety_key="7").read_text().splitlines()
    assert lines[nps.line - 1].strip().startswith("survey: nps"), (nps.line, lines[nps.line - 1])
    hashed = check_paths([_plan_with(tmp_path, survey_safety_key="#")])
    assert any("is the answer's terminator in survey question 'survey-nps'" in p.message
               for p in hashed), hashed


def test_check_accepts_the_shipped_survey_plans():
    assert check_paths([INBOUND]) == []
    assert [p for p in check_paths([OUTBOUND]) if p.severity == "error"] == []


class KeysAgi:
    """An AGI line where the caller presses these keys, one per wait."""
    hung_up = False

    def __init__(self, keys: str) -> None:
        self.keys = list(keys)

    async def stream(self, *_a, **_k) -> str | None:
        return None


async def test_the_escape_key_ends_the_entry_at_once(monkeypatch):
    caller = AgiCaller(KeysAgi(""), "hotline")
    keys = iter(["1", "*", "2"])

    async def play(prompts, keys_allowed=None, **_k):
        return None

    async def wait_digit(timeout_s, wake=None):
        return next(keys, None)
    monkeypatch.setattr(caller, "play", play)
    monkeypatch.setattr(caller, "wait_digit", wait_digit)
    assert await caller.ask_digits(("q",), 3, 1, 2, "#", escape="*") == "*"
    keys = iter(["1", "*", "#"])
    assert await caller.ask_digits(("q",), 3, 1, 2, "#") == "1*"    # no escape: a plain key
