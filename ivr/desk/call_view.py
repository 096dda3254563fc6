"""What an agent's call panel shows, decided from the engine's feed (pure: no I/O).

The panel follows the agent's latest offer: ringing (the pop, before the answer), talking,
then after the call (documentation, wrap-up) until the next offer replaces it. An offer the
agent did not take (another agent answered, the caller hung up, no answer) is shown as missed.
When the desk joined late (after a restart of the desk or the engine) the call's own events
are unknown and the agent's state decides.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    IDLE = "idle"            # no call yet since the desk knows
    RINGING = "ringing"
    TALKING = "talking"
    AFTER = "after"          # the conversation is over: document it
    MISSED = "missed"        # offered, not taken by this agent


_BY_STATE = {"offered": Phase.RINGING, "on-call": Phase.TALKING}


def call_phase(agent: str, offer: dict[str, Any] | None, lifecycle: dict[str, Any] | None,
               agent_state: str | None) -> Phase:
    if offer is None:
        return Phase.IDLE
    lifecycle = lifecycle or {}
    answered_by = (lifecycle.get("answered") or {}).get("agent")
    ended = "ended" in lifecycle
    if answered_by == agent:
        return Phase.AFTER if ended else Phase.TALKING
    if answered_by is not None or ended:
        return Phase.MISSED
    if lifecycle:                      # offered, nobody answered yet
        return Phase.RINGING if agent_state == "offered" else Phase.MISSED
    return _BY_STATE.get(agent_state or "", Phase.AFTER)


def wrapup_left(agent_view: dict[str, Any] | None, now: float) -> float | None:
    """Seconds of wrap-up left (epoch `now`); None when the agent is not in wrap-up."""
    until = (agent_view or {}).get("wrapup_until")
    if until is None or (agent_view or {}).get("state") != "wrap-up":
        return None
    return max(0.0, until - now)
