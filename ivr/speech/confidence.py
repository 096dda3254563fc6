"""Turn what was heard into a routing decision (pure, no I/O).

Bands on the mean word confidence:  >= high -> route,  [low, high) -> confirm
("Did you say ...?"),  < low or no intent -> reask, and after the last
attempt -> human. A possible adverse event is never re-asked or dropped:
pharmacovigilance law requires every report to be captured, so any match
on the adverse intent routes there whatever the confidence.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

ADVERSE_INTENT = "adverse"
PHARMACOVIGILANCE = "pharmacovigilance"


class Outcome(StrEnum):
    ROUTE = "route"
    CONFIRM = "confirm"
    REASK = "reask"
    HUMAN = "human"


class HeardLike(Protocol):
    text: str
    confidence: float
    intent: str | None
    candidates: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    intent: str | None  # the intent to route to / confirm
    target: str | None  # route target; PHARMACOVIGILANCE for adverse events
    reason: str


def decide(heard: HeardLike, high: float = 0.8, low: float = 0.5, *, attempt: int = 1,
           max_attempts: int = 2, adverse_intent: str = ADVERSE_INTENT) -> Decision:
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got low={low} high={high}")
    if heard.intent == adverse_intent or adverse_intent in heard.candidates:
        return Decision(Outcome.ROUTE, adverse_intent, PHARMACOVIGILANCE, "adverse event always routed")
    last = attempt >= max_attempts
    if heard.intent is None:
        why = "no speech" if not heard.text else f"no intent in {heard.text!r}"
        return Decision(Outcome.HUMAN if last else Outcome.REASK, None, None, why)
    c = heard.confidence
    if c >= high:
        return Decision(Outcome.ROUTE, heard.intent, heard.intent, f"confidence {c:.2f} >= {high}")
    if c >= low:
        return Decision(Outcome.CONFIRM, heard.intent, None, f"confidence {c:.2f} in [{low}, {high})")
    return Decision(Outcome.HUMAN if last else Outcome.REASK, None, None, f"confidence {c:.2f} < {low}")
