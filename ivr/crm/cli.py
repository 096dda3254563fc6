"""Click commands for the CRM; the lead registers them on the `ivr` group with
`register(group)`. Each takes the store URL from ctx.obj["crm_url"] or --crm
(or env IVR_CRM_URL). Exit 0 ok, 1 user error (message says what to fix)."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from . import render
from .cases_cli import cases_group
from .cli_base import ISO, CrmCommand, IsoTime, _out, _run, _url, crm_option  # noqa: F401 (shared)
from .render_html import report_html
from .reports import GROUPINGS, build_report, export_queue_log
from .store import CrmStore
from .surveys import GROUPS as SURVEY_GROUPS
from .surveys import survey_scores


@click.command("calls", cls=CrmCommand)
@crm_option
@click.option("--since", type=ISO, help="first start time (UTC ISO)")
@click.option("--until", type=ISO, help="start time limit, exclusive (UTC ISO)")
@click.option("--limit", type=int, default=200, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def calls_cmd(ctx: click.Context, crm_url: str | None, since: datetime | None, until: datetime | None,
              limit: int, fmt: str) -> None:
    """List call records."""
    recs = _run(ctx, crm_url, lambda s: s.list_calls(since, until, limit))
    if fmt == "json":
        click.echo(render.to_json([render.call_dict(r) for r in recs]))
    else:
        Console().print(render.calls_table(recs))


@click.group("contacts")
def contacts_group() -> None:
    """Caller contacts (pharmacists, doctors, patients...)."""


@contacts_group.command("import", cls=CrmCommand)
@crm_option
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_context
def contacts_import(ctx: click.Context, crm_url: str | None, file: Path) -> None:
    """Import or update contacts from CSV (name,type,numbers,organisation,language,notes,preferred_agent)."""
    n = _run(ctx, crm_url, lambda s: s.import_contacts_csv(file))
    click.echo(f"imported {n} contact(s) from {file}")


@contacts_group.command("show", cls=CrmCommand)
@crm_option
@click.argument("number")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def contacts_show(ctx: click.Context, crm_url: str | None, number: str, fmt: str) -> None:
    """Show the contact owning NUMBER and its recent calls."""
    async def work(store: CrmStore) -> tuple[Any, Any]:
        return await store.find_contact(number), await store.contact_history(number, limit=20)

    contact, history = _run(ctx, crm_url, work)
    if fmt == "json":
        click.echo(render.to_json({"number": number, "contact": contact,
                                   "calls": [render.call_dict(r) for r in history]}))
        return
    console = Console()
    if contact is None:
        console.print(f"no contact with number {number}")
    else:
        for k, v in contact.items():
            console.print(f"[bold]{k}[/]: {', '.join(v) if isinstance(v, list) else v if v is not None else '-'}")
    console.print(render.calls_table(history))


@click.command("report", cls=CrmCommand)
@crm_option
@click.option("--by", type=click.Choice([*GROUPINGS, "channel"]),
              help="group rows by this (channel: every channel, calls and tasks)")
@click.option("--since", type=ISO, help="first call start (UTC ISO)")
@click.option("--until", type=ISO, help="call start limit, exclusive (UTC ISO)")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.option("--html", "html_file", type=click.Path(path_type=Path), help="also write an HTML page with charts")
@click.option("--sl-seconds", type=click.FloatRange(min=0), default=20, show_default=True,
              help="service level threshold")
@click.option("--short-abandon", type=click.FloatRange(min=0), default=5, show_default=True,
              help="abandons shorter than this are left out (0 keeps all)")
@click.option("--surveys", "survey_by", type=click.Choice(SURVEY_GROUPS),
              help="survey scores instead: CSAT (answers, mean, share 4-5) and NPS (answers, "
                   "score) per call, agent, queue or campaign (answered in --since/--until)")
@click.pass_context
def report_cmd(ctx: click.Context, crm_url: str | None, by: str | None, since: datetime | None,
               until: datetime | None, fmt: str, html_file: Path | None, sl_seconds: float,
               short_abandon: float, survey_by: str | None) -> None:
    """Service level, ASA, AHT, abandons, occupancy, containment, speech, adverse events and
    their cases, knowledge-base usage; --by reason/outcome groups by the agents' wrap-up codes;
    --by channel: volume, first response, backlog and its age, service level per channel;
    --surveys call|agent|queue|campaign: the survey scores."""
    if survey_by is not None:
        if by is not None or html_file is not None:
            click.echo("error: --surveys is a report of its own: drop --by and --html", err=True)
            raise SystemExit(1)
        _survey_report(ctx, crm_url, survey_by, since, until, fmt)
        return
    if by == "channel":
        _channel_report(ctx, crm_url, since, until, fmt, sl_seconds, short_abandon)
        return

    async def work(store: CrmStore) -> dict[str, Any]:
        recs = await store.list_calls(since, until)
        evs = await store.agent_events(since, until)
        docs = await store.list_call_documentation(since, until)
        cases = await store.list_cases(kind="adverse_event", since=since)
        return build_report(recs, evs, by=by, sl_seconds=sl_seconds, short_abandon=short_abandon,
                            since=since, until=until, documentation=docs, cases=cases)

    rep = _run(ctx, crm_url, work)
    if html_file:
        _out(report_html(rep), html_file)
    if fmt == "json":
        click.echo(render.to_json(rep))
    elif fmt == "csv":
        click.echo(render.report_csv(rep), nl=False)
    else:
        render.print_report(rep, Console())


def _survey_report(ctx: click.Context, crm_url: str | None, by: str, since: datetime | None,
                   until: datetime | None, fmt: str) -> None:
    rows = _run(ctx, crm_url, lambda store: survey_scores(store, by, since, until))
    columns = list(rows[0]) if rows else []
    if fmt == "json":
        click.echo(render.to_json({"by": f"survey-{by}", "rows": rows}))
    elif fmt == "csv":
        click.echo(render.csv_text(rows, columns), nl=False)
    elif rows:
        Console().print(render._table(f"Survey scores by {by}", rows, columns))
    else:
        Console().print("no survey answers in this period")


def _channel_report(ctx: click.Context, crm_url: str | None, since: datetime | None,
                    until: datetime | None, fmt: str, sl_seconds: float, short_abandon: float) -> None:
    from datetime import timezone

    from ivr.channels.channel_report import COLUMNS, task_rows, voice_row
    from ivr.channels.task_store import tasks_between

    from .reports import queue_stats

    async def work(store: CrmStore) -> list[dict[str, Any]]:
        recs = await store.list_calls(since, until)
        return [voice_row(queue_stats(recs, sl_seconds, short_abandon),
                          [r.wait_seconds or 0.0 for r in recs if r.queue and r.agent], sl_seconds),
                *task_rows(await tasks_between(store, since, until), _channel_targets(ctx),
                           datetime.now(timezone.utc))]

    rows = _run(ctx, crm_url, work)
    if fmt == "json":
        click.echo(render.to_json({"by": "channel", "rows": rows}))
    elif fmt == "csv":
        click.echo(render.csv_text(rows, COLUMNS), nl=False)
    else:
        Console().print(render._table("By channel", rows, COLUMNS))


def _channel_targets(ctx: click.Context) -> dict[str, float]:
    """The service-level targets of queues.yaml's `channels:` when the engine's settings are
    known (--config), else the defaults of acd/channels.py."""
    from acd.channels import ChannelSettings
    from ivr.config import ConfigError, load_settings

    config = ctx.obj.get("config") if isinstance(ctx.obj, dict) else None
    try:
        channels = load_settings(config).acd_config().channels if config else ChannelSettings()
    except (ConfigError, OSError, ValueError):
        channels = ChannelSettings()
    return dict(channels.service_level_seconds)


@click.group("export")
def export_group() -> None:
    """Export CRM data to other tools."""


@export_group.command("queue-log", cls=CrmCommand)
@crm_option
@click.option("--since", type=ISO)
@click.option("--until", type=ISO)
@click.option("--out", type=click.Path(path_type=Path), help="file to write (default: stdout)")
@click.pass_context
def export_queue_log_cmd(ctx: click.Context, crm_url: str | None, since: datetime | None,
                         until: datetime | None, out: Path | None) -> None:
    """Calls as Asterisk queue_log lines (for queue-stats tools)."""
    async def work(store: CrmStore) -> str:
        recs = await store.list_calls(since, until)
        rings = await store.list_events(since, until, ["ring_no_answer"])
        return export_queue_log(recs, rings)

    _out(_run(ctx, crm_url, work), out)


COMMANDS = (calls_cmd, contacts_group, report_cmd, export_group)


def register(group: click.Group) -> None:
    """Add the CRM commands to the `ivr` click group."""
    for cmd in (*COMMANDS, cases_group):
        group.add_command(cmd)


@click.group("crm")
@click.pass_context
def crm_group(ctx: click.Context) -> None:
    """CRM commands (standalone entry for development)."""
    ctx.ensure_object(dict)


register(crm_group)
