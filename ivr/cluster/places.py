"""Callers keep their place across an engine failover (issue 16), the pure rules: follow the
ACD's events and actions, and say which waiting callers' places changed, so the adapter
writes them (fenced by term) and the next active engine resumes each caller in its queue with
its original arrival time, its priority, requirement and escalation step.

Callback promises are not kept here: they are CRM records already (re-queued at takeover).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from acd import actions as A
from acd import events as E

WAITING, OFFERED, DONE = "waiting", "offered", "done"


@dataclass(frozen=True)
class Place:
    call_id: str
    state: str
    queue: str
    arrived_at: datetime              # wall clock: monotonic clocks differ between engines
    priority: int = 0
    requirement: str = ""             # the call's extra skill expression ("" = none)
    escalation_step: int = 0
    caller: str = ""
    trace: tuple[str, ...] = field(default=())
    # the caller opted in to the post-call survey in the menus (issue 15): the next active
    # engine dials the agent so that the caller stays for it
    survey_opt_in: bool = False

    def waited_s(self, now: datetime) -> float:
        return max(0.0, (now - self.arrived_at).total_seconds())


class PlaceBook:
    """The places of the callers waiting on this engine; `observe` returns those changed."""

    def __init__(self) -> None:
        self.places: dict[str, Place] = {}

    def observe(self, event: object, actions: list[object], now: datetime) -> list[Place]:
        changed: dict[str, Place] = {}

        def put(place: Place) -> None:
            changed[place.call_id] = place
            if place.state == DONE:
                self.places.pop(place.call_id, None)
            else:
                self.places[place.call_id] = place

        if isinstance(event, E.CallArrived) and event.callback is None \
                and event.call_id not in self.places:
            put(Place(event.call_id, WAITING, event.queue,
                      now - timedelta(seconds=max(0.0, event.waited_s)), event.priority,
                      event.required or "", 0, event.caller))
        elif isinstance(event, E.OfferFailed) and event.call_id in self.places:
            put(replace(self.places[event.call_id], state=WAITING))
        elif isinstance(event, (E.OfferAnswered, E.CallEnded, E.CallAbandoned)) \
                and event.call_id in self.places:
            put(replace(self.places[event.call_id], state=DONE))
        for action in actions:
            place = self.places.get(getattr(action, "call_id", ""))
            if place is None:
                continue
            if isinstance(action, A.OfferCall):
                put(replace(place, state=OFFERED))
            elif isinstance(action, A.CancelOffer):
                put(replace(place, state=WAITING))
            elif isinstance(action, A.Escalated):
                put(replace(place, escalation_step=place.escalation_step + 1,
                            trace=place.trace + (action.detail,)))
            elif isinstance(action, A.Overflowed):
                put(replace(place, queue=action.to_queue, trace=place.trace +
                            (f"overflowed {action.from_queue} -> {action.to_queue}",)))
            elif isinstance(action, A.Diverted):
                put(replace(place, state=DONE))
        return list(changed.values())


    def opt_in(self, call_id: str) -> list[Place]:
        """The waiting caller opted in to the post-call survey: its place says so."""
        place = self.places.get(call_id)
        if place is None or place.survey_opt_in:
            return []
        self.places[call_id] = place = replace(place, survey_opt_in=True)
        return [place]


def resume_order(places: list[Place]) -> list[Place]:
    """The callers a new active engine takes back, oldest first (their original order):
    offered ones too, since the offer died with the former engine."""
    return sorted((p for p in places if p.state in (WAITING, OFFERED)),
                  key=lambda p: (p.arrived_at, p.call_id))


def resume_event(place: Place, now: datetime) -> E.CallArrived:
    """The ACD event that puts a resumed caller back at its original place."""
    return E.CallArrived(place.call_id, place.queue, place.priority, place.caller,
                         place.requirement or None, waited_s=place.waited_s(now))
