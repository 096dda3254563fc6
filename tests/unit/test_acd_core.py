"""Core behaviour: priority/ageing, fairness, agent states, RONA, wrap-up, join rules, EWT, callback."""
from typing import Any

import pytest

from acd import (Acd, AcdConfig, AgentLoggedIn, AgentLoggedOut, AgentPaused, AgentReady, AgentState,
                 Announce, CallAbandoned, CallArrived, CallbackRequested, CallEnded, CancelOffer,
                 DeviceBusy, Diverted, OfferAnswered, OfferCall, OfferFailed, StartCallback, Tick, WrapUpExtended)


def build(queues: dict[str, dict[str, Any]], agents: dict[str, dict[str, int]], **top: Any) -> Acd:
    return Acd(AcdConfig.from_dict({"agents": {n: {"skills": s} for n, s in agents.items()},
                                    "queues": queues, **top}))


def serve(acd: Acd, agent: str, now: float) -> str | None:
    """Agent finishes its current call (no wrap-up) and returns the call offered next."""
    cid = next(a["call_id"] for a in acd.state_snapshot()["agents"] if a["agent"] == agent)
    out = acd.handle(CallEnded(cid), now)
    offers = [o for o in out if isinstance(o, OfferCall)]
    if not offers:
        return None
    acd.handle(OfferAnswered(offers[0].call_id, agent), now)
    return offers[0].call_id


def busy_agent(acd: Acd, agent: str, queue: str, now: float = 0.0) -> None:
    acd.handle(AgentLoggedIn(agent), now)
    out = acd.handle(CallArrived(f"busy-{agent}", queue), now)
    assert [(o.call_id, o.agent) for o in out] == [(f"busy-{agent}", agent)]
    acd.handle(OfferAnswered(f"busy-{agent}", agent), now)


def test_fifo_within_priority_and_position() -> None:
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}})
    busy_agent(acd, "a", "q")
    for i, t in enumerate([1, 2, 3]):
        assert acd.handle(CallArrived(f"c{i}", "q"), t) == []
    assert [acd.position(f"c{i}") for i in range(3)] == [1, 2, 3]
    assert serve(acd, "a", 10) == "c0"
    assert acd.position("c1") == 1 and acd.position("c0") is None


def test_priority_jumps_queue_but_ageing_prevents_starvation() -> None:
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}}, priority_step_seconds=30)
    busy_agent(acd, "a", "q")
    acd.handle(CallArrived("low", "q", priority=0), 0)
    acd.handle(CallArrived("high", "q", priority=1), 10)  # worth 30 s: virtual arrival -20
    assert acd.position("high") == 1
    assert serve(acd, "a", 11) == "high"
    # a fresh priority-1 call arriving 40 s after `low` does not overtake it any more
    acd.handle(CallArrived("high2", "q", priority=1), 40.5)
    assert acd.position("low") == 1
    assert serve(acd, "a", 41) == "low"
    assert serve(acd, "a", 42) == "high2"


def test_fairness_across_queues_oldest_relative_to_priority() -> None:
    acd = build({"q1": {"requirement": "x"}, "q2": {"requirement": "y"},
                 "vip": {"requirement": "y", "priority": 2}},
                {"a": {"x": 1, "y": 1}}, priority_step_seconds=60)
    busy_agent(acd, "a", "q1")
    acd.handle(CallArrived("q2-old", "q2"), 1)
    acd.handle(CallArrived("q1-new", "q1"), 5)
    acd.handle(CallArrived("vip-new", "vip"), 100)  # 2 levels = 120 s: virtual arrival -20
    assert serve(acd, "a", 101) == "vip-new"
    assert serve(acd, "a", 102) == "q2-old"
    assert serve(acd, "a", 103) == "q1-new"


def test_required_extra_skill_only_offers_matching_agents() -> None:
    acd = build({"q": {"requirement": "fr"}}, {"a": {"fr": 1}, "b": {"fr": 1, "pv": 3}})
    acd.handle(AgentLoggedIn("a"), 0)
    acd.handle(AgentLoggedIn("b"), 1)
    assert acd.handle(CallArrived("c", "q", required="pv >= 3"), 2) == [OfferCall("c", "b", 15.0)]
    out = acd.handle(CallArrived("bad", "q", required="pv >="), 3)
    assert isinstance(out[0], Diverted) and "position" in out[0].reason


def test_rona_pauses_agent_and_caller_keeps_place() -> None:
    acd = build({"q": {"requirement": "x", "ring_timeout": 9}}, {"a": {"x": 1}, "b": {"x": 1}})
    busy_agent(acd, "b", "q")
    acd.handle(AgentLoggedIn("a"), 1)
    assert acd.handle(CallArrived("first", "q"), 2) == [OfferCall("first", "a", 9.0)]
    acd.handle(CallArrived("second", "q"), 3)
    out = acd.handle(OfferFailed("first", "a", "noanswer"), 11)
    assert out == []
    snap = {x["agent"]: x for x in acd.state_snapshot()["agents"]}
    assert snap["a"]["state"] == "paused" and snap["a"]["reason"] == "RONA"
    assert acd.position("first") == 1 and acd.position("second") == 2
    assert serve(acd, "b", 12) == "first"  # next agent gets the RONA caller first
    assert any("RONA" in line for line in acd.trace("first"))
    # agent comes back from RONA
    out = acd.handle(AgentReady("a"), 13)
    assert out == [OfferCall("second", "a", 9.0)]


def test_wrapup_is_timed_per_queue_then_ready() -> None:
    acd = build({"q": {"requirement": "x", "wrapup_seconds": 30}, "r": {"requirement": "x"}},
                {"a": {"x": 1}})
    busy_agent(acd, "a", "q")
    acd.handle(CallArrived("next", "r"), 1)
    assert acd.handle(CallEnded("busy-a"), 10) == []
    assert acd.agent_state("a") is AgentState.WRAPUP
    assert acd.next_deadline() == 40
    assert acd.handle(Tick(), 39.9) == []
    assert acd.handle(Tick(), 40) == [OfferCall("next", "a", 15.0)]
    acd.handle(OfferAnswered("next", "a"), 41)
    assert acd.handle(CallEnded("next"), 50) == []  # queue r has no wrap-up
    assert acd.agent_state("a") is AgentState.READY


def test_agent_ready_ends_wrapup_early_and_pause_during_call_is_deferred() -> None:
    acd = build({"q": {"requirement": "x", "wrapup_seconds": 30}}, {"a": {"x": 1}})
    busy_agent(acd, "a", "q")
    acd.handle(CallEnded("busy-a"), 5)
    acd.handle(AgentReady("a"), 6)
    assert acd.agent_state("a") is AgentState.READY
    assert acd.next_deadline() is None  # stale wrap-up timer dropped
    acd.handle(CallArrived("c", "q"), 7)
    acd.handle(OfferAnswered("c", "a"), 8)
    acd.handle(AgentPaused("a", "lunch"), 9)
    assert acd.agent_state("a") is AgentState.ON_CALL
    acd.handle(CallEnded("c"), 10)
    acd.handle(Tick(), 40)
    snap = acd.state_snapshot()["agents"][0]
    assert (snap["state"], snap["reason"]) == ("paused", "lunch")
    acd.handle(CallArrived("d", "q"), 41)
    assert acd.handle(AgentReady("a"), 42) == [OfferCall("d", "a", 15.0)]


def test_device_busy_blocks_offers() -> None:
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}, "b": {"x": 1}})
    acd.handle(AgentLoggedIn("a"), 0)
    acd.handle(AgentLoggedIn("b"), 1)
    acd.handle(DeviceBusy("a", True), 2)
    assert acd.handle(CallArrived("c1", "q"), 3) == [OfferCall("c1", "b", 15.0)]
    assert acd.handle(CallArrived("c2", "q"), 4) == []
    assert acd.handle(DeviceBusy("a", False), 5) == [OfferCall("c2", "a", 15.0)]


def test_logout_while_ringing_cancels_and_requeues() -> None:
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}, "b": {"x": 1}})
    acd.handle(AgentLoggedIn("a"), 0)
    acd.handle(CallArrived("c", "q"), 1)
    out = acd.handle(AgentLoggedOut("a"), 2)
    assert out == [CancelOffer("c", "a")]
    assert acd.position("c") == 1
    assert acd.handle(AgentLoggedIn("b"), 3) == [OfferCall("c", "b", 15.0)]


def test_abandon_while_waiting_and_while_ringing() -> None:
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}})
    busy_agent(acd, "a", "q")
    acd.handle(CallArrived("w", "q"), 1)
    acd.handle(CallArrived("w2", "q"), 2)
    acd.handle(CallAbandoned("w"), 3)
    assert acd.position("w") is None and acd.position("w2") == 1
    assert serve(acd, "a", 4) == "w2"
    acd.handle(CallEnded("w2"), 5)
    acd.handle(CallArrived("r", "q"), 6)
    assert acd.handle(CallAbandoned("r"), 7) == [CancelOffer("r", "a")]
    assert acd.agent_state("a") is AgentState.READY


@pytest.mark.parametrize("rule,expected", [
    ("refuse", Diverted("c", "busy-tone", "join refused: no agents logged in")),
    ("divert", Diverted("c", "closed", "no agents logged in")),
    ("join", None),
])
def test_join_rules_when_no_agents(rule: str, expected: Diverted | None) -> None:
    acd = build({"q": {"requirement": "x", "join_when_no_agents": rule,
                       "congestion_destination": "busy-tone", "no_agents_destination": "closed"}},
                {"a": {"x": 1}, "other": {"y": 1}})
    acd.handle(AgentLoggedIn("other"), 0)  # logged in but not eligible: does not count
    out = acd.handle(CallArrived("c", "q"), 1)
    if expected is None:
        assert out == [] and acd.position("c") == 1
    else:
        assert out == [expected] and acd.position("c") is None
        assert "diverted" in acd.trace("c")[-1]


def test_a_callback_request_joins_when_nobody_is_staffed_and_rings_back_at_login() -> None:
    # After hours the queue diverts callers (no agents); a kept callback request must still wait.
    acd = build({"q": {"requirement": "x", "join_when_no_agents": "divert",
                       "no_agents_destination": "call-back", "max_length": 1,
                       "max_ewt_seconds": 1, "max_ewt_destination": "call-back",
                       "announce_every_seconds": 5}}, {"a": {"x": 1}})
    assert isinstance(acd.handle(CallArrived("c", "q"), 0)[0], Diverted)
    assert acd.handle(CallArrived("c", "q", callback="+33600000000"), 1) == []
    assert acd.position("c") == 1
    # Queue full (max_length 1) does not refuse a second callback request either.
    assert acd.handle(CallArrived("d", "q", callback="+33600000001"), 2) == []
    assert acd.handle(Tick(), 30) == []                    # no announcements to a gone caller
    out = acd.handle(AgentLoggedIn("a"), 40)               # the morning: first in line first
    assert out == [StartCallback("c", "a", "+33600000000")]
    trace = acd.trace("c")                                 # one story: divert, then callback
    assert any("diverted" in line for line in trace) and any("callback request" in line for line in trace)
    acd.release_trace("c")                                 # the caller's session ended: the
    assert acd.trace("c") == trace                         # request still waits, so it stays


def test_paused_agents_count_as_no_agents() -> None:
    acd = build({"q": {"requirement": "x", "join_when_no_agents": "refuse"}}, {"a": {"x": 1}})
    acd.handle(AgentLoggedIn("a"), 0)
    acd.handle(AgentPaused("a", "break"), 1)
    assert isinstance(acd.handle(CallArrived("c", "q"), 2)[0], Diverted)


def test_max_length() -> None:
    acd = build({"q": {"requirement": "x", "max_length": 2, "congestion_destination": "vm"}},
                {"a": {"x": 1}})
    busy_agent(acd, "a", "q")
    assert acd.handle(CallArrived("1", "q"), 1) == []
    assert acd.handle(CallArrived("2", "q"), 2) == []
    out = acd.handle(CallArrived("3", "q"), 3)
    assert out == [Diverted("3", "vm", "queue full (2 >= max_length 2)")]
    acd.handle(CallAbandoned("1"), 4)
    assert acd.handle(CallArrived("4", "q"), 5) == []


def test_ewt_position_and_max_ewt() -> None:
    acd = build({"q": {"requirement": "x", "aht_seconds": 100, "max_ewt_seconds": 250,
                       "max_ewt_destination": "vm"}}, {"a": {"x": 1}, "b": {"x": 1}})
    busy_agent(acd, "a", "q")
    busy_agent(acd, "b", "q")
    for i in range(5):
        acd.handle(CallArrived(f"c{i}", "q"), 1 + i)
    # two staffed agents, 100 s per call -> 50 s per position
    assert acd.estimated_wait("c0") == pytest.approx(50)
    assert acd.estimated_wait("c4") == pytest.approx(250)
    out = acd.handle(CallArrived("c5", "q"), 10)
    assert out == [Diverted("c5", "vm", "EWT 300s > max_ewt_seconds 250")]
    assert acd.estimated_wait("busy-a") == 0.0


def test_announcements_at_interval_with_position_and_ewt() -> None:
    acd = build({"q": {"requirement": "x", "announce_every_seconds": 30, "aht_seconds": 60}},
                {"a": {"x": 1}})
    busy_agent(acd, "a", "q")
    acd.handle(CallArrived("c1", "q"), 0)
    acd.handle(CallArrived("c2", "q"), 10)
    assert acd.next_deadline() == 30
    assert acd.handle(Tick(), 30) == [Announce("c1", 1, 60.0)]
    assert acd.handle(Tick(), 40) == [Announce("c2", 2, 120.0)]
    assert acd.handle(Tick(), 70) == [Announce("c1", 1, 60.0), Announce("c2", 2, 120.0)]


def test_callback_keeps_position_and_starts_callback() -> None:
    acd = build({"q": {"requirement": "x", "announce_every_seconds": 20}}, {"a": {"x": 1}})
    busy_agent(acd, "a", "q")
    acd.handle(CallArrived("c1", "q"), 1)
    acd.handle(CallArrived("c2", "q"), 2)
    assert acd.handle(CallbackRequested("c1", "+33600000000"), 3) == []
    assert acd.position("c1") == 1
    assert acd.handle(Tick(), 21) == []  # no announcement to a caller who hung up
    out = acd.handle(CallEnded("busy-a"), 30)
    # c2 (still on the line) hears its 22 s announcement; c1 is called back
    assert out == [Announce("c2", 2, 360.0), StartCallback("c1", "a", "+33600000000")]
    acd.handle(OfferAnswered("c1", "a"), 31)
    assert acd.agent_state("a") is AgentState.ON_CALL


def test_snapshot_and_trace() -> None:
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}, "b": {"x": 1}})
    busy_agent(acd, "a", "q")
    acd.handle(AgentLoggedIn("b"), 0)
    acd.handle(AgentPaused("b", "meeting"), 1)
    acd.handle(CallArrived("w", "q"), 5)
    snap = acd.state_snapshot(now=25)
    q = snap["queues"][0]
    assert (q["waiting"], q["longest_wait"], q["agents_ready"], q["agents_busy"]) == (1, 20, 0, 1)
    agents = {x["agent"]: x for x in snap["agents"]}
    assert agents["b"]["reason"] == "meeting" and agents["b"]["since"] == 1
    assert agents["a"]["calls_taken"] == 1
    trace = acd.trace("busy-a")
    assert "longest-idle" in trace[1] and "offer to a" in trace[1]


def test_released_traces_are_forgotten_and_live_ones_kept() -> None:
    """Memory follows live calls: the engine releases a trace once the CRM record holds it."""
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}})
    busy_agent(acd, "a", "q")
    acd.handle(CallArrived("w", "q"), 1)
    acd.release_trace("w")                                 # still waiting: kept
    assert acd.trace("w")
    acd.handle(CallAbandoned("w"), 2)
    assert "abandoned" in " ".join(acd.trace("w"))
    acd.release_trace("w")
    assert acd.trace("w") == [] and acd.trace("busy-a")    # only the released one went
    acd.release_trace("never-seen")                        # harmless


def test_unknown_queue_and_duplicate_ids_and_unknown_agents() -> None:
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}})
    assert isinstance(acd.handle(CallArrived("c", "nope"), 0)[0], Diverted)
    acd.handle(AgentLoggedIn("ghost"), 0)
    acd.handle(AgentLoggedIn("a"), 0)
    assert len(acd.handle(CallArrived("c", "q"), 1)) == 1
    assert acd.handle(CallArrived("c", "q"), 2) == []
    assert acd.handle(OfferFailed("zzz", "a", "x"), 3) == []


def test_snapshot_defaults_to_last_clock_and_device_busy_counts_busy() -> None:
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}, "b": {"x": 1}})
    acd.handle(AgentLoggedIn("a"), 0)
    acd.handle(AgentLoggedIn("b"), 0)
    acd.handle(DeviceBusy("a", True), 1)
    acd.handle(DeviceBusy("b", True), 1)
    acd.handle(CallArrived("w", "q"), 2)
    acd.handle(Tick(), 12)
    q = acd.state_snapshot()["queues"][0]
    assert (q["waiting"], q["longest_wait"], q["agents_ready"], q["agents_busy"]) == (1, 10, 0, 2)
    assert acd.estimated_wait("w") == pytest.approx(180 / 2)  # default AHT 180 s, 2 staffed


def test_aht_estimate_learns_from_handled_calls() -> None:
    acd = build({"q": {"requirement": "x", "aht_seconds": 100, "wrapup_seconds": 20}}, {"a": {"x": 1}})
    busy_agent(acd, "a", "q")
    acd.handle(CallEnded("busy-a"), 400)  # 400 s talk + 20 s wrap > 100 s estimate
    assert acd.state_snapshot()["queues"][0]["aht_seconds"] > 100


def test_caller_hangup_after_callback_choice_keeps_request_until_cancelled() -> None:
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}})
    busy_agent(acd, "a", "q")
    acd.handle(CallArrived("cb", "q"), 1)
    acd.handle(CallArrived("cb2", "q"), 2)
    acd.handle(CallbackRequested("cb", "111"), 3)
    acd.handle(CallbackRequested("cb2", "222"), 3)
    acd.handle(CallAbandoned("cb"), 4)    # the caller's channel hangs up: request stays
    assert acd.position("cb") == 1
    acd.handle(CallEnded("cb2"), 5)       # explicit cancel
    assert acd.position("cb2") is None
    assert acd.handle(CallEnded("busy-a"), 6) == [StartCallback("cb", "a", "111")]


def test_a_known_callers_preferred_agent_is_offered_first_when_ready():
    from acd import actions as A, events as E
    from acd.config import AcdConfig
    from acd.core import Acd
    cfg = AcdConfig.from_dict({
        "agents": {"ann": {"skills": {"orders": 5}}, "ben": {"skills": {"orders": 2}}},
        "queues": {"orders": {"requirement": "orders", "strategy": "most-skilled"}}})
    acd = Acd(cfg)
    for name in ("ann", "ben"):
        acd.handle(E.AgentLoggedIn(name), 0)
        acd.handle(E.AgentReady(name), 0)
    out = acd.handle(E.CallArrived("c1", "orders", preferred_agent="ben"), 1)
    assert out == [A.OfferCall("c1", "ben", 15.0)]          # not ann, the most skilled
    assert any("preferred agent ben is ready" in line for line in acd.trace("c1"))
    out = acd.handle(E.CallArrived("c2", "orders", preferred_agent="ben"), 2)
    assert out == [A.OfferCall("c2", "ann", 15.0)]          # ben is busy: nobody waits for him
    assert any("preferred agent ben not available" in line for line in acd.trace("c2"))


def test_snapshot_says_who_can_take_the_head_caller_and_why_it_waits() -> None:
    acd = build({"q": {"requirement": "x"}}, {"a": {"x": 1}, "b": {"x": 1, "en": 1}})
    acd.handle(AgentLoggedIn("a"), 0)                       # ready, but no English
    acd.handle(CallArrived("c1", "q", required="en"), 1)
    q = acd.state_snapshot(2)["queues"][0]
    assert (q["waiting"], q["agents_ready"], q["head_agents_able"]) == (1, 1, 0)
    assert q["head_waits_because"] == "the 1 agent(s) with the skills '(x) and (en)' are logged out or paused"
    out = acd.handle(AgentLoggedIn("b"), 3)
    acd.handle(OfferAnswered("c1", "b"), 4)
    assert [o.agent for o in out if isinstance(o, OfferCall)] == ["b"]
    acd.handle(CallArrived("c2", "q", required="en"), 5)
    q = acd.state_snapshot(6)["queues"][0]
    assert q["head_waits_because"] == "the 1 agent(s) on duty with the skills '(x) and (en)' are all busy"
    b = next(a for a in acd.state_snapshot()["agents"] if a["agent"] == "b")
    assert (b["talking"], b["phone_busy_elsewhere"]) == (True, False)
    acd.handle(CallArrived("c3", "q", required="fr"), 7)
    acd.handle(CallEnded("c1"), 8)
    acd.handle(OfferAnswered("c2", "b"), 8)
    q = acd.state_snapshot(9)["queues"][0]
    assert q["head_agents_able"] == 0 and q["head_waits_because"] == "no agent has the skills '(x) and (fr)'"
    assert acd.state_snapshot(9)["queues"][0]["waiting"] == 1


# ---- the desk's wrap-up controls and the displays' change feed --------------------------
def _wrapped_up(wrapup: float = 30.0) -> Acd:
    acd = build({"q": {"wrapup_seconds": wrapup}}, {"alice": {}})
    acd.track_agents()
    acd.handle(AgentLoggedIn("alice"), 0)
    acd.handle(AgentReady("alice"), 0)
    acd.handle(CallArrived("c1", "q"), 1)
    acd.handle(OfferAnswered("c1", "alice"), 2)
    acd.handle(CallEnded("c1"), 10)
    return acd


def test_more_wrapup_time_moves_the_end_and_ready_now_ends_it() -> None:
    acd = _wrapped_up()
    assert acd.agent_state("alice") is AgentState.WRAPUP and acd.wrapup_until("alice") == 40
    acd.handle(WrapUpExtended("alice", 60), 20)
    assert acd.wrapup_until("alice") == 100
    acd.handle(Tick(), 41)                          # the first end is stale now
    assert acd.agent_state("alice") is AgentState.WRAPUP
    assert acd.next_deadline() == 100
    acd.handle(Tick(), 100)
    assert acd.agent_state("alice") is AgentState.READY and acd.wrapup_until("alice") is None
    acd = _wrapped_up()
    acd.handle(AgentReady("alice"), 15)               # "ready now"
    assert acd.agent_state("alice") is AgentState.READY


def test_more_time_outside_wrapup_changes_nothing() -> None:
    acd = _wrapped_up()
    acd.handle(AgentReady("alice"), 11)
    acd.changed_agents()
    acd.handle(WrapUpExtended("alice", 60), 12)
    assert acd.agent_state("alice") is AgentState.READY and acd.changed_agents() == set()


def test_timer_driven_changes_are_reported_to_displays() -> None:
    acd = _wrapped_up()
    assert acd.changed_agents() == {"alice"}          # offered, on call, wrap-up
    assert acd.changed_agents() == set()
    acd.handle(Tick(), 40)                            # wrap-up over: nobody's event said so
    assert acd.changed_agents() == {"alice"}
    untracked = build({"q": {}}, {"a": {}})
    untracked.handle(AgentLoggedIn("a"), 0)
    assert untracked.changed_agents() == set()


def test_a_caller_resumed_after_a_failover_keeps_its_place_ahead_of_later_arrivals() -> None:
    """issue 16: CallArrived(waited_s) puts the call where its original arrival was, and join
    rules it passed before (queue full) do not turn it away."""
    from acd.config import AcdConfig
    from acd.core import Acd
    from acd import actions as A, events as E
    acd = Acd(AcdConfig.from_dict({"queues": {"pv": {"max_length": 1}},
                                   "agents": [{"name": "alice", "skills": {}}]}))
    acd.handle(E.AgentLoggedOut("alice"), 0.0)
    assert acd.handle(E.CallArrived("new", "pv"), 100.0) == []
    out = acd.handle(E.CallArrived("resumed", "pv", waited_s=60.0), 101.0)
    assert not any(isinstance(a, A.Diverted) for a in out)          # full queue, but it was in
    offers = [a for a in acd.handle(E.AgentLoggedIn("alice"), 102.0) if isinstance(a, A.OfferCall)]
    assert [o.call_id for o in offers] == ["resumed"]               # arrived at 41 < 100
    assert any("resumed after an engine failover" in line for line in acd.trace("resumed"))
