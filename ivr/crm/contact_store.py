"""One customer, one card (mixed into CrmStore): a contact's identities (phone numbers in
contact_numbers, e-mail addresses in contact_identities), merging a duplicate card into the
one kept, and the contact's timeline across channels (calls, tasks, cases).

Each change is one job on the writer (one transaction) and leaves contact_audit rows that say
who did it; the rules are the pure ones of ivr/cases/contact_merge.py."""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timezone
from typing import Any

from ivr.cases import AuditEntry
from ivr.cases.contact_merge import IDENTITY_KINDS, email_identity, merged_card
from ivr.cases.kinds import FieldProblem

from . import codec
from .backends import Backend, Tx
from .cases import add_audit
from .contacts import CONTACT_FIELDS, contact_dict, normalise_number, search_key
from .errors import CaseRefused, CrmError
from .records import utc


class ContactLinks:
    """Mixed into CrmStore, which provides these."""
    backend: Backend
    country_code: str
    _job: Callable[..., Awaitable[Any]]
    _caught_up: Callable[[], Awaitable[None]]

    async def contact_identities(self, contact_id: int) -> list[dict[str, str]]:
        """Phone numbers first, then e-mail addresses: kind, value (as matched), raw (as typed)."""
        await self._caught_up()
        phones = await self.backend.fetchall(
            "SELECT number, raw FROM contact_numbers WHERE contact_id = ? ORDER BY number", [contact_id])
        others = await self.backend.fetchall(
            "SELECT kind, value, raw FROM contact_identities WHERE contact_id = ? ORDER BY kind, value",
            [contact_id])
        return ([{"kind": "phone", "value": n, "raw": r} for n, r in phones]
                + [{"kind": k, "value": v, "raw": r} for k, v, r in others])

    async def add_identity(self, contact_id: int, kind: str, raw: str, by: str,
                           now: datetime | None = None) -> str:
        """Attach a phone number or an e-mail address to the card; refused (CaseRefused with a
        problem on field `identity`) when malformed or when it belongs to another card (merge
        the two cards instead). Returns the stored form."""
        value = self._identity_value(kind, raw)
        when = utc(now) or datetime.now(timezone.utc)

        async def job(tx: Tx) -> str:
            await _existing(tx, contact_id)
            owner = await _owner(tx, kind, value)
            if owner == contact_id:
                return value
            if owner is not None:
                raise _refusal(f"{raw.strip()} already belongs to card #{owner}: merge the two cards instead",
                               "identity_taken", owner=owner)
            if kind == "phone":
                await tx.execute("INSERT INTO contact_numbers (number, contact_id, raw) VALUES (?, ?, ?)",
                                 [value, contact_id, raw.strip()])
            else:
                await tx.execute("INSERT INTO contact_identities (kind, value, contact_id, raw) VALUES (?, ?, ?, ?)",
                                 [kind, value, contact_id, raw.strip()])
            await _audit(tx, contact_id, when, by, "identity", None, f"{kind}:{value}")
            return value

        return await self._job(job)

    async def remove_identity(self, contact_id: int, kind: str, value: str, by: str,
                              now: datetime | None = None) -> None:
        """Detach a number or address (a typo, a shared switchboard); its past calls and
        messages stay where they are. The card keeps at least one identity."""
        when = utc(now) or datetime.now(timezone.utc)

        async def job(tx: Tx) -> None:
            await _existing(tx, contact_id)
            if await _owner(tx, kind, value) != contact_id:
                raise CrmError(f"card #{contact_id} has no {kind} {value!r}")
            n = await tx.fetchall("SELECT (SELECT COUNT(*) FROM contact_numbers WHERE contact_id = ?) + "
                                  "(SELECT COUNT(*) FROM contact_identities WHERE contact_id = ?)",
                                  [contact_id, contact_id])
            if int(n[0][0]) <= 1:
                raise _refusal("a card keeps at least one phone number or e-mail address", "identity_last")
            if kind == "phone":
                await tx.execute("DELETE FROM contact_numbers WHERE number = ?", [value])
            else:
                await tx.execute("DELETE FROM contact_identities WHERE kind = ? AND value = ?", [kind, value])
            await _audit(tx, contact_id, when, by, "identity", f"{kind}:{value}", None)

        await self._job(job)

    async def merge_contacts(self, keep_id: int, other_id: int, by: str,
                             now: datetime | None = None) -> dict[str, Any]:
        """Merge card `other_id` into `keep_id` in one transaction: its numbers, addresses,
        tasks, cases and card history move over, blanks of the kept card are filled, consent
        refusals survive, and the kept card's history says who merged what; the duplicate card
        is then deleted. Returns the changes made to the kept card."""
        if keep_id == other_id:
            raise _refusal("a card cannot be merged into itself", "merge_self", field="merge")
        if not (by or "").strip():
            raise CrmError("every merge says who made it (by)")
        when = utc(now) or datetime.now(timezone.utc)

        async def job(tx: Tx) -> dict[str, Any]:
            kept, other = await _existing(tx, keep_id), await _existing(tx, other_id)
            changes = merged_card(kept, other, when.date())
            if changes:
                after = {**kept, **changes}
                await tx.execute(
                    f"UPDATE contacts SET {', '.join(f'{k} = ?' for k in changes)}, updated_at = ?, "
                    "search_key = ? WHERE id = ?",
                    [*(int(v) if isinstance(v, bool) else v for v in changes.values()), codec.ts(when),
                     search_key(after["name"], after["organisation"]), keep_id])
            for table in ("contact_numbers", "contact_identities", "tasks", "contact_audit"):
                await tx.execute(f"UPDATE {table} SET contact_id = ? WHERE contact_id = ?", [keep_id, other_id])
            address = email_identity(other.get("email") or "")
            if address:             # the duplicate's card address keeps matching its mails
                await tx.execute("INSERT INTO contact_identities (kind, value, contact_id, raw) VALUES "
                                 "('email', ?, ?, ?) ON CONFLICT (kind, value) DO NOTHING",
                                 [address, keep_id, other["email"]])
            cases = [r[0] for r in await tx.fetchall("SELECT case_id FROM cases WHERE contact_id = ?", [other_id])]
            await tx.execute("UPDATE cases SET contact_id = ? WHERE contact_id = ?", [keep_id, other_id])
            await add_audit(tx, [AuditEntry(c, when, by, "contact_id", other_id, keep_id) for c in cases])
            merged = f"#{other_id} {other['name']}" + (f" ({other['organisation']})" if other.get("organisation") else "")
            await _audit(tx, keep_id, when, by, "merged", merged, None)
            for key, value in changes.items():
                await _audit(tx, keep_id, when, by, key, kept.get(key), value)
            await tx.execute("DELETE FROM contacts WHERE id = ?", [other_id])
            return changes

        return await self._job(job)

    async def contact_timeline(self, contact_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """Calls from any of its numbers, its tasks (e-mails, chats, SMS, voice messages, faxes)
        and its cases, newest first: kind, channel, at, ref (call, task or case id), what."""
        await self._caught_up()
        nums = [r[0] for r in await self.backend.fetchall(
            "SELECT number FROM contact_numbers WHERE contact_id = ?", [contact_id])]
        items: list[dict[str, Any]] = []
        if nums:
            marks = ",".join("?" for _ in nums)
            for call_id, caller, started, queue, agent, disposition, ae in await self.backend.fetchall(
                    f"SELECT call_id, caller, started_at, queue, agent, disposition, adverse_event FROM calls "
                    f"WHERE caller_norm IN ({marks}) ORDER BY started_at DESC LIMIT ?", [*nums, limit]):
                items.append({"kind": "call", "channel": "voice", "at": codec.parse_ts(started), "ref": call_id,
                              "what": disposition or "", "who": caller, "queue": queue, "agent": agent, "status": "",
                              "case_id": None,
                              "adverse_event": bool(ae)})
        for task_id, channel, created, sender, subject, status, queue, agent, case_id in await self.backend.fetchall(
                "SELECT task_id, channel, created_at, sender, subject, status, queue, agent, case_id FROM tasks "
                "WHERE contact_id = ? ORDER BY created_at DESC LIMIT ?", [contact_id, limit]):
            items.append({"kind": "task", "channel": channel, "at": codec.parse_ts(created), "ref": task_id,
                          "what": subject or "", "who": sender or "", "queue": queue, "agent": agent,
                          "status": status, "case_id": case_id,
                          "adverse_event": bool(case_id and case_id.startswith("AE"))})
        for case_id, kind, status, opened in await self.backend.fetchall(
                "SELECT case_id, kind, status, opened_at FROM cases WHERE contact_id = ? "
                "ORDER BY opened_at DESC LIMIT ?", [contact_id, limit]):
            items.append({"kind": "case", "channel": "", "at": codec.parse_ts(opened), "ref": case_id,
                          "what": kind, "who": "", "queue": None, "agent": None, "status": status, "case_id": None,
                          "adverse_event": kind == "adverse_event"})
        items.sort(key=lambda i: (i["at"] is not None, i["at"]), reverse=True)
        return items[:limit]

    def _identity_value(self, kind: str, raw: str) -> str:
        if kind not in IDENTITY_KINDS:
            raise _refusal(f"kind {kind!r} is not one of {', '.join(IDENTITY_KINDS)}", "identity_kind")
        if kind == "email":
            value = email_identity(raw)
            if value is None:
                raise _refusal(f"{raw.strip()!r} is not an e-mail address", "identity_email")
            return value
        value = normalise_number(raw, self.country_code)
        if len(value.lstrip("+")) < 3:
            raise _refusal(f"{raw.strip()!r} has too few digits for a phone number", "identity_phone")
        return value


async def _existing(tx: Tx, contact_id: int) -> dict[str, Any]:
    rows = await tx.fetchall(f"SELECT {', '.join(CONTACT_FIELDS)} FROM contacts WHERE id = ?", [contact_id])
    if not rows:
        raise CrmError(f"no contact card #{contact_id}")
    return contact_dict(rows[0], [])


async def _owner(tx: Tx, kind: str, value: str) -> int | None:
    rows = (await tx.fetchall("SELECT contact_id FROM contact_numbers WHERE number = ?", [value]) if kind == "phone"
            else await tx.fetchall("SELECT contact_id FROM contact_identities WHERE kind = ? AND value = ?",
                                   [kind, value]))
    return int(rows[0][0]) if rows else None


async def _audit(tx: Tx, contact_id: int, when: datetime, by: str, field: str, old: Any, new: Any) -> None:
    await tx.execute("INSERT INTO contact_audit (contact_id, at, changed_by, field, old_value, new_value) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     [contact_id, codec.ts(when), by, field, json.dumps(_plain(old)), json.dumps(_plain(new))])


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def _refusal(message: str, code: str, field: str = "identity", **params: Any) -> CaseRefused:
    return CaseRefused(message, [FieldProblem(field, message, code, params)])
