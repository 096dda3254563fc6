"""`ivr staffing` (Erlang C / A) and `ivr simulate` (the real ACD on a simulated clock)."""
from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime

import click
import yaml
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from acd.erlang import agents_for_service_level, erlang_a, erlang_c
from acd.simulate import Simulator
from ivr.cli.common import UserError, settings_or_exit
from ivr.crm.cli import ISO

_UNITS = {"s": 1, "m": 60, "h": 3600}


class Duration(click.ParamType):
    """`180`, `180s`, `30m`, `1.5h` → seconds."""
    name = "duration"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if isinstance(value, (int, float)):
            return float(value)
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(value))
        if not m:
            self.fail(f"{value!r} is not a duration: write 180s, 30m or 1h", param, ctx)
        return float(m.group(1)) * _UNITS[m.group(2) or "s"]


DURATION = Duration()


@click.command()
@click.option("--calls", type=float, help="calls offered in the period (one flat period)")
@click.option("--per-day", type=float, help="calls in a day, spread over --open by a profile")
@click.option("--forecast", "forecast_file", type=click.Path(dir_okay=False),
              help="a forecast of `ivr forecast --output` (calls per interval) instead of --per-day")
@click.option("--day", help="with --forecast: the day to staff (YYYY-MM-DD; default its first)")
@click.option("--queue", help="with --forecast: one queue (default all queues together)")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False),
              help="multi-skill: find the smallest agent mix per skill group by simulation")
@click.option("--open", "open_hours", default="09:00-24:00", show_default=True,
              help="open hours of the day, with --per-day")
@click.option("--interval", type=click.Choice(["15", "30", "60"]), default="30", show_default=True,
              help="interval length in minutes, with --per-day")
@click.option("--profile", default="typical", show_default=True,
              help="intraday profile: typical (built in), crm (learned from the CRM), or a file")
@click.option("--weekday", type=click.Choice(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
              help="with --profile crm: learn from this weekday only")
@click.option("--shrinkage", default="0%", show_default=True,
              help="paid time off the phones (breaks, training, absence), e.g. 30%")
@click.option("--crm", envvar="IVR_CRM_URL", metavar="URL", help="CRM store for --profile crm")
@click.option("--html", type=click.Path(dir_okay=False), help="write a chart of calls and agents")
@click.option("--period", type=DURATION, default="30m", show_default=True)
@click.option("--aht", type=DURATION, help="average handle time")
@click.option("--target", type=DURATION, default="20s", show_default=True,
              help="answer-time target of the service level")
@click.option("--agents", type=int, help="agents on the phones (gives the service level)")
@click.option("--service-level", type=float, help="wanted service level, e.g. 0.8 (gives agents)")
@click.option("--patience", type=DURATION, help="mean caller patience: Erlang A with abandons")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def staffing(ctx: click.Context, calls: float | None, per_day: float | None,
             forecast_file: str | None, day: str | None, queue: str | None,
             scenario: str | None, open_hours: str, interval: str, profile: str,
             weekday: str | None, shrinkage: str, crm: str | None, html: str | None,
             period: float, aht: float | None, target: float, agents: int | None,
             service_level: float | None, patience: float | None, fmt: str) -> None:
    """How many seats a volume needs (Erlang C, or Erlang A with --patience): for one period
    (--calls), for a day spread over intervals (--per-day or --forecast), or for a multi-skill
    center by simulation (--scenario)."""
    from ivr.cli import planning
    modes = sum(x is not None for x in (calls, per_day, forecast_file, scenario))
    if modes != 1:
        raise UserError("give one of --calls, --per-day, --forecast or --scenario")
    if scenario is not None:
        planning.staffing_scenario(scenario, fmt)
        return
    if aht is None:
        raise UserError("give the average handle time, e.g. --aht 300s")
    if calls is None:
        if agents is not None:
            raise UserError("--agents is for one period (--calls); a day is staffed to "
                                   "--service-level")
        planning.staffing_day(ctx, per_day=per_day, open_hours=open_hours, interval=int(interval),
                              aht=aht, target=target, service_level=service_level or 0.8,
                              patience=patience, shrinkage=shrinkage, profile=profile,
                              weekday=weekday, forecast_file=forecast_file, day=day, queue=queue,
                              crm=crm, fmt=fmt, html=html)
        return
    if (agents is None) == (service_level is None):
        raise UserError("give either --agents N or --service-level 0.8")
    if service_level is not None and not 0 < service_level < 1:
        raise UserError("--service-level is a fraction between 0 and 1, e.g. 0.8")
    if agents is not None:
        result = (erlang_a(calls, period, aht, agents, target, patience) if patience
                  else erlang_c(calls, period, aht, agents, target))
    else:
        result = agents_for_service_level(calls, period, aht, service_level, target, patience)
    figures = {"agents": result.agents, "traffic_erlangs": round(result.traffic_erlangs, 4),
               "p_wait": round(result.p_wait, 4), "service_level": round(result.service_level, 4),
               "asa_seconds": None if math.isinf(result.asa_seconds) else round(result.asa_seconds, 2),
               "occupancy": round(result.occupancy, 4)}
    if patience:
        figures["p_abandon"] = round(result.p_abandon, 4)
    if fmt == "json":
        click.echo(json.dumps(figures))
        return
    if fmt == "csv":
        click.echo(",".join(figures))
        click.echo(",".join("" if v is None else str(v) for v in figures.values()))
        return
    table = Table(title=f"{'Erlang A' if patience else 'Erlang C'}: {calls:g} calls per "
                        f"{period / 60:g} min, AHT {aht:g} s, target {target:g} s")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        shown = "unstable (agents ≤ traffic)" if value is None else (
            f"{value:.1%}" if key in ("p_wait", "service_level", "occupancy", "p_abandon")
            else str(value))
        table.add_row(key.replace("_", " "), shown)
    Console().print(table)


@click.command()
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("--calls", type=int, help="override the scenario's number of calls")
@click.option("--seed", type=int, help="override the scenario's seed")
@click.option("--replay", is_flag=True, help="replay the CRM's recorded calls instead of a scenario")
@click.option("--since", type=ISO, help="with --replay: first call (UTC ISO date/time)")
@click.option("--until", type=ISO, help="with --replay: end, exclusive (default now)")
@click.option("--queues", "queues_file", type=click.Path(dir_okay=False),
              help="with --replay: the queues to try (queues.yaml shape; default the engine's)")
@click.option("--agents", "agents_file", type=click.Path(dir_okay=False),
              help="with --replay: the agents to try (agents.yaml shape; default the engine's)")
@click.option("--rename", multiple=True, metavar="OLD=NEW",
              help="with --replay: calls recorded in queue OLD go to NEW")
@click.option("--crm", envvar="IVR_CRM_URL", metavar="URL", help="CRM store (default the settings')")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def simulate(ctx: click.Context, scenario: str | None, calls: int | None, seed: int | None,
             replay: bool, since: datetime | None, until: datetime | None,
             queues_file: str | None, agents_file: str | None, rename: tuple[str, ...],
             crm: str | None, fmt: str) -> None:
    """Run the real ACD on a simulated clock (Poisson arrivals) and report KPIs. Queues and
    agents come from the scenario, or from config/queues.yaml and agents.yaml if it has none.
    With --replay: the recorded calls since --since, under --queues/--agents and under the
    current configuration, side by side."""
    if replay:
        if scenario is not None or since is None:
            raise UserError("--replay takes --since DATE (and no scenario file)")
        from ivr.cli import whatif
        whatif.replay_run(ctx, since=since, until=until, queues=queues_file, agents=agents_file,
                            rename=rename, crm=crm, fmt=fmt, seed=seed or 1)
        return
    if scenario is None:
        raise UserError("give a SCENARIO file, or --replay --since DATE")
    with open(scenario, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if "queues" not in data or "agents" not in data:
        settings = settings_or_exit(ctx)
        acd = settings.acd_config().model_dump()
        data.setdefault("queues", acd["queues"])
        data.setdefault("agents", acd["agents"])
        data.setdefault("priority_step_seconds", acd["priority_step_seconds"])
    if calls is not None:
        data["calls"] = calls
    if seed is not None:
        data["seed"] = seed
    with Progress(disable=fmt == "json" or not Console().is_terminal, transient=True) as bar:
        task = bar.add_task("simulating", total=None)
        result = Simulator(data, lambda done, total: bar.update(task, completed=done, total=total),
                           clock=time.perf_counter).run()
    rows = {name: kpi.as_dict() for name, kpi in result.queues.items()}
    summary = {"queues": rows, "total": result.total.as_dict(),
               "occupancy": round(result.occupancy, 4), "events": result.events,
               "events_per_s": round(result.events_per_s)}
    if fmt == "json":
        click.echo(json.dumps(summary))
        return
    if fmt == "csv":
        from ivr.cli.tables import emit_rows
        emit_rows([{"queue": q, **k} for q, k in [*rows.items(), ("TOTAL", summary["total"])]],
                  "csv", "")
        return
    table = Table(title=f"Simulation of {scenario}: {result.events} events, "
                        f"{result.sim_seconds / 3600:.1f} h simulated")
    columns = [*rows.items(), ("TOTAL", summary["total"])]
    table.add_column("")                       # one row a figure, one column a queue: it fits
    for name, _ in columns:
        table.add_column(name, justify="right")
    for key in summary["total"]:
        pct = key in ("service_level", "p_wait", "abandon_rate")
        table.add_row(key.replace("_", " "), *(f"{kpi[key]:.1%}" if pct else f"{kpi[key]:g}"
                                               for _, kpi in columns))
    console = Console()
    console.print(table)
    console.print(f"agent occupancy {result.occupancy:.1%}")
