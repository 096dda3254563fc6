"""ACD core benchmark: decision latency and simulator throughput.

Run from the repo root:  .venv/bin/python bench/acd.py [--quick]
Prints a readable table; the LAST line is one JSON object (p99_us_2000, scaling_100_to_10000,
sim_events_per_s, ...).
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acd import (Acd, AcdConfig, AgentLoggedIn, CallArrived, CallEnded, OfferAnswered,  # noqa: E402
                 OfferCall)
from acd.simulate import simulate  # noqa: E402

N_SKILLS = 100
STRATEGIES = ["longest-idle", "most-skilled", "least-skilled", "round-robin", "fewest-calls"]


def center(n_agents: int, seed: int = 1) -> dict:
    """100 skills; queue i needs skill i (every 10th queue also a level or a second skill)."""
    rng = random.Random(seed)
    agents = [{"name": f"ag{i}", "skills": {f"s{k}": rng.randint(1, 5)
                                              for k in rng.sample(range(N_SKILLS), 5)}}
              for i in range(n_agents)]
    queues = []
    for k in range(N_SKILLS):
        req = f"s{k}"
        if k % 10 == 3:
            req = f"s{k} >= 2"
        elif k % 10 == 7:
            req = f"s{k} or s{(k + 1) % N_SKILLS}"
        queues.append({"name": f"q{k}", "requirement": req, "strategy": STRATEGIES[k % len(STRATEGIES)],
                       "escalation": [{"after_seconds": 3600, "widen": f"s{k} or s{(k + 50) % N_SKILLS}"}]})
    return {"agents": agents, "queues": queues}


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def latency(n_agents: int, waiting: int, n_events: int, seed: int = 2, busy_share: float = 1.0) -> dict:
    """Steady state: agents busy (busy_share of them in the idle regime, waiting=0), `waiting`
    callers queued; each cycle a call ends (the agent takes the next caller) and one arrives."""
    rng = random.Random(seed)
    acd = Acd(AcdConfig.from_dict(center(n_agents)), trace=False)
    now = 0.0
    for i in range(n_agents):
        acd.handle(AgentLoggedIn(f"ag{i}"), now)
    connected: list[str] = []
    seq = 0

    def arrive(t: float) -> list:
        nonlocal seq
        seq += 1
        return acd.handle(CallArrived(f"k{seq}", f"q{rng.randrange(N_SKILLS)}"), t)

    def settle(out: list, t: float, timed: bool) -> None:
        """Agents answer every offer at once (answers timed too when measuring)."""
        stack = [o for o in out if isinstance(o, OfferCall)]
        while stack:
            o = stack.pop()
            ev = OfferAnswered(o.call_id, o.agent)
            t0 = pc()
            more = acd.handle(ev, t)
            if timed:
                times["OfferAnswered"].append((pc() - t0) / 1000.0)
            connected.append(o.call_id)
            stack.extend(x for x in more if isinstance(x, OfferCall))

    times: dict[str, list[float]] = {"CallEnded": [], "OfferAnswered": [], "CallArrived": []}
    pc = time.perf_counter_ns
    # fill: agents take calls until `waiting` callers are queued (every agent that can is busy)
    while True:
        settle(arrive(now), now, False)
        if waiting and len(acd._calls) - len(connected) >= waiting:
            break
        if not waiting and len(connected) >= busy_share * n_agents:
            break
    gc.collect()
    gc.freeze()  # setup objects leave the young generations: GC pauses reflect steady state only
    done = 0
    while done < n_events:
        # one cycle: a call ends (agent takes the next caller), a new caller arrives
        now += 0.01
        i = rng.randrange(len(connected))
        connected[i], connected[-1] = connected[-1], connected[i]
        ev = CallEnded(connected.pop())
        t0 = pc()
        out = acd.handle(ev, now)
        times["CallEnded"].append((pc() - t0) / 1000.0)
        settle(out, now, True)
        seq += 1
        ev2 = CallArrived(f"k{seq}", f"q{rng.randrange(N_SKILLS)}")
        t0 = pc()
        out = acd.handle(ev2, now)
        times["CallArrived"].append((pc() - t0) / 1000.0)
        settle(out, now, True)
        done += 2
    gc.unfreeze()
    everything = [x for v in times.values() for x in v]
    waiting_now = sum(1 for c in acd._calls.values() if c.state == 0)
    row = {"agents": n_agents, "waiting": waiting_now, "regime": "busy" if waiting else "idle", "events": len(everything),
           "p50_us": pct(everything, 0.5), "p99_us": pct(everything, 0.99),
           "mean_us": statistics.fmean(everything)}
    for k, v in times.items():
        row[f"{k}_p50_us"], row[f"{k}_p99_us"] = pct(v, 0.5), pct(v, 0.99)
    return row


def sim_throughput(calls: int, repeats: int) -> dict:
    """Best of `repeats` (the box is shared): multi-skill center, 200 agents, 100 queues."""
    sc = center(200, seed=5)
    sc.update(seed=3, calls=calls, traffic={
        # 90 % of 200 agents' capacity spread evenly over the 100 queues
        f"q{k}": {"calls_per_hour": 0.9 * 200 / 180 * 3600 / N_SKILLS,
                  "aht_seconds": 180, "patience_seconds": 300} for k in range(N_SKILLS)})
    best = None
    for _ in range(repeats):
        r = simulate(sc, clock=time.perf_counter)
        if best is None or r.events_per_s > best.events_per_s:
            best = r
    assert best is not None
    fifo = {"seed": 7, "calls": calls, "agents": [{"name": f"a{i}", "skills": {"x": 1}} for i in range(14)],
            "queues": [{"name": "q", "requirement": "x"}],
            "traffic": {"q": {"calls_per_hour": 200, "aht_seconds": 180}}}
    fifo_best = max((simulate(fifo, clock=time.perf_counter) for _ in range(repeats)), key=lambda r: r.events_per_s)
    return {"multi_skill_events_per_s": best.events_per_s, "multi_skill_events": best.events,
            "multi_skill_sl": best.total.service_level, "multi_skill_occupancy": best.occupancy,
            "fifo_events_per_s": fifo_best.events_per_s, "fifo_events": fifo_best.events}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer events (smoke run)")
    args = ap.parse_args()
    n_events = 20_000 if args.quick else 100_000
    rows = []
    print(f"{'agents':>7} {'waiting':>8} {'p50 us':>8} {'p99 us':>8} {'mean us':>8} "
          f"{'arrive p99':>10} {'end p99':>8} {'answer p99':>10}")
    for n in (100, 1_000, 2_000, 10_000):
        r = latency(n, 10_000, n_events)
        rows.append(r)
        print(f"{r['agents']:>7} {r['waiting']:>8} {r['p50_us']:>8.1f} {r['p99_us']:>8.1f} "
              f"{r['mean_us']:>8.1f} {r['CallArrived_p99_us']:>10.1f} {r['CallEnded_p99_us']:>8.1f} "
              f"{r['OfferAnswered_p99_us']:>10.1f}", flush=True)
    for n in (2_000, 10_000):
        r = latency(n, 0, n_events, busy_share=0.5)
        rows.append(r)
        print(f"{r['agents']:>7} {r['waiting']:>8} {r['p50_us']:>8.1f} {r['p99_us']:>8.1f} "
              f"{r['mean_us']:>8.1f} {r['CallArrived_p99_us']:>10.1f} {r['CallEnded_p99_us']:>8.1f} "
              f"{r['OfferAnswered_p99_us']:>10.1f}   (idle regime: half the agents ready)", flush=True)
    sim = sim_throughput(30_000 if args.quick else 100_000, 1 if args.quick else 3)
    print(f"simulator: multi-skill {sim['multi_skill_events_per_s']:,.0f} events/s "
          f"({sim['multi_skill_events']:,} events, SL {sim['multi_skill_sl']:.3f}, "
          f"occupancy {sim['multi_skill_occupancy']:.3f}); "
          f"single-queue FIFO {sim['fifo_events_per_s']:,.0f} events/s")
    by_n = {r["agents"]: r for r in rows if r["regime"] == "busy"}
    result = {
        "p50_us_2000": round(by_n[2000]["p50_us"], 2),
        "p99_us_2000": round(by_n[2000]["p99_us"], 2),
        "p99_us_10000": round(by_n[10000]["p99_us"], 2),
        "scaling_100_to_10000": round(by_n[10000]["mean_us"] / by_n[100]["mean_us"], 2),
        "scaling_p50_100_to_10000": round(by_n[10000]["p50_us"] / by_n[100]["p50_us"], 2),
        "sim_events_per_s": round(sim["multi_skill_events_per_s"]),
        "sim_fifo_events_per_s": round(sim["fifo_events_per_s"]),
        "waiting": by_n[2000]["waiting"],
        "rows": rows,
    }
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
