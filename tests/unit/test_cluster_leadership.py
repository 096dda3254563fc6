"""The leadership rules (ivr/cluster/leadership.py): when an engine routes, when it steps down."""
from __future__ import annotations

import pytest

from ivr.cluster.leadership import (BecomeActive, ClusterRow, Leadership, LinkFailed, LinkOk,
                                    LockWon, Role, StepDown, Superseded, Tick, database_problem,
                                    lock_key)
from ivr.config import ClusterSettings


def active(lease_s: float = 2.0, term: int = 7, at: float = 100.0) -> Leadership:
    """Active since `at` (the lock won one lease before, the link proven since)."""
    core = Leadership(lease_s)
    assert core.handle(LockWon(term, at - lease_s)) == []
    core.handle(LinkOk(at))
    assert core.handle(Tick(at)) == [BecomeActive(term)]
    return core


def test_a_standby_routes_nothing_and_link_troubles_do_not_concern_it() -> None:
    core = Leadership(2.0)
    assert core.role is Role.STANDBY and not core.may_route(0.0) and not core.may_write(None, 0.0)
    assert core.handle(LinkFailed(1.0, "refused")) == [] and core.handle(Tick(99.0)) == []
    assert core.role is Role.STANDBY


def test_the_lock_makes_it_active_once_the_former_leaders_lease_is_over() -> None:
    core = Leadership(2.0)
    assert core.handle(LockWon(7, 100.0)) == [] and core.role is Role.TAKING_OVER
    core.handle(LinkOk(101.0))
    assert core.handle(Tick(101.9)) == [] and not core.may_route(101.9)   # the former may still route
    assert core.handle(Tick(102.0)) == [BecomeActive(7)]
    assert core.role is Role.ACTIVE and core.term == 7 and core.may_route(102.0)
    assert core.handle(LockWon(8, 102.5)) == [] and core.term == 7


def test_losing_the_lock_while_taking_over_goes_back_to_standby_quietly() -> None:
    for lost in (LinkFailed(101.0, "reset"), Superseded(101.0, 8)):
        core = Leadership(2.0)
        core.handle(LockWon(7, 100.0))
        assert core.handle(lost) == [] and core.role is Role.STANDBY and core.term is None
    core = Leadership(2.0)
    core.handle(LockWon(7, 100.0))                 # won, then no proof: not active
    assert core.handle(Tick(102.5)) == [] and core.role is Role.TAKING_OVER


def test_routing_stops_at_once_when_the_lease_runs_out_even_before_the_tick() -> None:
    core = active(lease_s=2.0, at=100.0)
    core.handle(LinkOk(101.0))
    assert core.may_route(103.0)
    assert not core.may_route(103.01)              # no proof for > 2 s: no offer, no call
    assert core.role is Role.ACTIVE                # the tick makes it final
    assert core.handle(Tick(103.01)) == [StepDown(7, "no answer from the database for 2 s")]
    assert core.role is Role.STEPPED_DOWN


def test_a_late_link_proof_never_moves_the_lease_back() -> None:
    core = active(at=100.0)
    core.handle(LinkOk(101.5))
    core.handle(LinkOk(100.5))                     # answered late, sent earlier
    assert core.last_ok == 101.5


@pytest.mark.parametrize("event, why", [
    (LinkFailed(101.0, "server closed the connection"), "lost the connection holding the lock"),
    (Superseded(101.0, 8), "engine with term 8 took over (ours: 7)"),
])
def test_losing_the_lock_steps_down_for_good(event: object, why: str) -> None:
    core = active()
    [step] = core.handle(event)
    assert isinstance(step, StepDown) and step.term == 7 and why in step.reason
    assert core.role is Role.STEPPED_DOWN and not core.may_route(101.0)
    assert core.handle(LockWon(9, 102.0)) == [] and core.handle(LinkOk(102.0)) == []
    assert not core.may_route(102.0)               # fail-stop: a new process takes part again


def test_writes_carry_the_current_term_only() -> None:
    core = active(term=7)
    assert core.may_write(7, 100.5)
    assert not core.may_write(6, 100.5) and not core.may_write(None, 100.5)
    assert not core.may_write(7, 200.0)            # lease over


def test_lock_key_is_stable_per_cluster_and_fits_a_bigint() -> None:
    assert lock_key("pharma") == lock_key("pharma") != lock_key("pharma-2")
    assert lock_key("pharma") >> 32 == 0x49565243 and 0 < lock_key("pharma") < 2 ** 63
    assert lock_key("") == 0x49565243 << 32


def test_an_engine_refuses_a_database_of_no_or_another_cluster() -> None:
    assert database_problem(ClusterRow("pharma", 3, "a"), "pharma", "PG x") is None
    none = database_problem(None, "pharma", "PG x")
    assert "PG x holds no hotline cluster" in none and "ivr cluster init" in none
    other = database_problem(ClusterRow("vaccines", 3, "a"), "pharma", "PG x")
    assert "belongs to cluster 'vaccines', not 'pharma'" in other


def test_cluster_settings_need_a_name_and_a_lease_longer_than_the_poll() -> None:
    assert ClusterSettings().enabled is False
    with pytest.raises(ValueError, match="cluster.name is required"):
        ClusterSettings(enabled=True)
    with pytest.raises(ValueError, match="poll_s must be shorter"):
        ClusterSettings(enabled=True, name="x", poll_s=2, lease_s=2)
    with pytest.raises(ValueError):
        Leadership(0)
