"""Agent states across a restart: the ACD's AgentRestored event, the pure plan from the CRM's
agent events, and the late restore (database down at start) through a real SQLite store.
(Through Asterisk: tests/integration/test_acd_calls.py::test_agent_states_survive_a_restart.)"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acd import Acd, AcdConfig, AgentLoggedIn, AgentState, CallArrived, OfferCall
from acd.events import AgentRestored
from ivr.app.agent_restore import DEFAULT_LOGIN_REASON, AgentRestore, plan_restore
from ivr.crm.records import AgentEvent
from ivr.crm.store import open_store

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
START = T0 + timedelta(hours=1)


def acd_of(*names: str) -> Acd:
    return Acd(AcdConfig.from_dict({"agents": {n: {"skills": {"x": 1}} for n in names},
                                    "queues": {"q": {"requirement": "x"}}}))


def status(acd: Acd, agent: str) -> dict:
    return next(a for a in acd.state_snapshot()["agents"] if a["agent"] == agent)


def test_restored_pause_keeps_reason_and_since_and_gets_no_offer() -> None:
    acd = acd_of("ann", "bob")
    acd.handle(AgentRestored("ann", "paused", "lunch", since=40.0), 100.0)
    acd.handle(AgentRestored("bob", "logged-out", "", since=50.0), 100.0)
    assert (status(acd, "ann")["state"], status(acd, "ann")["reason"], status(acd, "ann")["since"]) \
        == ("paused", "lunch", 40.0)
    assert status(acd, "bob")["state"] == "logged-out"
    out = acd.handle(CallArrived("c1", "q"), 101.0)
    assert not [o for o in out if isinstance(o, OfferCall)]
    assert acd.state_snapshot()["queues"][0]["waiting"] == 1


def test_restored_ready_takes_the_waiting_call_and_a_busy_agent_is_left_alone() -> None:
    acd = acd_of("ann", "bob")
    acd.handle(AgentLoggedIn("bob"), 0.0)
    acd.handle(CallArrived("c0", "q"), 1.0)                 # bob is offered c0
    acd.handle(CallArrived("c1", "q"), 2.0)                 # waits
    out = acd.handle(AgentRestored("ann", "ready", "", since=-5.0), 3.0)
    assert [(o.call_id, o.agent) for o in out if isinstance(o, OfferCall)] == [("c1", "ann")]
    acd.handle(AgentRestored("bob", "paused", "lunch", since=0.0), 4.0)
    assert acd.agent_state("bob") is AgentState.OFFERED     # a call in hand wins over a record
    with pytest.raises(ValueError):
        acd.handle(AgentRestored("ann", "on-call", "", since=0.0), 5.0)


def test_plan_takes_the_last_event_before_the_start_and_defaults_the_rest() -> None:
    events = [AgentEvent("ann", T0, "login"), AgentEvent("ann", T0 + timedelta(minutes=5), "pause", "RONA"),
              AgentEvent("bob", T0, "logout"), AgentEvent("cid", T0, "wrapup"),
              AgentEvent("dan", T0, "pause", None),
              AgentEvent("eve", START, "login", DEFAULT_LOGIN_REASON),      # the default: no act
              AgentEvent("bob", START + timedelta(seconds=3), "login")]      # bob acted since
    plan, acted = plan_restore(events, ["ann", "bob", "cid", "dan", "eve"], START, default_ready=False)
    got = {r.agent: (r.state.value, r.reason, r.since) for r in plan}
    assert got == {"ann": ("paused", "RONA", T0 + timedelta(minutes=5)),
                   "bob": ("logged-out", "", T0), "cid": ("ready", "", T0),
                   "dan": ("paused", "paused", T0), "eve": ("logged-out", "", None)}
    assert acted == {"bob"}


async def test_late_restore_spares_agents_who_acted_and_records_the_truth(tmp_path: Path) -> None:
    """Database down at start: defaults first (every agent ready), the records once it
    answers, except for an agent who acted meanwhile; the restored state goes on record
    after the default login, so the next restart finds it."""
    store = await open_store(f"sqlite:///{tmp_path / 'crm.db'}")
    before = datetime.now(timezone.utc) - timedelta(minutes=10)
    store.add_agent_event("ann", before, "pause", "lunch")
    store.add_agent_event("bob", before, "logout")
    store.add_agent_event("cid", before, "pause", "training")
    await store.flush()
    started_at = datetime.now(timezone.utc)
    acd = acd_of("ann", "bob", "cid")

    def command(action: str, agent: str, reason: str) -> dict:
        acd.handle(AgentLoggedIn(agent), 0.0)
        store.add_agent_event(agent, datetime.now(timezone.utc), action, reason)
        return {"ok": True}

    restore = AgentRestore(["ann", "bob", "cid"], True, handle=lambda e: acd.handle(e, time.monotonic()),
                           command=command, record=store.add_agent_event, busy_agents=set)
    restore.apply_defaults()
    assert {a["state"] for a in acd.state_snapshot()["agents"]} == {"ready"}
    store.add_agent_event("cid", datetime.now(timezone.utc), "ready")      # cid came back herself
    await restore.restore(store, started_at)
    assert restore.done
    assert [acd.agent_state(n).value for n in ("ann", "bob", "cid")] == ["paused", "logged-out", "ready"]
    assert 590 < time.monotonic() - status(acd, "ann")["since"] < 700                # paused ~10 min ago
    last = {e.agent: (e.state, e.reason) for e in await store.agent_events(since=datetime.now(timezone.utc))}
    assert last == {"ann": ("pause", "lunch"), "bob": ("logout", None), "cid": ("ready", None)}
    await store.close()
