"""AstDB as the spool between Asterisk's dialplan and the engine (SMS, fax): the dialplan
writes one entry per message and raises a UserEvent; the engine reads the family over AMI
(DBGetTree), handles each entry (CRM commit first) and only then deletes it (DBDel). Entries
written while the engine is down or the AMI link is broken are read at the next AMI login.
With several sites, every site's Asterisk is read (each keeps its own AstDB)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class AstDbSpool:
    def __init__(self, family: str, ami: Callable[[], Any],
                 handle: Callable[[str, str], Awaitable[None]]) -> None:
        self.family = family
        self.ami = ami                 # the engine's AmiLink (it reconnects: ask each time)
        self.handle = handle           # (key, value): raise to keep the entry for a retry
        self._lock = asyncio.Lock()
        self._again = False

    async def drain(self) -> int:
        """Handle every entry; one drain at a time (events during a drain make one more)."""
        if self._lock.locked():
            self._again = True
            return 0
        done = 0
        async with self._lock:
            while True:
                self._again = False
                try:
                    done += await self._once()
                except Exception as exc:  # noqa: BLE001 — the entries stay; the next event retries
                    log.warning("%s: reading the AstDB spool failed (%s); its entries stay there "
                                "and are read at the next event or AMI login", self.family, exc)
                    return done
                if not self._again:
                    return done

    async def _once(self) -> int:
        ami = self.ami()
        if ami is None or not ami.connected:
            return 0
        done = 0
        for asterisk in ami.every_asterisk():     # one, or each site's (sites:)
            listing = await asterisk.action({"Action": "DBGetTree", "Family": self.family}, as_list=True)
            rows = [m for m in (listing if isinstance(listing, list) else [listing])
                    if m.get("Event") == "DBGetTreeResponse"]
            for row in rows:
                key = str(row.get("Key", "")).rsplit("/", 1)[-1]
                await self.handle(key, str(row.get("Val", "")))
                await asterisk.action({"Action": "DBDel", "Family": self.family, "Key": key})
            done += len(rows)
        return done


def read_if_present(path: Path) -> bytes | None:
    """A file Asterisk wrote for a spooled entry (a fax's TIFF, a recording); None once gone."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
