import math

import pytest

from acd.erlang import agents_for_service_level, erlang_a, erlang_b, erlang_c


def test_reference_figures() -> None:
    r = erlang_c(100, 1800, 180, 14, 20)
    assert r.traffic_erlangs == pytest.approx(10.0)
    assert round(r.p_wait, 4) == 0.1741
    assert round(r.service_level, 3) == 0.888
    assert round(r.asa_seconds, 2) == 7.84
    assert round(r.occupancy, 3) == 0.714


def test_erlang_b_known_value_and_stability() -> None:
    assert erlang_b(10, 5.0) == pytest.approx(0.018384, abs=1e-6)
    big = erlang_c(1_000_000, 3600, 180, 50_100, 20)  # 50,000 Erlangs: no overflow
    assert 0.0 < big.p_wait < 1.0 and math.isfinite(big.asa_seconds)


def test_understaffed_is_saturated() -> None:
    r = erlang_c(100, 1800, 180, 10, 20)
    assert r.p_wait == 1.0 and r.asa_seconds == math.inf


def test_erlang_a_tends_to_erlang_c_with_infinite_patience() -> None:
    c = erlang_c(100, 1800, 180, 14, 20)
    a = erlang_a(100, 1800, 180, 14, 20, patience_seconds=1e9)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-5)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-5)
    assert a.asa_seconds == pytest.approx(c.asa_seconds, rel=1e-4)


def test_erlang_a_abandonment_behaves() -> None:
    a = erlang_a(100, 1800, 180, 14, 20, patience_seconds=120)
    c = erlang_c(100, 1800, 180, 14, 20)
    assert 0 < a.p_abandon < 0.05
    assert a.p_wait < c.p_wait and a.asa_seconds < c.asa_seconds
    # overloaded: Erlang C undefined, Erlang A finite with heavy abandonment
    over = erlang_a(100, 1800, 180, 8, 20, patience_seconds=60)
    assert 0.2 < over.p_abandon < 0.6 and over.occupancy <= 1.0
    # consistency: served traffic = offered * (1 - p_abandon)
    assert over.occupancy * 8 == pytest.approx(over.traffic_erlangs * (1 - over.p_abandon))


def test_agents_for_service_level() -> None:
    r = agents_for_service_level(100, 1800, 180, 0.8, 20)
    assert r.agents == 14  # 13 agents reach only 0.796
    assert erlang_c(100, 1800, 180, 13, 20).service_level < 0.8 <= r.service_level
    ra = agents_for_service_level(100, 1800, 180, 0.8, 20, patience_seconds=120)
    assert ra.agents <= r.agents
    capped = agents_for_service_level(100, 1800, 180, 0.8, 20, max_occupancy=0.7)
    assert capped.occupancy <= 0.7 and capped.agents >= 15
