"""Calls the CRM missed, recovered from Asterisk's CDRs (cdr_csv Master.csv). Pure: no I/O.

While the engine is down, Asterisk's [hotline] context sends callers straight to the operator
ring group (asterisk/extensions_hotline.conf), so those calls exist only in Asterisk's CDRs.
This module turns CDR lines into one outcome per call (grouped by the caller channel's
uniqueid, which is also the CRM's call_id) and decides which CRM records to write.

cdr_csv columns (Asterisk 22 cdr/cdr_csv.c, build_csv_record): accountcode, src, dst, dcontext,
clid, channel, dstchannel, lastapp, lastdata, start, answer, end, duration, billsec,
disposition, amaflags, then uniqueid if `loguniqueid`, userfield if `loguserfield`, then
peeraccount, linkedid, sequence if `newcdrcolumns`. Strings are quoted with inner quotes
doubled; an unset time (e.g. never answered) is an empty, unquoted field.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone, tzinfo

from ivr.crm.records import CallEvent, CallRecord, is_cut_off
from ivr.telephony.channels import endpoint_of

# The dialplan marks the CDR of calls it sends to the operators itself (CDR(userfield)).
FALLBACK_USERFIELD = "ivr-fallback"
# Said in every hangup_cause this module writes: also how a second run knows it was here.
CDR_MARK = "recovered from Asterisk's CDR"
_BASE_COLUMNS = 16
_LOCAL_CLOCK_SLACK = timedelta(hours=2)


@dataclass(frozen=True)
class CdrRow:
    """One cdr_csv line: one leg (party A with one party B, or party A alone)."""
    uniqueid: str
    src: str
    dst: str
    dcontext: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str
    start: datetime
    answer: datetime | None
    end: datetime
    billsec: int
    disposition: str              # ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION
    userfield: str = ""


def parse_time(text: str, tz: tzinfo | None) -> datetime | None:
    """'2026-11-24 02:49:26' in `tz` → aware UTC; '' → None. tz is UTC with cdr.conf
    `usegmtime = yes`; None means this host's local time (Asterisk's default)."""
    if not text:
        return None
    if len(text) != 19 or text[4] != "-" or text[10] != " " or text[13] != ":":
        raise ValueError(f"not a cdr_csv time: {text!r}")
    # Sliced rather than strptime'd: 5x faster, and a busy hotline's CDRs are ~10^5 lines a day.
    value = datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                     int(text[14:16]), int(text[17:19]), tzinfo=tz)
    return value.astimezone(timezone.utc)


def row_from_fields(fields: list[str], tz: tzinfo | None = timezone.utc) -> CdrRow | None:
    """One parsed CSV line → CdrRow, or None when it is not a usable cdr_csv line.

    Needs `loguniqueid = yes` (17+ columns): without the uniqueid, a CDR cannot be matched
    with the CRM. With 17 or 20 columns there is no userfield (loguserfield = no)."""
    extra = len(fields) - _BASE_COLUMNS
    if extra not in (1, 2, 4, 5):
        return None
    try:
        start, end = parse_time(fields[9], tz), parse_time(fields[11], tz)
        answer = parse_time(fields[10], tz)
        billsec = int(fields[13] or 0)
    except ValueError:
        return None
    uniqueid = fields[16]
    if start is None or end is None or not uniqueid:
        return None
    return CdrRow(
        uniqueid=uniqueid, src=fields[1], dst=fields[2], dcontext=fields[3],
        channel=fields[5], dstchannel=fields[6], lastapp=fields[7], lastdata=fields[8],
        start=start, answer=answer, end=end, billsec=billsec, disposition=fields[14],
        userfield=fields[17] if extra in (2, 5) else "",
    )


def parse_lines(lines: Iterable[str], tz: tzinfo | None = timezone.utc,
                ends_from: datetime | None = None) -> Iterator[CdrRow]:
    """CDR rows of Master.csv lines; lines that are not cdr_csv rows are skipped, and so are
    rows ending before `ends_from` (if given). Most of those are skipped on the text of their
    end time, before any date is built: ~5x less CPU on the hours of rows read at start."""
    floor = ""
    if ends_from is not None:      # local time (tz None): 2 h below, as a clock set back (DST)
        slack = _LOCAL_CLOCK_SLACK if tz is None else timedelta(0)    # writes older texts
        floor = f"{(ends_from - slack).astimezone(tz):%Y-%m-%d %H:%M:%S}"
    for fields in csv.reader(lines):
        if len(fields) > 11 and fields[11] < floor:
            continue
        row = row_from_fields(fields, tz)
        if row is not None and (ends_from is None or row.end >= ends_from):
            yield row


def group_calls(rows: Iterable[CdrRow], contexts: Iterable[str]) -> dict[str, list[CdrRow]]:
    """Rows of inbound hotline calls by the caller channel's uniqueid, in file order. A call
    belongs to the hotline when one of its legs ran in one of `contexts` (any leg: a hangup
    handler may have moved the last one elsewhere)."""
    wanted = set(contexts)
    calls: dict[str, list[CdrRow]] = {}
    for row in rows:
        calls.setdefault(row.uniqueid, []).append(row)
    return {uid: legs for uid, legs in calls.items()
            if any(leg.dcontext in wanted for leg in legs)}


@dataclass(frozen=True)
class CdrOutcome:
    """What Asterisk's CDRs say about one call."""
    call_id: str
    caller: str
    dialed: str
    started_at: datetime
    ended_at: datetime
    disposition: str              # answered | failed | abandoned (CRM vocabulary)
    endpoint: str | None          # the phone that answered (PJSIP/alice-0000002a → alice)
    billsec: int | None           # of the answered leg (see talk_upper_bound)
    via_fallback: bool            # the dialplan's operator fallback took it (engine down)
    summary: str                  # for people: what happened, in one clause
    legs: list[str]


def outcome_of(legs: list[CdrRow]) -> CdrOutcome:
    """Answered when a dialed phone answered; otherwise `failed` when the Dial gave up (the
    dialplan went on after it: ring time over, busy, unreachable), else `abandoned` (the caller
    hung up first). A leg's disposition alone says little: the hotline Answer()s every caller
    first, so Asterisk marks every leg of party A ANSWERED; only legs with a dstchannel tell."""
    dials = [leg for leg in legs if leg.dstchannel]
    answered = next((leg for leg in dials if leg.disposition == "ANSWERED"), None)
    first = legs[0]
    if answered is not None:
        endpoint = endpoint_of(answered.dstchannel)
        disposition, summary = "answered", f"answered by {endpoint}"
    elif dials and legs[-1] is not dials[-1]:
        endpoint, disposition = None, "failed"
        summary = f"nobody answered ({', '.join(sorted({d.disposition for d in dials}))})"
    elif dials:
        endpoint, disposition = None, "abandoned"
        summary = "the caller hung up while the phones rang"
    else:
        endpoint, disposition = None, "abandoned"
        summary = f"the caller hung up before reaching anyone (last: {first.lastapp or '?'})"
    return CdrOutcome(
        call_id=first.uniqueid, caller=first.src, dialed=first.dst,
        started_at=min(leg.start for leg in legs), ended_at=max(leg.end for leg in legs),
        disposition=disposition, endpoint=endpoint,
        billsec=answered.billsec if answered is not None else None,
        via_fallback=any(leg.userfield == FALLBACK_USERFIELD for leg in legs),
        summary=summary, legs=[_describe(leg) for leg in legs],
    )


def _describe(leg: CdrRow) -> str:
    to = f" → {leg.dstchannel}" if leg.dstchannel else ""
    return (f"CDR {leg.start:%H:%M:%S}–{leg.end:%H:%M:%S} {leg.lastapp}{to}: "
            f"{leg.disposition}, billsec {leg.billsec}")


def record_for_missing(outcome: CdrOutcome, agents: Mapping[str, str]) -> CallRecord:
    """The CRM record of a call the engine never saw. `agents`: endpoint → agent name."""
    why = ("the engine was down or unreachable and Asterisk's operator fallback took the call"
           if outcome.via_fallback else "the engine has no record of this call")
    return CallRecord(
        call_id=outcome.call_id, caller=outcome.caller, dialed=outcome.dialed,
        started_at=outcome.started_at, ended_at=outcome.ended_at, route="fallback",
        agent=_agent(outcome, agents), talk_seconds=talk_upper_bound(outcome),
        disposition=outcome.disposition, recovered=True, decision_trace=list(outcome.legs),
        hangup_cause=f"{CDR_MARK}: {why}; {outcome.summary}",
    )


def talk_upper_bound(outcome: CdrOutcome) -> float | None:
    """The answered leg's billsec. Asterisk counts it from party A's answer, and the hotline
    answers every caller itself, so it includes the ringing (and, on a call's first leg, the
    time before the Dial): an upper bound of the talk, the best a CDR gives."""
    return None if outcome.billsec is None else float(outcome.billsec)


@dataclass(frozen=True)
class EngineFacts:
    """What the engine wrote in a call's timeline before it was cut off (call_events)."""
    answered_at: datetime | None = None     # its `answered` step: the agent picked up
    path: list[dict] = field(default_factory=list)           # its `ivr` steps
    queue: str | None = None                # its last `queue_enter`
    priority: int | None = None
    intent: str | None = None


def facts_of(events: Iterable[CallEvent]) -> EngineFacts:
    answered_at, path, entered = None, [], {}
    for event in events:
        if event.kind == "answered":
            answered_at = event.at
        elif event.kind == "ivr":
            path.append(dict(event.data))
        elif event.kind == "queue_enter":
            entered = event.data
    return EngineFacts(answered_at, path, entered.get("queue"), entered.get("priority"),
                       entered.get("intent"))


def enrich_cut_off(record: CallRecord, outcome: CdrOutcome, agents: Mapping[str, str],
                   facts: EngineFacts | None = None) -> CallRecord | None:
    """A call the engine was serving when it stopped abruptly (marked recovered, disposition
    `recovered` until now): what Asterisk's CDR says happened next. The disposition becomes
    the CDR's (answered / failed / abandoned: reports count the call as what it was), the
    `recovered` flag stays; agent and talk are filled only if the engine had none, the talk
    from when the engine saw its agent answer (`facts`) to the CDR's end, else the CDR's upper
    bound. Path, queue and intent come from what the engine wrote in the call's timeline.
    None when there is nothing to add (e.g. done by an earlier run)."""
    if CDR_MARK in (record.hangup_cause or ""):
        return None
    facts = facts or EngineFacts()
    cause = f"{record.hangup_cause or 'the engine stopped abruptly'}; {CDR_MARK}: {outcome.summary}"
    return replace(
        record, hangup_cause=cause, disposition=outcome.disposition, recovered=True,
        agent=record.agent or _agent(outcome, agents),
        talk_seconds=(record.talk_seconds if record.talk_seconds is not None
                      else _talk_since(facts.answered_at, outcome)),
        path=record.path or facts.path, queue=record.queue or facts.queue,
        priority=record.priority if record.priority is not None else facts.priority,
        intent=record.intent or facts.intent,
        ended_at=max(outcome.ended_at, record.started_at or outcome.ended_at),   # not restart time
        decision_trace=[*record.decision_trace, *outcome.legs],
    )


def _talk_since(answered_at: datetime | None, outcome: CdrOutcome) -> float | None:
    if answered_at is None or outcome.disposition != "answered":
        return talk_upper_bound(outcome)
    return round(max(0.0, (outcome.ended_at - answered_at).total_seconds()), 3)


def _agent(outcome: CdrOutcome, agents: Mapping[str, str]) -> str | None:
    if outcome.endpoint is None:
        return None
    return agents.get(outcome.endpoint, outcome.endpoint)


def plan(outcomes: Iterable[CdrOutcome], known: Mapping[str, CallRecord | None],
         agents: Mapping[str, str], facts: Mapping[str, EngineFacts] | None = None,
         ) -> tuple[list[CallRecord], list[CallRecord]]:
    """(new records for calls the CRM lacks, updated cut-off records). Calls the CRM has in
    any other state are left alone, so running twice writes nothing new. `facts`: what the
    engine wrote in the timelines of the cut-off calls."""
    missing, updated = [], []
    for outcome in outcomes:
        record = known.get(outcome.call_id)
        if record is None:
            missing.append(record_for_missing(outcome, agents))
        elif is_cut_off(record.recovered, record.disposition):
            enriched = enrich_cut_off(record, outcome, agents, (facts or {}).get(outcome.call_id))
            if enriched is not None:
                updated.append(enriched)
    return missing, updated
