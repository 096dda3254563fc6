"""A call's documentation by its agent: contact reason, outcome (wrap-up codes from config),
notes and the knowledge-base articles used. Checked here; stored (versioned) by the CRM."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .case import CaseError
from .kinds import MAX_TEXT, FieldProblem


@dataclass(frozen=True)
class WrapUpCodes:
    reasons: tuple[str, ...] = ()       # empty: any code (a store used without settings)
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallNote:
    call_id: str
    agent: str
    reason: str
    outcome: str
    notes: str
    articles: tuple[str, ...]


def check_documentation(call_id: str, agent: str, reason: str | None, outcome: str | None,
                        notes: str | None, articles: Sequence[str] | None, codes: WrapUpCodes) -> CallNote:
    """The documentation cleaned, or CaseError with one problem per bad field."""
    problems: list[FieldProblem] = []
    reason, outcome, notes = (reason or "").strip(), (outcome or "").strip(), (notes or "").strip()
    for name, value, allowed in (("reason", reason, codes.reasons), ("outcome", outcome, codes.outcomes)):
        if not value:
            problems.append(FieldProblem(name, "required; pick one", "pick_one"))
        elif allowed and value not in allowed:
            problems.append(FieldProblem(name, f"{value!r} is not configured; use one of {', '.join(allowed)}",
                                         "not_configured", {"value": value, "allowed": ", ".join(allowed)}))
    if len(notes) > MAX_TEXT:
        problems.append(FieldProblem("notes", f"too long ({len(notes)} characters; at most {MAX_TEXT})",
                                     "too_long", {"length": len(notes), "limit": MAX_TEXT}))
    if not (call_id or "").strip():
        problems.append(FieldProblem("call_id", "required"))
    if not (agent or "").strip():
        problems.append(FieldProblem("agent", "required"))
    cleaned = tuple(dict.fromkeys(a.strip() for a in (articles or ()) if a and a.strip()))
    if problems:
        raise CaseError(f"the documentation of call {call_id} has {len(problems)} problem(s)", problems)
    return CallNote(call_id.strip(), agent.strip(), reason, outcome, notes, cleaned)
