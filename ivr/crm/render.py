"""Report rendering: rich tables, CSV and JSON (HTML lives in render_html.py)."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any, Callable, Iterable, Sequence

from rich.console import Console
from rich.table import Table

from .records import CallRecord

GROUP_COLUMNS = ("group", "calls", "offered", "answered", "answered_in_sl", "service_level", "asa", "aht",
                 "abandoned", "short_abandons", "abandon_rate", "callbacks", "voicemail", "overflowed",
                 "self_service", "containment", "adverse_events")
RATES = {"service_level", "abandon_rate", "containment", "occupancy", "automation_rate", "fallback_rate"}


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in RATES:
        return f"{value * 100:.1f}%"
    return str(value)


def _table(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...] | list[str]) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(c.replace("_", " "), justify="left" if c in ("group", "agent", "intent", "article") else "right")
    for row in rows:
        t.add_row(*(_fmt(c, row.get(c)) for c in columns))
    return t


def report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return report["groups"] + [{"group": "TOTAL", **report["total"]}]


def _figures_down(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Table:
    """Seventeen figures do not fit across a terminal: one row a figure, one column a group."""
    t = Table(title=title)
    t.add_column("", justify="left")
    for row in rows:
        t.add_column(str(row.get("group")), justify="right")
    for c in columns[1:]:
        t.add_row(c.replace("_", " "), *(_fmt(c, row.get(c)) for row in rows))
    return t


def print_report(report: dict[str, Any], console: Console) -> None:
    by = report["settings"]["by"] or "all"
    title = f"Service by {by} (SL {report['settings']['sl_seconds']} s)"
    rows = report_rows(report)
    if len(rows) <= 8:
        console.print(_figures_down(title, rows, GROUP_COLUMNS))
    else:
        console.print(_table(title, rows, GROUP_COLUMNS))
    if report["agents"]:
        cols = list(report["agents"][0])
        console.print(_table("Agents", report["agents"], cols))
    if report["speech"]:
        console.print(_table("Speech per intent", report["speech"], list(report["speech"][0])))
    ae = report["adverse_events"]
    console.print(f"Adverse events: {ae['count']} (answered {ae['answered']}), time to agent "
                  f"avg {_fmt('', ae['time_to_agent_avg'])} s, max {_fmt('', ae['time_to_agent_max'])} s")
    if "cases" in report:
        c = report["cases"]
        console.print(f"Adverse-event cases: {c['open']} open ({c['overdue']} overdue, {c['open_serious']} "
                      f"serious, {c['open_incomplete']} incomplete), {c['closed']} closed; call to day 0: "
                      f"mean {_fmt('', c['call_to_day0_days_mean'])} d, max {_fmt('', c['call_to_day0_days_max'])} d")
    kb = report.get("kb_usage")
    if kb and kb["articles"]:
        console.print(_table(f"Knowledge-base articles used ({kb['documented_calls']} documented calls, "
                             f"{_fmt('', kb['articles_per_call'])} articles a call; talk without an article "
                             f"{_fmt('', kb['mean_talk_without_article'])} s)", kb["articles"],
                             ("article", "calls", "mean_talk")))


def csv_text(rows: Iterable[dict[str, Any]], columns: Sequence[str],
             cell: Callable[[Any], Any] | None = None) -> str:
    """Rows as CSV with a header, only `columns`, each value through `cell` when given: what
    every `--format csv` of the CLI prints."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: cell(row.get(k)) for k in columns} if cell else row)
    return buf.getvalue()


def report_csv(report: dict[str, Any]) -> str:
    return csv_text(report_rows(report), GROUP_COLUMNS)


def to_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def call_dict(rec: CallRecord) -> dict[str, Any]:
    d = asdict(rec)
    for k in ("started_at", "ended_at"):
        d[k] = d[k].isoformat() if d[k] else None
    return d


def calls_table(records: list[CallRecord]) -> Table:
    t = Table(title=f"{len(records)} call(s)")
    for c in ("call id", "started (UTC)", "caller", "route", "intent", "queue", "wait", "agent", "talk",
              "disposition", "AE"):
        t.add_column(c)
    for r in records:
        t.add_row(r.call_id, r.started_at.strftime("%Y-%m-%d %H:%M:%S") if r.started_at else "-", r.caller,
                  r.route or "-", r.intent or "-", r.queue or "-", _fmt("", r.wait_seconds), r.agent or "-",
                  _fmt("", r.talk_seconds), r.disposition or "-", "yes" if r.adverse_event else "")
    return t
