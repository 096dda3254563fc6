"""What the case and contact pages show and send, decided without I/O (pure).

A form posts text; the store's rules (ivr/cases) validate it. Here: which inputs a case kind
has, how a stored value is shown in an input and back, which fields a form really changed
(only those are sent, so an untouched field is never re-validated nor audited), and what a
case opened from a call is pre-filled with."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ivr.cases.consent import CONSENT_FLAGS
from ivr.cases.kinds import AE_CRITERIA, KINDS, SERIOUSNESS, FieldProblem

from .i18n import translate

CASE_KINDS = tuple(KINDS)
CASE_STATUSES = ("open", "closed")
# Long free text gets a textarea; everything else of type text an input.
LONG_TEXT = frozenset({"question", "answer", "description", "narrative", "transcript", "notes"})
CONTACT_TEXT = ("name", "type", "organisation", "language", "email", "preferred_agent", "notes")
CONSENT_TEXT = ("consent_date", "consent_source")


@dataclass(frozen=True)
class Input:
    name: str
    type: str           # text | textarea | date | bool | seriousness | list
    required: bool


def case_inputs(kind: str) -> list[Input]:
    """The inputs of a case kind's form, in the kind's order."""
    return [Input(s.name, "textarea" if s.type == "text" and s.name in LONG_TEXT else s.type, s.required)
            for s in KINDS.get(kind, ())]


def shown(value: Any) -> str:
    """A stored value as an input holds it: lists comma-separated, yes/no as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def form_values(kind: str, form: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The typed values of a case form, as text (kept to show again when refused).
    `form` maps each name to all its posted values (seriousness: one checkbox each)."""
    out: dict[str, str] = {}
    for spec in case_inputs(kind):
        values = [v.strip() for v in form.get(spec.name, []) if v.strip()]
        if spec.type == "seriousness":
            out[spec.name] = ", ".join(s for s in SERIOUSNESS if s in values)
        else:
            out[spec.name] = values[-1] if values else ""
    return out


def changed_fields(current: Mapping[str, Any], typed: Mapping[str, str]) -> dict[str, str | None]:
    """The fields whose typed text differs from what is stored (None: cleared)."""
    return {name: (text or None) for name, text in typed.items() if text != shown(current.get(name))}


def contact_changes(current: Mapping[str, Any], typed: Mapping[str, str]) -> dict[str, str | None]:
    """A contact form's changes. When a consent flag changes, its source and date are sent
    even if unchanged: each consent change must say where it was given (ivr/cases/consent.py)."""
    changes = changed_fields(current, typed)
    if any(flag in changes for flag in CONSENT_FLAGS):
        for name in CONSENT_TEXT:
            if typed.get(name):
                changes[name] = typed[name]
            else:
                changes.setdefault(name, None)
        if not typed.get("consent_date"):
            changes.pop("consent_date", None)        # the store dates it today
    return changes


PAGE_SIZE = 50           # rows per page of the worklist and of a contact search


def page_number(text: str | None) -> int:
    """A page asked for in a form or query (1 when missing or nonsense)."""
    return int(text) if text and text.isdigit() and 0 < int(text) < 1_000_000 else 1


def problems_by_field(problems: Iterable[FieldProblem], language: str) -> dict[str, str]:
    """CaseRefused.problems as {field: message} in the reader's language (the rule's English
    message where the desk has no words for its code)."""
    out: dict[str, str] = {}
    for p in problems:
        key = f"problem.{p.code}"
        message = translate(language, key, **p.params)
        if message == key:
            message = p.message
        out[p.field] = f"{out[p.field]}; {message}" if p.field in out else message
    return out


def _words(text: str | None) -> set[str]:
    plain = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    return set(re.findall(r"[a-z0-9]+", plain))


def obvious_product(products: Iterable[str], intent: str | None, transcript: str | None) -> str | None:
    """The one known product the call's intent or transcript names; None if none or several."""
    said = _words(intent) | _words(transcript)
    named = sorted({p for p in products if p and p != "general" and _words(p) and _words(p) <= said})
    return named[0] if len(named) == 1 else None


def prefill_from_call(kind: str, call: Mapping[str, Any], contact: Mapping[str, Any] | None,
                      product: str | None) -> dict[str, str]:
    """A new case's fields from its call: the reporter (the caller's contact and number),
    what they said, the product if obvious. Only fields the kind has."""
    transcript = (call.get("speech_text") or "").strip()
    caller = call.get("caller") or ""
    number = caller if sum(ch.isdigit() for ch in caller) >= 3 else ""   # "anonymous" is nobody
    reporter = f"{contact['name']} ({contact['type']})" if contact else ""
    guess = {"product": product or "", "transcript": transcript, "language": call.get("language") or "",
             "reporter": reporter, "reporter_contact": number,
             "question": transcript if kind == "medinfo" else "",
             "description": transcript if kind == "complaint" else ""}
    names = {i.name for i in case_inputs(kind)}
    return {k: v for k, v in guess.items() if k in names and v}


def criteria_held(fields: Mapping[str, Any]) -> dict[str, bool]:
    """Each of the four AE criteria: held or not (the case page lists the missing first)."""
    return {c: any(fields.get(n) for n in names) for c, names in AE_CRITERIA.items()}


def case_filters(kind: str | None, status: str | None) -> tuple[str | None, str | None]:
    """The worklist's filters from the query string; unknown values mean no filter. The
    default status is open (the work left); `all` shows closed ones too."""
    chosen_kind = kind if kind in CASE_KINDS else None
    if status == "all":
        return chosen_kind, None
    return chosen_kind, status if status in CASE_STATUSES else "open"
