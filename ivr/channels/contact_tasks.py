"""One customer, one timeline: a contact's non-voice tasks (e-mail, SMS, fax, voice
messages, chats), newest first, for the desk's contact page beside its calls."""
from __future__ import annotations

from typing import Any

from ivr.crm.backends import Tx

from .task_store import TASK_COLUMNS

_COLS = ("task_id", "channel", "subject", "status", "created_at", "agent", "outcome", "case_id")


async def contact_tasks(store: Any, contact_id: int, limit: int = 50) -> list[dict[str, Any]]:
    assert set(_COLS) <= set(TASK_COLUMNS)

    async def job(tx: Tx) -> list[tuple[Any, ...]]:
        return await tx.fetchall(f"SELECT {', '.join(_COLS)} FROM tasks WHERE contact_id = ? "
                                 "ORDER BY created_at DESC, task_id DESC LIMIT ?", (contact_id, limit))

    return [dict(zip(_COLS, row)) for row in await store.transact(job)]
