"""CRM side of the fax channel: one received (or failed) fax is one transaction — its task
(channel "fax"), a message with the fax's summary (message_id "fax:<uniqueid>" UNIQUE: read
twice after a restart, stored once), the PDF (or the TIFF it could not convert) as an
attachment, the contact matched by the caller's number."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivr.crm import codec
from ivr.crm.backends import Tx

from .fax_rules import FaxReport, subject, summary
from .sms_store import contact_of
from .task_store import TASK_COLUMNS, Ingested, stored_before


@dataclass(frozen=True)
class FaxDocument:
    filename: str
    content_type: str
    data: bytes | None       # None: refused (too large), with `refused` saying why
    size: int
    refused: str | None = None


async def ingest_fax(store: Any, report: FaxReport, document: FaxDocument | None,
                     trouble: str | None, *, queue: str, priority: int, now: datetime) -> Ingested:
    async def job(tx: Tx) -> Ingested:
        seen = await stored_before(tx, report.message_id)
        if seen is not None:
            return seen
        contact_id = await contact_of(tx, report.sender, getattr(store, "country_code", ""))
        task_id = f"FX-{now:%Y%m%d}-{hashlib.sha256(report.message_id.encode()).hexdigest()[:10].upper()}"
        notes = "\n".join(n for n in (trouble, document.refused if document else None) if n) or None
        await tx.execute(
            f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({', '.join('?' * len(TASK_COLUMNS))})",
            (task_id, "fax", queue, priority, "open", task_id, contact_id, report.sender or None,
             subject(report, trouble), None, notes, codec.ts(now), None, None, None, None, None))
        await tx.execute(
            "INSERT INTO task_messages (task_id, message_id, direction, at, sender, recipients, subject, "
            "body_text, body_html, refs, notes, agent) VALUES (?, ?, 'in', ?, ?, ?, ?, ?, NULL, NULL, ?, NULL)",
            (task_id, report.message_id, codec.ts(now), report.sender or None, report.recipient,
             subject(report, trouble), summary(report, trouble), notes))
        if document is not None:
            await tx.execute(
                "INSERT INTO task_attachments (message_id, filename, content_type, size, data, refused) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (report.message_id, document.filename, document.content_type, document.size,
                 document.data, document.refused))
        return Ingested(task_id, task_id, True, False, queue, priority, contact_id, None)

    return await store.transact(job)
