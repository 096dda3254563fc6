"""The simulator drives the real Acd; a single-skill FIFO run must match Erlang C."""
from pathlib import Path

import pytest

from acd.erlang import erlang_a, erlang_c
from acd.simulate import Simulator, simulate

ROOT = Path(__file__).resolve().parents[2]


def single_queue(calls: int, seed: int, **traffic: object) -> dict:
    return {"seed": seed, "calls": calls,
            "agents": [{"name": f"a{i}", "skills": {"x": 1}} for i in range(14)],
            "queues": [{"name": "q", "requirement": "x", "strategy": "longest-idle",
                        "service_level_seconds": 20}],
            "traffic": {"q": {"calls_per_hour": 200, "aht_seconds": 180, **traffic}}}


def test_fifo_matches_erlang_c_on_400k_calls() -> None:
    # 400k calls, not 100k: successive waits are correlated, and at 100k calls some seeds drift
    # ~0.015 from Erlang C; at 400k the spread over seeds stays under 0.005 (about 7 s).
    res = simulate(single_queue(400_000, seed=11))
    ref = erlang_c(100, 1800, 180, 14, 20)
    q = res.queues["q"]
    assert q.offered == q.answered == 400_000
    assert abs(q.p_wait - ref.p_wait) < 0.01
    assert abs(q.service_level - ref.service_level) < 0.01
    assert abs(res.occupancy - ref.occupancy) < 0.01
    assert q.asa_seconds == pytest.approx(ref.asa_seconds, rel=0.12)
    assert res.events >= 1_200_000


def test_abandonment_matches_erlang_a() -> None:
    res = simulate(single_queue(60_000, seed=3, patience_seconds=60))
    ref = erlang_a(100, 1800, 180, 14, 20, patience_seconds=60)
    assert abs(res.queues["q"].abandon_rate - ref.p_abandon) < 0.01
    assert res.queues["q"].abandoned > 0


def test_same_seed_same_result() -> None:
    a = simulate(single_queue(3000, seed=5, handle="lognormal", handle_cv=0.6))
    b = simulate(single_queue(3000, seed=5, handle="lognormal", handle_cv=0.6))
    c = simulate(single_queue(3000, seed=6, handle="lognormal", handle_cv=0.6))
    assert a.queues["q"].as_dict() == b.queues["q"].as_dict()
    assert a.queues["q"].as_dict() != c.queues["q"].as_dict()


def test_constant_handle_time_waits_less_than_exponential() -> None:
    exp = simulate(single_queue(20_000, seed=2))
    const = simulate(single_queue(20_000, seed=2, handle="constant"))
    assert const.queues["q"].asa_seconds < exp.queues["q"].asa_seconds


def test_pharma_config_scenario_with_escalations_and_progress() -> None:
    from ivr.config import load_settings
    sc = load_settings(ROOT / "config" / "engine.yaml").acd_config().model_dump()
    sc.update(seed=1, calls=3000, callback_accept=0.5, traffic={
        "operator": {"calls_per_hour": 20, "aht_seconds": 120, "patience_seconds": 300},
        "orders": {"calls_per_hour": 15, "aht_seconds": 240, "handle": "lognormal",
                   "handle_cv": 0.5, "patience_seconds": 400},
        "medinfo": {"calls_per_hour": 8, "aht_seconds": 300, "patience_seconds": 600},
        "pharmacovigilance": {"calls_per_hour": 3, "aht_seconds": 420, "patience": "none"},
        "complaints": {"calls_per_hour": 5, "aht_seconds": 360, "patience_seconds": 300},
    })
    seen: list[int] = []
    sim = Simulator(sc, progress=lambda done, total: seen.append(done))
    res = sim.run()
    assert seen and seen[-1] == 3000 and seen == sorted(seen)
    assert res.total.offered == 3000
    t = res.total
    # every call ends one way: answered (callbacks included), abandoned or diverted
    assert t.answered + t.abandoned + t.diverted == t.offered
    assert res.queues["pharmacovigilance"].abandoned == 0
    assert 0.3 < res.occupancy <= 1.0
    assert t.diverted > 0 and t.callbacks > 0  # overloaded: escalations fired


def test_wall_time_only_from_the_clock_handed_in() -> None:
    # the simulator reads no clock of its own: its speed is measured with the one it is given
    ticks = iter([100.0, 102.0])
    timed = simulate(single_queue(2000, seed=4), clock=lambda: next(ticks))
    assert timed.wall_seconds == 2.0 and timed.events_per_s == timed.events / 2.0
    untimed = simulate(single_queue(2000, seed=4))
    assert untimed.wall_seconds == 0.0 and untimed.events_per_s == 0.0
    assert untimed.total.as_dict() == timed.total.as_dict()
