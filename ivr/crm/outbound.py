"""Outbound campaigns in the CRM database (migration 9): campaigns, their contacts, every
attempt with its outcome, and the do-not-call list.

The rules are not here: reserve_next() asks ivr.outbound.rules.may_dial for each due
contact, in the same transaction that reserves the attempt, so two runners (or a runner
and its restart) never take the same number and every call placed has its row first.
Writes go through the store's writer queue; reads to the reader connection."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ivr.crm import codec
from ivr.crm.backends import Tx
from ivr.crm.contacts import search_key
from ivr.crm.errors import CrmError
from ivr.crm.store import CrmStore
from ivr.crm.surveys import campaign_scores
from ivr.outbound.campaign import Campaign, ContactSegment
from ivr.outbound.listing import ListContact
from ivr.outbound.rules import FINAL, Attempt, Contact, abandon_rate, may_dial

STATES = ("loaded", "running", "paused", "stopped")
_BATCH = 100        # due contacts looked at per reservation


@dataclass(frozen=True)
class CampaignRow:
    name: str
    purpose: str
    mode: str
    state: str
    definition: str
    file: str
    loaded_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Reserved:
    attempt_id: str
    number: str
    name: str
    fields: dict[str, str]


@dataclass(frozen=True)
class AttemptRow:
    attempt_id: str
    number: str
    reserved_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    amd_status: str | None
    amd_cause: str | None
    agent: str | None
    detail: str


class CampaignError(CrmError):
    """A people's command on campaigns failed (unknown campaign, bad state…)."""


class CampaignStore:
    """Campaigns on a CrmStore (which the caller opens and closes)."""

    def __init__(self, store: CrmStore) -> None:
        self.store = store
        self.backend = store.backend

    # ------------------------------------------------------------------ campaigns
    async def save_campaign(self, campaign: Campaign, definition: str, file: str, now: datetime) -> None:
        """Load or reload a campaign's definition (`file`: where it was read); a running
        campaign keeps running."""
        at = codec.ts(now)

        async def job(tx: Tx) -> None:
            changed = await tx.execute(
                "UPDATE campaigns SET purpose = ?, mode = ?, definition = ?, file = ?, updated_at = ? "
                "WHERE name = ?", [campaign.purpose, campaign.mode, definition, file, at, campaign.name])
            if not changed:
                await tx.execute(
                    "INSERT INTO campaigns (name, purpose, mode, state, definition, file, loaded_at, "
                    "updated_at) VALUES (?, ?, ?, 'loaded', ?, ?, ?, ?)",
                    [campaign.name, campaign.purpose, campaign.mode, definition, file, at, at])

        await self.store._job(job)

    async def set_state(self, name: str, state: str, now: datetime) -> None:
        if state not in STATES:
            raise CampaignError(f"state must be one of {', '.join(STATES)}")
        changed = await self.store._job(lambda tx: tx.execute(
            "UPDATE campaigns SET state = ?, updated_at = ? WHERE name = ?", [state, codec.ts(now), name]))
        if not changed:
            raise CampaignError(f"no campaign named {name!r}; load it with `ivr campaign load FILE`")

    async def campaigns(self) -> list[CampaignRow]:
        rows = await self.backend.fetchall(
            "SELECT name, purpose, mode, state, definition, file, loaded_at, updated_at FROM campaigns "
            "ORDER BY name")
        return [CampaignRow(*r[:6], codec.parse_ts(r[6]), codec.parse_ts(r[7])) for r in rows]

    async def campaign(self, name: str) -> CampaignRow | None:
        return next((c for c in await self.campaigns() if c.name == name), None)

    # ------------------------------------------------------------------ the list
    async def add_contacts(self, name: str, contacts: list[ListContact], now: datetime) -> int:
        """Add the list's contacts; a number already in the campaign is left as it is."""
        at = codec.ts(now)

        async def job(tx: Tx) -> int:
            known = {r[0] for r in await tx.fetchall(
                "SELECT number FROM campaign_contacts WHERE campaign = ?", [name])}
            new = [c for c in contacts if c.number not in known]
            if new:
                await tx.executemany(
                    "INSERT INTO campaign_contacts (campaign, number, name, tz, consent, fields, status, "
                    "reason, next_at, attempts, added_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', '', NULL, 0, ?)",
                    [[name, c.number, c.name, c.tz, None if c.consent is None else int(c.consent),
                      json.dumps(c.fields, ensure_ascii=False), at] for c in new])
            return len(new)

        return await self.store._job(job)

    async def segment_contacts(self, segment: ContactSegment) -> list[ListContact]:
        """Contact cards matching the segment, each on its first phone number (by number)."""
        conds, params = ["1 = 1"], []
        if segment.types:
            conds.append(f"c.type IN ({', '.join('?' for _ in segment.types)})")
            params += segment.types
        if segment.language:
            conds.append("c.language = ?")
            params.append(segment.language)
        if segment.organisation_contains:
            conds.append("c.search_key LIKE ?")
            params.append(f"%{search_key(segment.organisation_contains)}%")
        if segment.consent:
            conds.append(f"c.{segment.consent} = 1")     # a Literal: never text from the file
        rows = await self.store.backend.fetchall(
            "SELECT c.id, c.name, c.type, c.may_contact_phone, MIN(n.number) FROM contacts c "
            f"JOIN contact_numbers n ON n.contact_id = c.id WHERE {' AND '.join(conds)} "
            "GROUP BY c.id, c.name, c.type, c.may_contact_phone ORDER BY c.id", params)
        return [ListContact(line=0, number=number, name=name,
                            consent=None if consent is None else bool(consent),
                            fields={"contact_id": str(cid), "type": ctype})
                for cid, name, ctype, consent, number in rows]

    # ------------------------------------------------------------------ do not call
    async def add_dnc(self, number: str, source: str, now: datetime, campaign: str | None = None) -> bool:
        """True when the number is new on the list. Its pending contacts are refused at once."""
        async def job(tx: Tx) -> bool:
            if await tx.fetchall("SELECT 1 FROM dnc WHERE number = ?", [number]):
                return False
            await tx.execute("INSERT INTO dnc (number, added_at, source, campaign) VALUES (?, ?, ?, ?)",
                             [number, codec.ts(now), source, campaign])
            await tx.execute("UPDATE campaign_contacts SET status = 'refused', reason = 'dnc' "
                             "WHERE number = ? AND status = 'pending'", [number])
            return True

        return await self.store._job(job)

    async def is_dnc(self, number: str) -> bool:
        return bool(await self.backend.fetchall("SELECT 1 FROM dnc WHERE number = ?", [number]))

    # ------------------------------------------------------------------ attempts
    async def recover(self, name: str, now: datetime) -> int:
        """After a restart: attempts whose outcome never came are 'interrupted' (the number waits
        for the next day), their contacts pending again. Returns how many."""
        at = codec.ts(now)

        async def job(tx: Tx) -> int:
            n = await tx.execute("UPDATE campaign_attempts SET outcome = 'interrupted', ended_at = ? "
                                 "WHERE campaign = ? AND outcome IS NULL", [at, name])
            await tx.execute("UPDATE campaign_contacts SET status = 'pending' "
                             "WHERE campaign = ? AND status = 'dialling'", [name])
            return n

        return await self.store._job(job)

    async def reserve_next(self, campaign: Campaign, attempt_id: str, now: datetime, *,
                           holidays: frozenset[date] = frozenset()) -> Reserved | None:
        """The next contact the rules allow now, with its attempt written (outcome NULL) before
        anyone dials; contacts the rules refuse get their reason or their next time. None: no
        one may be called now."""
        at = codec.ts(now)

        async def job(tx: Tx) -> Reserved | None:
            due = await tx.fetchall(
                "SELECT id, number, name, tz, consent, fields FROM campaign_contacts "
                "WHERE campaign = ? AND status = 'pending' AND (next_at IS NULL OR next_at <= ?) "
                f"ORDER BY COALESCE(next_at, ''), id LIMIT {_BATCH}", [campaign.name, at])
            for cid, number, name, tz, consent, fields in due:
                history = [Attempt(codec.parse_ts(r[0]), r[1] or "interrupted") for r in await tx.fetchall(
                    "SELECT reserved_at, outcome FROM campaign_attempts WHERE campaign = ? AND number = ?",
                    [campaign.name, number])]
                dnc = bool(await tx.fetchall("SELECT 1 FROM dnc WHERE number = ?", [number]))
                contact = Contact(number, tz, None if consent is None else bool(consent), dnc)
                verdict = may_dial(campaign, contact, history, now, holidays=holidays)
                if verdict.allowed:
                    await tx.execute(
                        "INSERT INTO campaign_attempts (attempt_id, campaign, number, reserved_at, detail) "
                        "VALUES (?, ?, ?, ?, '')", [attempt_id, campaign.name, number, at])
                    await tx.execute("UPDATE campaign_contacts SET status = 'dialling', reason = '', "
                                     "attempts = attempts + 1 WHERE id = ?", [cid])
                    return Reserved(attempt_id, number, name, json.loads(fields))
                if verdict.final:
                    status = "done" if verdict.reason == "done" else "refused"
                    await tx.execute("UPDATE campaign_contacts SET status = ?, reason = ? WHERE id = ?",
                                     [status, verdict.reason, cid])
                else:
                    await tx.execute("UPDATE campaign_contacts SET reason = ?, next_at = ? WHERE id = ?",
                                     [verdict.reason, codec.ts(verdict.not_before), cid])
            return None

        return await self.store._job(job)

    async def answered(self, attempt_id: str, now: datetime, amd_status: str = "", amd_cause: str = "") -> None:
        await self.store._job(lambda tx: tx.execute(
            "UPDATE campaign_attempts SET answered_at = ?, amd_status = ?, amd_cause = ? WHERE attempt_id = ?",
            [codec.ts(now), amd_status or None, amd_cause or None, attempt_id]))

    async def finish(self, attempt_id: str, outcome: str, now: datetime, *, agent: str | None = None,
                     detail: str = "") -> None:
        """The attempt's outcome; its contact is done (reached) or pending again (the rules
        decide when, at the next reservation)."""
        async def job(tx: Tx) -> None:
            rows = await tx.fetchall("SELECT campaign, number FROM campaign_attempts WHERE attempt_id = ?",
                                     [attempt_id])
            if not rows:
                raise CampaignError(f"no attempt {attempt_id!r}")
            await tx.execute("UPDATE campaign_attempts SET outcome = ?, ended_at = ?, agent = ?, detail = ? "
                             "WHERE attempt_id = ?", [outcome, codec.ts(now), agent, detail, attempt_id])
            await tx.execute("UPDATE campaign_contacts SET status = ?, reason = ?, next_at = NULL "
                             "WHERE campaign = ? AND number = ? AND status = 'dialling'",
                             ["done" if outcome in FINAL else "pending", outcome if outcome in FINAL else "",
                              *rows[0]])

        await self.store._job(job)

    async def attempts(self, name: str) -> list[AttemptRow]:
        rows = await self.backend.fetchall(
            "SELECT attempt_id, number, reserved_at, answered_at, ended_at, outcome, amd_status, amd_cause, "
            "agent, detail FROM campaign_attempts WHERE campaign = ? ORDER BY reserved_at, attempt_id", [name])
        return [AttemptRow(r[0], r[1], codec.parse_ts(r[2]), codec.parse_ts(r[3]), codec.parse_ts(r[4]),
                           *r[5:]) for r in rows]

    async def abandon_history(self, name: str, now: datetime, days: int = 30) -> list[tuple[datetime, bool]]:
        """The person-answered calls of the rolling window, for the pacer's starting figures."""
        rows = await self.backend.fetchall(
            "SELECT COALESCE(answered_at, reserved_at), outcome FROM campaign_attempts "
            "WHERE campaign = ? AND outcome IN ('answered', 'abandoned') AND reserved_at > ?",
            [name, codec.ts(now - timedelta(days=days))])
        return [(codec.parse_ts(r[0]), r[1] == "abandoned") for r in rows]

    async def summary(self, name: str, now: datetime, days: int = 30) -> dict[str, Any]:
        """What `ivr campaign status` shows: contacts by status, attempts by outcome, the rolling
        abandon rate recomputed from the attempts."""
        contacts = dict(await self.backend.fetchall(
            "SELECT status, COUNT(*) FROM campaign_contacts WHERE campaign = ? GROUP BY status", [name]))
        attempts = await self.attempts(name)
        outcomes = Counter(a.outcome or "in_progress" for a in attempts)
        rate = abandon_rate([Attempt(a.answered_at or a.reserved_at, a.outcome) for a in attempts
                             if a.outcome], now, days)
        return {"campaign": name, "contacts": sum(contacts.values()),
                **{f"contacts_{k}": v for k, v in sorted(contacts.items())},
                "attempts": len(attempts), **{f"outcome_{k}": v for k, v in sorted(outcomes.items())},
                "answered_by_person": rate.answered, "abandoned": rate.abandoned,
                "abandon_rate_30d": round(rate.rate, 4), **await campaign_scores(self.store, name)}
