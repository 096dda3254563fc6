"""Pure rules of voice messages: the file a call's message is recorded to, its due time,
what the task says. No I/O, no clock (`now` is passed in)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_SAFE = re.compile(r"[^0-9A-Za-z._-]")


def recording_name(call_id: str) -> str:
    """The recording's file name (no extension) for a call: the uniqueid, made path-safe."""
    name = _SAFE.sub("_", call_id or "")[:80].lstrip(".")
    if not name:
        raise ValueError("a voice message needs the call's id to name its recording")
    return f"vm-{name}"


def due_at(now: datetime, minutes: int) -> datetime:
    return now + timedelta(minutes=minutes)


@dataclass(frozen=True)
class VoiceMessage:
    call_id: str
    caller: str
    queue: str
    priority: int
    language: str | None
    seconds: float
    transcript: str | None        # None: not transcribed (no model, or turned off)


def subject(msg: VoiceMessage) -> str:
    return f"Voice message from {msg.caller} ({msg.seconds:.0f} s)"


def body(msg: VoiceMessage, note: str | None) -> str:
    if msg.transcript:
        text = f"Transcript (automatic, check the recording):\n{msg.transcript}"
    else:
        text = "No transcript: listen to the recording."
    return text + (f"\n\n{note}" if note else "")
