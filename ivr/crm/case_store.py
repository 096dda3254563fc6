"""The case, documentation and contact-card commands of the CRM store (mixed into CrmStore).

Every command is one job on the writer (one transaction, in queue order with the call
records, errors raised to the caller); the rules are the pure ones of ivr/cases. A refusal
is a CaseRefused (a CrmError) whose `problems` are (field, message) pairs for forms.
Times: `now` defaults to the current UTC time; dates (day 0, due) are UTC calendar days."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any, Awaitable, Callable

from ivr.cases import AuditEntry, CaseError, DueRules, open_new, refuse_delete
from ivr.cases import close as close_rule
from ivr.cases import reopen as reopen_rule
from ivr.cases import update as update_rule
from ivr.cases.consent import check_contact_changes
from ivr.cases.documentation import WrapUpCodes, check_documentation

from . import codec
from .backends import Backend, Tx
from .cases import (CASE_COLUMNS, add_audit, add_link, audit_dict, case_dict, insert_case, linked_calls, load_case,
                    new_case_id, ordered, refused, row_to_case, store_case)
from .contacts import CONTACT_FIELDS, contact_dict, normalise_number, search_key
from .errors import CrmError
from .records import utc

_DOC_COLUMNS = ("call_id", "agent", "version", "reason", "outcome", "notes", "articles", "at")


def _now(now: datetime | None) -> datetime:
    # UTC: day 0 and due dates are UTC calendar days whatever zone the caller's `now` is in
    return utc(now) or datetime.now(timezone.utc)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class CaseCommands:
    """Mixed into CrmStore, which provides these."""
    backend: Backend
    case_rules: DueRules
    wrap_up_codes: WrapUpCodes = WrapUpCodes()
    country_code: str
    _job: Callable[..., Awaitable[Any]]
    _caught_up: Callable[[], Awaitable[None]]

    # ------------------------------------------------------------ cases
    async def open_case(self, kind: str, fields: Mapping[str, Any], by: str, contact_id: int | None = None,
                        call_id: str | None = None, now: datetime | None = None) -> dict[str, Any]:
        """Open a case (medinfo | complaint | adverse_event), optionally linked to a call."""
        when = _now(now)

        async def job(tx: Tx) -> dict[str, Any]:
            try:
                case, audit = open_new(new_case_id(kind, when), kind, fields, by, when, self.case_rules, contact_id)
            except CaseError as exc:
                raise refused(exc) from None
            await insert_case(tx, case, when)
            if call_id:
                await add_link(tx, case.case_id, call_id, by, when)
                audit.append(AuditEntry(case.case_id, when, by, "call_linked", None, call_id))
            await add_audit(tx, audit)
            return case_dict(case, [call_id] if call_id else [], when.date())

        return await self._job(job)

    async def update_case(self, case_id: str, changes: Mapping[str, Any], by: str,
                          now: datetime | None = None, contact_id: int | None = None) -> dict[str, Any]:
        """Change fields (None or "" clears one); validated, audited, day 0/due recomputed."""
        when = _now(now)

        async def job(tx: Tx) -> dict[str, Any]:
            case = await load_case(tx, case_id)
            try:
                new, audit = update_rule(case, changes, by, when, self.case_rules, contact_id)
            except CaseError as exc:
                raise refused(exc) from None
            if audit:
                await store_case(tx, new, when)
                await add_audit(tx, audit)
            return case_dict(new, (await linked_calls(tx.fetchall, [case_id]))[case_id], when.date())

        return await self._job(job)

    async def close_case(self, case_id: str, by: str, reason: str | None = None, at: datetime | None = None,
                         note: str | None = None, now: datetime | None = None) -> dict[str, Any]:
        """Close an open case (by case id, or by the call id of an automatic AE case) with a
        reason (`note` is its older name). Raises CrmError if unknown, closed or no reason."""
        when = _now(now or at)
        return await self._status_change(case_id, lambda case: close_rule(case, by, reason or note or "", when), when)

    async def reopen_case(self, case_id: str, by: str, reason: str, now: datetime | None = None) -> dict[str, Any]:
        when = _now(now)
        return await self._status_change(case_id, lambda case: reopen_rule(case, by, reason, when), when)

    async def _status_change(self, case_id: str, rule: Callable[[Any], tuple[Any, Any]],
                             when: datetime) -> dict[str, Any]:
        """Close or reopen: the pure rule decides (and refuses), the case and its audit entry
        are stored in one transaction."""
        async def job(tx: Tx) -> dict[str, Any]:
            case = await load_case(tx, await self._resolve(tx, case_id))
            try:
                new, audit = rule(case)
            except CaseError as exc:
                raise refused(exc) from None
            await store_case(tx, new, when)
            await add_audit(tx, audit)
            return case_dict(new, (await linked_calls(tx.fetchall, [case.case_id]))[case.case_id], when.date())

        return await self._job(job)

    async def delete_case(self, case_id: str) -> None:
        """Always refused: cases are closed with a reason, never deleted (see ivr/cases/case.py)."""
        async def job(tx: Tx) -> None:
            try:
                refuse_delete(await load_case(tx, case_id))
            except CaseError as exc:
                raise refused(exc) from None

        await self._job(job)

    async def _resolve(self, tx: Tx, case_or_call: str) -> str:
        if await tx.fetchall("SELECT 1 FROM cases WHERE case_id = ?", [case_or_call]):
            return case_or_call
        rows = await tx.fetchall("SELECT case_id FROM case_calls WHERE call_id = ? ORDER BY linked_at", [case_or_call])
        if len(rows) == 1:
            return rows[0][0]
        if rows:
            raise CrmError(f"call {case_or_call} is linked to {len(rows)} cases "
                           f"({', '.join(r[0] for r in rows)}); name the case")
        raise CrmError(f"no case {case_or_call!r}; list them with `ivr cases`")

    async def get_case(self, case_id: str, today: date | None = None) -> dict[str, Any] | None:
        await self._caught_up()
        rows = await self.backend.fetchall(f"SELECT {', '.join(CASE_COLUMNS)} FROM cases WHERE case_id = ?",
                                           [case_id])
        if not rows:
            return None
        calls = await linked_calls(self.backend.fetchall, [case_id])
        return case_dict(row_to_case(rows[0]), calls[case_id], today or _now(None).date())

    async def list_cases(self, status: str | None = None, *, kind: str | None = None,
                         contact_id: int | None = None, call_id: str | None = None,
                         overdue_only: bool = False, since: datetime | None = None,
                         overdue_first: bool = True, today: date | None = None,
                         offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """Cases, filtered; overdue first then by due date (the AE worklist), else by opening.
        `offset`/`limit`: one page of that order (the order depends on today, so it is made here)."""
        await self._caught_up()
        today = today or _now(None).date()
        where, params = [], []
        for col, value in (("status", status), ("kind", kind), ("contact_id", contact_id)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        if call_id is not None:
            where.append("case_id IN (SELECT case_id FROM case_calls WHERE call_id = ?)")
            params.append(call_id)
        if since is not None:
            where.append("opened_at >= ?")
            params.append(codec.ts(since))
        sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM cases" + (" WHERE " + " AND ".join(where) if where else "")
        cases = [row_to_case(r) for r in await self.backend.fetchall(sql, params)]
        if overdue_only:
            cases = [c for c in cases if c.overdue(today)]
        page = ordered(cases, today, overdue_first)[max(0, offset):None if limit is None else max(0, offset) + limit]
        calls = await linked_calls(self.backend.fetchall, [c.case_id for c in page])
        return [case_dict(c, calls[c.case_id], today) for c in page]

    async def case_audit(self, case_id: str) -> list[dict[str, Any]]:
        """The audit trail, oldest first: who changed which field when, old and new value."""
        await self._caught_up()
        rows = await self.backend.fetchall(
            "SELECT case_id, at, changed_by, field, old_value, new_value FROM case_audit WHERE case_id = ? "
            "ORDER BY at, id", [case_id])
        return [audit_dict(r) for r in rows]

    async def link_call(self, case_id: str, call_id: str, by: str, now: datetime | None = None) -> bool:
        """Link a call to a case (a case has many calls, a call may serve several cases).
        False if it was linked already."""
        when = _now(now)
        if not (by or "").strip():
            raise CrmError("linking a call to a case says who did it (by)")

        async def job(tx: Tx) -> bool:
            await load_case(tx, case_id)
            if not await add_link(tx, case_id, call_id, by, when):
                return False
            await add_audit(tx, [AuditEntry(case_id, when, by, "call_linked", None, call_id)])
            return True

        return await self._job(job)

    # ------------------------------------------------------------ call documentation
    async def save_call_documentation(self, call_id: str, agent: str, reason: str, outcome: str,
                                      notes: str = "", articles: Sequence[str] = (),
                                      now: datetime | None = None) -> dict[str, Any]:
        """Save the agent's documentation of a call: a new version each time (last save wins;
        every earlier one is kept). Reason and outcome must be configured wrap-up codes."""
        when = _now(now)
        try:
            note = check_documentation(call_id, agent, reason, outcome, notes, articles, self.wrap_up_codes)
        except CaseError as exc:
            raise refused(exc) from None

        async def job(tx: Tx) -> dict[str, Any]:
            rows = await tx.fetchall("SELECT MAX(version) FROM call_documentation WHERE call_id = ? AND agent = ?",
                                     [note.call_id, note.agent])
            version = (rows[0][0] or 0) + 1
            row = (note.call_id, note.agent, version, note.reason, note.outcome, note.notes,
                   json.dumps(list(note.articles), ensure_ascii=False), codec.ts(when))
            await tx.execute(f"INSERT INTO call_documentation ({', '.join(_DOC_COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(_DOC_COLUMNS))})", row)
            return _doc(row)

        return await self._job(job)

    async def call_documentation(self, call_id: str, history: bool = False) -> list[dict[str, Any]]:
        """The latest documentation of the call per agent (with history: every version, oldest first)."""
        await self._caught_up()
        sql = f"SELECT {', '.join(_DOC_COLUMNS)} FROM call_documentation d WHERE call_id = ?"
        if not history:
            sql += (" AND version = (SELECT MAX(version) FROM call_documentation x "
                    "WHERE x.call_id = d.call_id AND x.agent = d.agent)")
        rows = await self.backend.fetchall(sql + " ORDER BY at, agent, version", [call_id])
        return [_doc(r) for r in rows]

    async def list_call_documentation(self, since: datetime | None = None,
                                      until: datetime | None = None) -> list[dict[str, Any]]:
        """The latest documentation per call and agent, of calls started in [since, until)."""
        await self._caught_up()
        sql = (f"SELECT {', '.join('d.' + c for c in _DOC_COLUMNS)} FROM call_documentation d "
               "JOIN calls c ON c.call_id = d.call_id WHERE d.version = (SELECT MAX(version) FROM "
               "call_documentation x WHERE x.call_id = d.call_id AND x.agent = d.agent)")
        params: list[Any] = []
        if since is not None:
            sql += " AND c.started_at >= ?"
            params.append(codec.ts(since))
        if until is not None:
            sql += " AND c.started_at < ?"
            params.append(codec.ts(until))
        return [_doc(r) for r in await self.backend.fetchall(sql + " ORDER BY d.at, d.call_id", params)]

    # ------------------------------------------------------------ contact cards
    async def get_contact(self, contact_id: int) -> dict[str, Any] | None:
        await self._caught_up()
        rows = await self.backend.fetchall(f"SELECT {', '.join(CONTACT_FIELDS)} FROM contacts WHERE id = ?",
                                           [contact_id])
        if not rows:
            return None
        nums = await self.backend.fetchall("SELECT number FROM contact_numbers WHERE contact_id = ? "
                                           "ORDER BY number", [contact_id])
        return contact_dict(rows[0], [n[0] for n in nums])

    async def update_contact(self, contact_id: int, fields: Mapping[str, Any], by: str,
                             now: datetime | None = None) -> dict[str, Any]:
        """Edit a contact card (consent flags included: a changed flag needs consent_source;
        consent_date defaults to today). Every changed field is audited in contact_audit."""
        when = _now(now)
        if not (by or "").strip():
            raise CrmError("every change to a contact says who made it (by)")

        async def job(tx: Tx) -> dict[str, Any]:
            rows = await tx.fetchall(f"SELECT {', '.join(CONTACT_FIELDS)} FROM contacts WHERE id = ?", [contact_id])
            if not rows:
                raise CrmError(f"no contact with id {contact_id}")
            current = contact_dict(rows[0], [])
            changes, problems = check_contact_changes(current, fields, when.date())
            if problems:
                raise refused(CaseError(f"contact {contact_id}: {len(problems)} problem(s)", problems))
            if changes:
                sets = ", ".join(f"{k} = ?" for k in changes)
                values = [int(v) if isinstance(v, bool) else v for v in changes.values()]   # INTEGER flags
                after = {**current, **changes}
                await tx.execute(f"UPDATE contacts SET {sets}, updated_at = ?, search_key = ? WHERE id = ?",
                                 [*values, codec.ts(when), search_key(after["name"], after["organisation"]),
                                  contact_id])
                await tx.executemany(
                    "INSERT INTO contact_audit (contact_id, at, changed_by, field, old_value, new_value) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [(contact_id, codec.ts(when), by, k, json.dumps(current.get(k)), json.dumps(v))
                     for k, v in changes.items()])
            return {**current, **changes}

        updated = await self._job(job)
        return await self.get_contact(contact_id) or updated

    async def contact_audit(self, contact_id: int) -> list[dict[str, Any]]:
        await self._caught_up()
        rows = await self.backend.fetchall(
            "SELECT contact_id, at, changed_by, field, old_value, new_value FROM contact_audit "
            "WHERE contact_id = ? ORDER BY at, id", [contact_id])
        return [{"contact_id": r[0], "at": codec.parse_ts(r[1]), "by": r[2], "field": r[3],
                 "old": json.loads(r[4]), "new": json.loads(r[5])} for r in rows]

    async def search_contacts(self, text: str, limit: int = 20, offset: int = 0) -> list[dict[str, Any]]:
        """Contacts whose name or organisation contains `text` (any case, accents ignored), or
        one of whose numbers contains its digits; by name."""
        await self._caught_up()
        text = (text or "").strip()
        if not text:
            return []
        conds = ["c.search_key LIKE ? ESCAPE '\\'"]
        params: list[Any] = [_like(search_key(text))]
        if "@" in text:           # an e-mail address the card has among its identities
            conds.append("c.id IN (SELECT contact_id FROM contact_identities WHERE value LIKE ? ESCAPE '\\')")
            params.append(_like(text.lower()))
        digits = "".join(ch for ch in text if ch.isdigit())
        if len(digits) >= 3:      # as typed, and as stored (030 123 → +4930123 with a country code)
            for form in dict.fromkeys((digits, normalise_number(text, self.country_code).lstrip("+"))):
                conds.append("c.id IN (SELECT contact_id FROM contact_numbers WHERE number LIKE ?)")
                params.append(f"%{form}%")
        cols = ", ".join(f"c.{f}" for f in CONTACT_FIELDS)
        rows = await self.backend.fetchall(f"SELECT {cols} FROM contacts c WHERE {' OR '.join(conds)} "
                                           "ORDER BY c.name, c.id LIMIT ? OFFSET ?",
                                           [*params, max(1, int(limit)), max(0, int(offset))])
        out = []
        for row in rows:
            nums = await self.backend.fetchall("SELECT number FROM contact_numbers WHERE contact_id = ? "
                                               "ORDER BY number", [row[0]])
            out.append(contact_dict(row, [n[0] for n in nums]))
        return out


def _doc(row: tuple[Any, ...]) -> dict[str, Any]:
    d = dict(zip(_DOC_COLUMNS, row))
    d["articles"] = json.loads(d["articles"])
    d["at"] = codec.parse_ts(d["at"])
    return d
