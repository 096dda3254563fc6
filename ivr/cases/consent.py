"""Edits of a contact card, consent flags included (pure). Consent is a fact with a date and
a source (GDPR asks "when, and how did they agree?"): changing a flag without saying where
it was given is refused; the date defaults to today. A flag left empty (None) means never
asked, which is not the same as refused (False)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from ivr.crm.records import CONTACT_TYPES

from .kinds import MAX_TEXT, FieldProblem, FieldSpec, convert_value, problem_of

CONSENT_FLAGS = ("may_contact_phone", "may_contact_email", "may_contact_sms", "pv_follow_up_consent")
TEXT_FIELDS = ("name", "type", "organisation", "language", "notes", "preferred_agent", "email", "consent_source")
CONTACT_EDITABLE = (*TEXT_FIELDS, *CONSENT_FLAGS, "consent_date")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_contact_changes(current: Mapping[str, Any], changes: Mapping[str, Any],
                          today: date) -> tuple[dict[str, Any], list[FieldProblem]]:
    """(the values to write, problems). Empty text clears a field; name and type stay set."""
    out: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, raw in changes.items():
        if name not in CONTACT_EDITABLE:
            problems.append(FieldProblem(name, f"not an editable contact field; use {', '.join(CONTACT_EDITABLE)}"))
            continue
        kind = "bool" if name in CONSENT_FLAGS else "date" if name == "consent_date" else "text"
        try:
            value = convert_value(FieldSpec(name, kind, past=True), raw, today)
        except ValueError as exc:
            problems.append(problem_of(name, exc))
            continue
        out[name] = None if value == "" else value
    if "name" in out and not out["name"]:
        problems.append(FieldProblem("name", "required; a contact needs a name", "required"))
    if "type" in out and out["type"] not in CONTACT_TYPES:
        problems.append(FieldProblem("type", f"{out['type']!r} is not one of {', '.join(CONTACT_TYPES)}",
                                     "not_configured", {"value": out["type"], "allowed": ", ".join(CONTACT_TYPES)}))
    if out.get("email") and not _EMAIL.match(out["email"]):
        problems.append(FieldProblem("email", f"{out['email']!r} is not an e-mail address", "not_email",
                                     {"value": out["email"]}))
    if out.get("notes") and len(out["notes"]) > MAX_TEXT:
        problems.append(FieldProblem("notes", "too long", "too_long", {"length": len(out["notes"]), "limit": MAX_TEXT}))
    flags_changed = [f for f in CONSENT_FLAGS if f in out and out[f] != current.get(f)]
    if flags_changed:
        if not out.get("consent_source"):         # each new consent has its own source
            problems.append(FieldProblem("consent_source", "required when consent changes: say how it was "
                                                           "given (e.g. 'phone call', 'signed form')",
                                         "consent_source"))
        if "consent_date" not in out or out["consent_date"] is None:
            out["consent_date"] = today.isoformat()
    return {k: v for k, v in out.items() if current.get(k) != v}, problems
