"""The outbound pacer (issue 15): events and `now` in, calls to place out."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from ivr.outbound import pacer as P
from ivr.outbound.simulate import World, simulate_day


def dials(actions: list[P.Action]) -> list[str]:
    return [a.call_id for a in actions if isinstance(a, P.Dial)]


def pacer(mode: str, agents: int = 0, **kw) -> P.Pacer:
    p = P.Pacer(P.PacerSettings(mode=mode, **kw))
    for i in range(agents):
        p.handle(P.AgentReady(f"a{i}"), 0.0)
    return p


def test_agentless_fills_the_trunk_and_no_more() -> None:
    p = P.Pacer(P.PacerSettings(mode="agentless", channels=4))
    first = dials(p.handle(P.Tick(), 0.0))
    assert len(first) == 4
    out = p.handle(P.Answered(first[0]), 5.0)
    assert P.RunIvr(first[0]) in out and dials(out) == []          # the IVR holds a channel
    assert len(dials(p.handle(P.NotAnswered(first[1], "busy"), 6.0))) == 1
    assert len(dials(p.handle(P.Ended(first[0]), 60.0))) == 1


def test_progressive_places_one_call_per_free_agent() -> None:
    p = pacer("progressive")
    assert len(dials(p.handle(P.AgentReady("ann"), 0.0))) == 1
    assert dials(p.handle(P.Tick(), 1.0)) == []                    # its call is still ringing
    call = next(iter(p.dialling))
    out = p.handle(P.Answered(call), 10.0)
    assert P.Connect(call, "ann") in out and dials(out) == []
    assert dials(p.handle(P.Ended(call), 200.0)) == []             # wrap-up: not free yet
    assert len(dials(p.handle(P.AgentReady("ann"), 230.0))) == 1


def test_an_answered_call_without_an_agent_is_abandoned_after_2_s() -> None:
    p = pacer("predictive", agents=2, prior_answer_rate=0.05)
    calls = list(p.dialling)
    assert len(calls) > 2                                          # more calls than agents
    for call in calls[:2]:
        assert any(isinstance(a, P.Connect) for a in p.handle(P.Answered(call), 10.0))
    p.handle(P.Answered(calls[2]), 11.0)
    assert p.next_deadline() == 13.0
    assert not any(isinstance(a, P.Abandon) for a in p.handle(P.Tick(), 12.9))
    assert P.Abandon(calls[2]) in p.handle(P.Tick(), 13.0)
    assert p.rolling_abandon_rate(13.0) == 1 / 3


def test_an_agent_freed_within_2_s_takes_the_waiting_call() -> None:
    p = pacer("predictive", agents=2, prior_answer_rate=0.05)
    calls = list(p.dialling)
    p.handle(P.Answered(calls[0]), 10.0)
    p.handle(P.Answered(calls[1]), 10.0)
    p.handle(P.Answered(calls[2]), 11.0)
    p.handle(P.Ended(calls[0]), 11.5)
    assert P.Connect(calls[2], "a0") in p.handle(P.AgentReady("a0"), 12.5)
    assert p.rolling_abandon_rate(12.5) == 0


def test_the_pacer_slows_before_the_limit_and_is_progressive_at_it() -> None:
    def placed(history: list[tuple[float, bool]]) -> int:
        p = P.Pacer(P.PacerSettings(mode="predictive", prior_answer_rate=0.3, channels=100),
                    history=history)
        return sum(len(dials(p.handle(P.AgentReady(f"a{i}"), 0.0))) for i in range(10))

    def history(abandoned: int) -> list[tuple[float, bool]]:
        return [(-1000.0, i < abandoned) for i in range(1000)]

    calm, near, at_limit = placed(history(0)), placed(history(25)), placed(history(30))
    assert calm > near > at_limit == 10
    # a month later the old abandons no longer count
    assert P.Pacer(P.PacerSettings(mode="predictive"), history=history(30)).target(31 * 86400.0) > 0


def test_pause_stops_new_calls_only() -> None:
    p = pacer("progressive", agents=2)
    assert len(p.dialling) == 2
    p.handle(P.Paused(True), 1.0)
    call = next(iter(p.dialling))
    assert dials(p.handle(P.NotAnswered(call, "busy"), 2.0)) == []
    assert len(dials(p.handle(P.Paused(False), 3.0))) == 1


def test_a_call_with_no_contact_left_does_not_count_as_unanswered() -> None:
    p = pacer("progressive", agents=1)
    before = p.answer_rate.value
    p.handle(P.NotAnswered(next(iter(p.dialling)), "not_dialled"), 1.0)
    assert p.answer_rate.value == before


def test_the_expected_abandon_share_grows_with_the_calls() -> None:
    agents = P.Agents(free=2, talking=10, q=0.1)
    shares = [P.expected_abandon_share(n * 0.3, n * 0.21, agents) for n in range(1, 40)]
    assert shares == sorted(shares) and shares[0] < 0.01 and shares[-1] > 0.3


events = st.lists(st.tuples(st.sampled_from(["ready", "gone", "answer", "fail", "end", "tick", "pause"]),
                            st.integers(0, 5), st.floats(0, 30)), max_size=60)


@settings(max_examples=150, deadline=None)
@given(events, st.sampled_from(["agentless", "progressive", "predictive"]), st.integers(1, 8))
def test_the_trunk_limit_holds_and_progressive_never_abandons(script, mode, channels) -> None:
    p = P.Pacer(P.PacerSettings(mode=mode, channels=channels, prior_answer_rate=0.3))
    now, left = 0.0, False
    for kind, n, dt in script:
        now += dt
        calls = sorted(p.dialling) or ["none"]
        bridged = sorted(p.connected | p.in_ivr) or ["none"]
        event = {"ready": P.AgentReady(f"a{n}"), "gone": P.AgentGone(f"a{n}"),
                 "answer": P.Answered(calls[n % len(calls)]),
                 "fail": P.NotAnswered(calls[n % len(calls)], "no_answer"),
                 "end": P.Ended(bridged[n % len(bridged)]), "tick": P.Tick(),
                 "pause": P.Paused(n % 2 == 0)}[kind]
        actions = p.handle(event, now)
        assert len(p.dialling) + len(p.waiting) + len(p.in_ivr) + len(p.connected) <= channels
        assert len(set(p.talking.values())) == len(p.talking)
        left = left or kind == "gone"
        if mode == "progressive" and not left:
            # an agent who leaves while "their" call rings can strand it (hypothesis found it):
            # otherwise progressive never abandons
            assert not any(isinstance(a, P.Abandon) for a in actions)
            if any(isinstance(a, P.Dial) for a in actions):    # never more calls than free agents
                assert len(p.dialling) + len(p.waiting) <= len(p.free)
        if p.paused:
            assert not any(isinstance(a, P.Dial) for a in actions)


def test_a_simulated_day_keeps_the_abandon_rate_under_3_percent() -> None:
    world = World(day=3 * 3600.0)
    for seed in (1, 2):
        predictive = simulate_day("predictive", world, seed)
        progressive = simulate_day("progressive", world, seed)
        assert progressive.abandoned == 0
        assert 0 < predictive.abandon_rate <= 0.03
        assert predictive.talk_occupancy > progressive.talk_occupancy * 1.08


def test_an_agent_who_does_not_answer_a_connected_call_counts_as_the_crm_counts_it() -> None:
    """The CRM ends such an attempt `abandoned` (the customer heard the identification): the
    pacer's live rolling rate, which it paces by, must say the same as the auditor's."""
    from datetime import datetime, timedelta, timezone

    from ivr.outbound.rules import Attempt, abandon_rate
    p = pacer("progressive", agents=2)
    first, second = sorted(p.dialling)
    assert P.Connect(first, "a0") in p.handle(P.Answered(first), 10.0)
    assert P.Connect(second, "a1") in p.handle(P.Answered(second), 11.0)
    assert p.rolling_abandon_rate(12.0) == 0.0
    p.handle(P.ConnectFailed(first), 30.0)             # a0's phone rang out
    p.handle(P.ConnectFailed(first), 31.0)             # said twice: counted once
    p.handle(P.Ended(first), 35.0)
    p.handle(P.Ended(second), 200.0)
    t0 = datetime(2026, 12, 3, 10, tzinfo=timezone.utc)
    crm = abandon_rate([Attempt(t0 + timedelta(seconds=10), "abandoned"),
                        Attempt(t0 + timedelta(seconds=11), "answered")], t0 + timedelta(seconds=300))
    assert p.rolling_abandon_rate(300.0) == crm.rate == 0.5
    assert "a0" not in p.talking and p.handle_time.value == p.settings.prior_handle_time


def test_the_predictive_gain_ceiling_bounds_the_simulated_day() -> None:
    """bench/outbound.py's predictive_gain_ceiling, from the world the simulation uses: the
    progressive day reaches its occupancy ceiling (one call per free agent: nothing to win
    there), the predictive day stays under talk/(talk + wrap-up), and the ceiling moves the
    way it must with the world."""
    from dataclasses import replace

    from ivr.outbound.simulate import (idle_ringing_per_connect, occupancy_ceilings,
                                       predictive_gain_ceiling)
    world = World(day=2 * 3600.0)
    progressive_ceiling, predictive_ceiling = occupancy_ceilings(world)
    progressive = simulate_day("progressive", world, 1).talk_occupancy
    predictive = simulate_day("predictive", world, 1).talk_occupancy
    assert abs(progressive - progressive_ceiling) < 0.05 * progressive_ceiling
    assert predictive <= predictive_ceiling == 1.0
    assert predictive / progressive <= predictive_gain_ceiling(world) * 1.05
    assert 60 < idle_ringing_per_connect(world) < 90                # ≈ 22 s per attempt / 0.3
    wrapped = replace(world, wrapup=60.0)
    assert predictive_gain_ceiling(wrapped) < predictive_gain_ceiling(world)
    assert predictive_gain_ceiling(replace(world, ring_timeout=40.0)) > predictive_gain_ceiling(world)
    assert predictive_gain_ceiling(replace(world, answer_rate=0.6, busy_rate=0.05)) \
        < predictive_gain_ceiling(world)
