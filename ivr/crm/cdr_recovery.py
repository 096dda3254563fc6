"""Reading Asterisk's Master.csv and writing the CRM records of calls the engine missed.

The decisions are in ivr/crm/reconcile.py (pure); this is the I/O around them: find where the
retention window starts in a possibly huge, append-only CSV (bisection on byte offsets, so
years of old CDRs are never read), remember how far it has read (a second run reads only what
Asterisk appended since), and save through the CRM store.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import BinaryIO

from ivr.crm import reconcile
from ivr.config import Settings
from ivr.crm import codec
from ivr.crm.records import CallRecord, is_cut_off
from ivr.crm.store import CrmStore
from ivr.privacy import mask_number

log = logging.getLogger(__name__)

# Rows are appended when a call ends, so a row's end time is at most a call's length older
# than its neighbours': start the bisection this much earlier and no call of the window is lost.
LONGEST_CALL = timedelta(hours=12)
# Below this many bytes, reading beats seeking.
_SCAN_BYTES = 256 * 1024


class CdrUnreadable(Exception):
    """The CDR file exists (or should) but this process cannot read it."""


@dataclass
class CdrFile:
    """An append-only cdr_csv file, read from a point in time, then incrementally."""
    path: Path
    tz: tzinfo | None = timezone.utc
    _inode: int | None = None
    _offset: int = 0
    _read_upto: tuple[int | None, int] = (None, 0)

    def commit(self) -> None:
        """The rows last read are dealt with: the next read starts after them."""
        self._inode, self._offset = self._read_upto

    def read_new(self, since: datetime) -> list[reconcile.CdrRow]:
        """Rows not read (and committed) before that end at `since` or later (an earlier row
        cannot belong to a call of the window); on the first call (or after a rotation) the
        read starts near `since`. [] while the file does not exist (no call ended yet).
        Streamed: memory follows the rows kept, not the bytes read (the first read of a busy
        day's file goes through hours of rows)."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            if not self.path.parent.is_dir():
                raise CdrUnreadable(f"{self.path.parent} does not exist") from None
            return []
        except OSError as exc:
            raise CdrUnreadable(str(exc)) from None
        with fh:
            info = os.fstat(fh.fileno())
            start = self._offset
            if info.st_ino != self._inode or info.st_size < start:          # new or rotated
                start = seek_time(fh, info.st_size, since, self.tz)
            fh.seek(start)
            lines = _CompleteLines(fh, info.st_size - start)
            rows = list(reconcile.parse_lines(lines, self.tz, ends_from=since))
        self._read_upto = (info.st_ino, start + lines.consumed)
        return rows


class _CompleteLines:
    """The whole lines among the next `size` bytes of `fh`, decoded; `consumed`: their bytes.
    A last line without its newline is being written: it waits for the next read."""

    def __init__(self, fh: BinaryIO, size: int):
        self.fh, self.left, self.consumed = fh, size, 0

    def __iter__(self) -> Iterator[str]:
        readline = self.fh.readline
        while self.left > 0:
            line = readline(self.left)
            if not line.endswith(b"\n"):
                return
            self.left -= len(line)
            self.consumed += len(line)
            yield line.decode("utf-8", errors="replace")


def seek_time(fh: BinaryIO, size: int, since: datetime, tz: tzinfo | None) -> int:
    """Offset of a line at or shortly before the first row ending at `since` or later."""
    target = since - LONGEST_CALL
    lo, hi = 0, size
    while hi - lo > _SCAN_BYTES:
        mid = (lo + hi) // 2
        fh.seek(mid)
        fh.readline()                                  # skip the partial line
        end = _next_end_time(fh, tz)
        if end is None or end >= target:
            hi = mid
        else:
            lo = mid
    fh.seek(lo)
    if lo:
        fh.readline()
    return fh.tell()


def _next_end_time(fh: BinaryIO, tz: tzinfo | None, tries: int = 8) -> datetime | None:
    for _ in range(tries):                             # a damaged line: look at the next one
        line = fh.readline()
        if not line:
            return None
        rows = list(reconcile.parse_lines([line.decode("utf-8", errors="replace")], tz))
        if rows:
            return rows[0].end
    return None


@dataclass
class CdrSource:
    """One Asterisk's cdr_csv file; `site`: the site whose Asterisk writes it (sites:)."""
    file: CdrFile
    site: str | None = None
    said_unreadable: bool = False


def cdr_sources(settings: Settings) -> list[CdrSource]:
    """cdr.csv_path, then each site's `cdr_csv` (its Asterisk's Master.csv as this engine sees
    it: a shared or synced folder); one file once. No file named: none (a production engine
    never guesses where CDRs are)."""
    tz = timezone.utc if settings.cdr.usegmtime else None
    named = [(settings.cdr_csv_path(), None)] + [
        (settings.path(site.cdr_csv), site.name) for site in settings.sites if site.cdr_csv]
    sources: dict[Path, CdrSource] = {}
    for path, site in named:
        if path is not None and path not in sources:
            sources[path] = CdrSource(CdrFile(path, tz), site)
    return list(sources.values())


class CdrRecovery:
    """Writes a CRM record for every hotline call found in Asterisk's CDRs but not in the
    CRM (recovered, route fallback), and completes cut-off records with the CDR's outcome."""

    def __init__(self, settings: Settings, store: CrmStore, agents: Mapping[str, str]):
        cdr = settings.cdr
        self.sources = cdr_sources(settings)
        self.sites_unread = [site.name for site in settings.sites if not site.cdr_csv]
        self.enabled = cdr.enabled and bool(self.sources)
        self.contexts = list(cdr.contexts)
        self.max_age = timedelta(days=cdr.max_age_days)
        self.store = store
        self.agents = dict(agents)
        self._since: datetime | None = None
        self._lock = asyncio.Lock()
        self._said_failure = False

    async def run_forever(self, every_s: float) -> None:
        """A run now (engine start), then one every `every_s` seconds (0: never again): each
        reads only what Asterisk appended, so a cut-off call still talking to an operator at
        start gets its outcome once it ends, without waiting for the next restart."""
        if not self.enabled:
            if not self.sources:
                log.warning("CDR reconciliation is off: cdr.csv_path is empty, so calls Asterisk "
                            "handles while the engine is down will not reach the CRM. To turn "
                            "it on, set cdr.csv_path in the engine settings to Asterisk's "
                            "cdr_csv Master.csv (e.g. /var/log/asterisk/cdr-csv/Master.csv)")
            else:
                log.info("CDR reconciliation is disabled (cdr.enabled: false): calls Asterisk "
                         "handles while the engine is down will not reach the CRM")
            return
        if self.sites_unread:
            log.warning("CDR reconciliation reads no file for site(s) %s: calls their Asterisk "
                        "takes while no engine serves reach the CRM only if cdr.csv_path is that "
                        "file. Set `cdr_csv` on those sites (their Master.csv, shared with this "
                        "host)", ", ".join(self.sites_unread))
        await self.run("engine start")
        while every_s > 0:
            await asyncio.sleep(every_s)
            await self.run("periodic check")

    async def run(self, why: str) -> tuple[int, int]:
        """(records written, cut-off records completed) over every source. Never raises: a
        failure is logged (once while it lasts) and the next run tries again; one unreadable
        site's file does not stop the others'."""
        if not self.enabled:
            return 0, 0
        written = completed = 0
        async with self._lock:
            failed = False
            for source in self.sources:
                try:
                    done = await self._run(source, why)
                    source.said_unreadable = False
                    written, completed = written + done[0], completed + done[1]
                except CdrUnreadable as exc:
                    if not source.said_unreadable:   # said once; the periodic checks stay quiet
                        source.said_unreadable = True
                        log.warning("CDR reconciliation is off%s: cannot read Asterisk's CDR file %s "
                                    "(%s). Calls Asterisk's fallback takes while the engine is down "
                                    "will be missing from the CRM. Let the engine's user read that "
                                    "file (e.g. the asterisk group), or set %s in the engine settings",
                                    f" for site {source.site}" if source.site else "", source.file.path,
                                    exc, f"sites: {source.site}: cdr_csv" if source.site else "cdr.csv_path")
                except Exception as exc:            # e.g. the CRM database is down right now
                    log.warning("CDR reconciliation (%s) failed (%s); the next check tries again",
                                why, exc, exc_info=not self._said_failure)
                    failed = True
            self._said_failure = failed
        return written, completed

    async def _run(self, source: CdrSource, why: str) -> tuple[int, int]:
        if self._since is None:
            self._since = await self._window_start()
        since = self._since
        file = source.file
        # In a thread, parsing included: a minute of a busy hotline is thousands of rows,
        # which would stall the calls' event loop for tens of milliseconds.
        outcomes = await asyncio.to_thread(self._read_outcomes, file, since)
        if not outcomes:
            file.commit()
            if why == "engine start":
                log.info("CDR reconciliation: no hotline call in %s since %s", file.path,
                         f"{since:%Y-%m-%d %H:%M:%S} UTC")
            return 0, 0
        known = await self._known(outcomes)
        missing, completed = reconcile.plan(outcomes, known, self.agents,
                                            await self._engine_facts(known))
        if source.site:                  # a recovered call is the site's, as a served one is
            missing = [replace(r, site=r.site or source.site) for r in missing]
            completed = [replace(r, site=r.site or source.site) for r in completed]
        for record in missing:
            log.warning("call %s from %s was missing from the CRM; recorded from Asterisk's CDR "
                        "as %s%s", record.call_id, mask_number(record.caller), record.disposition,
                        f" by {record.agent}" if record.agent else "")
            self.store.save_call(record)
        for record in completed:
            self.store.save_call(record)
        if missing or completed:
            await self.store.flush()
        file.commit()                # only now: after a failure, the next run reads them again
        if missing or completed:
            log.warning("CDR reconciliation (%s): recorded %d call(s) Asterisk handled without "
                        "the engine, completed %d cut-off call(s), from %s",
                        why, len(missing), len(completed), file.path)
        elif why == "engine start":
            log.info("CDR reconciliation: the CRM has all %d hotline call(s) Asterisk logged "
                     "since %s", len(outcomes), f"{since:%Y-%m-%d %H:%M:%S} UTC")
        return len(missing), len(completed)

    def _read_outcomes(self, file: CdrFile, since: datetime) -> list[reconcile.CdrOutcome]:
        """The hotline calls that started at `since` or later among the rows not read yet."""
        calls = reconcile.group_calls(file.read_new(since), self.contexts)
        outcomes = (reconcile.outcome_of(legs) for legs in calls.values())
        return [o for o in outcomes if o.started_at >= since]

    async def _window_start(self) -> datetime:
        """Not older than max_age_days, nor than the CRM itself: calls from before the CRM
        existed are not the hotline's to record."""
        oldest = datetime.now(timezone.utc) - self.max_age
        # The schema's first migration is the CRM's birth date (store.py keeps no other).
        rows = await self.store.backend.fetchall("SELECT MIN(applied_at) FROM schema_version", [])
        created = codec.parse_ts(rows[0][0]) if rows and rows[0][0] else None
        since = max(oldest, created) if created else oldest
        # cdr_csv writes whole seconds (truncated): a call in the CRM's first second counts.
        return since.replace(microsecond=0)

    async def _engine_facts(self, known: dict[str, CallRecord | None]
                            ) -> dict[str, reconcile.EngineFacts]:
        """What the engine wrote in each cut-off call's timeline (menu path, queue, intent,
        the agent's answer); cut-off calls are few (those of one killed process)."""
        return {cid: reconcile.facts_of(await self.store.call_events(cid))
                for cid, record in known.items()
                if record is not None and is_cut_off(record.recovered, record.disposition)}

    async def _known(self, outcomes: list[reconcile.CdrOutcome]) -> dict[str, CallRecord | None]:
        """What the CRM has of these calls, as reconcile.plan reads it: the full record of a
        cut-off call (to complete), a bare marker for any other known call (left alone)."""
        present, cut_off = await self.store.cut_off_calls([o.call_id for o in outcomes])
        return {cid: cut_off.get(cid) or CallRecord(call_id=cid) for cid in present}
