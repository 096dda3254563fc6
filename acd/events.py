"""Inputs to the ACD core. Plain frozen dataclasses: the engine builds them from AMI/AGI."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallArrived:
    call_id: str
    queue: str
    priority: int = 0
    caller: str = ""
    required: str | None = None  # extra skill expression ANDed with the queue requirement
    preferred_agent: str | None = None  # a known caller's usual agent: offered first if ready
    # A callback request joining with the caller gone (e.g. diverted to a callback destination
    # after hours): join rules don't apply, nobody waits on the line. The number to ring back.
    callback: str | None = None


@dataclass(frozen=True, slots=True)
class AgentLoggedIn:
    agent: str


@dataclass(frozen=True, slots=True)
class AgentLoggedOut:
    agent: str


@dataclass(frozen=True, slots=True)
class AgentPaused:
    agent: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AgentReady:
    agent: str


@dataclass(frozen=True, slots=True)
class DeviceBusy:
    """Phone busy with another call (AMI device state): never offer while busy."""
    agent: str
    busy: bool


@dataclass(frozen=True, slots=True)
class OfferAnswered:
    call_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class OfferFailed:
    call_id: str
    agent: str
    reason: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str


@dataclass(frozen=True, slots=True)
class CallAbandoned:
    call_id: str


@dataclass(frozen=True, slots=True)
class CallbackRequested:
    call_id: str
    number: str


@dataclass(frozen=True, slots=True)
class Tick:
    pass


Event = (CallArrived | AgentLoggedIn | AgentLoggedOut | AgentPaused | AgentReady | DeviceBusy
         | OfferAnswered | OfferFailed | CallEnded | CallAbandoned | CallbackRequested | Tick)
