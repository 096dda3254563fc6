"""Survey answers in the CRM (issue 15): written when a call ends, read by `ivr surveys`."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from ivr.crm import codec
from ivr.crm.backends import Tx
from ivr.crm.store import CrmStore
from ivr.outbound.surveys import Answer, scores

GROUPS = ("call", "agent", "queue", "campaign")
_COLUMN = {"call": "call_id"}          # the group's column in survey_answers (and its row key)

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
                        until: datetime | None = None, only: str | None = None) -> list[dict[str, Any]]:
    """CSAT and NPS per call, agent, queue or campaign (rows without one: '-'); `only`: the
    one group of that name (a campaign's scores for `ivr campaign status`)."""
    if by not in GROUPS:
        raise ValueError(f"--by {by}: one of {', '.join(GROUPS)}")
    column = _COLUMN.get(by, by)
    where, params = [], []
    if since is not None:
        where.append("answered_at >= ?")
        params.append(codec.ts(since))
    if until is not None:
        where.append("answered_at < ?")
        params.append(codec.ts(until))
    if only is not None:
        where.append(f"{column} = ?")
        params.append(only)
    rows = await store.backend.fetchall(
        f"SELECT {column}, kind, score FROM survey_answers" + (" WHERE " + " AND ".join(where) if where else ""),
        params)
    groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for group, kind, score in rows:
        groups[group or "-"].append((kind, int(score)))
    return [{column: group, **scores(answers)} for group, answers in sorted(groups.items())]


async def campaign_scores(store: CrmStore, campaign: str) -> dict[str, Any]:
    """A campaign's survey figures for its live status (none yet: zero answers)."""
    [row] = await survey_scores(store, "campaign", only=campaign) or [{"campaign": campaign, **scores([])}]
    return {f"survey_{k}": v for k, v in row.items() if k != "campaign"}
