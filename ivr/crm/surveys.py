"""Survey answers in the CRM (issue 15): written when a call ends, read by `ivr surveys`."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from ivr.crm import codec
from ivr.crm.backends import Tx
from ivr.crm.store import CrmStore
from ivr.outbound.surveys import Answer, scores

GROUPS = ("agent", "queue", "campaign")


async def add_answers(store: CrmStore, call_id: str, answers: list[Answer], now: datetime, *,
                      agent: str | None = None, queue: str | None = None,
                      campaign: str | None = None) -> None:
    if not answers:
        return

    async def job(tx: Tx) -> None:
        await tx.executemany(
            "INSERT INTO survey_answers (call_id, question, kind, score, agent, queue, campaign, "
            "answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[call_id, a.question, a.kind, a.score, agent, queue, campaign, codec.ts(now)] for a in answers])

    await store._job(job)


async def survey_scores(store: CrmStore, by: str, since: datetime | None = None,
                        until: datetime | None = None) -> list[dict[str, Any]]:
    """CSAT and NPS per agent, queue or campaign (rows without one: '-')."""
    if by not in GROUPS:
        raise ValueError(f"--by {by}: one of {', '.join(GROUPS)}")
    where, params = [], []
    if since is not None:
        where.append("answered_at >= ?")
        params.append(codec.ts(since))
    if until is not None:
        where.append("answered_at < ?")
        params.append(codec.ts(until))
    rows = await store.backend.fetchall(
        f"SELECT {by}, kind, score FROM survey_answers" + (" WHERE " + " AND ".join(where) if where else ""),
        params)
    groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for group, kind, score in rows:
        groups[group or "-"].append((kind, int(score)))
    return [{by: group, **scores(answers)} for group, answers in sorted(groups.items())]
