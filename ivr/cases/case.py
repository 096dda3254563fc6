"""A case and what people may do to it: open, update, close, reopen. Never delete: an
adverse-event case is a regulatory record (and the other kinds are part of the contact's
history), so there is no delete at all; `refuse_delete` says why to whoever asks.
Each operation returns the new case and its audit entries; nothing here is stored."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, NoReturn

from .audit import AuditEntry, diff
from .deadlines import Clock, DueRules, deadlines, is_overdue
from .kinds import KINDS, FieldProblem, is_serious, missing_criteria, validate_fields

STATUSES = ("open", "closed")


class CaseError(ValueError):
    """A refused case operation; `problems` lists the bad fields one by one (for forms)."""

    def __init__(self, message: str, problems: list[FieldProblem] | None = None) -> None:
        self.problems = problems or []
        lines = "".join(f"\n  {p}" for p in self.problems)
        super().__init__(message + lines)


@dataclass(frozen=True)
class Case:
    case_id: str
    kind: str
    status: str
    fields: dict[str, Any]
    opened_at: datetime
    opened_by: str
    contact_id: int | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    close_reason: str | None = None
    clock: Clock = field(default_factory=Clock)

    @property
    def day0(self) -> date | None:
        return self.clock.day0

    @property
    def due_date(self) -> date | None:
        return self.clock.due_date

    @property
    def missing_criteria(self) -> list[str]:
        return missing_criteria(self.fields) if self.kind == "adverse_event" else []

    @property
    def serious(self) -> bool:
        return self.kind == "adverse_event" and is_serious(self.fields)

    def overdue(self, today: date) -> bool:
        return is_overdue(self, today)

    def audited_view(self) -> dict[str, Any]:
        """What the audit trail follows: every field, plus status, contact and the clock."""
        view: dict[str, Any] = {f"fields.{k}": v for k, v in self.fields.items()}
        view.update(status=self.status, contact_id=self.contact_id, close_reason=self.close_reason,
                    day0=_iso(self.clock.day0), due_date=_iso(self.clock.due_date),
                    serious_since=_iso(self.clock.serious_since))
        return {k: v for k, v in view.items() if v is not None}


def open_new(case_id: str, kind: str, fields: Mapping[str, Any], by: str, now: datetime,
             rules: DueRules, contact_id: int | None = None) -> tuple[Case, list[AuditEntry]]:
    """A new open case; raises CaseError listing every bad field."""
    _need_who(by)
    if kind not in KINDS:
        raise CaseError(f"{kind!r} is not a case kind; use one of {', '.join(KINDS)}")
    clean = _valid(kind, fields, now, rules)
    case = Case(case_id, kind, "open", clean, now, by, contact_id)
    case = replace(case, clock=_clock(case, now, rules))
    return case, diff(case_id, {}, case.audited_view(), by, now)


def update(case: Case, changes: Mapping[str, Any], by: str, now: datetime, rules: DueRules,
           contact_id: int | None = None) -> tuple[Case, list[AuditEntry]]:
    """Apply changes (a None or empty value clears a field); day 0 and the due date follow."""
    _need_who(by)
    if case.status != "open":
        raise CaseError(f"case {case.case_id} is closed ({case.close_reason}); reopen it with a "
                        "reason before adding information")
    merged = {**case.fields, **changes}
    clean = _valid(case.kind, merged, now, rules)
    new = replace(case, fields=clean, contact_id=contact_id if contact_id is not None else case.contact_id)
    new = replace(new, clock=_clock(new, now, rules))
    return new, diff(case.case_id, case.audited_view(), new.audited_view(), by, now)


def close(case: Case, by: str, reason: str, now: datetime) -> tuple[Case, list[AuditEntry]]:
    _need_who(by)
    reason = (reason or "").strip()
    if not reason:
        raise CaseError(f"closing case {case.case_id} needs a reason (e.g. 'reported to the safety "
                        "database', 'answered', 'not a valid case')",
                        [FieldProblem("reason", "required; say why the case is closed", "close_reason")])
    if case.status == "closed":
        raise CaseError(f"case {case.case_id} was already closed at {case.closed_at:%Y-%m-%d %H:%M} "
                        f"by {case.closed_by}")
    new = replace(case, status="closed", closed_at=now, closed_by=by, close_reason=reason)
    return new, diff(case.case_id, case.audited_view(), new.audited_view(), by, now)


def reopen(case: Case, by: str, reason: str, now: datetime) -> tuple[Case, list[AuditEntry]]:
    """Follow-up information on a closed case: open again (the clock keeps its day 0)."""
    _need_who(by)
    if case.status != "closed":
        raise CaseError(f"case {case.case_id} is open already")
    if not (reason or "").strip():
        raise CaseError(f"reopening case {case.case_id} needs a reason",
                        [FieldProblem("reason", "required; say why the case is reopened", "reopen_reason")])
    new = replace(case, status="open", closed_at=None, closed_by=None, close_reason=None)
    entries = diff(case.case_id, case.audited_view(), new.audited_view(), by, now)
    return new, entries + [AuditEntry(case.case_id, now, by, "reopen_reason", None, reason.strip())]


def refuse_delete(case: Case) -> NoReturn:
    what = ("an adverse-event case is a pharmacovigilance record and can never be deleted"
            if case.kind == "adverse_event" else "cases are part of the contact's history and are not deleted")
    raise CaseError(f"case {case.case_id}: {what}; close it with a reason instead")


def _need_who(by: str) -> None:
    if not (by or "").strip():
        raise CaseError("every change to a case says who made it (by)")


def _valid(kind: str, fields: Mapping[str, Any], now: datetime, rules: DueRules) -> dict[str, Any]:
    clean, problems = validate_fields(kind, fields, now.date())
    regulation = clean.get("regulation")
    if regulation is not None and regulation not in rules.regulations:
        problems.append(FieldProblem("regulation", f"{regulation!r} is not configured; use one of "
                                                   f"{', '.join(rules.regulations)}", "not_configured",
                                     {"value": regulation, "allowed": ", ".join(rules.regulations)}))
    if problems:
        raise CaseError(f"the {kind} case has {len(problems)} problem(s)", problems)
    return clean


def _clock(case: Case, now: datetime, rules: DueRules) -> Clock:
    if case.kind != "adverse_event":
        return Clock()
    return deadlines(case.clock, case.fields, now.date(), rules)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
