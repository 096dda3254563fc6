"""Outbound benchmark: the real pacer over a simulated day (issue 15).

Run from the repo root:  .venv/bin/python bench/outbound.py [--seeds 10]
20 agents, 30 % of calls answered by a person, AHT 180 s, 20 s mean time to answer,
unanswered calls ring the campaign's 25 s, a list long enough for the day, 10 seeds.
Prints a table; the LAST line is one JSON object: abandon_rate_max (goal ≤ 0.03),
talk_occupancy_predictive, talk_occupancy_progressive, predictive_gain (goal ≥ 1.5).
The sandbox figures of the issue (amd_accuracy, calls_per_s_placed) are not measured yet.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.outbound.simulate import DayResult, World, simulate_day  # noqa: E402


def run(seeds: int) -> dict:
    world = World()
    days: dict[str, list[DayResult]] = {m: [simulate_day(m, world, s) for s in range(seeds)]
                                        for m in ("progressive", "predictive")}
    print(f"{'mode':<12} {'seed':>4} {'placed':>7} {'answered':>8} {'abandoned':>9} "
          f"{'abandon %':>9} {'talk occ.':>9}")
    for mode, results in days.items():
        for seed, r in enumerate(results):
            print(f"{mode:<12} {seed:>4} {r.placed:>7} {r.answered:>8} {r.abandoned:>9} "
                  f"{100 * r.abandon_rate:>9.2f} {r.talk_occupancy:>9.3f}")
    occ = {m: statistics.mean(r.talk_occupancy for r in rs) for m, rs in days.items()}
    return {"seeds": seeds, "agents": world.agents, "answer_rate": world.answer_rate,
            "aht_s": world.aht, "ring_mean_s": world.ring_mean, "ring_timeout_s": world.ring_timeout,
            "abandon_rate_max": round(max(r.abandon_rate for r in days["predictive"]), 4),
            "abandon_rate_mean": round(statistics.mean(r.abandon_rate for r in days["predictive"]), 4),
            "talk_occupancy_predictive": round(occ["predictive"], 4),
            "talk_occupancy_progressive": round(occ["progressive"], 4),
            "predictive_gain": round(occ["predictive"] / occ["progressive"], 3),
            "gain_ceiling": round(1 / occ["progressive"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    result = run(parser.parse_args().seeds)
    print(json.dumps(result, separators=(",", ":")))


if __name__ == "__main__":
    main()
