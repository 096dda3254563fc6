"""What callers really do, through real Asterisk: keys pressed over prompts, far too many
digits, and hanging up at every step. Each call must end in a correct CRM record and leave no
agent stuck."""
from __future__ import annotations

import json
import time

import pytest

from hotline_lab.sipp import AwaitHangup, CallerHangsUp, Pause, Press
from tests.integration.conftest import OFFICE_HOURS

pytestmark = pytest.mark.asterisk


def agent_states(lab) -> dict[str, str]:
    return {a["agent"]: a["state"] for a in json.loads(lab.ivr("agents", "--format", "json").stdout)}


def wait_until_ready(lab, names: tuple[str, ...], timeout: float = 30) -> None:
    """Agents come back to ready (after wrap-up if they talked): none is left offered/on-call."""
    deadline = time.monotonic() + timeout
    while (states := agent_states(lab)) and any(states[n] != "ready" for n in names):
        assert time.monotonic() < deadline, f"agents stuck: {states}"
        time.sleep(0.5)


def presses(keys: str) -> list:
    return [Press(k) for k in keys]


def test_a_far_too_long_order_number_is_refused_whole_and_the_caller_reaches_orders(hotline):
    # French → main menu 2 (orders) → 2 (order number: 8 digits then #). The caller keys 30
    # digits over the prompt, twice; the plan's on_invalid sends them to an orders agent.
    hotline.start_engine("--clock", OFFICE_HOURS)
    hotline.start_phones(answer_after=0.5, talk_seconds=1.0)
    long_entry = "123456789012345678901234567890"
    steps = [Pause(1.5), Press("1"), Pause(1.5), Press("2"), Pause(1.5), Press("2"), Pause(1.0),
             *presses(long_entry + "#"), Pause(2.0), *presses(long_entry + "#"), AwaitHangup(90)]
    call = hotline.call("0611000301", steps)
    assert call.wait(150) == 0, hotline.sipp.errors("caller", 0)
    rec = hotline.call_record("0611000301")
    entries = [s for s in rec["path"] if s["node"] == "order-number" and "input" in s]
    assert [s.get("input") for s in entries] == ["invalid", "invalid"], rec["path"]
    # Refused whole: not cut at 8 digits (which would have looked like a valid order number).
    assert all(len(s["value"]) > 8 and s["value"].startswith("12345678") for s in entries)
    assert rec["intent"] == "order" and rec["queue"] == "orders"
    assert rec["disposition"] == "answered" and rec["agent"] in ("bob", "dave")
    # None of the extra keys spilled into a menu after the collect.
    last = max(i for i, s in enumerate(rec["path"]) if s["node"] == "order-number")
    assert not [s for s in rec["path"][last + 1:] if "input" in s], rec["path"]


def test_keys_pressed_over_every_prompt_are_taken_at_once(engine):
    # Pressed 0.3 s into the menu prompt: the key cuts the prompt and routes the call.
    engine.start_phones(answer_after=0.5, talk_seconds=1.0)
    call = engine.call("0611000302", [Pause(0.3), Press("1"), AwaitHangup(60)])
    assert call.wait(90) == 0
    rec = engine.call_record("0611000302")
    assert rec["queue"] == "orders" and rec["disposition"] == "answered"
    assert rec["wait_seconds"] < 10


def test_a_burst_of_wrong_keys_ends_with_a_person_not_a_loop(engine):
    # The operator talks long enough for the caller to finish pressing keys at them.
    engine.start_phones(answer_after=0.5, talk_seconds=15.0)
    call = engine.call("0611000303", [Pause(0.5), *presses("2345678234567823456782"), AwaitHangup(90)])
    assert call.wait(120) == 0
    rec = engine.call_record("0611000303")
    wrong = [s for s in rec["path"] if s.get("input") == "invalid"]
    assert 1 <= len(wrong) <= 3                      # the plan allows three tries, then a person
    assert rec["queue"] == "operator" and rec["disposition"] == "answered"


@pytest.mark.parametrize("caller, moment, steps, expected", [
    ("0611000311", "at once", [Pause(0.2), CallerHangsUp()], {"queue": None}),
    ("0611000312", "after a wrong key", [Pause(1.0), Press("5"), Pause(0.7), CallerHangsUp()], {"queue": None}),
    ("0611000313", "while the agent rings", [Pause(1.5), Press("1"), Pause(3.0), CallerHangsUp()],
     {"queue": "orders"}),
])
def test_hanging_up_before_a_person_answers_is_abandoned(engine, caller, moment, steps, expected):
    engine.start_phones(only={"bob": 6.0, "dave": 6.0}, talk_seconds=1.0)   # they answer late
    call = engine.call(caller, steps)
    assert call.wait(30) == 0
    rec = engine.call_record(caller)
    assert rec["disposition"] == "abandoned", moment
    assert rec["agent"] is None and rec["talk_seconds"] is None
    assert rec["queue"] == expected["queue"]
    if rec["queue"]:
        assert 1.0 < rec["wait_seconds"] < 5.0          # from entering the queue to the hang-up
    kinds = [e["kind"] for e in engine.call_events(rec["call_id"])]
    assert kinds[0] == "arrived" and kinds[-1] == "hangup"
    wait_until_ready(engine, ("bob", "dave"))


def test_hanging_up_while_talking_is_answered_with_its_talk_time(engine):
    engine.start_phones(only={"bob": 0.5, "dave": 0.5}, talk_seconds=30.0)
    call = engine.call("0611000320", [Pause(1.5), Press("1"), Pause(5.0), CallerHangsUp()])
    assert call.wait(30) == 0
    rec = engine.call_record("0611000320")
    assert rec["disposition"] == "answered" and rec["agent"] in ("bob", "dave")
    assert 1.5 < rec["talk_seconds"] < 5.5
    # The agent goes through wrap-up (10 s for orders) back to ready: not stuck on-call.
    assert agent_states(engine)[rec["agent"]] in ("wrap-up", "ready")
    wait_until_ready(engine, (rec["agent"],))
