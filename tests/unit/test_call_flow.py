"""The call core (ivr/call/flow.py) driven directly: every disposition and failure path, with
no Asterisk, no event loop and a clock we choose."""
from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from acd import actions as act
from acd import events as ev
from ivr.call import commands as cmd
from ivr.call.flow import CallFlow, Stage, Walked, callback_made, unseen_hangup
from ivr.crm.records import CallRecord, Disposition
from ivr.dialplan.instructions import Route

WALL = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
DESTINATIONS = {
    "to-reception": SimpleNamespace(transfer="100", callback=False, message=[], voicemail=False),
    "call-back": SimpleNamespace(transfer=None, callback=True, message=[], voicemail=False),
    "closed": SimpleNamespace(transfer=None, callback=False, message=["closed-msg"], voicemail=False),
    "leave-message": SimpleNamespace(transfer=None, callback=False, message=[], voicemail=True,
                                     max_seconds=90),
}
ROUTE = Route("orders", "order", 10, "fr", None, "orders-node")


def new_flow(caller: str = "+33611000001") -> CallFlow:
    rec = CallRecord(call_id="c1", caller=caller, dialed="100", started_at=WALL, plan_version="v1")
    return CallFlow(rec, queues={"orders", "operator"}, destinations=DESTINATIONS)


def kinds(commands: list) -> list[str]:
    return [type(c).__name__ for c in commands]


def timeline(commands: list) -> list[str]:
    return [c.kind for c in commands if isinstance(c, cmd.Timeline)]


def acd_events(commands: list) -> list[object]:
    return [c.event for c in commands if isinstance(c, cmd.ToAcd)]


def queued(now: float = 100.0) -> CallFlow:
    flow = new_flow()
    flow.enter_queue(ROUTE, now)
    flow.waiting()
    return flow


def test_arrival_saves_the_record_at_once_and_says_so() -> None:
    out = new_flow().arrived()
    assert kinds(out) == ["Timeline", "SaveRecord", "Publish"]
    assert out[0].data["plan_version"] == "v1" and out[2].what == "started"


def test_self_service_and_menu_transfers() -> None:
    flow = new_flow()
    flow.self_service()
    assert flow.record.disposition == Disposition.SELF_SERVICE
    flow = new_flow()
    assert flow.transfer("200") == [cmd.Transfer("200")] and flow.stage is Stage.TRANSFER
    flow.transfer_ended("ANSWER")
    assert flow.record.disposition == "transferred"
    flow = new_flow()
    flow.transfer("200")
    flow.transfer_ended("NOANSWER")
    assert flow.record.disposition == "failed"


def test_entering_the_queue_tells_the_acd_with_the_route_needs() -> None:
    flow = new_flow()
    out = flow.enter_queue(Route("pv", "adverse-event", 100, None, None, "safety", True), 5.0)
    (arrived,) = acd_events(out)
    assert arrived == ev.CallArrived("c1", "pv", 100, "+33611000001", None, None)
    assert flow.record.adverse_event and flow.record.queue == "pv" and flow.in_queue
    assert out[0] == cmd.SaveRecord()          # an AE report reaches the CRM (and its case) now
    assert timeline(out) == ["queue_enter"] and out[1].data == {"queue": "pv", "priority": 100,
                                                                "intent": "adverse-event"}
    assert flow.waiting() == [cmd.StartMusic()] and flow.waiting() == []   # music once
    plain = new_flow().enter_queue(Route("orders", "order", 0, None, None, "dtmf", False), 5.0)
    assert cmd.SaveRecord() not in plain       # other calls: one write at arrival, one at the end


def test_answered_call_times_come_from_the_answer_instant() -> None:
    flow = queued(now=100.0)
    out = flow.acd_actions([act.OfferCall("c1", "alice", 15.0)], 103.0)
    assert kinds(out)[0] == "StopMusic" and out[-1] == cmd.Ring(("alice",), 15.0)
    assert timeline(out) == ["offer"] and flow.stage is Stage.RINGING
    answered = flow.agent_answered("alice", 105.0)          # AMI DialEnd
    assert acd_events(answered) == [ev.OfferAnswered("c1", "alice")]
    assert timeline(answered) == ["answered"]                # durable: a kill keeps it
    assert flow.agent_answered("alice", 106.0) == []        # once
    out = flow.dial_ended("ANSWER", None, 165.5)
    rec = flow.record
    assert (rec.disposition, rec.agent, rec.wait_seconds, rec.talk_seconds) == ("answered", "alice", 5.0, 60.5)
    assert acd_events(out) == [ev.CallEnded("c1")] and cmd.WrapUp("alice", "orders") in out
    assert timeline(out) == ["connect", "complete"] and flow.queue_over


def test_answer_missed_by_ami_uses_asterisks_peer_and_counts_ringing_as_talk() -> None:
    flow = queued(now=0.0)
    flow.acd_actions([act.OfferCall("c1", "alice", 15.0), act.OfferCall("c1", "bob", 15.0)], 2.0)
    out = flow.dial_ended("ANSWER", "bob", 12.0)
    assert acd_events(out) == [ev.OfferAnswered("c1", "bob"), ev.CallEnded("c1")]
    assert flow.record.agent == "bob" and flow.record.wait_seconds == 2.0
    assert flow.record.talk_seconds == 10.0


def test_ring_no_answer_keeps_the_caller_in_line_and_pauses_the_agent() -> None:
    flow = queued(now=0.0)
    flow.acd_actions([act.OfferCall("c1", "bob", 8.0)], 1.0)
    out = flow.dial_ended("NOANSWER", None, 9.0)
    assert cmd.ReleaseOffer("bob") in out and cmd.AgentLog("bob", "pause", "RONA") in out
    assert acd_events(out) == [ev.OfferFailed("c1", "bob", "noanswer")]
    assert [c.data["ring_ms"] for c in out if isinstance(c, cmd.Timeline)] == [8000]
    assert flow.stage is Stage.QUEUE and not flow.queue_over and flow.record.disposition is None
    assert flow.waiting() == [cmd.StartMusic()]             # music again while waiting


def test_a_cancelled_offer_is_not_rung() -> None:
    flow = queued()
    out = flow.acd_actions([act.OfferCall("c1", "bob", 8.0), act.CancelOffer("c1", "bob")], 101.0)
    assert not any(isinstance(c, cmd.Ring) for c in out)


@pytest.mark.parametrize("stage", ["menu", "queue", "ringing"])
def test_hang_up_at_each_step_is_abandoned_and_the_acd_forgets_the_call(stage: str) -> None:
    flow = new_flow()
    out: list = []
    if stage != "menu":
        flow.enter_queue(ROUTE, 10.0)
    if stage == "ringing":
        flow.acd_actions([act.OfferCall("c1", "alice", 15.0)], 11.0)
        out = flow.dial_ended("CANCEL", None, 14.25)
        assert cmd.ReleaseOffer("alice") in out
    else:
        out = flow.caller_hung_up(14.25)
    rec = flow.record
    assert rec.disposition == "abandoned" and rec.hangup_cause == f"caller hung up in {stage}"
    assert acd_events(out) == ([] if stage == "menu" else [ev.CallAbandoned("c1")])
    assert rec.wait_seconds == (None if stage == "menu" else 4.25) and flow.caller_gone
    assert flow.caller_hung_up(20.0) == [] and rec.wait_seconds == (None if stage == "menu" else 4.25)


def test_the_callback_key_keeps_the_callers_place() -> None:
    flow = queued(now=50.0)
    assert flow.key_while_waiting("5", 60.0) == [] and flow.key_while_waiting(None, 60.0) == []
    out = flow.key_while_waiting("*", 60.0)
    assert cmd.RequestCallback("fr", 50.0) in out and out[-1] == cmd.PlaySystemPrompt("callback-confirm")
    assert kinds(out)[0] == "StopMusic" and flow.record.disposition == "callback" and flow.queue_over
    assert flow.caller_hung_up(61.0) == [] and flow.record.disposition == "callback"


def test_no_callback_without_the_callers_number() -> None:
    flow = new_flow(caller="")
    flow.enter_queue(ROUTE, 0.0)
    assert flow.key_while_waiting("*", 1.0) == []


def test_divert_to_another_queue_joins_it() -> None:
    flow = queued(now=0.0)
    out = flow.acd_actions([act.Diverted("c1", "operator", "waited too long")], 30.0)
    assert acd_events(out)[0].queue == "operator" and flow.in_queue and not flow.queue_over
    assert flow.queued_at == 30.0 and "moved to queue operator" in flow.record.hangup_cause
    assert flow.record.decision_trace == ["diverted to operator: waited too long"]


@pytest.mark.parametrize("status, disposition", [("ANSWER", "overflowed"), ("BUSY", "failed")])
def test_divert_to_a_transfer(status: str, disposition: str) -> None:
    flow = queued()
    out = flow.acd_actions([act.Diverted("c1", "to-reception", "queue full")], 101.0)
    assert kinds(out) == ["StopMusic", "Timeline", "PlaySystemPrompt", "Transfer"] and not flow.in_queue
    assert out[1] == cmd.Timeline("divert", {"destination": "to-reception", "reason": "queue full"})
    assert out[2] == cmd.PlaySystemPrompt("divert-to-reception")   # told before the transfer
    flow.transfer_ended(status)
    assert flow.record.disposition == disposition and flow.queue_over


def test_divert_to_a_callback_promises_one() -> None:
    flow = queued()
    out = flow.acd_actions([act.Diverted("c1", "call-back", "after hours")], 101.0)
    assert cmd.RequestCallback("fr", None) in out and out[-1] == cmd.PlaySystemPrompt("divert-call-back")
    assert flow.record.disposition == "callback" and flow.queue_over


def test_divert_to_a_callback_without_a_number_hands_back_to_a_person() -> None:
    flow = new_flow(caller="")
    flow.enter_queue(ROUTE, 0.0)
    out = flow.acd_actions([act.Diverted("c1", "call-back", "after hours")], 1.0)
    assert isinstance(out[-1], cmd.HandBack) and "number is unknown" in out[-1].reason


def test_divert_to_a_message_then_goodbye() -> None:
    flow = queued()
    out = flow.acd_actions([act.Diverted("c1", "closed", "no agents")], 101.0)
    assert out[-2:] == [cmd.PlaySystemPrompt("divert-closed"), cmd.Play(("closed-msg", "vm-goodbye"))]
    assert flow.record.disposition == "overflowed"


def test_an_undefined_destination_hands_the_call_to_asterisks_fallback() -> None:
    flow = queued()
    out = flow.acd_actions([act.Diverted("c1", "nowhere", "x")], 101.0)
    assert isinstance(out[-1], cmd.HandBack) and "'nowhere'" in out[-1].reason
    flow.hand_back(out[-1].reason, 101.0)
    assert flow.record.disposition == "failed" and flow.record.route == "fallback" and flow.handed_back


def test_announcements_escalations_and_the_callback_offer() -> None:
    flow = queued()
    out = flow.acd_actions([act.Escalated("c1", "orders", "after-30s", "skills widened"),
                            act.Overflowed("c1", "orders", "operator"),
                            act.Announce("c1", 3, 150.0), act.OfferCallbackChoice("c1")], 130.0)
    assert timeline(out) == ["escalate", "overflow", "announce"]
    assert cmd.SayQueuePosition(3, 2) in out and out[-1] == cmd.PlaySystemPrompt("callback-offer")
    assert not flow.music and flow.waiting() == [cmd.StartMusic()]


def test_engine_stop_hands_waiting_callers_back_but_lets_conversations_run() -> None:
    flow = queued(now=0.0)
    out = flow.engine_stopping(3.0)
    assert acd_events(out) == [ev.CallAbandoned("c1")] and flow.record.disposition == "failed"
    assert "engine stopped in queue" in flow.record.hangup_cause and flow.handed_back
    flow = queued(now=0.0)
    flow.acd_actions([act.OfferCall("c1", "alice", 15.0)], 1.0)
    flow.agent_answered("alice", 2.0)
    assert flow.engine_stopping(30.0) == []
    assert (flow.record.disposition, flow.record.agent) == ("answered", "alice")
    assert flow.record.hangup_cause == "engine stopped during the conversation"


def test_our_bug_in_the_menu_hands_back_without_touching_the_acd() -> None:
    flow = new_flow()
    assert flow.hand_back("engine error: boom", 1.0) == []
    assert flow.record.hangup_cause == "engine error: boom in menu: handed to Asterisk's operator fallback"


def test_finished_completes_the_record() -> None:
    flow = queued()
    flow.acd_actions([act.Diverted("c1", "closed", "no agents")], 101.0)
    walked = Walked([{"node": "main", "input": "1"}], "fr", "dtmf",
                    {"outcome": "routed", "intent": "order"}, "recognizer_error")
    out = flow.finished(walked, WALL, ["offered nobody", "diverted to closed: no agents"])
    rec = flow.record
    assert rec.ended_at == WALL and rec.path == walked.path and rec.language == "fr"
    assert rec.route == "dtmf" and rec.speech_outcome == "recognizer_error"
    assert rec.decision_trace == ["offered nobody", "diverted to closed: no agents"]
    assert kinds(out) == ["Timeline", "SaveRecord", "ReleaseTrace", "Publish"]
    assert out[0].data["disposition"] == "overflowed"


def test_ivr_steps_are_logged_once() -> None:
    flow = new_flow()
    path = [{"node": "lang"}, {"node": "main"}]
    assert [c.data for c in flow.ivr_steps(path, 1)] == [{"node": "main"}]


def test_a_callback_made_is_timed_from_the_first_arrival_and_the_customers_answer() -> None:
    rec = CallRecord(call_id="c1", caller="+33611000001", disposition="callback")
    callback_made(rec, agent="alice", queued_at=10.0, answered_at=70.0, customer_answered_at=75.0,
                  now=130.25, customer_status="ANSWER", trace=["t"], wall=WALL)
    assert (rec.agent, rec.wait_seconds, rec.talk_seconds) == ("alice", 60.0, 55.25)
    assert rec.disposition == "callback" and "caller answered" in rec.hangup_cause


def test_a_callback_the_customer_never_answered_has_no_talk() -> None:
    rec = CallRecord(call_id="c1", caller="+33611000001", disposition="callback")
    callback_made(rec, agent="alice", queued_at=10.0, answered_at=70.0, customer_answered_at=None,
                  now=100.0, customer_status="NOANSWER", trace=[], wall=WALL)
    assert rec.talk_seconds == 0.0 and "did not answer" in rec.hangup_cause


def test_a_caller_gone_before_the_engine_is_recorded_abandoned() -> None:
    rec, steps = unseen_hangup("c9", "+331", "100", WALL, WALL)
    assert rec.disposition == "abandoned" and rec.wait_seconds == 0.0
    assert [s.kind for s in steps] == ["arrived", "hangup"]


def test_each_decision_is_one_log_line_with_the_number_masked() -> None:
    from ivr.call.decisions import describe
    flow = queued(now=0.0)
    flow.acd_actions([act.OfferCall("c1", "bob", 8.0)], 1.0)
    out = flow.dial_ended("NOANSWER", None, 9.0)
    out += flow.acd_actions([act.Diverted("c1", "call-back", "waited too long")], 20.0)
    lines = [describe(c.kind, c.data) for c in out if isinstance(c, cmd.Timeline)]
    assert lines == ["bob did not answer (NOANSWER after 8.0 s): paused (RONA), the caller keeps its place",
                     "callback to ********0001 requested in orders",
                     "diverted to call-back: waited too long"]
    assert describe("ivr", {"node": "main"}) is None


def test_an_announcement_with_nobody_on_duty_gives_the_position_only() -> None:
    flow = queued()
    out = flow.acd_actions([act.Announce("c1", 2, float("inf"))], 130.0)
    [said] = [c for c in out if isinstance(c, cmd.Timeline)]
    assert cmd.SayQueuePosition(2, 0) in out and said.data["ewt_seconds"] is None


def test_an_agent_for_the_caller_supersedes_an_announcement_due_at_the_same_time() -> None:
    flow = queued()
    out = flow.acd_actions([act.OfferCall("c1", "alice", 8.0), act.Announce("c1", 1, 900.0),
                            act.OfferCallbackChoice("c1")], 130.0)
    assert kinds(out) == ["StopMusic", "Timeline", "Publish", "ScreenPop", "Ring"]
    assert timeline(out) == ["offer"]


def test_divert_to_a_voice_message_records_once_then_goodbye() -> None:
    flow = queued()
    out = flow.acd_actions([act.Diverted("c1", "leave-message", "no agents")], 101.0)
    assert cmd.PlaySystemPrompt("divert-leave-message") in out
    assert out[-2:] == [cmd.RecordMessage(90), cmd.Play(("vm-goodbye",))]   # no loop back
    assert flow.record.disposition == "voicemail" and flow.queue_over
    assert flow.caller_hung_up(120.0) == [] and flow.record.disposition == "voicemail"


def test_a_voice_message_without_the_callers_number_hands_back_to_a_person() -> None:
    flow = new_flow(caller="")
    flow.enter_queue(ROUTE, 0.0)
    out = flow.acd_actions([act.Diverted("c1", "leave-message", "no agents")], 1.0)
    assert isinstance(out[-1], cmd.HandBack) and "number is unknown" in out[-1].reason
    assert not any(isinstance(c, cmd.RecordMessage) for c in out)
