"""`ivr`: the hotline engine's command line. Exit 0 ok, 1 user error, 2 internal error."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from ivr.cli.common import UserError, settings_or_exit
from ivr.config import ConfigError, load_settings


@click.group()
@click.option("--config", envvar="IVR_CONFIG", type=click.Path(),
              help="engine settings (default config/engine.yaml)")
@click.option("-v", "--verbose", count=True, help="more logging (-vv for debug)")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: int) -> None:
    """The hotline engine: voice menus, ACD and CRM on Asterisk 22."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("panoramisk").setLevel(max(level, logging.INFO))
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    try:     # the CRM commands take their store from the settings
        ctx.obj["crm_url"] = load_settings(config).crm_url()
    except ConfigError:
        pass


@main.command()
@click.option("--no-agents-ready", is_flag=True,
              help="agents with no recorded state start logged out (they log in by CLI or "
                   "phone); the default is ready")
@click.option("--reset-agents", is_flag=True,
              help="ignore the agent states recorded before this start (paused, logged out): "
                   "every agent gets the default")
@click.option("--grace", type=float, default=30.0, show_default=True,
              help="on SIGTERM, seconds live calls may go on before Asterisk's fallback takes them")
@click.option("--clock", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z"]), default=None,
              help="pretend the dialplan's clock starts at this instant (tests, demo)")
@click.option("--loop", "loop_name", type=click.Choice(["auto", "uvloop", "asyncio"]),
              default="auto", envvar="IVR_LOOP", show_default=True,
              help="event loop: auto = uvloop when installed (less CPU per call), else asyncio")
@click.pass_context
def serve(ctx: click.Context, no_agents_ready: bool, reset_agents: bool, grace: float, clock,
          loop_name: str) -> None:
    """Run the engine: FastAGI for Asterisk, AMI link, ACD, CRM."""
    from ivr.app import runtime
    from ivr.dialplan import PlanInvalid
    from ivr.app.engine import Engine

    settings = settings_or_exit(ctx)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("ivr").info("settings read from %s (relative paths start from %s)",
                                  settings.file, settings.base_dir)
    from ivr.cluster.pg_leader import ClusterRefused
    engine = None
    try:
        engine = Engine(settings, agents_ready=not no_agents_ready, clock=clock,
                        restore_agents=not reset_agents)
        runtime.run(engine.serve_forever(grace), loop_name)
    except ClusterRefused as exc:
        raise UserError(str(exc)) from None
    except runtime.LoopUnavailable as exc:
        raise UserError(str(exc)) from None
    except PlanInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise UserError("the dialplan is invalid; fix the lines above (`ivr check`)") from None
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot start: {exc}") from None
    if engine is not None and engine.stepped_down:     # lost the cluster's lock: the supervisor restarts it as standby
        click.echo("stepped down: this engine lost the cluster's lock (see the log)", err=True)
        sys.exit(2)


@main.group()
def sounds() -> None:
    """Prompt sound files (sounds/<lang>/<id>.wav)."""


@sounds.command("build")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--force", is_flag=True, help="also regenerate existing (even recorded) files")
@click.option("--no-progress", is_flag=True)
@click.pass_context
def sounds_build(ctx: click.Context, paths: tuple[Path, ...], force: bool, no_progress: bool) -> None:
    """Synthesize every missing prompt of the dialplan(s) (default: the configured one) with
    espeak-ng, low-passed, 8 kHz mono. Recorded files already there are kept."""
    from ivr.dialplan import PlanInvalid
    from ivr.cli.sounds import build_sounds, destination_prompts
    settings = settings_or_exit(ctx)
    try:
        report = build_sounds(paths or [settings.path(settings.dialplan)],
                              settings.path(settings.sounds.dir), force=force,
                              progress=not no_progress and sys.stderr.isatty(),
                              extra=destination_prompts(settings))
    except PlanInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise UserError("fix the dialplan first") from None
    for conflict in report.conflicts:
        click.echo(f"warning: {conflict}", err=True)
    for path, why in report.failed:
        click.echo(f"{path}: {why}", err=True)
    click.echo(f"{len(report.created)} created, {len(report.kept)} kept, {len(report.failed)} failed")
    if report.failed:
        raise UserError("some prompts could not be built (see above)")


def _control(ctx: click.Context, payload: dict) -> dict:
    from ivr.app.control import ControlError, request
    settings = settings_or_exit(ctx)
    try:
        return request(settings.path(settings.control.socket), payload)
    except ControlError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise UserError(str(exc)) from None


@main.command()
@click.argument("action", type=click.Choice(["login", "logout", "pause", "ready"]))
@click.argument("name")
@click.option("--reason", default="", help="pause reason (lunch, training, …)")
@click.pass_context
def agent(ctx: click.Context, action: str, name: str, reason: str) -> None:
    """Log an agent in or out, pause or make ready, on the running engine."""
    state = _control(ctx, {"cmd": "agent", "action": action, "agent": name, "reason": reason})["agent"]
    click.echo(f"{name}: {state['state']}" + (f" ({state['reason']})" if state.get("reason") else ""))


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def agents(ctx: click.Context, fmt: str) -> None:
    """Live agent states from the running engine."""
    rows = _control(ctx, {"cmd": "status"})["agents"]
    _print_rows(rows, fmt, "Agents", ["agent", "state", "reason", "for_seconds", "talking",
                                      "phone_busy_elsewhere", "calls_taken", "call_id"])


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def queues(ctx: click.Context, fmt: str) -> None:
    """Live queue states from the running engine."""
    rows = _control(ctx, {"cmd": "status"})["queues"]
    _print_rows(rows, fmt, "Queues", ["queue", "waiting", "longest_wait", "agents_ready",
                                      "head_agents_able", "head_waits_because", "agents_busy",
                                      "agents_staffed", "aht_seconds"])


SITE_COLUMNS = ("site", "ami", "link", "state", "reconnects", "agents", "agents_ready",
                "paused_for_site")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def sites(ctx: click.Context, fmt: str) -> None:
    """The sites of the running engine (issue 16): each Asterisk's AMI link and its agents."""
    from ivr.cli.tables import emit_rows
    rows = _control(ctx, {"cmd": "status"}).get("sites") or []
    emit_rows([{c: r[c] for c in SITE_COLUMNS} for r in rows], fmt, "Sites",
              notes=[] if rows else ["no sites: in engine.yaml (one Asterisk, `ami:`)"])


@main.command()
@click.option("--what-if", "what_if", is_flag=True,
              help="first replay the last days' calls under the queues and agents on disk, "
                   "beside the running ones, and ask before reloading")
@click.option("--days", type=click.IntRange(1, 90), default=7, show_default=True,
              help="with --what-if: how many days of the CRM to replay")
@click.option("--yes", is_flag=True, help="with --what-if: reload without asking")
@click.option("--crm", envvar="IVR_CRM_URL", metavar="URL", help="CRM store (default the settings')")
@click.pass_context
def reload(ctx: click.Context, what_if: bool, days: int, yes: bool, crm: str | None) -> None:
    """Validate the dialplan file again and swap it in (the running plan stays if invalid)."""
    if what_if:
        _what_if(ctx, days, yes, crm)
    answer = _control(ctx, {"cmd": "reload"})
    click.echo(f"dialplan version {answer['plan_version']} running")


def _what_if(ctx: click.Context, days: int, yes: bool, crm: str | None) -> None:
    """The replay runs here, on the CLI side: the engine is not slowed down by it."""
    from acd.config import AcdConfig
    from ivr.cli import whatif
    from ivr.app.control import ControlError, request
    settings = settings_or_exit(ctx)
    try:
        answer = request(settings.path(settings.control.socket), {"cmd": "acd_config"})
        running: AcdConfig | None = AcdConfig.model_validate(answer["acd"])
    except ControlError as exc:
        if "unknown command" not in str(exc):     # an engine older than the question: go on
            raise UserError(str(exc)) from None
        running = None
    problems, printed = whatif.what_if(ctx, days, settings, running, crm)
    click.echo(printed, nl=False)
    if running is None:
        click.echo("the engine did not say which queues and agents it runs: compared with the "
                   "recorded figures instead")
    for problem in problems:
        click.echo(problem)
    if not problems:
        click.echo("no queue gets worse than its service-level target")
    if yes:
        return
    if not sys.stdin.isatty():
        raise UserError("not reloaded: confirm at a terminal or pass --yes")
    if not click.confirm("reload now?", default=not problems):
        raise UserError("not reloaded")


def _print_rows(rows: list[dict], fmt: str, title: str, columns: list[str]) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(title=title)
    for col in columns:
        table.add_column(col.replace("_", " "))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console().print(table)


def _register_modules() -> None:
    """Command groups owned by other modules."""
    from ivr.crm import cli as crm_cli
    from ivr.crm.cases_cli import cases_group
    from ivr.cli.schema import schema_cmd
    from ivr.cli.check import check_cmd
    from ivr.crm.purge import purge_cmd
    crm_cli.register(main)
    main.add_command(cases_group)        # ivr cases [show | close | export]
    main.add_command(check_cmd)          # ivr check [PATHS] [--strict]; no PATHS: the whole site
    main.add_command(schema_cmd)

    @main.group("crm")
    def crm_group() -> None:
        """CRM maintenance (retention)."""

    crm_group.add_command(purge_cmd)

    from ivr.cli.acd import simulate, staffing
    main.add_command(staffing)
    main.add_command(simulate)
    from ivr.cli.planning import forecast_cmd
    main.add_command(forecast_cmd)

    from ivr.cli.kb import kb_group
    main.add_command(kb_group)           # ivr kb index | search | show

    from ivr.cli.desk import desk_group
    main.add_command(desk_group)         # ivr desk serve | user add|passwd|disable|enable|list
    from ivr.cli.campaign import campaign_group
    main.add_command(campaign_group)     # ivr campaign list|load|start|pause|resume|stop|status

    from ivr.cli.cluster import cluster_group
    main.add_command(cluster_group)      # ivr cluster init | status (issue 16)
    from ivr.cli.surveys import surveys_cmd
    main.add_command(surveys_cmd)        # ivr surveys --by agent|queue|campaign (issue 15)
    from ivr.cli.channels_worker import channels_worker_cmd
    main.add_command(channels_worker_cmd)  # started by `ivr serve` (issue 14)


_register_modules()


@main.command()
@click.option("--every", type=float, default=1.0, show_default=True, help="refresh period (s)")
@click.pass_context
def top(ctx: click.Context, every: float) -> None:
    """A live wallboard of queues and agents (Ctrl-C to quit)."""
    import time

    from rich.console import Group
    from rich.live import Live
    from rich.table import Table

    def board() -> Group:
        status = _control(ctx, {"cmd": "status"})
        q = Table(title=f"Queues — dialplan {status['plan_version']}")
        for col in ("queue", "waiting", "longest wait s", "ready", "busy", "staffed"):
            q.add_column(col)
        for row in status["queues"]:
            style = "bold red" if row["waiting"] and not row["head_agents_able"] else None
            q.add_row(row["queue"], str(row["waiting"]), f"{row['longest_wait']:.0f}",
                      str(row["agents_ready"]), str(row["agents_busy"]),
                      str(row["agents_staffed"]), style=style)
        parts = [q]
        if status.get("channels"):           # e-mails, chats, SMS, voice messages, faxes
            c = Table(title="Other channels")
            for col in ("channel", "waiting", "oldest wait s", "offered", "being handled"):
                c.add_column(col)
            for row in status["channels"]:
                c.add_row(row["channel"], str(row["waiting"]), f"{row['oldest_wait']:.0f}",
                          str(row["offered"]), str(row["connected"]),
                          style="bold red" if row["waiting"] and not row["offered"] + row["connected"] else None)
            parts.append(c)
        if status.get("sites"):             # several sites (issue 16): each one's AMI link
            t = Table(title="Sites")
            for col in SITE_COLUMNS:
                t.add_column(col.replace("_", " "))
            for row in status["sites"]:
                t.add_row(*(str(row[c]) for c in SITE_COLUMNS),
                          style="bold red" if row["link"] != "up" else None)
            parts.append(t)
        a = Table(title="Agents")
        for col in ("agent", "state", "reason", "for s", "calls"):
            a.add_column(col)
        for row in status["agents"]:
            a.add_row(row["agent"], row["state"], row.get("reason") or "",
                      f"{row['for_seconds'] or 0:.0f}", str(row["calls_taken"]))
        if status.get("crm_spool"):         # the database is failing: say so on the wallboard
            from rich.text import Text
            warn = Text(f"CRM database unavailable: {status['crm_spool']} record(s) safe in the "
                        "spool, written when it is back (see the engine log)", style="bold red")
            return Group(*parts, a, warn)
        return Group(*parts, a)

    try:
        with Live(board(), refresh_per_second=4, screen=False) as live:
            while True:
                time.sleep(every)
                live.update(board())
    except KeyboardInterrupt:
        pass
