"""Waiting callers' places (ivr/cluster/places.py), from the real ACD core's events and
actions, and their fenced ledger in a real PostgreSQL (ivr/cluster/pg_places.py)."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from acd import actions as A
from acd import events as E
from acd.config import AcdConfig
from acd.core import Acd
from ivr.cluster.places import DONE, OFFERED, WAITING, Place, PlaceBook, resume_event, resume_order

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import pg_server  # noqa: E402

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)


def drive(acd: Acd, book: PlaceBook, event: object, at: float) -> list[Place]:
    return book.observe(event, acd.handle(event, at), T0 + timedelta(seconds=at))


def test_places_follow_the_acd_from_arrival_to_answer() -> None:
    acd = Acd(AcdConfig.from_dict({"queues": {"pv": {}},
                                   "agents": [{"name": "alice", "skills": {"lang_fr": 5}}]}))
    book = PlaceBook()
    drive(acd, book, E.AgentLoggedOut("alice"), 0.0)
    [p] = drive(acd, book, E.CallArrived("c1", "pv", 2, "+331", "lang_fr"), 10.0)
    assert (p.state, p.queue, p.priority, p.requirement, p.arrived_at) == (WAITING, "pv", 2, "lang_fr",
                                                                            T0 + timedelta(seconds=10))
    drive(acd, book, E.CallArrived("c2", "pv"), 11.0)
    changed = drive(acd, book, E.AgentLoggedIn("alice"), 12.0)
    assert [(x.call_id, x.state) for x in changed] == [("c1", OFFERED)]     # priority first
    assert [(x.call_id, x.state) for x in drive(acd, book, E.OfferFailed("c1", "alice", "noanswer"), 13.0)] \
        [0] == ("c1", WAITING)
    [done] = [x for x in drive(acd, book, E.CallAbandoned("c2"), 14.0) if x.call_id == "c2"]
    assert done.state == DONE and "c2" not in book.places


def test_escalation_steps_and_overflows_are_kept() -> None:
    acd = Acd(AcdConfig.from_dict({
        "queues": {"pv": {"escalation": [{"after_seconds": 5, "overflow": "medinfo"}]},
                   "medinfo": {}},
        "agents": [{"name": "alice", "skills": {}}]}))
    book = PlaceBook()
    drive(acd, book, E.AgentLoggedOut("alice"), 0.0)
    drive(acd, book, E.CallArrived("c1", "pv"), 1.0)
    drive(acd, book, E.Tick(), 7.0)
    place = book.places["c1"]
    assert place.queue == "medinfo" and place.trace and place.trace[-1] == "overflowed pv -> medinfo"


def test_a_new_engine_resumes_the_oldest_first_at_their_original_arrival() -> None:
    places = [Place("late", WAITING, "pv", T0 + timedelta(seconds=30)),
              Place("ringing", OFFERED, "pv", T0 + timedelta(seconds=20)),
              Place("first", WAITING, "pv", T0 + timedelta(seconds=10), 1, "lang_fr"),
              Place("gone", DONE, "pv", T0)]
    assert [p.call_id for p in resume_order(places)] == ["first", "ringing", "late"]
    event = resume_event(places[2], T0 + timedelta(seconds=70))
    assert event == E.CallArrived("first", "pv", 1, "", "lang_fr", waited_s=60.0)


async def test_the_ledger_writes_in_batches_and_a_former_leaders_batch_is_refused() -> None:
    from ivr.cluster.admin import init_cluster
    from ivr.cluster.pg_places import PlaceLedger, TermRefused
    url = pg_server().new_database()
    await init_cluster(url, "pharma")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("UPDATE cluster_leader SET term = 4")
    ledger = PlaceLedger(url, lambda: 4)
    first = Place("c1", WAITING, "pv", T0, trace=("arrived",))
    ledger.record([first, Place("c2", WAITING, "pv", T0 + timedelta(seconds=5))])
    ledger.record([Place("c2", OFFERED, "pv", T0 + timedelta(seconds=5))])     # newest wins
    await ledger.flush()
    assert ledger.written == 2 and not ledger.pending
    assert [(p.call_id, p.state) for p in await ledger.load()] == [("c1", WAITING), ("c2", OFFERED)]
    assert (await ledger.load())[0] == first

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("UPDATE cluster_leader SET term = 5")             # a takeover
    ledger.record([Place("c1", DONE, "pv", T0)])
    with pytest.raises(TermRefused):
        await ledger.flush()
    assert "c1" in ledger.pending                                            # not dropped
    new_leader = PlaceLedger(url, lambda: 5)
    assert [p.call_id for p in resume_order(await new_leader.load())] == ["c1", "c2"]
    await ledger.close()
    await new_leader.close()


async def test_the_active_engine_writes_its_callers_places_and_the_next_one_takes_them_over(
        tmp_path: Path) -> None:
    """The engine's wiring (ivr/app/cluster_member.py): ACD → PlaceBook → ledger on the active
    one; the engine taking over reads them back, oldest first, and routes meanwhile nothing
    twice; a callback promised on the former active (a CRM record) is queued on the new one."""
    import asyncio
    import time as clock

    from hotline_lab.lab import PROJECT, write_config
    from ivr.app.engine import Engine
    from ivr.cluster.admin import init_cluster
    from ivr.cluster.leadership import Role
    from ivr.config import load_settings
    from ivr.crm.store import open_store

    url = pg_server().new_database()
    await init_cluster(url, "pharma")

    queues = tmp_path / "queues.yaml"
    queues.write_text("queues:\n  pv: {join_when_no_agents: join}\n")

    async def engine(name: str) -> Engine:
        cfg = write_config(tmp_path / name, base_port=29500, dialplan=PROJECT / "dialplans/minimal.yaml",
                           crm=tmp_path / "unused.db", sounds=tmp_path / "sounds", queues_file=queues,
                           extra={"crm": {"url": url}, "cdr": {"enabled": False},
                                  "cluster": {"enabled": True, "name": "pharma", "engine_id": name,
                                              "poll_s": 0.1, "lease_s": 1.0}})
        e = Engine(load_settings(cfg), agents_ready=False, restore_agents=False)
        e.store = await open_store(url)
        e.wire_crm_parts(datetime.now(timezone.utc))
        await e._join_cluster()
        e._spawn(e.cluster.run())
        return e

    async def until(condition, timeout: float = 10.0) -> None:
        deadline = clock.monotonic() + timeout
        while not condition():
            assert clock.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)

    a = await engine("engine-a")
    await until(lambda: a.cluster.role is Role.ACTIVE)
    b = await engine("engine-b")
    try:
        queue = "pv"                          # nobody logged in: callers wait
        for call_id in ("first", "second", "third"):
            a.acd.handle(E.CallArrived(call_id, queue, caller="+3361100"))
            await asyncio.sleep(0.01)
        a.acd.handle(E.CallAbandoned("second"))
        await until(lambda: a.cluster.ledger.written >= 4 and not a.cluster.ledger.pending)
        # a callback promised on A (a CRM record: disposition callback, no agent yet)
        from ivr.crm.records import CallRecord
        asked = datetime.now(timezone.utc) - timedelta(minutes=3)
        a.store.save_call(CallRecord("promise", caller="+33611000099", started_at=asked,
                                     ended_at=asked, queue=queue, disposition="callback"))
        assert [c.call_id for c in await a.store.list_calls()] == ["promise"]   # committed

        await a.cluster.leader.close()                   # its session ends: B takes over
        await until(lambda: b.cluster.role is Role.ACTIVE and bool(b.cluster.resumable))
        assert list(b.cluster.resumable) == ["first", "third"]
        assert b.cluster.resumable["first"].arrived_at < b.cluster.resumable["third"].arrived_at
        assert a.cluster.role is not Role.ACTIVE or not a.cluster.may_route()
        await until(lambda: "promise" in b.callbacks.pending)    # B keeps A's promise
        assert "promise" not in a.callbacks.pending    # A queued it at its own takeover only
    finally:
        for e in (a, b):
            for t in e._tasks:
                t.cancel()
            await e.cluster.close()
            await e.store.close()


async def test_a_caller_back_after_a_failover_takes_what_the_acd_decided_for_its_stand_in() -> None:
    """AcdDriver.join: the session that comes back inherits the stand-in's offer (and the
    agent stays engaged by us), so the ACD's order is kept whoever comes back first."""
    from ivr.app.acd_driver import AcdDriver
    from ivr.call.context import Waiter
    driver = AcdDriver(AcdConfig.from_dict({"queues": {"pv": {}},
                                            "agents": [{"name": "alice", "skills": {}}]}),
                       start_callback=lambda action: None)
    driver.handle(E.AgentLoggedIn("alice"))
    stand_in = Waiter("c1", lambda agent, at: None, lambda: False)
    driver.join(stand_in)
    driver.handle(E.CallArrived("c1", "pv", waited_s=30.0))
    assert driver.engaged_by_us("alice") and stand_in.actions
    session = Waiter("c1", lambda agent, at: None, lambda: False)
    driver.join(session)
    [offer] = session.take()
    assert isinstance(offer, A.OfferCall) and offer.agent == "alice"
    assert session.offered_agents == {"alice"} and not stand_in.actions
    driver.leave("c1")
    assert not driver.engaged_by_us("alice")
