"""Index the knowledge folder into the CRM database, and keep the running index in step with
it (adapter). What to change is decided by the pure indexing.py; files are read by files.py."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ivr.dialplan.problems import Problem

from .checks import check_articles, problems_of
from .files import folder_signature, read_folder
from .indexing import plan_sync, unchanged_files
from .store import KnowledgeBase

log = logging.getLogger("ivr.knowledge")


@dataclass
class IndexReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    kept: list[str] = field(default_factory=list)     # broken now: last good version kept
    problems: list[Problem] = field(default_factory=list)
    total: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"added": self.added, "updated": self.updated, "removed": self.removed,
                "unchanged": self.unchanged, "kept_last_good": self.kept, "total": self.total,
                "problems": [str(p) for p in self.problems]}

    def summary(self) -> str:
        text = (f"{self.total} article(s) indexed: {len(self.added)} added, {len(self.updated)} "
                f"updated, {len(self.removed)} removed, {self.unchanged} unchanged")
        if self.problems:
            text += (f"; {len(self.problems)} problem(s) in the folder"
                     + (f", {len(self.kept)} article(s) kept at their last good version" if self.kept else ""))
        return text


async def index_folder(kb: KnowledgeBase, folder: Path, now: datetime | None = None) -> IndexReport:
    """Bring the index in line with the folder. A broken article is reported and keeps its
    last good version in the index; the others are indexed all the same. Intents are not
    checked against the dialplan here (`ivr check` does): a dialplan edit must never take
    answers away from agents; an article for an intent no call has is just never suggested."""
    files, unreadable = await asyncio.to_thread(read_folder, folder)
    if not folder.is_dir():
        return IndexReport(problems=unreadable, total=await kb.count())
    indexed = await kb.indexed()
    same = unchanged_files(files, indexed)
    parsed = await asyncio.to_thread(check_articles, [f for f in files if f.name not in same],
                                     None, {row.id: row.name for row in same.values()})
    plan = plan_sync(parsed, indexed, {_name(folder, p.file) for p in unreadable}, same.keys())
    held = {i.id for i in indexed}
    await kb.apply(plan, now or datetime.now(timezone.utc))
    return IndexReport(
        added=[a.id for a in plan.upsert if a.id not in held],
        updated=[a.id for a in plan.upsert if a.id in held], removed=list(plan.delete),
        unchanged=len(plan.unchanged), kept=list(plan.kept),
        problems=sorted(unreadable + problems_of(parsed)), total=await kb.count())


def _name(folder: Path, file: str) -> str:
    return Path(file).relative_to(folder).as_posix()


class KnowledgeWatcher:
    """Keeps the running index in step with the folder: indexes at start, then whenever a
    file is saved, added or removed (checked every `every_s`: file dates only, nothing read
    or written while nothing changed). Problems are logged once per change; a failing run
    (the database down) is retried."""

    def __init__(self, kb: KnowledgeBase, folder: Path) -> None:
        self.kb, self.folder = kb, folder
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._failure: str | None = None
        self.last: IndexReport | None = None
        self.runs = 0

    async def check_once(self) -> IndexReport | None:
        """Index if the folder changed since the last run; the report, or None."""
        if self.kb.store.degraded:
            # The CRM database fails and the calls' records wait in the spool: an index run
            # would only hold the writer up (waiting on locks or timeouts). Later.
            return None
        signature = await asyncio.to_thread(folder_signature, self.folder)
        if signature == self._seen:
            return None
        if not self.folder.is_dir():
            self._seen = signature
            log.info("knowledge base: no folder %s (knowledge.dir): no articles to suggest", self.folder)
            return None
        report = await index_folder(self.kb, self.folder)
        self._seen, self.last = signature, report
        for problem in report.problems:
            log.warning("knowledge base: %s (fix it and save: the index keeps the article's last "
                        "good version meanwhile)", problem)
        if report.added or report.updated or report.removed or self.runs == 0:
            log.info("knowledge base: %s", report.summary())
        self.runs += 1
        return report

    async def run(self, every_s: float = 5.0) -> None:
        """every_s = 0: index once (at start), then no more."""
        while True:
            try:
                await self.check_once()
                if self._failure is not None:
                    log.info("knowledge base: indexing works again")
                self._failure = None
            except Exception as exc:      # the database down, a file vanishing mid-read…
                if self._failure is None:  # said once per outage, not every few seconds
                    log.warning("knowledge base: indexing %s failed (%s: %s); the running index "
                                "stays as it is and indexing is tried again", self.folder,
                                type(exc).__name__, exc)
                self._failure = str(exc)
            if every_s <= 0 and self._failure is None:
                return
            await asyncio.sleep(every_s or 5.0)
