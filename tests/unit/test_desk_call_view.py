"""The agent's call panel follows the feed: ringing before the answer, talking, after the call;
an offer another agent took, or that the caller left, is missed; a late desk trusts the state."""
from ivr.desk.call_view import Phase, call_phase, wrapup_left

OFFER = {"call_id": "c1", "agent": "alice"}


def test_the_panel_follows_one_call() -> None:
    assert call_phase("alice", None, None, "ready") is Phase.IDLE
    assert call_phase("alice", OFFER, {"offered": {}}, "offered") is Phase.RINGING
    answered = {"offered": {}, "answered": {"agent": "alice"}}
    assert call_phase("alice", OFFER, answered, "on-call") is Phase.TALKING
    assert call_phase("alice", OFFER, answered | {"ended": {}}, "wrap-up") is Phase.AFTER
    assert call_phase("alice", OFFER, answered | {"ended": {}}, "ready") is Phase.AFTER


def test_an_offer_not_taken_is_missed() -> None:
    assert call_phase("alice", OFFER, {"answered": {"agent": "bob"}}, "ready") is Phase.MISSED
    assert call_phase("alice", OFFER, {"offered": {}, "ended": {}}, "ready") is Phase.MISSED
    assert call_phase("alice", OFFER, {"offered": {}}, "paused") is Phase.MISSED      # RONA


def test_a_desk_that_joined_late_trusts_the_agent_state() -> None:
    assert call_phase("alice", OFFER, None, "offered") is Phase.RINGING
    assert call_phase("alice", OFFER, None, "on-call") is Phase.TALKING
    assert call_phase("alice", OFFER, None, "wrap-up") is Phase.AFTER


def test_wrapup_time_left() -> None:
    assert wrapup_left({"state": "wrap-up", "wrapup_until": 130.0}, 100.0) == 30.0
    assert wrapup_left({"state": "wrap-up", "wrapup_until": 90.0}, 100.0) == 0.0
    assert wrapup_left({"state": "ready", "wrapup_until": None}, 100.0) is None
    assert wrapup_left(None, 100.0) is None
