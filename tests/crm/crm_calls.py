"""A fixed set of ten calls and agent sessions, with figures computed by hand in
tests/unit/test_crm_reports.py. Day: 2026-03-02, all UTC."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ivr.crm.records import AgentEvent, CallRecord

DAY = datetime(2026, 3, 2, tzinfo=timezone.utc)


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm, second=ss)


def call(cid: str, start: datetime, ivr: int, *, wait: float | None = None, talk: float | None = None,
         **kw: object) -> CallRecord:
    end = start + timedelta(seconds=ivr + (wait or 0) + (talk or 0))
    return CallRecord(call_id=cid, caller=kw.pop("caller", "+4930111"), dialed="100", started_at=start,
                      ended_at=end, wait_seconds=wait, talk_seconds=talk, **kw)  # type: ignore[arg-type]


CALLS = [
    call("c1", at(9, 0), 20, wait=10, talk=120, queue="info", agent="a1", disposition="answered",
         intent="dosage", route="speech", speech_confidence=0.9, speech_outcome="match"),
    call("c2", at(9, 5), 15, wait=30, talk=60, queue="info", agent="a2", disposition="answered",
         intent="dosage", route="dtmf", caller="+4930222"),
    call("c3", at(9, 10), 20, wait=3, queue="info", disposition="abandoned", intent="availability", route="dtmf"),
    call("c4", at(9, 20), 20, wait=45, queue="info", disposition="abandoned", intent="availability",
         route="fallback", speech_outcome="nomatch"),
    call("c5", at(10, 0), 10, wait=5, talk=300, queue="safety", agent="a1", disposition="answered",
         intent="adverse_event", route="speech", speech_confidence=0.8, speech_outcome="match",
         adverse_event=True, hangup_cause="agent"),
    call("c6", at(10, 10), 20, wait=90, queue="info", disposition="callback", intent="dosage",
         route="speech", speech_confidence=0.7, speech_outcome="match"),
    call("c7", at(10, 20), 20, wait=120, queue="info", disposition="overflowed", route="default"),
    call("c8", at(10, 30), 60, disposition="self_service", intent="opening_hours", route="dtmf"),
    call("c9", at(10, 40), 40, disposition="self_service", intent="opening_hours", route="speech",
         speech_confidence=0.95, speech_outcome="match"),
    call("c10", at(10, 50), 20, wait=25, talk=200, queue="safety", agent="a2", disposition="answered",
         intent="adverse_event", route="fallback", speech_confidence=0.4, speech_outcome="low_confidence",
         adverse_event=True),
]

AGENT_EVENTS = [
    AgentEvent("a1", at(8, 55), "login"),
    AgentEvent("a1", at(9, 30), "pause", "lunch"),
    AgentEvent("a1", at(9, 45), "ready"),
    AgentEvent("a1", at(10, 5, 15), "wrapup"),
    AgentEvent("a1", at(10, 7, 15), "ready"),
    AgentEvent("a1", at(11, 0), "logout"),
    AgentEvent("a2", at(9, 0), "login"),
    AgentEvent("a2", at(10, 0), "logout"),
    AgentEvent("a2", at(10, 30), "login"),
]
