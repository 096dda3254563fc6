"""Adverse-event follow-ups (issue 15): an open AE case missing some of the four minimum
criteria (ivr/cases/kinds.py) becomes a contact of a preview campaign whose list is the
segment `ae-followup`: the reporter is called back, and what the agent learns fills the case.

Pure: cases in (as the CRM shows them), list contacts out. The follow-up is due within
`within_days` of the case's opening (campaign setting preview.followup_due_days, default 3;
no regulatory clock runs before the report is valid,
so the company sets its own); the earliest due first."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from ivr.cases.kinds import AE_CRITERIA

from .listing import ListContact

SEGMENT = "ae-followup"
_PHONE = re.compile(r"^\+?[0-9][0-9 .()/-]{5,24}$")


def reporter_number(fields: dict[str, Any]) -> str | None:
    """The reporter's phone number from `reporter_contact` (an e-mail or an address is no
    number to call)."""
    text = str(fields.get("reporter_contact") or "").strip()
    if not _PHONE.match(text):
        return None
    digits = re.sub(r"[^0-9]", "", text)
    return ("+" if text.startswith("+") else "") + digits


def followup_contacts(cases: list[dict[str, Any]], within_days: int) -> list[ListContact]:
    """One contact per reporter to call about open AE cases with criteria missing."""
    due: list[tuple[date, ListContact]] = []
    seen: set[str] = set()
    for case in cases:
        if case.get("kind") != "adverse_event" or case.get("status") != "open":
            continue
        missing, fields = case.get("missing_criteria") or [], case.get("fields") or {}
        number = reporter_number(fields)
        if not missing or number is None or number in seen:
            continue
        seen.add(number)
        opened = case["opened_at"]
        by = (opened.date() if isinstance(opened, datetime) else date.fromisoformat(str(opened)[:10])) \
            + timedelta(days=within_days)
        due.append((by, ListContact(0, number, str(fields.get("reporter") or ""), fields={
            "case_id": case["case_id"], "missing": ",".join(missing),
            "follow_up_by": by.isoformat(), "product": str(fields.get("product") or "")})))
    return [contact for _, contact in sorted(due, key=lambda d: d[0])]


def criterion_field(criterion: str) -> str:
    """The case field the agent fills for a missing criterion."""
    return AE_CRITERIA[criterion][0]


def case_changes(form: dict[str, str], missing: list[str], existing_narrative: str, note: str,
                 agent: str, today: date) -> dict[str, str]:
    """The case fields the follow-up's form changes: the criteria filled in, and the note
    added to the narrative (dated and signed, the earlier narrative kept)."""
    changes = {criterion_field(c): form[criterion_field(c)].strip() for c in missing
               if c in AE_CRITERIA and form.get(criterion_field(c), "").strip()}
    if note.strip():
        line = f"[follow-up call {today.isoformat()}, {agent}] {note.strip()}"
        changes["narrative"] = f"{existing_narrative}\n{line}" if existing_narrative else line
    return changes
