"""The smallest agent mix per skill group meeting every queue's service level, found by
simulating the real ACD (Erlang's formulas assume one queue served by one pool: they do not
hold once queues overflow and agents serve several skills).

Search: start from `min` agents per group; while a queue misses its target, add the one agent
(of any group) that cuts the total shortfall most; then drop any agent the targets do not need.
Every run uses the same seed, so the mixes are compared on the same calls.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from acd.erlang import agents_for_service_level
from acd.simulate import SimResult, simulate


class ScenarioError(ValueError):
    """A scenario file a planner must fix."""


@dataclass
class MixResult:
    mix: dict[str, int]
    result: SimResult
    targets: dict[str, float]
    met: bool
    runs: int
    erlang_separate: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"mix": self.mix, "agents": sum(self.mix.values()), "met": self.met, "runs": self.runs,
                "queues": {q: {**k.as_dict(), "target": self.targets[q]}
                           for q, k in self.result.queues.items() if k.offered},
                "occupancy": round(self.result.occupancy, 4),
                "erlang_c_if_queues_were_separate": self.erlang_separate,
                "note": "Erlang C/A assume one queue served by one pool of agents; with overflow "
                        "and multi-skill agents they do not hold, so this mix comes from "
                        "simulating the real ACD"}


def _groups(scenario: dict[str, Any]) -> dict[str, dict[str, Any]]:
    groups = scenario.get("groups")
    if not isinstance(groups, dict) or not groups:
        raise ScenarioError("the scenario needs `groups:`, e.g. `groups: {bilingual: {skills: "
                            "{fr: 3, en: 3}, min: 1, max: 20}}`")
    for name, g in groups.items():
        if not isinstance(g, dict) or not isinstance(g.get("skills"), dict):
            raise ScenarioError(f"group {name}: give its skills, e.g. `skills: {{fr: 3, orders: 2}}`")
    if not scenario.get("traffic"):
        raise ScenarioError("the scenario needs `traffic:` per queue (calls_per_hour, aht_seconds)")
    return groups


def _run(scenario: dict[str, Any], groups: dict[str, dict[str, Any]], mix: dict[str, int]) -> SimResult:
    agents = [{"name": f"{g}-{i + 1}", "skills": groups[g]["skills"]}
              for g, n in mix.items() for i in range(n)]
    return simulate({**scenario, "agents": agents})


def _shortfall(result: SimResult, targets: dict[str, float]) -> float:
    return sum(max(0.0, targets[q] - k.service_level) for q, k in result.queues.items() if k.offered)


def search(scenario: dict[str, Any], progress: Callable[[dict[str, int]], None] | None = None) -> MixResult:
    groups = _groups(scenario)
    scenario = {**scenario, "duration_seconds": float(scenario.get("duration_seconds", 8 * 3600)),
                "warmup_seconds": float(scenario.get("warmup_seconds", 900))}
    queues = scenario.get("queues") or {}
    items = queues.items() if isinstance(queues, dict) else ((q["name"], q) for q in queues)
    targets = {name: float((spec or {}).get("service_level_target", 0.8)) for name, spec in items}
    unknown = [q for q in scenario["traffic"] if q not in targets]
    if unknown:
        raise ScenarioError(f"traffic for unknown queue(s) {', '.join(unknown)}; the queues are "
                            f"{', '.join(sorted(targets))}")
    mix = {g: int(spec.get("min", 0)) for g, spec in groups.items()}
    caps = {g: int(spec.get("max", 200)) for g, spec in groups.items()}
    runs = 0

    def run(m: dict[str, int]) -> SimResult:
        nonlocal runs
        runs += 1
        if progress:
            progress(m)
        return _run(scenario, groups, m)

    best = run(mix)
    while _shortfall(best, targets) > 0:
        trials = []
        for g in groups:
            if mix[g] < caps[g]:
                m = {**mix, g: mix[g] + 1}
                trials.append((_shortfall(r := run(m), targets), sum(m.values()), g, m, r))
        if not trials:
            break                         # every group at its max: report what the best does
        trials.sort(key=lambda t: (t[0], t[1], t[2]))
        _, _, _, mix, best = trials[0]
    met = _shortfall(best, targets) == 0
    if met:                               # the greedy climb can overshoot: drop what is not needed
        for g in sorted(groups, key=lambda g: -mix[g]):
            while mix[g] > int(groups[g].get("min", 0)):
                m = {**mix, g: mix[g] - 1}
                r = run(m)
                if _shortfall(r, targets):
                    break
                mix, best = m, r
    separate = {}
    for q, t in scenario["traffic"].items():
        spec = dict(queues[q] if isinstance(queues, dict) else next(x for x in queues if x["name"] == q))
        separate[q] = agents_for_service_level(
            float(t["calls_per_hour"]), 3600.0, float(t.get("aht_seconds", spec.get("aht_seconds", 180))),
            targets[q], float(spec.get("service_level_seconds", 20))).agents
    return MixResult(mix, best, targets, met, runs, separate)
