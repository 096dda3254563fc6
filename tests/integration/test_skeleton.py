"""The walking skeleton through real Asterisk: caller (SIPp) → FastAGI engine → agent (SIPp) → CRM."""
from __future__ import annotations

import signal
import time

import pytest

from hotline_lab.sipp import AwaitHangup, CallerHangsUp, Pause, Press

pytestmark = pytest.mark.asterisk


def test_press_1_reaches_orders_agent_and_crm_has_the_call(engine):
    engine.start_phones(answer_after=1.0, talk_seconds=2.0)
    call = engine.call("0611000001", [Pause(1.5), Press("1"), AwaitHangup(60)])
    assert call.wait(90) == 0, engine.sipp.errors("caller", 0)
    rec = engine.call_record("0611000001")
    assert rec["disposition"] == "answered"
    assert rec["queue"] == "orders"
    assert rec["agent"] in ("bob", "dave")          # only they have the orders skill
    assert rec["wait_seconds"] > 0.5                 # the phone rang ~1 s before answering
    assert rec["talk_seconds"] > 1.0
    assert rec["route"] == "dtmf"
    keys = [step.get("key") for step in rec["path"] if step.get("input") == "key"]
    assert keys == ["1"]
    assert rec["dialed"] == "100" and rec["plan_version"]
    kinds = [e["kind"] for e in engine.call_events(rec["call_id"])]
    assert kinds[0] == "arrived" and kinds[-1] == "hangup"
    steps = [k for k in kinds if k != "ivr"]
    assert steps == ["arrived", "queue_enter", "offer", "answered", "connect", "complete",
                     "hangup"]
    assert kinds.count("ivr") == len(rec["path"])


def test_no_input_gets_retries_then_the_operator(engine):
    engine.start_phones(answer_after=0.5, talk_seconds=1.0)
    call = engine.call("0611000002", [AwaitHangup(90)])
    assert call.wait(120) == 0
    rec = engine.call_record("0611000002")
    timeouts = [s for s in rec["path"] if s.get("input") == "timeout"]
    assert len(timeouts) == 3                        # retries: 3 = three tries (minimal.yaml)
    assert rec["queue"] == "operator"
    assert rec["disposition"] == "answered"
    assert rec["route"] == "fallback"


def test_caller_hanging_up_in_the_menu_is_recorded_abandoned(engine):
    call = engine.call("0611000003", [Pause(1.0), CallerHangsUp()])
    assert call.wait(30) == 0
    rec = engine.call_record("0611000003")
    assert rec["disposition"] == "abandoned"
    assert rec["agent"] is None and rec["ended_at"]


def test_ring_no_answer_moves_the_caller_to_the_next_agent(engine):
    # bob (most skilled for orders) never answers: RONA, then dave takes the call.
    engine.start_phones(only={"bob": None, "dave": 0.5})
    call = engine.call("0611000004", [Pause(1.5), Press("1"), AwaitHangup(90)])
    assert call.wait(120) == 0
    rec = engine.call_record("0611000004")
    assert rec["disposition"] == "answered"
    assert rec["agent"] == "dave"
    assert rec["wait_seconds"] > 7                   # bob rang for the ring timeout (8 s)
    assert any("bob" in line and "RONA" in line for line in rec["decision_trace"])
    rona = [e for e in engine.call_events(rec["call_id"]) if e["kind"] == "ring_no_answer"]
    assert [e["agent"] for e in rona] == ["bob"] and rona[0]["ring_ms"] > 7000


def test_engine_stopped_mid_menu_caller_still_reaches_the_operator(engine):
    engine.start_phones(answer_after=0.5, talk_seconds=2.0)
    start = time.monotonic()
    call = engine.call("0611000005", [AwaitHangup(90)])
    time.sleep(1.5)                                   # caller is in the menu now
    assert engine.stop_engine(signal.SIGTERM) == 0
    assert call.wait(60) == 0
    # Asterisk's fallback rang an operator phone, which answered and talked for 2 s.
    assert time.monotonic() - start > 3.5
    cdr = engine.sandbox.root / "var/log/asterisk/cdr-csv/Master.csv"
    lines = [l for l in cdr.read_text().splitlines() if "0611000005" in l]
    assert any("ivr-fallback" in l and "ANSWERED" in l and "PJSIP/alice" in l or
               "ivr-fallback" in l and "ANSWERED" in l and "PJSIP/bob" in l for l in lines), lines
    rec = engine.call_record("0611000005")
    assert rec["route"] == "fallback"


def test_several_keys_in_a_row_are_all_heard(engine):
    # Regression: SIPp's shipped captures share one RTP stream; replaying 2 then 1 lost the 1.
    engine.start_phones(answer_after=0.5, talk_seconds=1.0)
    call = engine.call("0611000006", [Pause(1.0), Press("5"), Pause(1.5), Press("2"), Pause(1.5),
                                      Press("1"), AwaitHangup(60)])
    assert call.wait(90) == 0
    rec = engine.call_record("0611000006")
    keys = [s.get("key") for s in rec["path"] if s.get("input") in ("key", "invalid")]
    assert keys == ["5", "2", "1"]
    assert rec["queue"] == "orders"


def test_engine_killed_mid_menu_caller_reaches_operator_and_the_crm_keeps_the_call(engine):
    engine.start_phones(answer_after=0.5, talk_seconds=2.0)
    call = engine.call("0611000007", [AwaitHangup(90)])
    time.sleep(1.5)                                    # in the menu
    engine.stop_engine(signal.SIGKILL)
    assert call.wait(60) == 0                          # Asterisk's fallback: an operator answered
    cdr = engine.sandbox.root / "var/log/asterisk/cdr-csv/Master.csv"
    lines = [l for l in cdr.read_text().splitlines() if "0611000007" in l]
    assert any("ivr-fallback" in l and "ANSWERED" in l for l in lines), lines
    engine.start_engine("--grace", "2")                # the restart reconciles the cut-off call
    rec = engine.call_record("0611000007")
    assert rec["recovered"] and rec["route"] == "fallback"
    deadline = time.monotonic() + 15                   # then the CDR check gives its outcome
    while "Asterisk's CDR" not in (rec["hangup_cause"] or ""):
        assert time.monotonic() < deadline, rec
        time.sleep(0.3)
        rec = engine.call_record("0611000007")
    assert rec["recovered"] and rec["disposition"] == "answered" and rec["agent"], rec


def test_asterisk_restart_the_engine_reconnects_and_serves_again(engine):
    engine.sandbox.down(log=lambda *_: None)
    engine.sandbox.up(log=lambda *_: None)             # a fresh Asterisk: AMI link dropped
    deadline = time.monotonic() + 10
    while "AMI logged in" not in engine.log_text().split("AMI link")[-1]:
        assert time.monotonic() < deadline, engine.log_text()[-2000:]
        time.sleep(0.2)
    assert "lost; reconnecting" in engine.log_text()
    engine.start_phones(answer_after=0.5, talk_seconds=1.0)
    call = engine.call("0611000008", [Pause(1.5), Press("1"), AwaitHangup(60)])
    assert call.wait(90) == 0
    rec = engine.call_record("0611000008")
    assert rec["disposition"] == "answered" and rec["wait_seconds"] > 0.3   # answer seen on AMI


def test_engine_killed_with_one_caller_talking_and_one_waiting(engine):
    engine.stop_engine()
    engine.start_engine("--no-agents-ready")
    engine.ivr("agent", "login", "alice")
    engine.start_phones(answer_after=0.5, talk_seconds=8.0)
    talking = engine.call("0611000009", [Pause(1.5), Press("0"), AwaitHangup(90)])
    time.sleep(4.0)                                    # alice answered ~2.5 s in
    waiting = engine.call("0611000010", [Pause(1.5), Press("0"), AwaitHangup(90)])
    time.sleep(3.0)                                    # in the queue: alice is busy
    started = time.monotonic()
    engine.stop_engine(signal.SIGKILL)
    assert talking.wait(60) == 0 and waiting.wait(60) == 0
    # The conversation went on to its end (alice hung up after 8 s), not cut at the kill…
    cdr = (engine.sandbox.root / "var/log/asterisk/cdr-csv/Master.csv").read_text().splitlines()
    talk = [l for l in cdr if "0611000009" in l and "PJSIP/alice" in l and "ANSWERED" in l]
    assert talk and "ivr-fallback" not in talk[-1]
    # …and the waiting caller reached the operators through Asterisk's fallback.
    assert any("0611000010" in l and "ivr-fallback" in l and "ANSWERED" in l for l in cdr)
    assert time.monotonic() - started > 2.0
    engine.start_engine()
    for caller in ("0611000009", "0611000010"):
        assert engine.call_record(caller)["recovered"]
    # The talk is alice's (~8 s from her answer, which the engine had written down), not the
    # caller's billed time from the hotline's own answer (menu and ringing included); the menu's
    # findings (path, queue, intent) written before the kill are kept.
    deadline = time.monotonic() + 15
    while "Asterisk's CDR" not in ((rec := engine.call_record("0611000009"))["hangup_cause"] or ""):
        assert time.monotonic() < deadline, rec
        time.sleep(0.3)
    assert rec["disposition"] == "answered" and rec["agent"] == "alice"
    assert 6.5 <= rec["talk_seconds"] < 9.5, rec
    assert rec["queue"] == "operator" and rec["path"] and rec["intent"], rec
