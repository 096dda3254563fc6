"""Rows as a table, CSV or JSON: what every planning command prints (`--format`)."""
from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ivr.crm.render import csv_text

FORMATS = click.Choice(["table", "csv", "json"])


def emit_rows(rows: list[dict[str, Any]], fmt: str, title: str, extra: dict[str, Any] | None = None,
              notes: list[str] | None = None) -> None:
    """Rows as a table, CSV (rows only) or JSON (rows plus the summary and notes)."""
    if fmt == "json":
        click.echo(json.dumps({**(extra or {}), "rows": rows, "notes": notes or []}, indent=2,
                              default=str))
        return
    if fmt == "csv":
        click.echo(csv_text(rows, list(rows[0])) if rows else "", nl=False)
        return
    console = Console()
    if extra:
        summary = Table(title=title, show_header=False)
        for k, v in extra.items():
            if not isinstance(v, (dict, list)):
                summary.add_row(k.replace("_", " "), str(v))
        console.print(summary)
    if rows:
        table = Table()
        for col in rows[0]:
            table.add_column(col.replace("_", " "), justify="right")
        for row in rows:
            table.add_row(*(cell(k, v) for k, v in row.items()))
        console.print(table)
    for note in notes or []:
        console.print(note)


def _is_rate(key: str) -> bool:
    return key in ("service_level", "occupancy", "p_abandon", "abandon_rate", "p_wait") or \
        key.endswith(("_sl", "service_level"))


def cell(key: str, value: Any) -> str:
    """Rates as percentages, changes of a rate in percentage points, the rest as given."""
    if value is None:
        return ""
    if isinstance(value, float) and key == "sl_change":
        return f"{value * 100:+.1f} pp"
    if isinstance(value, float) and (_is_rate(key) or key == "sl_target"):
        return f"{value:.1%}"
    return str(value)
