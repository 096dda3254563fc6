"""Contacts: number normalisation, CSV parsing and the SQL jobs run by the writer."""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .backends import Tx
from .codec import ts
from .errors import CrmError
from .records import CONTACT_TYPES

_JUNK = re.compile(r"[\s\-().\/]")
CONTACT_FIELDS = ("id", "name", "type", "organisation", "language", "notes", "preferred_agent",
                  # migration 5: the card's e-mail and consent (NULL: never asked)
                  "email", "may_contact_phone", "may_contact_email", "may_contact_sms",
                  "pv_follow_up_consent", "consent_date", "consent_source")
_FLAGS = ("may_contact_phone", "may_contact_email", "may_contact_sms", "pv_follow_up_consent")


def search_key(*parts: str | None) -> str:
    """Name and organisation folded for search: no case, no accents ('Müller' → 'muller',
    'Pharmacie Gérard' → 'pharmacie gerard'); SQLite's LOWER() folds ASCII only."""
    text = " ".join(p for p in parts if p)
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)).casefold()


def normalise_number(raw: str | None, country_code: str = "") -> str:
    """'+49 (0)30-123', '0049 30 123' and, with country_code='49', '030 123' all
    become '+4930123'. Without a country code, national numbers keep their 0."""
    # the "(0)" trunk hint in "+49 (0)30" must go before the brackets do
    text = _JUNK.sub("", (raw or "").replace("(0)", ""))
    if text.startswith("+"):
        return "+" + re.sub(r"\D", "", text[1:])
    digits = re.sub(r"\D", "", text)
    if digits.startswith("00"):
        return "+" + digits[2:]
    if country_code and digits.startswith("0"):
        return "+" + country_code.lstrip("+") + digits[1:]
    return digits


@dataclass
class ContactRow:
    line: int
    name: str
    type: str
    numbers: list[tuple[str, str]] = field(default_factory=list)   # (normalised, raw)
    organisation: str | None = None
    language: str | None = None
    notes: str | None = None
    preferred_agent: str | None = None


def parse_contacts_csv(path: Path, country_code: str = "") -> list[ContactRow]:
    """Header: name,type,numbers[,organisation,language,notes,preferred_agent].
    `numbers` holds one or more numbers separated by ';' (column alias: number, phone).
    Every bad row is reported as file:line; nothing is imported if any row is bad."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CrmError(f"cannot read contacts file {path}: {exc}") from exc
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    num_col = next((c for c in ("numbers", "number", "phone") if c in header), None)
    if "name" not in header or num_col is None:
        raise CrmError(f"{path}:1: header must contain 'name' and 'numbers' (got {', '.join(header) or 'nothing'}); "
                       "optional: type, organisation, language, notes, preferred_agent")
    rows: list[ContactRow] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for line, rec in enumerate(reader, start=2):
        get = lambda k: (rec.get(k) or "").strip() or None  # noqa: E731
        if None in rec:
            errors.append(f"{path}:{line}: more fields than the header has columns (quote values containing commas)")
            continue
        if not any((v or "").strip() for v in rec.values()):
            continue                                   # blank line
        problems = []
        name = get("name")
        if not name:
            problems.append("name is empty")
        ctype = (get("type") or "other").lower()
        if ctype not in CONTACT_TYPES:
            problems.append(f"type {ctype!r} is not one of {', '.join(CONTACT_TYPES)}")
        numbers = []
        for raw in re.split(r"[;|]", get(num_col) or ""):
            if not raw.strip():
                continue
            norm = normalise_number(raw, country_code)
            if len(norm.lstrip("+")) < 3:
                problems.append(f"number {raw.strip()!r} has too few digits")
            elif norm in seen:
                problems.append(f"number {raw.strip()!r} already used on line {seen[norm]}")
            else:
                seen[norm] = line
                numbers.append((norm, raw.strip()))
        if not numbers and not problems:
            problems.append(f"no phone number in column {num_col!r}")
        if problems:
            errors.append(f"{path}:{line}: " + "; ".join(problems))
            continue
        rows.append(ContactRow(line, name, ctype, numbers, get("organisation"), get("language"),
                               get("notes"), get("preferred_agent")))
    if errors:
        raise CrmError(f"{len(errors)} bad row(s) in {path}, nothing imported; fix them and re-run:\n"
                       + "\n".join(errors))
    return rows


async def upsert_contact(tx: Tx, row: ContactRow) -> int:
    """Match an existing contact by any of its numbers, else create one. Returns its id."""
    marks = ",".join("?" for _ in row.numbers)
    found = await tx.fetchall(f"SELECT DISTINCT contact_id FROM contact_numbers WHERE number IN ({marks})",
                              [n for n, _ in row.numbers])
    now = ts(datetime.now(timezone.utc))
    values = (row.name, row.type, row.organisation, row.language, row.notes, row.preferred_agent, now,
              search_key(row.name, row.organisation))
    if found:
        cid = int(found[0][0])
        await tx.execute("UPDATE contacts SET name=?, type=?, organisation=?, language=?, notes=?, "
                         "preferred_agent=?, updated_at=?, search_key=? WHERE id=?", (*values, cid))
    else:
        got = await tx.fetchall("INSERT INTO contacts (name, type, organisation, language, notes, "
                                "preferred_agent, updated_at, search_key) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                                values)
        cid = int(got[0][0])
    for norm, raw in row.numbers:
        await tx.execute("INSERT INTO contact_numbers (number, contact_id, raw) VALUES (?,?,?) "
                         "ON CONFLICT (number) DO UPDATE SET contact_id=excluded.contact_id, raw=excluded.raw",
                         (norm, cid, raw))
    return cid


def contact_dict(row: tuple[Any, ...], numbers: list[str]) -> dict[str, Any]:
    out = dict(zip(CONTACT_FIELDS, row))
    for flag in _FLAGS:                 # stored as INTEGER on both databases
        if out.get(flag) is not None:
            out[flag] = bool(out[flag])
    out["numbers"] = numbers
    return out


async def fill_search_keys(tx: Tx) -> None:
    """Migration 5: the search key of every contact written before it existed."""
    rows = await tx.fetchall("SELECT id, name, organisation FROM contacts")
    if rows:
        await tx.executemany("UPDATE contacts SET search_key = ? WHERE id = ?",
                             [(search_key(name, org), cid) for cid, name, org in rows])
