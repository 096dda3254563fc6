"""Outputs of the ACD core: what the engine must do on Asterisk."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OfferCall:
    call_id: str
    agent: str
    ring_timeout: float


@dataclass(frozen=True, slots=True)
class CancelOffer:
    call_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class StartCallback:
    call_id: str
    agent: str
    number: str


@dataclass(frozen=True, slots=True)
class Announce:
    call_id: str
    position: int
    ewt_seconds: float


@dataclass(frozen=True, slots=True)
class Escalated:
    call_id: str
    queue: str
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class Overflowed:
    call_id: str
    from_queue: str
    to_queue: str


@dataclass(frozen=True, slots=True)
class OfferCallbackChoice:
    call_id: str


@dataclass(frozen=True, slots=True)
class Diverted:
    call_id: str
    destination: str
    reason: str


Action = (OfferCall | CancelOffer | StartCallback | Announce | Escalated | Overflowed
          | OfferCallbackChoice | Diverted)


# ---- non-voice tasks --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OfferTask:
    task_id: str
    agent: str
    channel: str
    queue: str


@dataclass(frozen=True, slots=True)
class CancelTaskOffer:
    task_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class TaskRejected:
    """The task could not join (unknown queue, bad requirement, unknown channel)."""
    task_id: str
    reason: str


TaskAction = OfferTask | CancelTaskOffer | TaskRejected
