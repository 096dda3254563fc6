"""One line per decision of a call, for the engine log at `-v` (INFO): where it queued, whom
it was offered to, who answered or did not, escalations, diverts, callbacks. Pure; numbers
masked, transcripts never."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ivr.privacy import mask_number

Data = dict[str, Any]


def _queued(d: Data) -> str:
    return f"queued in {d.get('queue')} (priority {d.get('priority')}, intent {d.get('intent')})"


def _rona(d: Data) -> str:
    return (f"{d.get('agent')} did not answer ({d.get('status')} after "
            f"{d.get('ring_ms', 0) / 1000:.1f} s): paused (RONA), the caller keeps its place")


DESCRIBE: dict[str, Callable[[Data], str]] = {
    "queue_enter": _queued,
    "offer": lambda d: f"offered to {d.get('agent')} ({d.get('queue')})",
    "answered": lambda d: f"{d.get('agent')} answered",
    "ring_no_answer": _rona,
    "escalate": lambda d: f"escalated in {d.get('queue')}: {d.get('rule')} ({d.get('detail')})",
    "overflow": lambda d: f"overflowed from {d.get('from_queue')} to {d.get('to_queue')}",
    "announce": lambda d: (f"told position {d.get('position')}" + (
        f", wait about {d['ewt_seconds']} s" if d.get("ewt_seconds") is not None else "")),
    "divert": lambda d: f"diverted to {d.get('destination')}: {d.get('reason')}",
    "callback_request": lambda d: (f"callback to {mask_number(d.get('number'))} requested "
                                   f"in {d.get('queue')}"),
    "connect": lambda d: f"connected to {d.get('agent')} after {d.get('wait_seconds')} s",
}


def describe(kind: str, data: Data) -> str | None:
    """The log line of a timeline step that is a decision; None for the others."""
    line = DESCRIBE.get(kind)
    return line(data) if line else None
