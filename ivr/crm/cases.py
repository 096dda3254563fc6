"""Cases in the CRM (adapter): the SQL of the `cases`, `case_audit` and `case_calls` tables
(migration 5). What is allowed, day 0, due dates and the audit entries are decided by the
pure rules in ivr/cases; this module loads a case, asks them, and writes what they return,
in one transaction per command (a job of the store's writer, so errors reach the caller)."""
from __future__ import annotations

import json
import logging
import secrets
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import Any

from ivr.cases import AuditEntry, Case, CaseError, Clock, DueRules, open_new, worklist_order
from ivr.cases import update as update_rule
from ivr.cases.kinds import MAX_TEXT

from . import codec
from .backends import Tx
from .errors import CaseRefused, CrmError

CASE_COLUMNS = ("case_id", "kind", "contact_id", "status", "fields", "day0", "serious_since", "due_date",
                "opened_at", "opened_by", "closed_at", "closed_by", "close_reason")
_SELECT = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases"
_PREFIX = {"medinfo": "MI", "complaint": "PQC", "adverse_event": "AE"}
_ID_CHUNK = 500
log = logging.getLogger("ivr.crm")
IVR = "ivr"                  # who opens the automatic case of an IVR-flagged call


def case_id_for(call_id: str) -> str:
    return f"AE-{call_id}"     # deterministic, so re-saving a call never opens a second case


def new_case_id(kind: str, now: datetime) -> str:
    """Readable and unique without a counter (two desks may open cases at once)."""
    return f"{_PREFIX.get(kind, 'C')}-{now:%Y%m%d}-{secrets.token_hex(3).upper()}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def row_to_case(row: tuple[Any, ...]) -> Case:
    d = dict(zip(CASE_COLUMNS, row))
    return Case(case_id=d["case_id"], kind=d["kind"], status=d["status"], fields=json.loads(d["fields"]),
                opened_at=codec.parse_ts(d["opened_at"]), opened_by=d["opened_by"],
                contact_id=None if d["contact_id"] is None else int(d["contact_id"]),
                closed_at=codec.parse_ts(d["closed_at"]), closed_by=d["closed_by"],
                close_reason=d["close_reason"],
                clock=Clock(_date(d["day0"]), _date(d["serious_since"]), _date(d["due_date"])))


def _case_values(case: Case) -> list[Any]:
    c = case.clock
    return [case.case_id, case.kind, case.contact_id, case.status, _json(case.fields),
            c.day0 and c.day0.isoformat(), c.serious_since and c.serious_since.isoformat(),
            c.due_date and c.due_date.isoformat(), codec.ts(case.opened_at), case.opened_by,
            codec.ts(case.closed_at), case.closed_by, case.close_reason]


def case_dict(case: Case, calls: list[str], today: date) -> dict[str, Any]:
    """What the API and the CLI show of a case (JSON-ready apart from datetimes)."""
    return {
        "case_id": case.case_id, "kind": case.kind, "status": case.status, "contact_id": case.contact_id,
        "fields": dict(case.fields), "missing_criteria": case.missing_criteria, "serious": case.serious,
        "day0": case.day0, "due_date": case.due_date, "serious_since": case.clock.serious_since,
        "overdue": case.overdue(today), "opened_at": case.opened_at, "opened_by": case.opened_by,
        "closed_at": case.closed_at, "closed_by": case.closed_by, "close_reason": case.close_reason,
        "note": case.close_reason,                     # the name ae_cases used
        "calls": calls, "call_id": calls[0] if calls else None,
    }


# ------------------------------------------------------------------ SQL (inside a transaction)
async def insert_case(tx: Tx, case: Case, now: datetime) -> None:
    marks = ", ".join("?" * (len(CASE_COLUMNS) + 1))
    await tx.execute(f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}, updated_at) VALUES ({marks})",
                     [*_case_values(case), codec.ts(now)])


async def store_case(tx: Tx, case: Case, now: datetime) -> None:
    sets = ", ".join(f"{c} = ?" for c in CASE_COLUMNS[1:])
    await tx.execute(f"UPDATE cases SET {sets}, updated_at = ? WHERE case_id = ?",
                     [*_case_values(case)[1:], codec.ts(now), case.case_id])


async def add_audit(tx: Tx, entries: list[AuditEntry], key_prefix: str | None = None) -> None:
    """Audit rows; with key_prefix, each carries a key so a batch written twice adds them once."""
    rows = [(e.case_id, codec.ts(e.at), e.by, e.field, _json(e.old), _json(e.new),
             f"{key_prefix}:{i}" if key_prefix else None) for i, e in enumerate(entries)]
    if rows:
        await tx.executemany("INSERT INTO case_audit (case_id, at, changed_by, field, old_value, new_value, "
                             "audit_key) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (audit_key) DO NOTHING", rows)


async def add_link(tx: Tx, case_id: str, call_id: str, by: str, now: datetime) -> bool:
    """Link a call to a case; False if it already was."""
    n = await tx.execute("INSERT INTO case_calls (case_id, call_id, linked_at, linked_by) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (case_id, call_id) DO NOTHING", [case_id, call_id, codec.ts(now), by])
    return bool(n)


async def load_case(tx: Tx, case_id: str) -> Case:
    rows = await tx.fetchall(f"{_SELECT} WHERE case_id = ?", [case_id])
    if not rows:
        raise CrmError(f"no case {case_id!r}; list them with `ivr cases`")
    return row_to_case(rows[0])


async def linked_calls(fetch: Any, case_ids: list[str]) -> dict[str, list[str]]:
    """case id -> linked call ids, oldest link first. `fetch` is a Tx or backend fetchall."""
    out: dict[str, list[str]] = {cid: [] for cid in case_ids}
    for i in range(0, len(case_ids), _ID_CHUNK):
        chunk = case_ids[i:i + _ID_CHUNK]
        rows = await fetch(f"SELECT case_id, call_id FROM case_calls WHERE case_id IN ({', '.join('?' * len(chunk))}) "
                           "ORDER BY linked_at, call_id", chunk)
        for case_id, call_id in rows:
            out[case_id].append(call_id)
    return out


async def contact_of_number(tx: Tx, number_norm: str) -> tuple[int, str, str] | None:
    rows = await tx.fetchall("SELECT c.id, c.name, c.type FROM contacts c JOIN contact_numbers n "
                             "ON n.contact_id = c.id WHERE n.number = ?", [number_norm])
    return (int(rows[0][0]), rows[0][1], rows[0][2]) if rows else None


def ivr_fields(caller: str | None, contact: tuple[int, str, str] | None, transcript: str | None,
               language: str | None) -> dict[str, Any]:
    """What the IVR knows of an AE report: the reporter (the caller) and what they said."""
    # "anonymous", "unknown" or a withheld number identify nobody: not a reporter criterion
    number = caller if caller and sum(ch.isdigit() for ch in caller) >= 3 else None
    fields: dict[str, Any] = {"reporter_contact": number, "transcript": (transcript or "")[:MAX_TEXT],
                              "language": language}
    if contact is not None:
        fields["reporter"] = f"{contact[1]} ({contact[2]})"
    return {k: v for k, v in fields.items() if v}


async def open_ivr_cases(tx: Tx, call_rows: list[tuple[Any, ...]], rules: DueRules) -> None:
    """The automatic case of each call the IVR flagged adverse-event (safety key or phrase):
    opened once, pre-filled with the reporter, the call link and the transcript, audited as
    opened by `ivr`. A later save of the same call adds a transcript the case still lacks."""
    for row in call_rows:
        call = dict(zip(codec.CALL_COLUMNS, row))
        if not call["adverse_event"]:
            continue
        case_id = case_id_for(call["call_id"])
        opened = codec.parse_ts(call["started_at"]) or datetime.now(timezone.utc)
        try:
            await _open_ivr_case(tx, case_id, call, opened, rules)
        except CaseError as exc:       # never let the case cost the call record its place
            log.error("CRM: the adverse-event case of call %s was not opened (%s); open it by hand "
                      "from the call", call["call_id"], exc)


async def _open_ivr_case(tx: Tx, case_id: str, call: dict[str, Any], opened: datetime, rules: DueRules) -> None:
    existing = await tx.fetchall(f"{_SELECT} WHERE case_id = ?", [case_id])
    if existing:
        case = row_to_case(existing[0])
        if case.status == "open" and call["speech_text"] and "transcript" not in case.fields:
            new, audit = update_rule(case, {"transcript": call["speech_text"][:MAX_TEXT]}, IVR, opened, rules)
            await store_case(tx, new, opened)
            await add_audit(tx, audit, f"{case_id}:transcript")
        return
    contact = await contact_of_number(tx, call["caller_norm"]) if call["caller_norm"] else None
    fields = ivr_fields(call["caller"], contact, call["speech_text"], call["language"])
    case, audit = open_new(case_id, "adverse_event", fields, IVR, opened, rules, contact[0] if contact else None)
    await insert_case(tx, case, opened)
    await add_link(tx, case_id, call["call_id"], IVR, opened)
    await add_audit(tx, audit, f"{case_id}:open")


async def migrate_ae_cases(tx: Tx) -> None:
    """Migration 5: every `ae_cases` row becomes an adverse_event case (same id, status,
    closing), linked to its call and pre-filled from it like a new IVR case."""
    rows = await tx.fetchall(
        "SELECT a.case_id, a.call_id, a.opened_at, a.status, a.closed_at, a.closed_by, a.note, "
        "c.caller, c.caller_norm, c.speech_text, c.language, c.started_at "
        "FROM ae_cases a LEFT JOIN calls c ON c.call_id = a.call_id ORDER BY a.opened_at, a.case_id")
    now = datetime.now(timezone.utc)
    for (case_id, call_id, opened_at, status, closed_at, closed_by, note, caller, caller_norm,
         speech, language, started) in rows:
        contact = await contact_of_number(tx, caller_norm) if caller_norm else None
        opened = codec.parse_ts(opened_at or started) or now
        case, audit = open_new(case_id, "adverse_event", ivr_fields(caller, contact, speech, language),
                               IVR, opened, DueRules(), contact[0] if contact else None)
        if status == "closed":
            case = replace(case, status="closed", closed_at=codec.parse_ts(closed_at) or now,
                           closed_by=closed_by or "unknown",
                           close_reason=note or "closed before closing reasons were recorded")
            audit.append(AuditEntry(case_id, case.closed_at, case.closed_by, "status", "open", "closed"))
        await insert_case(tx, case, now)
        await add_link(tx, case_id, call_id, IVR, opened)
        await add_audit(tx, audit, f"{case_id}:migrated")


def ordered(cases: list[Case], today: date, overdue_first: bool) -> list[Case]:
    by_opening = sorted(cases, key=lambda c: (c.opened_at, c.case_id))
    return worklist_order(by_opening, today) if overdue_first else by_opening


def refused(exc: CaseError) -> CaseRefused:
    """The store's callers catch CrmError; the per-field problems stay for forms."""
    return CaseRefused(str(exc), list(exc.problems))


def audit_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    case_id, at, by, field, old, new = row
    return {"case_id": case_id, "at": codec.parse_ts(at), "by": by, "field": field,
            "old": json.loads(old) if old is not None else None,
            "new": json.loads(new) if new is not None else None}
