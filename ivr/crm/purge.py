"""Retention: remove the personal data of old calls, keep the figures reports need.

For every call started more than N days ago, `purge` blanks the caller's number (raw and
normalised, which also unlinks the call from its contact's history), the speech transcript and
the digits the caller typed (path entries' `value`) and the agents' free-text call notes
(their wrap-up codes and articles stay), and keeps in call events only the
non-personal fields (agent, queue, timings...). Queue, timestamps, wait/talk, disposition,
intent, route, agent and adverse-event flags stay, so `build_report` gives the same figures.

Adverse-event calls (adverse_event set, or linked to an adverse_event case) are exempt: pharmacovigilance
law requires keeping the reporter's details with the case. The report says how many were kept.

Portable SQL only (SQLite and PostgreSQL), in one transaction on the store's backend.
"""
from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from . import codec
from .errors import CrmError
from .store import CrmStore, open_store

AE_REASON = ("adverse-event calls are pharmacovigilance records: the reporter's details must be "
             "kept with the case (close and archive the case first)")
# call_events data keys that carry no personal data (everything else is dropped)
EVENT_KEYS = frozenset({"agent", "queue", "ring_ms", "node", "state", "rule", "priority", "position",
                        "wait_seconds", "talk_seconds", "disposition", "intent", "destination",
                        "strategy", "after_seconds", "step", "outcome", "language", "route"})
PATH_PERSONAL = ("value", "text", "transcript", "digits", "caller", "number")

_OLD = "COALESCE(c.started_at, c.updated_at) < ?"
# A call linked to an adverse-event case (migration 5 moved the ae_cases rows there) is one.
_AE_CALLS = ("SELECT l.call_id FROM case_calls l JOIN cases k ON k.case_id = l.case_id "
             "WHERE k.kind = 'adverse_event'")
_NOT_AE = f"c.adverse_event = 0 AND c.call_id NOT IN ({_AE_CALLS})"
_IS_AE = f"(c.adverse_event <> 0 OR c.call_id IN ({_AE_CALLS}))"


@dataclass
class PurgeReport:
    cutoff: datetime                 # calls started before this were considered
    dry_run: bool
    calls_purged: int = 0            # calls whose personal data was (or would be) removed
    calls_already_clean: int = 0     # old calls with nothing left to remove (earlier purge)
    events_scrubbed: int = 0         # call events whose data lost personal fields
    ae_calls_kept: int = 0           # adverse-event calls left untouched
    notes_cleared: int = 0           # agents' call notes (free text) blanked; codes and articles kept
    ae_kept_reason: str = AE_REASON

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"cutoff": codec.ts(self.cutoff)}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)  # as codec


def _scrub_path(text: str | None) -> str:
    path = json.loads(text or "[]")
    for step in path if isinstance(path, list) else []:
        if isinstance(step, dict):
            for key in PATH_PERSONAL:
                if key in step:
                    step[key] = ""
    return _dumps(path)


def _scrub_event(text: str | None) -> str:
    data = json.loads(text or "{}")
    return _dumps({k: v for k, v in data.items() if k in EVENT_KEYS}
                       if isinstance(data, dict) else {})


async def purge(store: CrmStore, older_than_days: int, now: datetime | None = None, *,
                dry_run: bool = False) -> PurgeReport:
    """Remove personal data of non-adverse-event calls started more than `older_than_days` ago."""
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 1:
        raise CrmError(f"retention must be a whole number of days >= 1, not {older_than_days!r}")
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=older_than_days)
    when = codec.ts(cutoff)
    report = PurgeReport(cutoff=codec.parse_ts(when) or cutoff, dry_run=dry_run)
    await store.flush()                  # our own queued writes land first
    async with store.backend.transaction() as tx:
        calls = await tx.fetchall(
            f"SELECT c.call_id, c.caller, c.caller_norm, c.speech_text, c.path FROM calls c "
            f"WHERE {_OLD} AND {_NOT_AE} ORDER BY c.call_id", [when])
        updates = []
        for call_id, caller, norm, speech, path in calls:
            clean = _scrub_path(path)
            if caller or norm or speech is not None or clean != (path or "[]"):
                updates.append((clean, codec.ts(datetime.now(timezone.utc)), call_id))
        events = await tx.fetchall(
            f"SELECT e.id, e.data FROM call_events e JOIN calls c ON c.call_id = e.call_id "
            f"WHERE {_OLD} AND {_NOT_AE} ORDER BY e.id", [when])
        ev_updates = [(clean, eid) for eid, data in events if (clean := _scrub_event(data)) != data]
        old_calls = f"SELECT c.call_id FROM calls c WHERE {_OLD} AND {_NOT_AE}"
        notes = await tx.fetchall(f"SELECT COUNT(*) FROM call_documentation WHERE notes <> '' AND "
                                  f"call_id IN ({old_calls})", [when])
        report.notes_cleared = int(notes[0][0])
        ae = await tx.fetchall(f"SELECT COUNT(*) FROM calls c WHERE {_OLD} AND {_IS_AE}", [when])
        report.calls_purged, report.events_scrubbed = len(updates), len(ev_updates)
        report.calls_already_clean = len(calls) - len(updates)
        report.ae_calls_kept = int(ae[0][0])
        if not dry_run:
            if updates:
                await tx.executemany("UPDATE calls SET caller = '', caller_norm = '', speech_text = NULL, "
                                     "path = ?, updated_at = ? WHERE call_id = ?", updates)
            if ev_updates:
                await tx.executemany("UPDATE call_events SET data = ? WHERE id = ?", ev_updates)
            if report.notes_cleared:
                await tx.execute(f"UPDATE call_documentation SET notes = '' WHERE notes <> '' AND "
                                 f"call_id IN ({old_calls})", [when])
    return report


def render_report(report: PurgeReport, fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps(report.as_dict(), indent=2, ensure_ascii=False)
    verb = "would remove" if report.dry_run else "removed"
    return "\n".join([
        f"calls started before {codec.ts(report.cutoff)}:",
        f"  personal data {verb}: {report.calls_purged} call(s), {report.events_scrubbed} event(s), "
        f"{report.notes_cleared} agent note(s)",
        f"  already purged:        {report.calls_already_clean} call(s)",
        f"  kept (adverse events): {report.ae_calls_kept} call(s): {report.ae_kept_reason}",
    ] + (["  dry run: nothing was changed"] if report.dry_run else []))


@click.command("purge")
@click.option("--older-than", "days", type=click.IntRange(min=1), required=True, metavar="DAYS",
              help="remove personal data of calls started more than DAYS days ago")
@click.option("--dry-run", is_flag=True, help="count only, change nothing")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--crm", "crm_url", envvar="IVR_CRM_URL", metavar="URL", help="CRM store URL")
@click.pass_context
def purge_cmd(ctx: click.Context, days: int, dry_run: bool, fmt: str, crm_url: str | None) -> None:
    """Retention: blank callers' numbers, transcripts and typed digits of old calls
    (adverse-event calls are kept); reports' figures do not change."""
    url = crm_url or (ctx.obj.get("crm_url") if isinstance(ctx.obj, dict) else None)
    if not url:
        click.echo("error: no CRM store given: pass --crm URL or set IVR_CRM_URL", err=True)
        sys.exit(1)

    async def main() -> PurgeReport:
        store = await open_store(url)
        try:
            return await purge(store, days, dry_run=dry_run)
        finally:
            await store.close()

    try:
        report = asyncio.run(main())
    except CrmError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(render_report(report, fmt))
