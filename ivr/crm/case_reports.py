"""Pure report functions over call documentation and cases (no I/O; `today` passed in):
what callers called about, which knowledge-base answers were used and how long those calls
took, the adverse-event worklist, and the export rows a safety database imports.

  by reason / outcome   the call's contact reason / outcome: the latest documentation save
                        of the call (several agents: the latest of them)
  kb usage              per article: calls it was used on, and their mean talk time, beside
                        the mean talk time of documented calls that used no article
  time to day 0         calendar days from the AE case's first call to its day 0 (0: the
                        criteria were complete on the day of the call)
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from statistics import mean, median
from typing import Any

from .records import CallRecord


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


def latest_documentation(docs: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """call id -> its latest documentation (by save time, then version)."""
    out: dict[str, Mapping[str, Any]] = {}
    for d in sorted(docs, key=lambda d: (d["at"], d["version"])):
        out[d["call_id"]] = d
    return out


def kb_usage(records: Iterable[CallRecord], docs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    talk = {r.call_id: r.talk_seconds for r in records}
    latest = latest_documentation(docs)
    per_article: dict[str, list[float | None]] = defaultdict(list)
    without: list[float] = []
    counts = []
    for call_id, d in latest.items():
        counts.append(len(d["articles"]))
        for article in d["articles"]:
            per_article[article].append(talk.get(call_id))
        if not d["articles"] and talk.get(call_id) is not None:
            without.append(talk[call_id])
    rows = []
    for article, talks in per_article.items():
        known = [t for t in talks if t is not None]
        rows.append({"article": article, "calls": len(talks), "mean_talk": _r(mean(known)) if known else None})
    rows.sort(key=lambda r: (-r["calls"], r["article"]))
    return {"documented_calls": len(latest), "articles_per_call": _r(mean(counts), 2) if counts else None,
            "mean_talk_without_article": _r(mean(without)) if without else None, "articles": rows}


def case_stats(cases: Iterable[Mapping[str, Any]], records: Iterable[CallRecord]) -> dict[str, Any]:
    """Adverse-event cases: open, overdue (as listed), serious, still incomplete; time to day 0."""
    ae = [c for c in cases if c["kind"] == "adverse_event"]
    started = {r.call_id: r.started_at for r in records if r.started_at}
    to_day0 = []
    for c in ae:
        firsts = [started[cid] for cid in c["calls"] if cid in started]
        if c["day0"] is not None and firsts:
            to_day0.append((_as_date(c["day0"]) - min(firsts).date()).days)
    open_ = [c for c in ae if c["status"] == "open"]
    return {"ae_cases": len(ae), "open": len(open_), "overdue": sum(1 for c in open_ if c["overdue"]),
            "open_serious": sum(1 for c in open_ if c["serious"]),
            "open_incomplete": sum(1 for c in open_ if c["missing_criteria"]),
            "closed": len(ae) - len(open_),
            "call_to_day0_days_mean": _r(mean(to_day0)) if to_day0 else None,
            "call_to_day0_days_median": _r(median(to_day0)) if to_day0 else None,
            "call_to_day0_days_max": max(to_day0) if to_day0 else None}


EXPORT_COLUMNS = ("case_id", "status", "day0", "due_date", "overdue", "valid", "missing_criteria", "serious",
                  "seriousness", "patient", "reporter", "reporter_contact", "product", "reaction",
                  "onset_date", "regulation", "narrative", "transcript", "calls", "opened_at", "opened_by",
                  "closed_at", "closed_by", "close_reason")


def safety_rows(cases: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per adverse-event case, for a safety database's import (CSV or JSON)."""
    rows = []
    for c in cases:
        if c["kind"] != "adverse_event":
            continue
        f = c["fields"]
        rows.append({
            "case_id": c["case_id"], "status": c["status"], "day0": _iso(c["day0"]),
            "due_date": _iso(c["due_date"]), "overdue": c["overdue"], "valid": not c["missing_criteria"],
            "missing_criteria": list(c["missing_criteria"]), "serious": c["serious"],
            "seriousness": list(f.get("seriousness", [])),
            **{k: f.get(k) for k in ("patient", "reporter", "reporter_contact", "product", "reaction",
                                     "onset_date", "regulation", "narrative", "transcript")},
            "calls": list(c["calls"]), "opened_at": _iso(c["opened_at"]), "opened_by": c["opened_by"],
            "closed_at": _iso(c["closed_at"]), "closed_by": c["closed_by"], "close_reason": c["close_reason"],
        })
    return rows


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
