"""CRM side of the web chat and the web form: each inbound contact is one transaction (task,
its first message, the contact matched by e-mail or phone, the AE case of a safety phrase),
so a visitor's words are either all stored or not at all. Tables: migration 8 (task_store)."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.cases import open_new
from ivr.crm import codec
from ivr.crm.backends import Tx
from ivr.crm.cases import add_audit, insert_case, new_case_id

from .mail_rules import SafetyHit
from .task_store import TASK_COLUMNS


@dataclass(frozen=True)
class Visitor:
    name: str
    email: str = ""
    phone: str = ""        # normalised (chat_rules.normalised_phone)

    @property
    def address(self) -> str:
        """Who the task is from (the desk's sender column): e-mail first, it can be answered."""
        return self.email or self.phone or self.name


@dataclass(frozen=True)
class Stored:
    task_id: str
    queue: str
    priority: int
    contact_id: int | None
    case_id: str | None


def new_task_id(prefix: str, now: datetime) -> str:
    """CH- (chat) or WF- (web form): readable, unguessable enough not to collide."""
    return f"{prefix}-{now:%Y%m%d}-{secrets.token_hex(5).upper()}"


def message_id_for(task_id: str, seq: int, text: str) -> str:
    digest = hashlib.sha256(f"{task_id}/{seq}/{text}".encode()).hexdigest()[:16]
    return f"<{task_id}.{seq}.{digest}@web>"


async def _contact(tx: Tx, visitor: Visitor) -> int | None:
    if visitor.email:
        rows = await tx.fetchall("SELECT contact_id FROM contact_identities WHERE kind = 'email' AND value = ?",
                                 (visitor.email.lower(),))
        if rows:
            return int(rows[0][0])
        rows = await tx.fetchall("SELECT id FROM contacts WHERE LOWER(email) = ? ORDER BY id",
                                 (visitor.email.lower(),))
        if rows:
            return int(rows[0][0])
    if visitor.phone:
        rows = await tx.fetchall("SELECT contact_id FROM contact_numbers WHERE number = ?", (visitor.phone,))
        if rows:
            return int(rows[0][0])
    return None


async def open_contact(store: Any, *, task_id: str, channel: str, visitor: Visitor, subject: str,
                       text: str, queue: str, priority: int, safety: SafetyHit | None,
                       pv_queue: str, pv_priority: int, now: datetime) -> Stored:
    """A new chat (its first line) or a web form, as a task with its first message."""
    rules = store.case_rules

    async def job(tx: Tx) -> Stored:
        contact_id = await _contact(tx, visitor)
        q, prio = (pv_queue, pv_priority) if safety else (queue, priority)
        case_id = (await _open_ae_case(tx, visitor, subject, text, safety, contact_id, channel, now, rules)
                   if safety else None)
        await tx.execute(
            f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({', '.join('?' * len(TASK_COLUMNS))})",
            (task_id, channel, q, prio, "open", task_id, contact_id, visitor.address[:320], subject[:998],
             case_id, None, codec.ts(now), None, None, None, None, None))
        await _insert_message(tx, task_id, message_id_for(task_id, 0, text), "in", visitor.address,
                              subject, text, None, now)
        return Stored(task_id, q, prio, contact_id, case_id)

    return await store.transact(job)


async def add_line(store: Any, task_id: str, seq: int, *, direction: str, sender: str, text: str,
                   agent: str | None, now: datetime) -> None:
    """One more chat line (visitor 'in', agent 'out', or the system's note with agent '')."""
    async def job(tx: Tx) -> None:
        await _insert_message(tx, task_id, message_id_for(task_id, seq, text), direction, sender, "",
                              text, agent, now)
        if direction == "out" and agent:
            await tx.execute("UPDATE tasks SET first_response_at = ? WHERE task_id = ? AND "
                             "first_response_at IS NULL", (codec.ts(now), task_id))

    await store.transact(job)


async def escalate_to_safety(store: Any, task_id: str, visitor: Visitor, text: str, safety: SafetyHit,
                             pv_queue: str, pv_priority: int, now: datetime, move: bool = True) -> str:
    """A safety phrase later in a chat: an AE case, and (`move`: no agent has it yet) the task
    moves to pharmacovigilance."""
    rules = store.case_rules

    async def job(tx: Tx) -> str:
        rows = await tx.fetchall("SELECT case_id, contact_id, subject FROM tasks WHERE task_id = ?", (task_id,))
        case_id, contact_id, subject = rows[0]
        if case_id is None:
            case_id = await _open_ae_case(tx, visitor, subject or "", text, safety, contact_id, "chat", now, rules)
        if move:
            await tx.execute("UPDATE tasks SET queue = ?, priority = ?, case_id = ? WHERE task_id = ?",
                             (pv_queue, pv_priority, case_id, task_id))
        else:
            await tx.execute("UPDATE tasks SET case_id = ? WHERE task_id = ?", (case_id, task_id))
        return str(case_id)

    return await store.transact(job)


async def to_email(store: Any, task_id: str, address: str) -> None:
    """No agent answered the chat in time: it becomes an e-mail-style task to that address."""
    async def job(tx: Tx) -> None:
        await tx.execute("UPDATE tasks SET channel = 'email', sender = ? WHERE task_id = ?",
                         (address[:320], task_id))

    await store.transact(job)


async def _insert_message(tx: Tx, task_id: str, message_id: str, direction: str, sender: str,
                          subject: str, text: str, agent: str | None, now: datetime) -> None:
    await tx.execute(
        "INSERT INTO task_messages (task_id, message_id, direction, at, sender, recipients, subject, "
        "body_text, body_html, refs, notes, agent) VALUES (?, ?, ?, ?, ?, '', ?, ?, NULL, NULL, NULL, ?)",
        (task_id, message_id, direction, codec.ts(now), sender[:320], subject[:998], text, agent))


async def _open_ae_case(tx: Tx, visitor: Visitor, subject: str, text: str, safety: SafetyHit | None,
                        contact_id: int | None, channel: str, now: datetime, rules: Any) -> str:
    assert safety is not None
    fields = {"reporter": visitor.name or visitor.address, "reporter_contact": visitor.email or visitor.phone,
              "narrative": f"{subject}\n\n{text}"[:20_000], "language": safety.language,
              "info_received_on": now.date().isoformat()}
    case, audit = open_new(new_case_id("adverse_event", now), "adverse_event", fields, channel, now,
                           rules, contact_id)
    await insert_case(tx, case, now)
    await add_audit(tx, audit)
    return case.case_id
