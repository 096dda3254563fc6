"""`ivr cases`: the case worklist (AE by due date, overdue first), one case with its audit
trail, closing with a reason, and the export for a safety database. Exit 0 ok, 1 user error."""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ivr.cases import KINDS, STATUSES

from . import render
from .case_reports import EXPORT_COLUMNS, safety_rows
from .cli_base import ISO, CrmCommand, CrmGroup, _out, _run, crm_option
from .store import CrmStore

LIST_COLUMNS = ("case_id", "kind", "status", "day0", "due_date", "overdue", "serious", "missing_criteria",
                "product", "contact_id", "calls", "opened_at", "opened_by", "closed_at", "close_reason")




def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _csv_cell(value: Any) -> str:
    """Explicit for importers: true/false, ISO times, lists joined with ';'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return _cell(value)


def _flat(case: dict[str, Any]) -> dict[str, Any]:
    return {**case, "product": case["fields"].get("product")}


def _csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    return render.csv_text(rows, columns, _csv_cell)


@click.group("cases", cls=CrmGroup, invoke_without_command=True)
@crm_option
@click.option("--kind", type=click.Choice(list(KINDS)), help="only this kind of case")
@click.option("--status", type=click.Choice(list(STATUSES)), help="only open or closed cases")
@click.option("--overdue", is_flag=True, help="only open cases past their due date")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def cases_group(ctx: click.Context, crm_url: str | None, kind: str | None, status: str | None,
                overdue: bool, fmt: str) -> None:
    """Cases: overdue first, then by due date (the adverse-event worklist)."""
    if ctx.invoked_subcommand is not None:
        return
    cases = _run(ctx, crm_url, lambda s: s.list_cases(status, kind=kind, overdue_only=overdue))
    rows = [_flat(c) for c in cases]
    if fmt == "json":
        click.echo(render.to_json(cases))
    elif fmt == "csv":
        click.echo(_csv(rows, LIST_COLUMNS), nl=False)
    else:
        t = Table(title=f"{len(rows)} case(s)")
        cols = ("case_id", "kind", "status", "due_date", "overdue", "serious", "missing_criteria", "product")
        for c in cols:
            t.add_column(c.replace("_", " "))
        for row in rows:
            style = "bold red" if row["overdue"] else None
            t.add_row(*(_cell(row.get(c)) for c in cols), style=style)
        Console().print(t)


@cases_group.command("show", cls=CrmCommand)
@crm_option
@click.argument("case_id")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def cases_show(ctx: click.Context, crm_url: str | None, case_id: str, fmt: str) -> None:
    """One case: its fields, missing AE criteria, day 0, due date, calls and audit trail."""
    async def work(store: CrmStore) -> tuple[Any, Any]:
        return await store.get_case(case_id), await store.case_audit(case_id)

    case, audit = _run(ctx, crm_url, work)
    if case is None:
        click.echo(f"error: no case {case_id!r}; list them with `ivr cases`", err=True)
        sys.exit(1)
    if fmt == "json":
        click.echo(render.to_json({**case, "audit": audit}))
        return
    console = Console()
    for key in ("case_id", "kind", "status", "contact_id", "calls", "day0", "due_date", "serious_since",
                "overdue", "missing_criteria", "opened_at", "opened_by", "closed_at", "closed_by", "close_reason"):
        if key == "missing_criteria" and case["kind"] != "adverse_event":
            continue
        console.print(f"[bold]{key.replace('_', ' ')}[/]: {_cell(case[key]) or '-'}", markup=True, highlight=False)
    for key, value in case["fields"].items():       # caller-given text: printed, never markup
        console.print(f"{key.replace('_', ' ')}: {_cell(value)}", markup=False, highlight=False)
    t = Table(title="audit trail")
    for c in ("at", "by", "field", "old", "new"):
        t.add_column(c)
    for e in audit:
        t.add_row(_cell(e["at"]), e["by"], e["field"], _cell(e["old"]), _cell(e["new"]))
    console.print(t)


@cases_group.command("close", cls=CrmCommand)
@crm_option
@click.argument("case_id")
@click.option("--reason", required=True, help="why it is closed (e.g. 'reported to the safety database')")
@click.option("--by", "by", required=True, help="who closes it")
@click.pass_context
def cases_close(ctx: click.Context, crm_url: str | None, case_id: str, reason: str, by: str) -> None:
    """Close a case with a reason (cases are never deleted)."""
    case = _run(ctx, crm_url, lambda s: s.close_case(case_id, by, reason))
    click.echo(f"closed {case['case_id']} ({reason})")


@cases_group.command("export", cls=CrmCommand)
@crm_option
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.option("--since", type=ISO, help="cases opened from this time (UTC ISO)")
@click.option("--out", type=click.Path(path_type=Path), help="file to write (default: stdout)")
@click.pass_context
def cases_export(ctx: click.Context, crm_url: str | None, fmt: str, since: datetime | None, out: Path | None) -> None:
    """Adverse-event cases for a safety database: one row (CSV) or object (JSON) per case."""
    cases = _run(ctx, crm_url, lambda s: s.list_cases(kind="adverse_event", since=since, overdue_first=False))
    rows = safety_rows(cases)
    _out(render.to_json(rows) + "\n" if fmt == "json" else _csv(rows, EXPORT_COLUMNS), out)
