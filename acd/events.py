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
    # A caller resumed after an engine failover (issue 16) had already waited this long: the
    # call keeps its place (arrival = now - waited_s), and passed escalation steps apply again.
    waited_s: float = 0.0


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
class AgentRestored:
    """An agent's state as recorded before the engine restarted (the CRM keeps it): ready,
    paused (with its reason) or logged out, since `since` (same clock as `now`, usually
    earlier). Applies only to an agent not busy with a call; a call it has taken since
    the start says it is working, whatever the record says."""
    agent: str
    state: str          # AgentState value: "ready", "paused" or "logged-out"
    reason: str = ""
    since: float = 0.0


@dataclass(frozen=True, slots=True)
class WrapUpExtended:
    """The agent asks for more wrap-up time (the desk's "more time"): `seconds` more from
    the current end (or from now, if it is already due)."""
    agent: str
    seconds: float


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


Event = (CallArrived | AgentLoggedIn | AgentLoggedOut | AgentPaused | AgentReady | AgentRestored
         | WrapUpExtended
         | DeviceBusy
         | OfferAnswered | OfferFailed | CallEnded | CallAbandoned | CallbackRequested | Tick)


# ---- non-voice tasks (acd.center.ContactCenter / acd.tasks.TaskRouter) -------------------
@dataclass(frozen=True, slots=True)
class TaskArrived:
    """A non-voice contact (e-mail, chat, SMS, voice message, fax) to route. `arrival` is when
    the contact reached us (e.g. the mail's receipt), default now: its age counts from there."""
    task_id: str
    queue: str
    channel: str
    priority: int = 0
    required: str | None = None
    arrival: float | None = None


@dataclass(frozen=True, slots=True)
class TaskAccepted:
    task_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class TaskDeclined:
    """The agent refused the offer, or the desk let it time out: the task keeps its place and
    the agent gets no more non-voice offers until AgentReady (as RONA for calls)."""
    task_id: str
    agent: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TaskEnded:
    """Closed (with or without an agent): frees the agent's units."""
    task_id: str


@dataclass(frozen=True, slots=True)
class TaskTransferred:
    """Back into the line of another queue (the desk's transfer), keeping its arrival."""
    task_id: str
    queue: str


TaskEvent = TaskArrived | TaskAccepted | TaskDeclined | TaskEnded | TaskTransferred
