"""Plain data carried between the IVR/ACD and the CRM store (no I/O here)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

ROUTES = ("dtmf", "speech", "fallback", "default")


class Disposition(StrEnum):
    """How a call ended, in the CRM's words (the call core sets it, in one place)."""
    SELF_SERVICE = "self_service"     # the menu answered it; no person needed
    ANSWERED = "answered"             # an agent talked with the caller
    ABANDONED = "abandoned"           # the caller hung up first
    CALLBACK = "callback"             # promised (and later made) a callback
    VOICEMAIL = "voicemail"
    OVERFLOWED = "overflowed"         # diverted out of the queue: a transfer or a message
    FAILED = "failed"                 # nobody could take it; Asterisk's fallback did
    TRANSFERRED = "transferred"       # the menu transferred it and someone answered
    RECOVERED = "recovered"           # cut off by a killed engine, outcome not yet known


DISPOSITIONS = tuple(d.value for d in Disposition)
# The disposition of a call a killed engine left mid-way, until Asterisk's CDR gives its outcome.
CUT_OFF = Disposition.RECOVERED.value
CONTACT_TYPES = ("pharmacist", "doctor", "patient", "student", "other")
AGENT_STATES = ("login", "logout", "pause", "ready", "wrapup")


def utc(value: datetime | None) -> datetime | None:
    """Normalise to an aware UTC datetime; naive values are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


# Every duration of a call record, in seconds to the millisecond: the one rounding rule for
# what the CRM stores and shows (`ivr calls --format json`, reports, exports). The codec applies
# it in both directions, so rows written before the rule read the same way.
DURATION_FIELDS = ("wait_seconds", "talk_seconds")
DURATION_DECIMALS = 3


def duration(value: float | None) -> float | None:
    """A duration field's value under the CRM's rule (None stays None)."""
    return None if value is None else round(float(value), DURATION_DECIMALS)


def is_cut_off(recovered: bool, disposition: str | None) -> bool:
    """Marked by the engine at start: begun by a process that was killed mid-call, and not
    yet completed from the CDR (columns, so a store can test rows it has not decoded)."""
    return bool(recovered) and disposition == CUT_OFF


@dataclass
class CallRecord:
    call_id: str                      # Asterisk uniqueid
    caller: str = ""
    dialed: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    language: str | None = None
    path: list[dict[str, Any]] = field(default_factory=list)
    plan_version: str | None = None
    route: str | None = None          # dtmf|speech|fallback|default
    intent: str | None = None
    speech_text: str | None = None
    speech_confidence: float | None = None
    speech_outcome: str | None = None
    queue: str | None = None
    priority: int | None = None
    wait_seconds: float | None = None
    agent: str | None = None
    talk_seconds: float | None = None
    disposition: str | None = None
    adverse_event: bool = False
    decision_trace: list[str] = field(default_factory=list)
    hangup_cause: str | None = None
    recovered: bool = False
    site: str | None = None           # the site whose Asterisk took the call (sites:, issue 16)


@dataclass
class CallEvent:
    call_id: str
    at: datetime
    kind: str                         # menu, input, queue_enter, offer, escalate, connect, hangup...
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentEvent:
    agent: str
    at: datetime
    state: str                        # login|logout|pause|ready|wrapup
    reason: str | None = None
