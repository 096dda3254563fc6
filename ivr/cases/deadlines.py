"""The pharmacovigilance clock of an adverse-event case.

Day 0 is the first day the company held all four minimum criteria (an identifiable patient,
reporter, suspect product and adverse reaction). Decisions, as a PV officer would take them:
- Day 0 is set once and never moves. Clearing a criterion later (a correction) does not give
  the company its time back: the case shows the criterion missing again, the clock runs on,
  and an invalid report is closed with a reason (e.g. "not a valid case").
- Day 0 is the day the *company* received the information, which is usually the call: a case
  documented after the call may say so in `info_received_on` (never after the save).
- Due date = day 0 + N calendar days, N per regulation (defaults 15 serious, 90 non-serious).
  Seriousness learnt later (follow-up) starts the serious clock on the day it was learnt:
  due = min(day 0 + non-serious days, max(day 0, serious since) + serious days). So an
  upgrade shortens the due date, never beyond what was already due.
- A due date never moves later: a downgrade or a change of regulation keeps the earlier one
  (reporting early is harmless; reporting late is not).
Dates are calendar days (UTC); a case is overdue the day after its due date.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol, TypeVar

from .kinds import is_serious, missing_criteria


@dataclass(frozen=True)
class Regulation:
    serious_days: int = 15
    non_serious_days: int = 90


@dataclass(frozen=True)
class DueRules:
    regulations: Mapping[str, Regulation] = field(default_factory=lambda: {"default": Regulation()})
    default_regulation: str = "default"

    def regulation(self, name: str | None) -> Regulation:
        return self.regulations[name or self.default_regulation]


@dataclass(frozen=True)
class Clock:
    day0: date | None = None
    serious_since: date | None = None
    due_date: date | None = None


def deadlines(previous: Clock, fields: Mapping[str, Any], today: date, rules: DueRules) -> Clock:
    """The clock after a save of `fields` on `today` (see the module docstring)."""
    day0, new_day0 = previous.day0, False
    if day0 is None and not missing_criteria(fields):
        received = fields.get("info_received_on")
        day0 = min(date.fromisoformat(received), today) if received else today
        new_day0 = True
    serious_since = previous.serious_since
    if serious_since is None and is_serious(fields):
        serious_since = day0 if new_day0 else today
    if day0 is None:
        return Clock(None, serious_since, None)
    regulation = rules.regulation(fields.get("regulation"))
    due = day0 + timedelta(days=regulation.non_serious_days)
    if serious_since is not None:
        due = min(due, max(day0, serious_since) + timedelta(days=regulation.serious_days))
    if previous.due_date is not None:
        due = min(due, previous.due_date)
    return Clock(day0, serious_since, due)


class _Dated(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def due_date(self) -> date | None: ...


D = TypeVar("D", bound=_Dated)


def is_overdue(case: _Dated, today: date) -> bool:
    return case.status == "open" and case.due_date is not None and today > case.due_date


def worklist_order(cases: Iterable[D], today: date) -> list[D]:
    """Overdue first, then by due date (earliest first); cases without a due date last.
    The sort is stable: cases due the same day keep their given order."""
    return sorted(cases, key=lambda c: (not is_overdue(c, today), c.due_date is None, c.due_date or date.max))
