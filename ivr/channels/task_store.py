"""CRM side of non-voice tasks (migration 8): store an inbound mail as a task (or onto its
thread), match its sender to a contact, open the AE case of a safety mail, record replies and
closing. Each command is one transaction on the CRM writer (CrmStore.transact), so a mail is
either all there (task, message, attachments, case) or not at all."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.cases import open_new
from ivr.crm import codec
from ivr.crm.backends import Tx
from ivr.crm.cases import add_audit, insert_case, new_case_id

from .mail_rules import SafetyHit, message_ids, thread_candidates
from .mime import InboundMail

_REF = re.compile(r"\[(EM-\d{8}-[0-9A-F]{10})\]")
TASK_COLUMNS = ("task_id", "channel", "queue", "priority", "status", "thread_id", "contact_id",
                "sender", "subject", "case_id", "notes", "created_at", "agent", "accepted_at",
                "first_response_at", "closed_at", "outcome")


@dataclass(frozen=True)
class Ingested:
    task_id: str
    thread_id: str            # also the reference quoted to the customer
    new_task: bool            # False: appended to an open task of its thread (or a duplicate)
    duplicate: bool           # this Message-ID was stored before (read again after a restart)
    queue: str
    priority: int
    contact_id: int | None
    case_id: str | None


async def stored_before(tx: Tx, message_id: str) -> Ingested | None:
    """The task a message with this id was stored on (read again after a restart), or None."""
    seen = await tx.fetchall("SELECT m.task_id, t.thread_id, t.queue, t.priority, t.contact_id, "
                             "t.case_id FROM task_messages m JOIN tasks t ON t.task_id = m.task_id "
                             "WHERE m.message_id = ?", (message_id,))
    if not seen:
        return None
    tid, thread, q, prio, contact, case = seen[0]
    return Ingested(tid, thread, False, True, q, int(prio), contact, case)


def task_event(ing: Ingested, channel: str, arrival: float | None = None) -> Any:
    """What the ACD must hear about a stored contact: a new task, a task moved to the safety
    queue (a safety phrase later in its conversation), or nothing (a message joining a task
    an agent holds, a duplicate)."""
    from acd.events import TaskArrived, TaskTransferred

    if ing.duplicate:
        return None
    if ing.new_task:
        return TaskArrived(ing.task_id, ing.queue, channel, ing.priority, arrival=arrival)
    if ing.case_id is not None:
        return TaskTransferred(ing.task_id, ing.queue)
    return None


def task_id_for(message_id: str, now: datetime) -> str:
    """Readable and derived from the Message-ID: the same mail always gets the same id."""
    return f"EM-{now:%Y%m%d}-{hashlib.sha256(message_id.encode()).hexdigest()[:10].upper()}"


async def _contact(tx: Tx, address: str) -> int | None:
    if not address:
        return None
    rows = await tx.fetchall("SELECT contact_id FROM contact_identities WHERE kind = 'email' AND value = ?",
                             (address,))
    if rows:
        return int(rows[0][0])
    rows = await tx.fetchall("SELECT id FROM contacts WHERE LOWER(email) = ? ORDER BY id", (address,))
    return int(rows[0][0]) if rows else None


async def _thread(tx: Tx, mail: InboundMail) -> tuple[str, str, str, str | None] | None:
    """(task_id, thread_id, status, case_id) of the newest task the mail replies to."""
    ids = thread_candidates(mail.in_reply_to, mail.references)
    for mid in ids[:50]:
        rows = await tx.fetchall(
            "SELECT t.task_id, t.thread_id, t.status, t.case_id FROM task_messages m "
            "JOIN tasks t ON t.task_id = m.task_id WHERE m.message_id = ?", (mid,))
        if rows:
            return await _newest(tx, rows[0][1]) or rows[0]
    tag = _REF.search(mail.subject or "")  # clients that drop References keep the subject
    return await _newest(tx, tag.group(1)) if tag else None


async def _newest(tx: Tx, thread_id: str) -> tuple[str, str, str, str | None] | None:
    rows = await tx.fetchall("SELECT task_id, thread_id, status, case_id FROM tasks WHERE thread_id = ? "
                             "ORDER BY created_at DESC, task_id DESC", (thread_id,))
    return tuple(rows[0]) if rows else None  # type: ignore[return-value]


async def ingest_mail(store: Any, mail: InboundMail, *, queue: str, priority: int,
                      safety: SafetyHit | None, pv_queue: str, pv_priority: int,
                      now: datetime) -> Ingested:
    rules = store.case_rules

    async def job(tx: Tx) -> Ingested:
        seen = await stored_before(tx, mail.message_id)
        if seen is not None:
            return seen
        contact_id = await _contact(tx, mail.sender)
        found = await _thread(tx, mail)
        q, prio = (pv_queue, pv_priority) if safety else (queue, priority)
        case_id = found[3] if found else None
        if found and found[2] == "open":
            task_id, thread_id, new_task = found[0], found[1], False
        else:
            task_id = task_id_for(mail.message_id, now)
            thread_id = found[1] if found else task_id
            new_task = True
        if safety and case_id is None:
            case_id = await _open_ae_case(tx, mail, safety, contact_id, now, rules)
        if new_task:
            await tx.execute(
                f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({', '.join('?' * len(TASK_COLUMNS))})",
                (task_id, "email", q, prio, "open", thread_id, contact_id, mail.sender,
                 mail.subject[:998], case_id, "\n".join(mail.notes) or None, codec.ts(now),
                 None, None, None, None, None))
        elif safety:
            await tx.execute("UPDATE tasks SET queue = ?, priority = ?, case_id = ? WHERE task_id = ?",
                             (q, prio, case_id, task_id))
        else:
            q, prio = await _queue_of(tx, task_id)
        await tx.execute(
            "INSERT INTO task_messages (task_id, message_id, direction, at, sender, recipients, subject, "
            "body_text, body_html, refs, notes, agent) VALUES (?, ?, 'in', ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            (task_id, mail.message_id, codec.ts(now), mail.sender, mail.headers.get("to", ""),
             mail.subject[:998], mail.text, mail.html or None,
             " ".join(message_ids(mail.references) or message_ids(mail.in_reply_to)) or None,
             "\n".join(mail.notes) or None))
        for att in mail.attachments:
            await tx.execute(
                "INSERT INTO task_attachments (message_id, filename, content_type, size, data, refused) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (mail.message_id, att.filename[:255], att.content_type, att.size, att.data, att.refused))
        return Ingested(task_id, thread_id, new_task, False, q, prio, contact_id, case_id)

    return await store.transact(job)


async def _queue_of(tx: Tx, task_id: str) -> tuple[str, int]:
    rows = await tx.fetchall("SELECT queue, priority FROM tasks WHERE task_id = ?", (task_id,))
    return rows[0][0], int(rows[0][1])


async def _open_ae_case(tx: Tx, mail: InboundMail, safety: SafetyHit, contact_id: int | None,
                        now: datetime, rules: Any) -> str:
    fields = {"reporter": mail.sender_name or mail.sender, "reporter_contact": mail.sender,
              "narrative": f"{mail.subject}\n\n{mail.text}"[:20_000], "language": safety.language,
              "info_received_on": now.date().isoformat()}
    case, audit = open_new(new_case_id("adverse_event", now), "adverse_event", fields, "email", now,
                           rules, contact_id)
    await insert_case(tx, case, now)
    await add_audit(tx, audit)
    return case.case_id


async def record_reply(store: Any, task_id: str, *, message_id: str, agent: str, sender: str,
                       recipients: str, subject: str, text: str, refs: str, now: datetime) -> None:
    """An outbound message (agent's reply or the automatic acknowledgement, agent ''):
    the first one by an agent sets first_response_at."""
    async def job(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO task_messages (task_id, message_id, direction, at, sender, recipients, subject, "
            "body_text, body_html, refs, notes, agent) VALUES (?, ?, 'out', ?, ?, ?, ?, ?, NULL, ?, NULL, ?)",
            (task_id, message_id, codec.ts(now), sender, recipients, subject, text, refs, agent or None))
        if agent:
            await tx.execute("UPDATE tasks SET first_response_at = ? WHERE task_id = ? AND "
                             "first_response_at IS NULL", (codec.ts(now), task_id))

    await store.transact(job)


async def set_task(store: Any, task_id: str, **fields: Any) -> None:
    """status, agent, accepted_at, closed_at, outcome (datetimes stored as timestamps)."""
    allowed = {"status", "agent", "accepted_at", "closed_at", "outcome", "queue", "channel"}
    bad = set(fields) - allowed
    if bad:
        raise ValueError(f"set_task: unknown field(s) {sorted(bad)}")
    cols = ", ".join(f"{k} = ?" for k in fields)
    vals = [codec.ts(v) if isinstance(v, datetime) else v for v in fields.values()]

    async def job(tx: Tx) -> None:
        await tx.execute(f"UPDATE tasks SET {cols} WHERE task_id = ?", (*vals, task_id))

    await store.transact(job)


async def get_task(store: Any, task_id: str) -> dict[str, Any] | None:
    rows = await _read(store, f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks WHERE task_id = ?",
                                        (task_id,))
    return dict(zip(TASK_COLUMNS, rows[0])) if rows else None


async def open_tasks(store: Any) -> list[dict[str, Any]]:
    """Tasks not closed, oldest first: the engine hands them to the ACD again at start."""
    rows = await _read(store, f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks WHERE status = 'open' "
                                        "ORDER BY created_at, task_id", ())
    return [dict(zip(TASK_COLUMNS, r)) for r in rows]


_MSG_COLUMNS = ("message_id", "direction", "at", "sender", "recipients", "subject", "body_text",
                "body_html", "refs", "notes", "agent")


async def thread_messages(store: Any, thread_id: str) -> list[dict[str, Any]]:
    rows = await _read(store,
        f"SELECT {', '.join('m.' + c for c in _MSG_COLUMNS)}, m.task_id FROM task_messages m "
        "JOIN tasks t ON t.task_id = m.task_id WHERE t.thread_id = ? ORDER BY m.at, m.id", (thread_id,))
    return [dict(zip((*_MSG_COLUMNS, "task_id"), r)) for r in rows]


async def attachments(store: Any, message_id: str) -> list[dict[str, Any]]:
    rows = await _read(store,
        "SELECT id, filename, content_type, size, refused FROM task_attachments WHERE message_id = ? "
        "ORDER BY id", (message_id,))
    return [dict(zip(("id", "filename", "content_type", "size", "refused"), r)) for r in rows]


async def attachment_file(store: Any, task_id: str, attachment_id: int) -> tuple[str, str, bytes] | None:
    """(filename, content type, bytes) of a kept attachment of a message in the task's thread;
    None for another thread's attachment or one refused (not kept)."""
    rows = await _read(store,
        "SELECT a.filename, a.content_type, a.data FROM task_attachments a "
        "JOIN task_messages m ON m.message_id = a.message_id "
        "JOIN tasks owner ON owner.task_id = m.task_id JOIN tasks t ON t.thread_id = owner.thread_id "
        "WHERE t.task_id = ? AND a.id = ? AND a.data IS NOT NULL", (task_id, attachment_id))
    return (rows[0][0], rows[0][1], bytes(rows[0][2])) if rows else None


async def tasks_between(store: Any, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
    """Tasks created in [since, until) (either end open), times as datetimes (reports)."""
    sql, params = f"SELECT {', '.join(TASK_COLUMNS)} FROM tasks WHERE 1 = 1", []
    if since is not None:
        sql, params = sql + " AND created_at >= ?", [*params, codec.ts(since)]
    if until is not None:
        sql, params = sql + " AND created_at < ?", [*params, codec.ts(until)]
    rows = [dict(zip(TASK_COLUMNS, r)) for r in await _read(store, sql, tuple(params))]
    for row in rows:
        for key in ("created_at", "accepted_at", "first_response_at", "closed_at"):
            row[key] = codec.parse_ts(row[key]) if isinstance(row[key], str) else row[key]
    return rows


async def _read(store: Any, sql: str, params: tuple) -> list[tuple[Any, ...]]:
    """In writer order, after the writes queued before it (read-your-writes)."""
    async def job(tx: Tx) -> list[tuple[Any, ...]]:
        return await tx.fetchall(sql, params)

    return await store.transact(job)
