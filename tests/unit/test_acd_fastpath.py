"""The simulator's entry points (call_arrived / offer_answered / call_ended) are handle() for
those events: same actions, same state, on random streams mixing every event kind."""
import random

import pytest

from acd import (Acd, AcdConfig, AgentLoggedIn, AgentLoggedOut, AgentPaused, AgentReady, CallAbandoned,
                 CallArrived, CallEnded, CancelOffer, DeviceBusy, OfferAnswered, OfferCall, OfferFailed,
                 StartCallback, Tick)

STRATS = ["longest-idle", "most-skilled", "least-skilled", "round-robin", "fewest-calls", "ring-all"]
SKILLS = ["fr", "en", "pv", "orders"]


def config(rng: random.Random) -> dict:
    agents = {f"a{i}": {"skills": {s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(1, 3))}}
              for i in range(rng.randint(2, 8))}
    reqs = ["fr", "pv >= 3", "orders", "", "en or fr"]
    queues = {f"q{i}": {"requirement": rng.choice(reqs), "strategy": rng.choice(STRATS),
                        "priority": rng.randint(0, 2), "wrapup_seconds": rng.choice([0, 0, 4]),
                        "escalation": [{"after_seconds": 5, "widen": "fr or en or pv or orders"}]}
              for i in range(rng.randint(1, 4))}
    return {"agents": agents, "queues": queues, "priority_step_seconds": 10}


@pytest.mark.parametrize("seed", range(40))
def test_entry_points_equal_handle(seed: int) -> None:
    rng = random.Random(seed)
    cfg = AcdConfig.from_dict(config(rng))
    via_events, direct = Acd(cfg, trace=False), Acd(cfg, trace=False)
    agents, queues = [a.name for a in cfg.agents], [q.name for q in cfg.queues]
    ringing: set[tuple[str, str]] = set()
    now, n = 0.0, 0
    for _ in range(250):
        now += rng.choice([0.0, 0.5, 2.0, 6.0])
        calls = sorted(via_events._calls)
        kind = rng.randrange(10)
        if kind < 3:
            n += 1
            ev = CallArrived(f"c{n}", rng.choice(queues), rng.randint(0, 2), "", rng.choice([None, None, "en"]))
            out2 = direct.call_arrived(ev.call_id, ev.queue, now, ev.priority, ev.required)
        elif kind < 5 and ringing:
            ev = OfferAnswered(*rng.choice(sorted(ringing)))
            out2 = direct.offer_answered(ev.call_id, ev.agent, now)
        elif kind < 7 and calls:
            ev = CallEnded(rng.choice(calls))
            out2 = direct.call_ended(ev.call_id, now)
        else:
            a = rng.choice(agents)
            ev = rng.choice([AgentLoggedIn(a), AgentLoggedOut(a), AgentPaused(a, "p"), AgentReady(a),
                             DeviceBusy(a, rng.random() < 0.5), Tick()]
                            + ([CallAbandoned(rng.choice(calls))] if calls else [])
                            + ([OfferFailed(*rng.choice(sorted(ringing)), "noanswer")] if ringing else []))
            out2 = direct.handle(ev, now)
        out1 = via_events.handle(ev, now)
        assert out1 == out2, (seed, ev)
        if isinstance(ev, (OfferAnswered, OfferFailed)):
            ringing.discard((ev.call_id, ev.agent))
        for o in out1:
            if isinstance(o, (OfferCall, StartCallback)):
                ringing.add((o.call_id, o.agent))
            elif isinstance(o, CancelOffer):
                ringing.discard((o.call_id, o.agent))
        ringing = {r for r in ringing if r[0] in via_events._calls}
        assert via_events.next_deadline() == direct.next_deadline()
        assert via_events.state_snapshot(now) == direct.state_snapshot(now)
