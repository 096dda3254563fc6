"""Pure report functions over CallRecord / AgentEvent lists (no I/O), plus the
queue_log export. Definitions (each figure is per group, and for the total):

  offered        calls that entered a queue, minus short abandons (abandoned
                 with wait < short_abandon s; 0 keeps them all)
  answered       offered calls that reached an agent (agent is set)
  service_level  answered with wait <= sl_seconds, over offered; callbacks,
                 voicemail and overflow count as offered and not answered in time
  abandon_rate   abandoned (excluding short ones) over offered
  asa / aht      mean wait / mean talk seconds of answered calls
  containment    self_service calls over all calls
  occupancy      (talk + wrap-up) over (logged-in - paused) time, per agent
  time_to_agent  start of call to agent connect (= duration - talk) for answered
                 adverse-event calls
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from statistics import mean
from typing import Any, Iterable, Mapping

from .case_reports import case_stats, kb_usage, latest_documentation
from .records import AgentEvent, CallEvent, CallRecord, utc

GROUPINGS = ("queue", "intent", "agent", "hour", "day", "reason", "outcome", "site")
DOCUMENTED = ("reason", "outcome")        # groupings read from the agents' call documentation
ANSWERED = ("answered", "transferred", "recovered")


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def _ratio(a: int | float, b: int | float) -> float | None:
    return round(a / b, 4) if b else None


def group_key(rec: CallRecord, by: str | None, documented: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    if by is None:
        return "all"
    if by in DOCUMENTED:          # undocumented calls (self-service, abandons...) group as "-"
        doc = (documented or {}).get(rec.call_id)
        return doc[by] if doc else "-"
    if by in ("hour", "day"):
        if rec.started_at is None:
            return "-"
        return rec.started_at.strftime("%Y-%m-%d %H:00" if by == "hour" else "%Y-%m-%d")
    return getattr(rec, by) or "-"


def is_short_abandon(rec: CallRecord, short_abandon: float) -> bool:
    return rec.disposition == "abandoned" and short_abandon > 0 and (rec.wait_seconds or 0) < short_abandon


def queue_stats(records: Iterable[CallRecord], sl_seconds: float = 20, short_abandon: float = 5) -> dict[str, Any]:
    recs = list(records)
    queued = [r for r in recs if r.queue]
    short = [r for r in queued if is_short_abandon(r, short_abandon)]
    offered = [r for r in queued if not is_short_abandon(r, short_abandon)]
    answered = [r for r in offered if r.agent]
    in_sl = [r for r in answered if (r.wait_seconds or 0) <= sl_seconds]
    count = lambda d: sum(1 for r in offered if r.disposition == d)  # noqa: E731
    self_service = sum(1 for r in recs if r.disposition == "self_service")
    return {
        "calls": len(recs), "self_service": self_service, "containment": _ratio(self_service, len(recs)),
        "offered": len(offered), "answered": len(answered), "answered_in_sl": len(in_sl),
        "service_level": _ratio(len(in_sl), len(offered)),
        "abandoned": count("abandoned"), "short_abandons": len(short),
        "abandon_rate": _ratio(count("abandoned"), len(offered)),
        "callbacks": count("callback"), "voicemail": count("voicemail"), "overflowed": count("overflowed"),
        "asa": _r(mean(r.wait_seconds or 0 for r in answered), 1) if answered else None,
        "aht": _r(mean(r.talk_seconds or 0 for r in answered), 1) if answered else None,
        "adverse_events": sum(1 for r in recs if r.adverse_event),
    }


def grouped(records: Iterable[CallRecord], by: str | None, sl_seconds: float = 20,
            short_abandon: float = 5, documented: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    groups: dict[str, list[CallRecord]] = defaultdict(list)
    for rec in records:
        groups[group_key(rec, by, documented)].append(rec)
    return [{"group": k, **queue_stats(v, sl_seconds, short_abandon)} for k, v in sorted(groups.items())]


def occupancy(events: Iterable[AgentEvent], records: Iterable[CallRecord],
              since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
    """Per agent: logged-in, paused, wrap-up and talk seconds in [since, until]; an
    event before `since` gives the state at `since`; the last state runs to `until`
    (default: the latest event or call end seen)."""
    evs = sorted(events, key=lambda e: e.at)
    recs = list(records)
    ends = [e.at for e in evs] + [r.ended_at for r in recs if r.ended_at]
    until = utc(until) or (max(ends) if ends else None)
    since = utc(since)
    by_agent: dict[str, list[AgentEvent]] = defaultdict(list)
    for e in evs:
        by_agent[e.agent].append(e)
    out = []
    for agent in sorted(set(by_agent) | {r.agent for r in recs if r.agent}):
        spent: dict[str, float] = defaultdict(float)
        seq = by_agent.get(agent, [])
        for cur, nxt in zip(seq, seq[1:] + [None]):
            start = max(cur.at, since) if since else cur.at
            end = nxt.at if nxt else until
            if end is None or end <= start:
                continue
            state = "ready" if cur.state == "login" else cur.state
            spent[state] += (end - start).total_seconds()
        logged_in = spent["ready"] + spent["pause"] + spent["wrapup"]
        talk = sum(r.talk_seconds or 0 for r in recs if r.agent == agent)
        available = logged_in - spent["pause"]
        out.append({"agent": agent, "logged_in": _r(logged_in, 1), "paused": _r(spent["pause"], 1),
                    "wrapup": _r(spent["wrapup"], 1), "talk": _r(talk, 1),
                    "calls": sum(1 for r in recs if r.agent == agent),
                    "occupancy": _ratio(talk + spent["wrapup"], available)})
    return out


def speech_stats(records: Iterable[CallRecord]) -> list[dict[str, Any]]:
    """Per intent, among calls where speech was tried (a speech outcome or a transcript; a
    DTMF menu that ran out of retries is no speech attempt): routed by speech vs fallback."""
    groups: dict[str, list[CallRecord]] = defaultdict(list)
    for r in records:
        if r.speech_outcome is not None or r.speech_text is not None or r.route == "speech":
            groups[r.intent or "-"].append(r)
    out = []
    for intent, rs in sorted(groups.items()):
        conf = [r.speech_confidence for r in rs if r.speech_confidence is not None]
        auto = sum(1 for r in rs if r.route == "speech")
        fb = sum(1 for r in rs if r.route == "fallback")
        out.append({"intent": intent, "attempts": len(rs), "automated": auto, "fallback": fb,
                    "automation_rate": _ratio(auto, len(rs)), "fallback_rate": _ratio(fb, len(rs)),
                    "mean_confidence": _r(mean(conf), 3) if conf else None})
    return out


def adverse_stats(records: Iterable[CallRecord]) -> dict[str, Any]:
    ae = [r for r in records if r.adverse_event]
    tta = [(r.ended_at - r.started_at).total_seconds() - (r.talk_seconds or 0)
           for r in ae if r.agent and r.started_at and r.ended_at]
    return {"count": len(ae), "answered": sum(1 for r in ae if r.agent),
            "time_to_agent_avg": _r(mean(tta), 1) if tta else None,
            "time_to_agent_max": _r(max(tta), 1) if tta else None}


def hourly(records: Iterable[CallRecord], sl_seconds: float = 20, short_abandon: float = 5) -> list[dict[str, Any]]:
    return grouped([r for r in records if r.started_at], "hour", sl_seconds, short_abandon)


def wait_histogram(records: Iterable[CallRecord], bin_seconds: int = 10, bins: int = 12) -> list[dict[str, Any]]:
    """Waits of queued calls; the last bin collects everything longer."""
    counts = [0] * bins
    for r in records:
        if r.queue and r.wait_seconds is not None:
            counts[min(int(r.wait_seconds // bin_seconds), bins - 1)] += 1
    return [{"from": i * bin_seconds, "to": None if i == bins - 1 else (i + 1) * bin_seconds, "calls": c}
            for i, c in enumerate(counts)]


def build_report(records: list[CallRecord], agent_events: list[AgentEvent], *, by: str | None = None,
                 sl_seconds: float = 20, short_abandon: float = 5, since: datetime | None = None,
                 until: datetime | None = None, documentation: list[Mapping[str, Any]] | None = None,
                 cases: list[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """documentation: latest call documentation saves (store.list_call_documentation);
    cases: adverse-event cases as listed (store.list_cases). Both optional."""
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; use one of {', '.join(GROUPINGS)}")
    documented = latest_documentation(documentation or [])
    extra: dict[str, Any] = {}
    if documentation is not None:
        extra["kb_usage"] = kb_usage(records, documentation)
    if cases is not None:
        extra["cases"] = case_stats(cases, records)
    return {
        "period": {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None},
        "settings": {"by": by, "sl_seconds": sl_seconds, "short_abandon": short_abandon},
        "groups": grouped(records, by, sl_seconds, short_abandon, documented) if by else [],
        "total": queue_stats(records, sl_seconds, short_abandon),
        "agents": occupancy(agent_events, records, since, until),
        "speech": speech_stats(records),
        "adverse_events": adverse_stats(records),
        "hourly": hourly(records, sl_seconds, short_abandon),
        "wait_histogram": wait_histogram(records),
        **extra,
    }


# ---------------------------------------------------------------- Asterisk queue_log
def _epoch(t: datetime | None) -> int:
    return int((t or datetime(1970, 1, 1, tzinfo=timezone.utc)).timestamp())


def export_queue_log(records: Iterable[CallRecord], events: Iterable[CallEvent] = ()) -> str:
    """Asterisk queue_log lines (epoch|callid|queue|agent|event|data...), by time.
    Times are rebuilt from the record: connect = end - talk, queue entry = connect
    (or leave) - wait. Transfers are written as COMPLETEAGENT; "hangup_cause"
    starting with "agent" means the agent hung up. RINGNOANSWER lines come from
    `events` of kind "ring_no_answer" (data: agent, queue, ring_ms)."""
    lines: list[tuple[int, int, str]] = []
    n = 0

    def add(t: datetime | None, call: str, queue: str, agent: str | None, event: str, *data: Any) -> None:
        nonlocal n
        n += 1
        fields = [str(_epoch(t)), call, queue, agent or "NONE", event] + ["" if d is None else str(d) for d in data]
        lines.append((_epoch(t), n, "|".join(fields)))

    for r in records:
        if not r.queue:
            continue
        end = r.ended_at or r.started_at
        wait = int(round(r.wait_seconds or 0))
        talk = int(round(r.talk_seconds or 0))
        if r.agent:
            connect = end - timedelta(seconds=talk) if end else None
            enter = connect - timedelta(seconds=wait) if connect else None
            add(enter, r.call_id, r.queue, None, "ENTERQUEUE", "", r.caller, 1)
            add(connect, r.call_id, r.queue, r.agent, "CONNECT", wait, "", 0)
            who = "COMPLETEAGENT" if (r.hangup_cause or "").lower().startswith("agent") or \
                r.disposition == "transferred" else "COMPLETECALLER"
            add(end, r.call_id, r.queue, r.agent, who, wait, talk, 1)
            continue
        enter = end - timedelta(seconds=wait) if end else None
        add(enter, r.call_id, r.queue, None, "ENTERQUEUE", "", r.caller, 1)
        if r.disposition == "abandoned":
            add(end, r.call_id, r.queue, None, "ABANDON", 1, 1, wait)
        elif r.disposition in ("callback", "voicemail"):
            add(end, r.call_id, r.queue, None, "EXITWITHKEY", "1" if r.disposition == "callback" else "2", 1, 1, wait)
        elif r.disposition == "overflowed":
            add(end, r.call_id, r.queue, None, "EXITWITHTIMEOUT", 1, 1, wait)
        else:
            add(end, r.call_id, r.queue, None, "EXITEMPTY", 1, 1, wait)
    for e in events:
        if e.kind == "ring_no_answer":
            add(e.at, e.call_id, e.data.get("queue", ""), e.data.get("agent"), "RINGNOANSWER", e.data.get("ring_ms", 0))
    return "".join(line + "\n" for _, _, line in sorted(lines))
