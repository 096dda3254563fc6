"""Pure rules for one customer, one card: a contact's identities (phone numbers, e-mail
addresses) and merging a duplicate card into the one kept.

A merge loses nothing: the kept card's values stay, its blanks are filled from the duplicate,
notes are joined, and a consent refusal on either card survives (a "no" given once is never
turned into a "yes" by a merge), with the merge named as the source."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from .consent import CONSENT_FLAGS

IDENTITY_KINDS = ("phone", "email")
_FILLED = ("type", "organisation", "language", "preferred_agent", "email")
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


def email_identity(raw: str) -> str | None:
    """The stored form of an e-mail address (trimmed, lower case), None when it is not one."""
    text = (raw or "").strip()
    return text.lower() if len(text) <= 254 and _EMAIL.match(text) else None


def merged_card(kept: Mapping[str, Any], other: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The changes to the kept card (field -> new value) when `other` is merged into it."""
    changes: dict[str, Any] = {}
    for key in _FILLED:
        if not _known(key, kept.get(key)) and _known(key, other.get(key)):
            changes[key] = other[key]
    notes = [n.strip() for n in (kept.get("notes"), other.get("notes")) if not _blank(n)]
    if len(notes) == 2 and notes[0] != notes[1]:
        changes["notes"] = f"{notes[0]}\n— {other.get('name', '')}: {notes[1]}"
    elif len(notes) == 1 and _blank(kept.get("notes")):
        changes["notes"] = notes[0]
    consent_changed = False
    for flag in CONSENT_FLAGS:
        mine, theirs = kept.get(flag), other.get(flag)
        value = mine if theirs is None else theirs if mine is None else (mine and theirs)
        if value != mine:
            changes[flag] = value
            consent_changed = True
    if consent_changed:
        changes["consent_source"] = (f"merge of card #{other.get('id')}"
                                     + (f" ({other['consent_source']})" if other.get("consent_source") else ""))
        changes["consent_date"] = other.get("consent_date") or today.isoformat()
    return changes


def _known(key: str, value: Any) -> bool:
    return not _blank(value) and not (key == "type" and value == "other")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
