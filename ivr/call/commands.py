"""What the call core (flow.py) asks its adapter to do. Plain data, no behaviour.

Two kinds: *instant* commands the adapter carries out at once without waiting on the caller
(CRM writes, events, ACD inputs), and *caller* commands that talk to the caller over the
line and may take seconds (prompts, music, ringing agents, transfers). The adapter feeds the
outcome of a caller command back to the core (e.g. `CallFlow.dial_ended`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acd import events as acd_events


# ---- instant --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Timeline:
    """One step of the call's timeline in the CRM (call_events)."""
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SaveRecord:
    """Write the call's record (as it stands) to the CRM."""


@dataclass(frozen=True, slots=True)
class Publish:
    """A live event about this call: topic `calls/<id>/<what>`."""
    what: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToAcd:
    """An input for the ACD about this call."""
    event: acd_events.CallArrived | acd_events.OfferAnswered | acd_events.OfferFailed \
        | acd_events.CallEnded | acd_events.CallAbandoned


@dataclass(frozen=True, slots=True)
class ReleaseOffer:
    """An offer to this agent is over (no answer, caller gone): the phone's own states count
    again for the ACD."""
    agent: str


@dataclass(frozen=True, slots=True)
class AgentLog:
    """An agent state change for the CRM's agent sessions (e.g. the RONA pause)."""
    agent: str
    kind: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ScreenPop:
    """Show the caller to an agent whose phone rings."""
    agent: str
    waited_seconds: float = 0.0       # in line before this offer


@dataclass(frozen=True, slots=True)
class WrapUp:
    """The agent's wrap-up after a conversation from `queue`."""
    agent: str
    queue: str | None


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """Keep the caller's place: an agent rings back when the turn comes. `queued_at` is the
    monotonic instant the caller joined (None: joins now, e.g. a callback destination)."""
    required: str | None
    queued_at: float | None


@dataclass(frozen=True, slots=True)
class ReleaseTrace:
    """The CRM record now holds the ACD's decision trace: the ACD may forget it."""


@dataclass(frozen=True, slots=True)
class HandBack:
    """The engine cannot serve this call as configured: Asterisk's fallback takes it."""
    reason: str


# ---- to the caller --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Play:
    prompts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PlaySystemPrompt:
    """A prompt the engine itself says (callback offer/confirm): the plan's own recording in
    the caller's language when it has one, else Asterisk's stock sound."""
    name: str


@dataclass(frozen=True, slots=True)
class SayQueuePosition:
    """Position in line and estimated wait, with Asterisk's stock queue prompts."""
    position: int
    minutes: int


@dataclass(frozen=True, slots=True)
class StartMusic:
    pass


@dataclass(frozen=True, slots=True)
class StopMusic:
    pass


@dataclass(frozen=True, slots=True)
class Ring:
    """Ring these agents at once (first to answer takes the call); feed back `dial_ended`."""
    agents: tuple[str, ...]
    ring_timeout: float
    caller_stays: bool = False     # Dial's `g`: the caller goes on when the agent hangs up


@dataclass(frozen=True, slots=True)
class Transfer:
    """Dial `destination` through the site's [hotline-transfer]; feed back `transfer_ended`."""
    destination: str


@dataclass(frozen=True, slots=True)
class RecordMessage:
    """Record the caller's voice message (a beep, at most `max_seconds`, '#' or silence ends
    it); the session hands it to the voice-message channel as a callback task."""
    max_seconds: int


@dataclass(frozen=True, slots=True)
class PostCallSurvey:
    """The agent hung up and the caller opted in: walk the plan's post_call_survey; the
    answers are kept with this agent and queue."""
    agent: str
    queue: str | None


Command = (Timeline | SaveRecord | Publish | ToAcd | ReleaseOffer | AgentLog | ScreenPop | WrapUp
           | RequestCallback | ReleaseTrace | HandBack | Play | PlaySystemPrompt
           | SayQueuePosition | StartMusic | StopMusic | Ring | Transfer | RecordMessage
           | PostCallSurvey)
INSTANT = (Timeline, SaveRecord, Publish, ToAcd, ReleaseOffer, AgentLog, ScreenPop, WrapUp,
           RequestCallback, ReleaseTrace)
