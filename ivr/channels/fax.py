"""The fax channel's adapter (fax in).

Asterisk answers a fax number in [hotline-fax] (extensions_hotline.conf) with ReceiveFAX
(res_fax + res_fax_spandsp), writing /var/spool/asterisk/fax/hotline/<uniqueid>.tif. Its hangup
handler, [hotline-fax-done], runs whatever happened (success, failure, a caller who hung up)
and spools the outcome in AstDB (family `hotline_fax`) with a UserEvent, as the SMS channel
does (astdb_spool.py). The engine converts the TIFF to a PDF, stores the task with the PDF
attached in one CRM transaction, hands it to the ACD, and only then deletes the AstDB entry
and the TIFF. A failed or partial fax is a task too, with the reason."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .astdb_spool import AstDbSpool, read_if_present
from .fax_pdf import FaxConversionError, tiff_to_pdf
from .fax_rules import BadFax, FaxReport, parse_spooled, problem
from .fax_store import FaxDocument, ingest_fax
from .settings import FaxSettings
from .task_store import Ingested, task_event

log = logging.getLogger(__name__)
FAMILY = "hotline_fax"
USER_EVENT = "HotlineFax"


class FaxChannel:
    def __init__(self, settings: FaxSettings, store: Any, ami: Callable[[], Any],
                 submit: Callable[[Ingested], None], spawn: Callable[[Any], None]) -> None:
        self.settings = settings
        self.store = store
        self.submit = submit
        self.spawn = spawn
        self.spool = AstDbSpool(FAMILY, ami, self._spooled)
        self.stats = {"received": 0, "failed": 0, "duplicates": 0, "refused": 0}

    def on_ami_event(self, event: dict[str, str]) -> None:
        if event.get("Event") == "UserEvent" and event.get("UserEvent") == USER_EVENT:
            self.spawn(self.spool.drain())

    def on_ami_login(self) -> None:
        self.spawn(self.spool.drain())

    async def _spooled(self, key: str, value: str) -> None:
        try:
            report = parse_spooled(key, value)
        except BadFax as exc:
            self.stats["refused"] += 1
            log.error("fax: spooled entry %s refused: %s; it is removed from AstDB", key, exc)
            return
        await self.accept(report)

    async def accept(self, report: FaxReport) -> Ingested:
        tiff_path = Path(self.settings.spool_dir) / report.tiff_name
        tiff = await asyncio.to_thread(read_if_present, tiff_path)
        trouble = problem(report, tiff is not None)
        document = await self._document(report, tiff) if tiff else None
        if document is not None and document.content_type != "application/pdf":
            trouble = "; ".join(t for t in (trouble, "the TIFF could not be converted to PDF; "
                                            "it is attached as received") if t)
        ing = await ingest_fax(self.store, report, document, trouble, queue=self.settings.queue,
                               priority=self.settings.priority, now=datetime.now(timezone.utc))
        if ing.duplicate:
            self.stats["duplicates"] += 1
        else:
            self.stats["received" if trouble is None else "failed"] += 1
            log.info("fax: %s stored in task %s%s", report.message_id, ing.task_id,
                     f" ({trouble})" if trouble else "")
            self.submit(ing)
        if tiff is not None and not self.settings.keep_tiff:
            tiff_path.unlink(missing_ok=True)        # stored in the CRM: the spool copy goes
        return ing

    async def _document(self, report: FaxReport, tiff: bytes) -> FaxDocument:
        limit = self.settings.max_pdf_bytes
        base = report.message_id.replace(":", "-")
        try:
            pdf, _pages = await asyncio.to_thread(tiff_to_pdf, tiff)
        except FaxConversionError as exc:
            log.warning("fax: %s: %s", report.message_id, exc)
            return _limited(FaxDocument(f"{base}.tif", "image/tiff", tiff, len(tiff)), limit)
        return _limited(FaxDocument(f"{base}.pdf", "application/pdf", pdf, len(pdf)), limit)


def _limited(doc: FaxDocument, limit: int) -> FaxDocument:
    if doc.size <= limit:
        return doc
    return FaxDocument(doc.filename, doc.content_type, None, doc.size,
                       f"{doc.filename} of {doc.size / 1e6:.1f} MB refused: above the limit of "
                       f"{limit / 1e6:.1f} MB (channels.fax.max_pdf_bytes)")


def acd_event(ing: Ingested, arrival: float | None = None) -> Any:
    return task_event(ing, "fax", arrival)
