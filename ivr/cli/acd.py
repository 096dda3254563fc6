"""`ivr staffing` (Erlang C / A) and `ivr simulate` (the real ACD on a simulated clock)."""
from __future__ import annotations

import json
import math
import re
import time

import click
import yaml
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from acd.erlang import agents_for_service_level, erlang_a, erlang_c
from acd.simulate import Simulator
from ivr.cli.common import settings_or_exit

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
@click.option("--calls", type=float, required=True, help="calls offered in the period")
@click.option("--period", type=DURATION, default="30m", show_default=True)
@click.option("--aht", type=DURATION, required=True, help="average handle time")
@click.option("--target", type=DURATION, default="20s", show_default=True,
              help="answer-time target of the service level")
@click.option("--agents", type=int, help="agents on the phones (gives the service level)")
@click.option("--service-level", type=float, help="wanted service level, e.g. 0.8 (gives agents)")
@click.option("--patience", type=DURATION, help="mean caller patience: Erlang A with abandons")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def staffing(calls: float, period: float, aht: float, target: float, agents: int | None,
             service_level: float | None, patience: float | None, fmt: str) -> None:
    """How many seats a volume needs (Erlang C, or Erlang A with --patience)."""
    if (agents is None) == (service_level is None):
        raise click.UsageError("give either --agents N or --service-level 0.8")
    if service_level is not None and not 0 < service_level < 1:
        raise click.UsageError("--service-level is a fraction between 0 and 1, e.g. 0.8")
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
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False))
@click.option("--calls", type=int, help="override the scenario's number of calls")
@click.option("--seed", type=int, help="override the scenario's seed")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def simulate(ctx: click.Context, scenario: str, calls: int | None, seed: int | None, fmt: str) -> None:
    """Run the real ACD on a simulated clock (Poisson arrivals) and report KPIs. Queues and
    agents come from the scenario, or from config/queues.yaml and agents.yaml if it has none."""
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
