"""Row <-> dataclass conversion. Timestamps are fixed-width UTC text so that
string comparison equals time order on both SQLite and PostgreSQL.

Event and agent-event rows end with a key made with the row (event_key()): it travels
with the row through the spool, so a batch written twice (a commit whose answer was lost,
then retried or replayed) inserts each event once (ON CONFLICT (event_key) DO NOTHING)."""
from __future__ import annotations

import itertools
import json
import os
import uuid
from datetime import datetime, timezone
from typing import Any

from .records import DURATION_FIELDS, AgentEvent, CallEvent, CallRecord, duration, utc

_FMT = "%Y-%m-%dT%H:%M:%S.%fZ"

CALL_COLUMNS = (
    "call_id", "caller", "caller_norm", "dialed", "started_at", "ended_at", "language",
    "path", "plan_version", "route", "intent", "speech_text", "speech_confidence",
    "speech_outcome", "queue", "priority", "wait_seconds", "agent", "talk_seconds",
    "disposition", "adverse_event", "decision_trace", "hangup_cause", "recovered",
    "site",           # last: a call row spooled before it had one is padded (writer.py)
)


# Unique without a uuid per event (hot path): random per process, then a counter.
_key_prefix = uuid.uuid4().hex[:16]     # 64 random bits per process
_key_counter = itertools.count()


def _new_key_prefix() -> None:
    global _key_prefix
    _key_prefix = uuid.uuid4().hex[:16]     # a forked child would otherwise repeat its parent's keys


os.register_at_fork(after_in_child=_new_key_prefix)


def event_key() -> str:
    """A key no other event or agent event has: '<16 hex>-<counter in hex>'."""
    return f"{_key_prefix}-{next(_key_counter):x}"


def ts(value: datetime | None) -> str | None:
    value = utc(value)
    return None if value is None else value.strftime(_FMT)


def parse_ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, _FMT).replace(tzinfo=timezone.utc)


def _json(value: Any) -> str:
    # default=str keeps a stray datetime/Decimal in `path` from killing the write
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def call_to_row(rec: CallRecord, caller_norm: str) -> tuple[Any, ...]:
    return (
        str(rec.call_id), rec.caller or "", caller_norm, rec.dialed or "",
        ts(rec.started_at), ts(rec.ended_at), rec.language, _json(list(rec.path)),
        rec.plan_version, rec.route, rec.intent, rec.speech_text,
        None if rec.speech_confidence is None else float(rec.speech_confidence),
        rec.speech_outcome, rec.queue,
        None if rec.priority is None else int(rec.priority),
        duration(rec.wait_seconds), rec.agent, duration(rec.talk_seconds),
        rec.disposition, int(bool(rec.adverse_event)), _json(list(rec.decision_trace)),
        rec.hangup_cause, int(bool(rec.recovered)), rec.site,
    )


def row_to_call(row: tuple[Any, ...]) -> CallRecord:
    d = dict(zip(CALL_COLUMNS, row))
    d.pop("caller_norm")
    d["started_at"] = parse_ts(d["started_at"])
    d["ended_at"] = parse_ts(d["ended_at"])
    d["path"] = json.loads(d["path"] or "[]")
    d["decision_trace"] = json.loads(d["decision_trace"] or "[]")
    d["adverse_event"] = bool(d["adverse_event"])
    d["recovered"] = bool(d["recovered"])
    for name in DURATION_FIELDS:
        d[name] = duration(d[name])
    return CallRecord(**d)


def event_to_row(ev: CallEvent) -> tuple[Any, ...]:
    """(call_id, at, kind, data, event_key): each conversion makes a new key: convert an event once."""
    return (str(ev.call_id), ts(ev.at), ev.kind, _json(dict(ev.data)), event_key())


def row_to_event(row: tuple[Any, ...]) -> CallEvent:
    return CallEvent(call_id=row[0], at=parse_ts(row[1]), kind=row[2], data=json.loads(row[3] or "{}"))


def agent_to_row(ev: AgentEvent) -> tuple[Any, ...]:
    """(agent, at, state, reason, event_key): each conversion makes a new key: convert an event once."""
    return (ev.agent, ts(ev.at), ev.state, ev.reason, event_key())


def row_to_agent(row: tuple[Any, ...]) -> AgentEvent:
    return AgentEvent(agent=row[0], at=parse_ts(row[1]), state=row[2], reason=row[3])
