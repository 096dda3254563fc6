"""A 20-site, 2,000-agent day through the real ACD (acd/simulate.py drives acd.Acd on a
simulated clock), to back docs/scaling.md: one ACD across all sites (what the engine does)
against one ACD per site (what Asterisk's app_queue, mod_callcenter and OpenSIPS
call_center give: a caller waits for the agents of the site the call came in at).

Run from the repo root:  .venv/bin/python bench/sites.py [--hours 8] [--quick]

The centre: `--sites` sites of `--agents-per-site` agents each; 4 topics × 2 languages =
8 hotlines; each agent speaks fr, en or both and has 2 topics (levels 2-5) and its site.
Calls arrive at the sites unevenly (weights 0.6-1.4: a site's local number, a region's
morning), in total for `--occupancy` of the agents at `--aht-s`, patience 120 s
(exponential: some hang up). Same seed and traffic for both models. The LAST line is JSON.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acd.simulate import simulate  # noqa: E402

TOPICS = ("pv", "medinfo", "orders", "quality")
LANGS = ("fr", "en")


def centre(args: argparse.Namespace) -> tuple[list[dict], dict[str, float]]:
    rng = random.Random(args.seed)
    agents = []
    for site in range(args.sites):
        for i in range(args.agents_per_site):
            langs = rng.choice([("fr",), ("en",), ("fr", "en")])
            skills = {lang: 5 for lang in langs} | {t: rng.randint(2, 5) for t in rng.sample(TOPICS, 2)}
            agents.append({"name": f"s{site:02d}a{i:03d}", "skills": skills | {f"site{site:02d}": 1}})
    weights = [rng.uniform(0.6, 1.4) for _ in range(args.sites)]
    total = sum(weights)
    return agents, {f"site{s:02d}": w / total for s, w in enumerate(weights)}


def scenario(args: argparse.Namespace, agents: list[dict], share: dict[str, float], per_site: bool) -> dict:
    calls_per_hour = args.occupancy * len(agents) * 3600 / args.aht_s
    hotline_share = 1 / (len(TOPICS) * len(LANGS))
    queues, traffic = {}, {}
    for topic in TOPICS:
        for lang in LANGS:
            need = f"{topic} >= 2 and {lang}"
            for site, part in (share.items() if per_site else [("", 1.0)]):
                name = f"{topic}-{lang}" + (f"-{site}" if site else "")
                queues[name] = {"requirement": need + (f" and {site}" if site else ""),
                                "strategy": "longest-idle"}
                traffic[name] = {"calls_per_hour": calls_per_hour * hotline_share * part,
                                 "aht_seconds": args.aht_s, "handle": "exponential",
                                 "patience_seconds": 120, "patience": "exponential"}
    return {"seed": args.seed, "duration_seconds": args.hours * 3600, "queues": queues,
            "agents": agents, "traffic": traffic}


def run(args: argparse.Namespace, per_site: bool) -> dict:
    agents, share = centre(args)
    started = time.perf_counter()
    result = simulate(scenario(args, agents, share, per_site))
    wall = time.perf_counter() - started
    kpi = result.total
    return {"model": "one ACD per site" if per_site else "one ACD, all sites",
            "queues": len(result.queues), "calls": kpi.offered, "answered": kpi.answered,
            "service_level_20s": round(kpi.service_level, 4), "asa_s": round(kpi.asa_seconds, 1),
            "abandon_rate": round(kpi.abandon_rate, 4), "occupancy": round(result.occupancy, 4),
            "acd_events": result.events, "wall_s": round(wall, 1),
            "acd_events_per_s": round(result.events / wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--agents-per-site", type=int, default=100)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--aht-s", type=float, default=300.0)
    parser.add_argument("--occupancy", type=float, default=0.95, help="offered load / agents")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="1 simulated hour")
    args = parser.parse_args()
    if args.quick:
        args.hours = 1.0
    rows = [run(args, per_site=False), run(args, per_site=True)]
    for r in rows:
        print(f"{r['model']:<20} {r['queues']:>4} queues  {r['calls']:>7} calls  SL20 {r['service_level_20s']:.1%}  "
              f"ASA {r['asa_s']:>6.1f} s  abandoned {r['abandon_rate']:.1%}  occupancy {r['occupancy']:.1%}  "
              f"{r['acd_events']} ACD events in {r['wall_s']} s ({r['acd_events_per_s']}/s)", flush=True)
    one, split = rows
    print(json.dumps({"sites": args.sites, "agents": args.sites * args.agents_per_site, "hours": args.hours,
                      "calls": one["calls"], "one_acd": one, "acd_per_site": split,
                      "pooling_abandon_ratio": round(split["abandon_rate"] / one["abandon_rate"], 2)
                      if one["abandon_rate"] else None}))


if __name__ == "__main__":
    main()
