"""Pure rules of the fax channel: what [hotline-fax] hands over after ReceiveFAX (through
AstDB), and what the task says about it. No I/O, no clock."""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from .sms_rules import sender_number

_UNIQUEID = re.compile(r"[0-9]{1,20}\.[0-9]{1,10}")


class BadFax(ValueError):
    """The hand-over is unusable (a failed fax is not: it becomes a task with its reason)."""


@dataclass(frozen=True)
class FaxReport:
    message_id: str         # "fax:<Asterisk uniqueid>": the dedupe key
    sender: str             # the caller's number (may be empty: withheld)
    recipient: str          # the fax number dialled
    status: str             # SUCCESS, FAILED or "" (the call ended before the fax started)
    pages: int
    error: str              # FAXERROR
    station: str            # REMOTESTATIONID (the sender's own header, untrusted)
    tiff_name: str          # the TIFF in the spool folder

    @property
    def ok(self) -> bool:
        return self.status == "SUCCESS"


def _b64(value: str, what: str) -> str:
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        raise BadFax(f"the {what} field is not base64 (check [hotline-fax-done] in "
                     "extensions_hotline.conf)") from None


def parse_spooled(key: str, value: str) -> FaxReport:
    """key: the channel's uniqueid; value: b64(caller):b64(dialled):status:pages:b64(error):
    b64(station)."""
    if not _UNIQUEID.fullmatch(key or ""):
        raise BadFax(f"spooled fax key {key!r} is not an Asterisk uniqueid")
    parts = (value or "").split(":")
    if len(parts) != 6:
        raise BadFax(f"spooled fax {key}: expected 6 fields, got {len(parts)}")
    caller, dialled, status, pages, error, station = parts
    status = status.strip().upper()
    if status not in ("SUCCESS", "FAILED", ""):
        raise BadFax(f"spooled fax {key}: unknown FAXSTATUS {status!r}")
    return FaxReport(f"fax:{key}", sender_number(_b64(caller, "caller")),
                     sender_number(_b64(dialled, "dialled number")), status,
                     int(pages) if pages.strip().isdigit() else 0, _b64(error, "error")[:200],
                     _b64(station, "station")[:40], f"{key}.tif")


def problem(report: FaxReport, have_tiff: bool) -> str | None:
    """Why the fax is not complete, for the agent (it is a task all the same), or None."""
    if report.status == "":
        return "the call ended before a fax was received (no fax machine, or it hung up)"
    if not report.ok:
        got = f"{report.pages} page(s) received before it failed" if report.pages else "no page received"
        return f"the fax failed: {report.error or 'no reason given'}; {got}"
    if not have_tiff:
        return "Asterisk reported a fax but its TIFF file is missing from the spool folder"
    return None


def subject(report: FaxReport, trouble: str | None) -> str:
    who = report.sender or "an unknown number"
    if trouble and not report.pages:
        return f"Failed fax from {who}"
    return f"Fax from {who}, {report.pages} page(s)" + (" (incomplete)" if trouble else "")


def summary(report: FaxReport, trouble: str | None) -> str:
    lines = [f"Fax to {report.recipient or '?'} from {report.sender or 'an unknown number'}"
             + (f" (station {report.station!r})" if report.station else ""),
             f"Pages: {report.pages}; status: {report.status or 'none'}"]
    if trouble:
        lines.append(f"Problem: {trouble}")
    return "\n".join(lines)
