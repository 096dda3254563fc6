"""The post-call survey opt-in survives an engine failover (issue 15): the waiting caller's
place carries it (PlaceBook, pure), the ledger writes and reads it back (a real PostgreSQL),
and the caller resumed on the next active engine is dialled so that it stays for the survey
(CallFlow), the walker walking into the survey without the menus."""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

from acd import actions as act
from acd import events as E
from acd.config import AcdConfig
from acd.core import Acd
from ivr.call import commands as cmd
from ivr.call.flow import CallFlow
from ivr.cluster.places import WAITING, Place, PlaceBook, resume_order
from ivr.crm.records import CallRecord
from ivr.dialplan import instructions as ins, load_plan
from ivr.dialplan.walker import Walker

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import pg_server  # noqa: E402

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[2]


def test_the_place_of_a_caller_who_opted_in_says_so_once():
    acd = Acd(AcdConfig.from_dict({"queues": {"operator": {}}, "agents": []}))
    book = PlaceBook()
    event = E.CallArrived("c1", "operator", 0, "+331")
    book.observe(event, acd.handle(event, 10.0), T0)
    assert book.places["c1"].survey_opt_in is False
    [place] = book.opt_in("c1")
    assert place.survey_opt_in and book.places["c1"].survey_opt_in
    assert book.opt_in("c1") == [] and book.opt_in("unknown") == []
    ended = E.CallAbandoned("c1")
    [done] = book.observe(ended, acd.handle(ended, 20.0), T0 + timedelta(seconds=10))
    assert done.survey_opt_in                                        # kept to the end


async def test_the_ledger_keeps_the_opt_in_for_the_next_active_engine():
    from ivr.cluster.admin import init_cluster
    from ivr.cluster.pg_places import PlaceLedger
    url = pg_server().new_database()
    await init_cluster(url, "pharma")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("UPDATE cluster_leader SET term = 2")
    ledger = PlaceLedger(url, lambda: 2)
    ledger.record([Place("c1", WAITING, "operator", T0, survey_opt_in=True),
                   Place("c2", WAITING, "operator", T0 + timedelta(seconds=1))])
    await ledger.flush()
    loaded = {p.call_id: p for p in resume_order(await PlaceLedger(url, lambda: 3).load())}
    assert loaded["c1"].survey_opt_in and not loaded["c2"].survey_opt_in
    await ledger.close()


def test_a_resumed_caller_who_opted_in_stays_for_the_survey_after_the_agent():
    flow = CallFlow(CallRecord(call_id="c1", caller="+33611000001", dialed="100", started_at=T0),
                    queues={"operator"}, destinations={})
    flow.opted_in_survey()                                   # what the session does on resume
    flow.enter_queue(ins.Route("operator", "resumed", 0, None, None, "failover"), 10.0, waited_s=30.0)
    ring = flow.acd_actions([act.OfferCall("c1", "alice", 15.0)], 11.0)
    assert ring[-1] == cmd.Ring(("alice",), 15.0, caller_stays=True)
    flow.agent_answered("alice", 12.0)
    flow.dial_ended("ANSWER", None, 40.0)
    assert flow.after_conversation(caller_gone=False)[-1] == cmd.PostCallSurvey("alice", "operator")


def test_a_walker_never_started_walks_straight_into_the_survey():
    plan = load_plan(ROOT / "dialplans/inbound-survey.yaml")
    walker = Walker(plan, {}, now=lambda: T0)            # the resumed call skipped the menus
    first = walker.walk_on(plan.post_call_survey)
    assert isinstance(first, ins.AskDigits) and walker.path[0]["node"] == "survey-csat"
