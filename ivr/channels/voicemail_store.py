"""CRM side of voice messages (migration 12 adds tasks.due_at and tasks.call_id): one
message is one transaction — the callback task (channel "voicemail", due by the SL), its
message (message_id "vm:<call id>": a retry stores it once) with the transcript, the
recording as an attachment, the contact matched by number, the AE case on a safety phrase."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from ivr.cases import open_new
from ivr.crm import codec
from ivr.crm.backends import Tx
from ivr.crm.cases import add_audit, insert_case, new_case_id

from .mail_rules import SafetyHit
from .sms_store import contact_of
from .task_store import TASK_COLUMNS, Ingested
from .voicemail_rules import VoiceMessage, body, subject


async def ingest_voice_message(store: Any, msg: VoiceMessage, audio: bytes | None,
                               refused: str | None, *, safety: SafetyHit | None, pv_queue: str,
                               pv_priority: int, due: datetime, now: datetime) -> Ingested:
    message_id = f"vm:{msg.call_id}"
    rules = store.case_rules

    async def job(tx: Tx) -> Ingested:
        seen = await tx.fetchall("SELECT task_id, queue, priority, contact_id, case_id FROM tasks "
                                 "WHERE task_id = (SELECT task_id FROM task_messages WHERE message_id = ?)",
                                 (message_id,))
        if seen:
            tid, q, prio, contact, case = seen[0]
            return Ingested(tid, tid, False, True, q, int(prio), contact, case)
        contact_id = await contact_of(tx, msg.caller, getattr(store, "country_code", ""))
        q, prio = (pv_queue, pv_priority) if safety else (msg.queue, msg.priority)
        task_id = f"VM-{now:%Y%m%d}-{hashlib.sha256(message_id.encode()).hexdigest()[:10].upper()}"
        case_id = None
        if safety:
            fields = {"reporter_contact": msg.caller, "narrative": (msg.transcript or "")[:20_000],
                      "language": safety.language, "info_received_on": now.date().isoformat()}
            case, audit = open_new(new_case_id("adverse_event", now), "adverse_event", fields,
                                   "voicemail", now, rules, contact_id)
            await insert_case(tx, case, now)
            await add_audit(tx, audit)
            case_id = case.case_id
        await tx.execute(
            f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({', '.join('?' * len(TASK_COLUMNS))})",
            (task_id, "voicemail", q, prio, "open", task_id, contact_id, msg.caller, subject(msg),
             case_id, refused, codec.ts(now), None, None, None, None, None))
        await tx.execute("UPDATE tasks SET due_at = ?, call_id = ? WHERE task_id = ?",
                         (codec.ts(due), msg.call_id, task_id))
        await tx.execute(
            "INSERT INTO task_messages (task_id, message_id, direction, at, sender, recipients, subject, "
            "body_text, body_html, refs, notes, agent) VALUES (?, ?, 'in', ?, ?, NULL, ?, ?, NULL, ?, ?, NULL)",
            (task_id, message_id, codec.ts(now), msg.caller, subject(msg), body(msg, refused),
             f"call:{msg.call_id}", refused))
        await tx.execute(
            "INSERT INTO task_attachments (message_id, filename, content_type, size, data, refused) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (message_id, f"{task_id}.wav", "audio/wav", len(audio or b""), audio, refused))
        return Ingested(task_id, task_id, True, False, q, prio, contact_id, case_id)

    return await store.transact(job)


async def recording(store: Any, task_id: str) -> bytes | None:
    """The recording of a voice-message task (the desk serves it to agents)."""
    async def job(tx: Tx) -> list:
        return await tx.fetchall(
            "SELECT a.data FROM task_attachments a JOIN task_messages m ON m.message_id = a.message_id "
            "JOIN tasks t ON t.task_id = m.task_id WHERE t.task_id = ? AND t.channel = 'voicemail' "
            "AND a.content_type = 'audio/wav'", (task_id,))
    rows = await store.transact(job)
    return bytes(rows[0][0]) if rows and rows[0][0] is not None else None
