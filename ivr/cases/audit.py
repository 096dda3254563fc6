"""The audit trail: every change to a case is one entry (who, when, which field, old, new),
computed by comparing two views of the case. Values are kept as JSON-ready data."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    case_id: str
    at: datetime
    by: str
    field: str
    old: Any
    new: Any


def diff(case_id: str, before: Mapping[str, Any], after: Mapping[str, Any], by: str,
         at: datetime) -> list[AuditEntry]:
    """One entry per key whose value differs (a missing key is None), in key order."""
    keys = sorted(set(before) | set(after))
    return [AuditEntry(case_id, at, by, k, before.get(k), after.get(k))
            for k in keys if before.get(k) != after.get(k)]
