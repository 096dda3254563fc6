"""Survey answers (issue 15, pure): which of a call's collected digits are CSAT (1-5) or NPS
(0-10) answers, and the scores of a group of answers."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    question: str       # the dialplan node
    kind: str           # csat | nps
    score: int


def survey_answers(nodes: dict[str, Any], path: Iterable[dict[str, Any]]) -> list[Answer]:
    """The valid answers to the plan's survey questions in a dialplan walk's path (the last
    answer to a question counts, should the walk pass it twice)."""
    found: dict[str, Answer] = {}
    for step in path:
        node = nodes.get(step.get("node", ""))
        kind = getattr(node, "survey", None)
        if kind and step.get("input") == "digits" and str(step.get("value", "")).isdigit():
            found[step["node"]] = Answer(step["node"], kind, int(step["value"]))
    return list(found.values())


def opted_in(nodes: dict[str, Any], path: Iterable[dict[str, Any]]) -> bool:
    """The caller passed a node marked `survey_opt_in` (the post-call survey, inbound)."""
    return any(getattr(nodes.get(step.get("node", "")), "survey_opt_in", False) for step in path)


def scores(rows: Iterable[tuple[str, int]]) -> dict[str, float | int | None]:
    """(kind, score) answers → CSAT: answers and mean, share of 4-5 ("satisfied"); NPS:
    answers, promoters (9-10) minus detractors (0-6) in % of answers."""
    rows = list(rows)
    csat = [s for k, s in rows if k == "csat"]
    nps = [s for k, s in rows if k == "nps"]
    return {
        "csat_answers": len(csat),
        "csat_mean": round(sum(csat) / len(csat), 2) if csat else None,
        "csat_satisfied": round(sum(s >= 4 for s in csat) / len(csat), 3) if csat else None,
        "nps_answers": len(nps),
        "nps": round(100 * (sum(s >= 9 for s in nps) - sum(s <= 6 for s in nps)) / len(nps), 1) if nps else None,
    }
