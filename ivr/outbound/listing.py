"""A campaign's list from CSV text: every row checked, bad rows kept with their reason.

Header: number[,name,tz,consent,language,…]; further columns stay as the contact's fields
(the dialplan can read them). A row is rejected, not guessed at: a number with too few
digits, a number already on the list, an unknown time zone, a consent value that is not
yes/no. The adapter writes the rejects next to the CSV so the list owner can fix them.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_YES = {"yes", "y", "true", "1", "ja", "oui"}
_NO = {"no", "n", "false", "0", "nein", "non"}


@dataclass(frozen=True)
class ListContact:
    line: int
    number: str                 # E.164 when a country code was known: +4930123456
    name: str = ""
    tz: str | None = None
    consent: bool | None = None  # None: the list does not say
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reject:
    line: int
    raw: dict[str, str]
    reason: str


def normalise(raw: str, country_code: str = "") -> str:
    """'+49 (0)30-123', '0049 30 123', and with country_code '49' '030 123' → '+4930123'."""
    text = raw.strip()
    digits = re.sub(r"\D", "", text.replace("(0)", ""))
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if country_code and digits.startswith("0"):
        return "+" + country_code + digits[1:]
    return digits


def parse_list(text: str, country_code: str = "") -> tuple[list[ListContact], list[Reject], str]:
    """(contacts, rejects, header problem or ''); a header problem rejects the whole file."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    reader.fieldnames = header
    column = next((c for c in ("number", "phone", "numbers") if c in header), None)
    if column is None:
        return [], [], (f"line 1: the header needs a 'number' column (got {', '.join(header) or 'nothing'}); "
                        "optional: name, tz, consent, and any fields the dialplan reads")
    contacts: list[ListContact] = []
    rejects: list[Reject] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(reader, start=2):
        raw = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
        if None in row:
            rejects.append(Reject(line, raw, "more fields than the header has columns "
                                             "(quote values containing commas)"))
            continue
        if not any(raw.values()):
            continue
        reason, contact = _contact(line, raw, column, country_code, seen)
        if contact is None:
            rejects.append(Reject(line, raw, reason))
        else:
            seen[contact.number] = line
            contacts.append(contact)
    return contacts, rejects, ""


def _contact(line: int, raw: dict[str, str], column: str, country_code: str,
             seen: dict[str, int]) -> tuple[str, ListContact | None]:
    number = normalise(raw.get(column, ""), country_code)
    problems = []
    if len(number.lstrip("+")) < 5:
        problems.append(f"number {raw.get(column, '')!r} has too few digits")
    elif not number.startswith("+"):
        problems.append(f"number {raw.get(column, '')!r} has no country code (write +49… or set "
                        "list.country_code)")
    elif number in seen:
        problems.append(f"number {number} is already on line {seen[number]}")
    tz = raw.get("tz") or None
    if tz:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"unknown time zone {tz!r}")
    consent_text = raw.get("consent", "").lower()
    consent = True if consent_text in _YES else False if consent_text in _NO else None
    if consent_text and consent is None:
        problems.append(f"consent {raw['consent']!r} is not yes or no")
    if problems:
        return "; ".join(problems), None
    extra = {k: v for k, v in raw.items() if k not in (column, "name", "tz", "consent")}
    return "", ListContact(line, number, raw.get("name", ""), tz, consent, extra)


def rejects_csv(rejects: list[Reject]) -> str:
    """The rejected rows as CSV, each with its line and reason first."""
    columns: list[str] = []
    for r in rejects:
        columns += [c for c in r.raw if c not in columns]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "reason", *columns])
    for r in rejects:
        writer.writerow([r.line, r.reason, *(r.raw.get(c, "") for c in columns)])
    return out.getvalue()
