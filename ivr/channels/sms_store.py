"""CRM side of the SMS channel (tables of migration 8): one inbound SMS is one transaction —
its task (or the open SMS task of the same number: a conversation, and a flood from one number
stays one task), its message (message_id UNIQUE: read twice after a restart, stored once), the
contact matched by phone number, and the AE case when a safety phrase is in the text."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from ivr.cases import open_new
from ivr.crm import codec
from ivr.crm.backends import Tx
from ivr.crm.cases import add_audit, insert_case, new_case_id
from ivr.crm.contacts import normalise_number

from .mail_rules import SafetyHit
from .sms_rules import InboundSms
from .task_store import TASK_COLUMNS, Ingested, stored_before


def sms_task_id(message_id: str, now: datetime) -> str:
    """The same message always gets the same id (derived from its dedupe key)."""
    return f"SM-{now:%Y%m%d}-{hashlib.sha256(message_id.encode()).hexdigest()[:10].upper()}"


async def contact_of(tx: Tx, number: str, country_code: str) -> int | None:
    norm = normalise_number(number, country_code)
    if not norm:
        return None
    rows = await tx.fetchall("SELECT contact_id FROM contact_numbers WHERE number = ?", (norm,))
    if rows:
        return int(rows[0][0])
    rows = await tx.fetchall("SELECT contact_id FROM contact_identities WHERE kind = 'phone' "
                             "AND value = ?", (norm,))
    return int(rows[0][0]) if rows else None


async def ingest_sms(store: Any, sms: InboundSms, *, queue: str, priority: int,
                     safety: SafetyHit | None, pv_queue: str, pv_priority: int,
                     now: datetime) -> Ingested:
    """Numbers are matched as the CRM stores them (its country code: IVR_COUNTRY_CODE)."""
    rules = store.case_rules

    async def job(tx: Tx) -> Ingested:
        seen = await stored_before(tx, sms.message_id)
        if seen is not None:
            return seen
        contact_id = await contact_of(tx, sms.sender, getattr(store, "country_code", ""))
        q, prio = (pv_queue, pv_priority) if safety else (queue, priority)
        open_rows = await tx.fetchall(
            "SELECT task_id, thread_id, case_id, queue, priority FROM tasks WHERE channel = 'sms' "
            "AND status = 'open' AND sender = ? ORDER BY created_at DESC, task_id DESC",
            (sms.sender,)) if sms.sender else []
        notes = "\n".join(sms.notes) or None
        if open_rows:
            task_id, thread_id, case_id, old_q, old_prio = open_rows[0]
            new_task = False
            if safety and case_id is None:
                case_id = await _open_ae_case(tx, sms, safety, contact_id, now, rules)
            if safety:
                await tx.execute("UPDATE tasks SET queue = ?, priority = ?, case_id = ? "
                                 "WHERE task_id = ?", (q, prio, case_id, task_id))
            else:
                q, prio = old_q, int(old_prio)
        else:
            task_id = sms_task_id(sms.message_id, now)
            thread_id, new_task = task_id, True
            case_id = await _open_ae_case(tx, sms, safety, contact_id, now, rules) if safety else None
            await tx.execute(
                f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({', '.join('?' * len(TASK_COLUMNS))})",
                (task_id, "sms", q, prio, "open", thread_id, contact_id, sms.sender,
                 _subject(sms.text), case_id, notes, codec.ts(now), None, None, None, None, None))
        await tx.execute(
            "INSERT INTO task_messages (task_id, message_id, direction, at, sender, recipients, subject, "
            "body_text, body_html, refs, notes, agent) VALUES (?, ?, 'in', ?, ?, ?, NULL, ?, NULL, NULL, ?, NULL)",
            (task_id, sms.message_id, codec.ts(now), sms.sender, sms.recipient, sms.text, notes))
        return Ingested(task_id, thread_id, new_task, False, q, prio, contact_id, case_id)

    return await store.transact(job)


def _subject(text: str) -> str:
    """What the desk lists: the SMS's first line, shortened."""
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= 60 else first[:59] + "…"


async def _open_ae_case(tx: Tx, sms: InboundSms, safety: SafetyHit, contact_id: int | None,
                        now: datetime, rules: Any) -> str:
    fields = {"reporter_contact": sms.sender or None, "narrative": sms.text[:20_000],
              "language": safety.language, "info_received_on": now.date().isoformat()}
    case, audit = open_new(new_case_id("adverse_event", now), "adverse_event", fields, "sms", now,
                           rules, contact_id)
    await insert_case(tx, case, now)
    await add_audit(tx, audit)
    return case.case_id
