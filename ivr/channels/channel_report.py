"""`ivr report --by channel`: volume, first response, backlog and its age, and service level
per channel (pure: rows in, figures out; `now` passed in). Voice comes from the call records
(first response = time to answer); the other channels from the CRM's tasks (first response =
the first reply an agent sent; acknowledgements do not count)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from statistics import mean, median
from typing import Any

COLUMNS = ("channel", "volume", "closed", "responded", "first_response_avg_s", "first_response_median_s",
           "backlog", "backlog_oldest_age_s", "sl_target_s", "service_level")


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def task_rows(tasks: Iterable[Mapping[str, Any]], targets: Mapping[str, float], now: datetime) -> list[dict[str, Any]]:
    """tasks: CRM task rows (channel, status, created_at, first_response_at). A task counts in
    the service level once answered, or once older than its target without an answer."""
    by: dict[str, list[Mapping[str, Any]]] = {}
    for t in tasks:
        by.setdefault(t["channel"], []).append(t)
    rows = []
    for channel, items in sorted(by.items()):
        target = targets.get(channel, 3600.0)
        waits = [(t["first_response_at"] - t["created_at"]).total_seconds()
                 for t in items if t["first_response_at"] is not None]
        backlog = [t for t in items if t["status"] == "open"]
        ages = [(now - t["created_at"]).total_seconds() for t in backlog]
        due = [t for t in items if t["first_response_at"] is not None
               or (now - t["created_at"]).total_seconds() > target]
        in_sl = sum(1 for w in waits if w <= target)
        rows.append({
            "channel": channel, "volume": len(items), "closed": sum(1 for t in items if t["status"] == "closed"),
            "responded": len(waits), "first_response_avg_s": _r(mean(waits)) if waits else None,
            "first_response_median_s": _r(median(waits)) if waits else None,
            "backlog": len(backlog), "backlog_oldest_age_s": _r(max(ages)) if ages else None,
            "sl_target_s": target, "service_level": round(in_sl / len(due), 4) if due else None})
    return rows


def voice_row(stats: Mapping[str, Any], waits: list[float], sl_seconds: float) -> dict[str, Any]:
    """From reports.queue_stats of the calls, and the answered calls' waits."""
    return {"channel": "voice", "volume": stats["offered"], "closed": stats["answered"],
            "responded": stats["answered"], "first_response_avg_s": stats["asa"],
            "first_response_median_s": _r(median(waits)) if waits else None,
            "backlog": 0, "backlog_oldest_age_s": None, "sl_target_s": sl_seconds,
            "service_level": stats["service_level"]}


def live_backlog(backlog: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The wallboard's line per channel from the ACD's backlog per (queue, channel): tasks
    waiting, offered, being handled, and the oldest wait in seconds."""
    by: dict[str, dict[str, Any]] = {}
    for row in backlog:
        line = by.setdefault(row["channel"], {"channel": row["channel"], "waiting": 0, "offered": 0,
                                              "connected": 0, "oldest_wait": 0.0})
        for key in ("waiting", "offered", "connected"):
            line[key] += row[key]
        line["oldest_wait"] = round(max(line["oldest_wait"], row["oldest_age"]), 1)
    return [by[ch] for ch in sorted(by)]
