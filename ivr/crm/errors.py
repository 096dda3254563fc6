"""Errors meant to be read by people: what happened, where, what to do."""
from __future__ import annotations

from typing import Any


class CrmError(Exception):
    """A problem the operator can fix (bad URL, bad CSV row, unknown case...)."""


class CrmUnreachable(CrmError):
    """The database server cannot be reached right now (down, restarting, network): an
    outage that ends by itself, unlike a wrong URL or password (a plain CrmError)."""


class CaseRefused(CrmError):
    """A case or documentation change the rules refuse; `problems` holds one FieldProblem
    (ivr/cases: field, message, code) per bad field so a form can show each beside its field."""

    def __init__(self, message: str, problems: list[Any] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []
