"""Property test: random event streams never break the core's invariants."""
from hypothesis import given, settings
from hypothesis import strategies as st

from acd import (Acd, AcdConfig, AgentLoggedIn, AgentLoggedOut, AgentPaused, AgentReady, AgentState,
                 CallAbandoned, CallArrived, CallbackRequested, CallEnded, CancelOffer, DeviceBusy,
                 OfferAnswered, OfferCall, OfferFailed, StartCallback, Tick)
from acd.core import WAITING

AGENTS = {"a": {"fr": 3, "pv": 4}, "b": {"fr": 1, "orders": 2}, "c": {"en": 5, "pv": 1},
          "d": {"orders": 5, "en": 2, "fr": 2}}
STRATS = ["longest-idle", "most-skilled", "least-skilled", "round-robin", "fewest-calls", "ring-all"]


def make(strategy_shift: int) -> Acd:
    queues = {}
    for i, (name, req) in enumerate([("fr", "fr"), ("pv", "pv >= 3"), ("ord", "orders"), ("any", "")]):
        queues[name] = {"requirement": req, "strategy": STRATS[(i + strategy_shift) % len(STRATS)],
                        "wrapup_seconds": 5 * i, "announce_every_seconds": 7, "max_length": 6,
                        "escalation": [{"after_seconds": 4, "widen": "fr or en or pv"},
                                       {"after_seconds": 8, "overflow": "any"},
                                       {"after_seconds": 12, "offer_callback": True},
                                       {"after_seconds": 30, "divert": "vm"}] if name == "pv" else []}
    return Acd(AcdConfig.from_dict({"agents": {n: {"skills": s} for n, s in AGENTS.items()},
                                    "queues": queues}))


op = st.tuples(st.integers(0, 11), st.integers(0, 3), st.integers(0, 7), st.floats(0, 3))


def check(acd: Acd, ringing: dict[tuple[str, str], bool]) -> None:
    agents = acd._agents  # white-box: the invariant is about internal state
    for c in acd._calls.values():
        if c.state != WAITING:
            continue
        for a in c.bucket.agents:
            assert not (a.state is AgentState.READY and not a.busy), (c.call_id, a.name)
        assert acd.position(c.call_id) is not None
    positions = sorted(p for p in (acd.position(cid) for cid in acd._calls) if p is not None)
    for a in agents.values():
        if a.state in (AgentState.OFFERED, AgentState.ON_CALL):
            assert a.call_id in acd._calls
        if a.state is AgentState.OFFERED:
            assert ringing.get((a.call_id, a.name))
    assert positions == sorted(positions)
    d = acd.next_deadline()
    assert d is None or d >= 0


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 5), st.lists(op, max_size=80))
def test_random_streams_keep_invariants(shift: int, ops: list) -> None:
    acd = make(shift)
    names = list(AGENTS)
    ringing: dict[tuple[str, str], bool] = {}
    now, n = 0.0, 0
    for kind, x, y, dt in ops:
        now += dt
        agent = names[x]
        calls = sorted(acd._calls)
        cid = calls[y % len(calls)] if calls else "none"
        offers = sorted(k for k, v in ringing.items() if v)
        if kind == 0:
            n += 1
            ev = CallArrived(f"c{n}", ["fr", "pv", "ord", "any"][x], priority=y % 3,
                             required="en" if y == 7 else None)
        elif kind == 1:
            ev = AgentLoggedIn(agent)
        elif kind == 2:
            ev = AgentLoggedOut(agent)
        elif kind == 3:
            ev = AgentPaused(agent, "p")
        elif kind == 4:
            ev = AgentReady(agent)
        elif kind == 5:
            ev = DeviceBusy(agent, bool(y % 2))
        elif kind == 6 and offers:
            ev = OfferAnswered(*offers[y % len(offers)])
        elif kind == 7 and offers:
            ev = OfferFailed(*offers[y % len(offers)], "noanswer")
        elif kind == 8:
            ev = CallEnded(cid)
        elif kind == 9:
            ev = CallAbandoned(cid)
        elif kind == 10:
            ev = CallbackRequested(cid, "555")
        else:
            ev = Tick()
        before = {k for k, v in ringing.items() if v}
        out = acd.handle(ev, now)
        if isinstance(ev, (OfferAnswered, OfferFailed)) and (ev.call_id, ev.agent) in before:
            ringing[(ev.call_id, ev.agent)] = False
            if isinstance(ev, OfferAnswered):
                assert acd.agent_state(ev.agent) is AgentState.ON_CALL
        for o in out:
            if isinstance(o, (OfferCall, StartCallback)):
                assert not ringing.get((o.call_id, o.agent)), "double offer"
                ringing[(o.call_id, o.agent)] = True
            elif isinstance(o, CancelOffer):
                assert ringing.get((o.call_id, o.agent)), "cancel of an offer not ringing"
                ringing[(o.call_id, o.agent)] = False
        # offers of finished calls are implicitly over
        for k in list(ringing):
            if ringing[k] and k[0] not in acd._calls:
                ringing[k] = False
        check(acd, ringing)
