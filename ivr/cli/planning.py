"""Planning commands (adapters over ivr/planning's pure cores): `ivr staffing --per-day`,
`ivr forecast`, `ivr simulate --replay`, `ivr staffing --scenario`, and the what-if of
`ivr reload --what-if`."""
from __future__ import annotations

import csv
import io
import json
import math
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import yaml
from rich.console import Console
from rich.table import Table

from acd.config import AcdConfig
from ivr.cli.common import UserError
from ivr.config import ConfigError, Settings
from ivr.planning import forecast as fc
from ivr.planning import profiles
from ivr.planning.chart import staffing_html
from ivr.planning.intraday import DayPlan, Target, spread, staff_intervals
from ivr.planning.replay import (ReplayError, ReplayResult, agent_changes, recorded_calls,
                                 recorded_kpis, replay, ring_estimate, total_of)

FORMATS = click.Choice(["table", "csv", "json"])
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# ------------------------------------------------------------------ shared output helpers
def emit_rows(rows: list[dict[str, Any]], fmt: str, title: str, extra: dict[str, Any] | None = None,
              notes: list[str] | None = None) -> None:
    """Rows as a table, CSV (rows only) or JSON (rows plus the summary and notes)."""
    if fmt == "json":
        click.echo(json.dumps({**(extra or {}), "rows": rows, "notes": notes or []}, indent=2,
                              default=str))
        return
    if fmt == "csv":
        buf = io.StringIO()
        if rows:
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
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
            table.add_row(*("" if v is None else f"{v:.1%}" if _is_rate(k) and isinstance(v, float)
                            else str(v) for k, v in row.items()))
        console.print(table)
    for note in notes or []:
        console.print(note)


def _is_rate(key: str) -> bool:
    return key in ("service_level", "occupancy", "p_abandon", "abandon_rate", "p_wait") or \
        key.endswith(("_sl", "service_level"))


def parse_share(text: str, what: str) -> float:
    """`30%` or `0.3` → 0.3."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UserError(f"{what} {text!r}: write a percentage (30%) or a fraction (0.3)") from None
    if not 0 <= value < 1:
        raise UserError(f"{what} {text!r} must be at least 0 and below 100%")
    return value


def calendar(settings: Settings | None, tz_name: str | None) -> tuple[ZoneInfo, set[date], str]:
    """Time zone and holidays from the dialplan's hours nodes (the calendar callers meet)."""
    holidays: set[date] = set()
    where = "no dialplan calendar"
    zone = tz_name
    if settings is not None:
        try:
            from ivr.dialplan import load_plan
            from ivr.dialplan.model import HoursNode
            path = settings.path(settings.dialplan)
            plan = load_plan(path)
            hours = [n for n in plan.nodes.values() if isinstance(n, HoursNode)]
            for node in hours:
                holidays.update(node.holidays)
            if hours:
                zone = zone or hours[0].tz
                where = f"{len(holidays)} holiday(s) from {path}"
        except Exception as exc:     # planning without a readable dialplan still works (UTC)
            where = f"no calendar: the dialplan could not be read ({exc})"
    try:
        return ZoneInfo(zone or "UTC"), holidays, where
    except Exception:
        raise UserError(f"unknown time zone {zone!r} (e.g. Europe/Paris)") from None


def crm_url_of(ctx: click.Context, crm: str | None) -> str:
    url = crm or (ctx.obj or {}).get("crm_url")
    if not url:
        raise UserError("no CRM store: pass --crm URL (e.g. sqlite:///var/crm.db), set IVR_CRM_URL, "
                        "or give the settings (--config)")
    return url


def read_crm(url: str, since: datetime | None, until: datetime | None, agents: bool = True):
    from ivr.crm.errors import CrmError
    from ivr.planning.history import read_window
    try:
        return read_window(url, since, until, agents)
    except CrmError as exc:
        raise UserError(f"cannot read the CRM: {exc}") from None


def _settings(ctx: click.Context) -> Settings | None:
    from ivr.config import load_settings
    try:
        return load_settings((ctx.obj or {}).get("config"))
    except ConfigError:
        return None


# ------------------------------------------------------------------ staffing from a day
def staffing_day(ctx: click.Context, *, per_day: float | None, open_hours: str, interval: int,
                 aht: float, target: float, service_level: float, patience: float | None,
                 shrinkage: str, profile: str, weekday: str | None, forecast_file: str | None,
                 day: str | None, queue: str | None, crm: str | None, fmt: str,
                 html: str | None) -> None:
    if not 0 < service_level < 1:
        raise UserError("--service-level is a fraction between 0 and 1, e.g. 0.8")
    goal = Target(aht, target, service_level, patience, parse_share(shrinkage, "--shrinkage"))
    notes: list[str] = []
    try:
        if forecast_file:
            calls, labels, interval, title = _forecast_day(forecast_file, day, queue)
        else:
            assert per_day is not None
            if per_day <= 0:
                raise UserError("--per-day must be a positive number of calls")
            window = profiles.parse_window(open_hours, interval)
            shares, source = _profile(ctx, profile, window, weekday, crm)
            calls, labels = spread(per_day, shares), window.labels()
            title = f"{per_day:g} calls a day, {open_hours}, {source}"
        plan = staff_intervals(calls, labels, interval, goal)
    except (profiles.ProfileError, fc.ForecastError, ValueError) as exc:
        raise UserError(str(exc)) from None
    summary = {"title": title, **plan.summary(), "interval_minutes": interval,
               "aht_seconds": aht, "target_seconds": target, "service_level_target": service_level}
    notes.append(f"{plan.summary()['model']} per interval; seats = peak agents ÷ (1 − shrinkage "
                 f"{goal.shrinkage:.0%}), rounded up; paid hours = agent-hours ÷ (1 − shrinkage)")
    if html:
        try:
            Path(html).write_text(staffing_html(plan, f"Staffing: {title}"), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {html}: {exc}") from None
        notes.append(f"chart written to {html}")
    emit_rows([r.as_dict() for r in plan.intervals], fmt, f"Staffing: {title}", summary,
              notes if fmt != "csv" else None)


def _profile(ctx: click.Context, profile: str, window: profiles.Window, weekday: str | None,
             crm: str | None) -> tuple[list[float], str]:
    if profile == "typical":
        return profiles.typical(window), "built-in hotline profile"
    if profile == "crm":
        settings = _settings(ctx)
        tz, _, _ = calendar(settings, None)
        until = datetime.now(timezone.utc)
        records, _ = read_crm(crm_url_of(ctx, crm), until - timedelta(weeks=8), until, agents=False)
        from ivr.planning.history import local_slots
        counts = [0.0] * window.intervals
        wd = WEEKDAYS.index(weekday) if weekday else None
        first = window.start_minute // window.interval_minutes
        for _, d, slot in local_slots(records, tz, window.interval_minutes):
            if (wd is None or d.weekday() == wd) and 0 <= slot - first < window.intervals:
                counts[slot - first] += 1
        if not any(counts):
            raise UserError("the CRM has no queued calls in the last 8 weeks inside "
                            f"{window.label(0)}-… {'on ' + weekday if weekday else ''}: no profile to "
                            "learn; use the built-in one (--profile typical) or a file")
        return (profiles.from_counts(counts, "the CRM's calls"),
                f"profile learned from {int(sum(counts))} CRM calls" + (f" on {weekday}" if weekday else ""))
    path = Path(profile)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"--profile {profile}: not 'typical', 'crm' or a readable file ({exc})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{profile}: not YAML/JSON: {exc}") from None
    return profiles.from_mapping(data, window, str(path)), f"profile {path.name}"


def _forecast_day(path: str, day: str | None, queue: str | None) -> tuple[list[float], list[str], int, str]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"--forecast {path}: cannot read it as a forecast ({exc})") from None
    queues = data.get("queues") or {}
    if day is None:
        days = sorted({d for q in queues.values() for d in q.get("days", {})})
        if not days:
            raise UserError(f"{path}: the forecast has no days")
        day = days[0]
    calls, minutes = fc.intervals_of(data, day, queue)
    labels = [f"{i * minutes // 60:02d}:{i * minutes % 60:02d}" for i in range(len(calls))]
    open_slots = [i for i, c in enumerate(calls) if c > 0]
    if not open_slots:
        raise UserError(f"the forecast has no calls on {day}" + (f" for {queue}" if queue else "")
                        + " (a holiday or a closed day?)")
    lo, hi = open_slots[0], open_slots[-1] + 1
    return calls[lo:hi], labels[lo:hi], minutes, f"forecast {day} {queue or 'all queues'}"


# ------------------------------------------------------------------ scenario search
def staffing_scenario(path: str, fmt: str) -> None:
    from ivr.planning.mix import ScenarioError, search
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        result = search(data)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    except (ScenarioError, ValueError) as exc:
        raise UserError(f"{path}: {exc}") from None
    out = result.as_dict()
    rows = [{"queue": q, "offered": k["offered"], "service_level": k["service_level"],
             "target": k["target"], "asa_seconds": k["asa_seconds"], "abandon_rate": k["abandon_rate"],
             "erlang_c_separate": result.erlang_separate.get(q)} for q, k in out["queues"].items()]
    summary = {"mix": ", ".join(f"{g}: {n}" for g, n in result.mix.items()),
               "agents": out["agents"], "every_target_met": result.met, "simulations": result.runs,
               "occupancy": out["occupancy"]}
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
        return
    emit_rows(rows, fmt, f"Smallest mix for {path}", summary, [out["note"]])


# ------------------------------------------------------------------ forecast
def forecast_run(ctx: click.Context, *, weeks: int, interval: int, since: datetime | None,
                 until: datetime | None, tz_name: str | None, crm: str | None, fmt: str,
                 output: str | None) -> None:
    from ivr.planning import holt_winters
    from ivr.planning.history import local_slots
    if weeks < 1:
        raise UserError("--weeks must be at least 1")
    if interval not in (15, 30, 60):
        raise UserError("--interval: use 15, 30 or 60 minutes")
    tz, holidays, cal_note = calendar(_settings(ctx), tz_name)
    records, _ = read_crm(crm_url_of(ctx, crm), since, until, agents=False)
    slots = local_slots(records, tz, interval)
    if not slots:
        raise UserError("the CRM has no queued calls" + (" in this window" if since or until else "")
                        + ": no history to forecast from")
    first = min(d for _, d, _ in slots)
    last = (until.astimezone(tz).date() - timedelta(days=1)) if until else max(d for _, d, _ in slots)
    grids = fc.count_history(slots, first, last, 1440 // interval)
    results = []
    try:
        for q in sorted(grids):
            results.append(fc.forecast_queue(grids[q], holidays, weeks, holt_winters.daily_forecast,
                                             holt_winters.NAME))
    except fc.ForecastError as exc:
        raise UserError(str(exc)) from None
    data = {"interval_minutes": interval, "tz": str(tz), "history": [str(first), str(last)],
            "calendar": cal_note,
            "queues": {r.queue: {"method": r.method, "error": r.error,
                                 "days": {str(d): [round(v, 3) for v in row] for d, row in r.days.items()}}
                       for r in results}}
    if output:
        try:
            Path(output).write_text(json.dumps(data), encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {output}: {exc}") from None
    rows = []
    for r in results:
        for d, row in r.days.items():
            rows.append({"queue": r.queue, "day": str(d), "weekday": WEEKDAYS[d.weekday()],
                         "calls": round(sum(row), 1),
                         "peak_interval": (f"{row.index(max(row)) * interval // 60:02d}:"
                                           f"{row.index(max(row)) * interval % 60:02d}" if any(row) else "-"),
                         "peak_calls": round(max(row), 1)})
    errors = {r.queue: r.error for r in results}
    notes = [f"history {first} to {last} ({(last - first).days + 1} days, {len(slots)} queued calls); "
             f"{cal_note}; holidays get no calls"]
    for r in results:
        e = r.error
        if e:
            notes.append(f"{r.queue}: held-out last week WAPE {_pct(e['wape'])} (MAPE {_pct(e['mape'])}) "
                         f"vs seasonal-naive WAPE {_pct(e['baseline_wape'])} (MAPE {_pct(e['baseline_mape'])})"
                         f" — {r.method}")
        else:
            notes.append(f"{r.queue}: under three weeks of history, no held-out error — {r.method}")
    if output:
        notes.append(f"forecast written to {output}: `ivr staffing --forecast {output} --day DATE`")
    if fmt == "json" and not output:
        click.echo(json.dumps(data, indent=2))
        return
    emit_rows(rows, fmt, "Forecast", {"errors": errors} if fmt == "json" else None,
              notes if fmt != "csv" else None)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


# ------------------------------------------------------------------ replays
def load_acd(queues_path: str | None, agents_path: str | None, settings: Settings | None) -> AcdConfig:
    """Queues and agents from files in the engine's shapes (missing ones: the settings')."""
    if settings is None and (queues_path is None or agents_path is None):
        raise UserError("give both --queues and --agents, or the engine settings (--config)")
    try:
        if queues_path:
            qdata = yaml.safe_load(Path(queues_path).read_text(encoding="utf-8")) or {}
        else:
            qdata = settings.queues()  # type: ignore[union-attr]
        if agents_path:
            adata = (yaml.safe_load(Path(agents_path).read_text(encoding="utf-8")) or {}).get("agents") or {}
        else:
            adata = {n: {"endpoint": a.endpoint, "skills": a.skills}
                     for n, a in settings.agents().items()}  # type: ignore[union-attr]
        queues = {k: v for k, v in qdata.items() if k != "destinations"}
        return AcdConfig.from_dict({**queues, "agents": adata})
    except OSError as exc:
        raise UserError(f"cannot read the configuration: {exc}") from None
    except (yaml.YAMLError, ConfigError, ValueError) as exc:
        where = " and ".join(p for p in (queues_path, agents_path) if p) or "the engine's queues/agents"
        raise UserError(f"{where}: {exc}") from None


def compare(records: list, events: list, since: datetime, until: datetime,
            configs: dict[str, AcdConfig], rename: dict[str, str], seed: int) -> dict[str, Any]:
    """Recorded KPIs and each configuration's replay, per queue."""
    horizon = (until - since).total_seconds()
    changes = agent_changes(events, since)
    out: dict[str, Any] = {}
    first = next(iter(configs.values()))
    try:
        calls = recorded_calls(records, since, first, seed=seed, rename=rename)
        out["recorded"] = {q: k for q, k in recorded_kpis(calls, first).items() if k.offered}
        ring = ring_estimate(records, first)
        out["ring_seconds"] = ring
        for name, config in configs.items():
            calls = recorded_calls(records, since, config, seed=seed, rename=rename)
            out[name] = replay(calls, changes, config, horizon, ring)
    except ReplayError as exc:
        raise UserError(str(exc)) from None
    return out


def comparison_rows(result: dict[str, Any], targets: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    runs = {k: v for k, v in result.items() if isinstance(v, ReplayResult)}
    queues = sorted(result["recorded"])
    rows = []
    for q in [*queues, "TOTAL"]:
        rec = result["recorded"].get(q) if q != "TOTAL" else total_of(result["recorded"])
        row: dict[str, Any] = {"queue": q, "offered": rec.offered,
                               "sl_target": targets.get(q, (None, None))[0],
                               "recorded_sl": round(rec.service_level, 4)}
        for name, res in runs.items():
            k = res.queues.get(q) if q != "TOTAL" else res.total
            row[f"{name}_sl"] = round(k.service_level, 4)
            row[f"{name}_asa"] = round(k.asa_seconds, 1)
            row[f"{name}_abandons"] = k.abandoned
        names = list(runs)
        if len(names) == 2:
            a, b = (runs[n].queues.get(q) if q != "TOTAL" else runs[n].total for n in names)
            row["sl_change"] = round(b.service_level - a.service_level, 4)
            row["asa_change"] = round(b.asa_seconds - a.asa_seconds, 1)
            row["abandons_change"] = b.abandoned - a.abandoned
        rows.append(row)
    return rows


def worse_than_target(result: dict[str, Any], new: AcdConfig, base: str) -> list[str]:
    """Queues the new configuration leaves under their service-level target and worse than
    `base` (the current configuration's replay, or the recorded figures)."""
    runs: ReplayResult = result["new"]
    before = result[base]
    out = []
    for spec in new.queues:
        k = runs.queues.get(spec.name)
        if k is None or not k.offered:
            continue
        was = (before.queues if isinstance(before, ReplayResult) else before).get(spec.name)
        was_sl = was.service_level if was is not None else 1.0
        if k.service_level < spec.service_level_target and k.service_level < was_sl - 0.005:
            out.append(f"queue {spec.name} gets WORSE than its target: service level "
                       f"{k.service_level:.1%} (target {spec.service_level_target:.0%} in "
                       f"{spec.service_level_seconds:g} s), was {was_sl:.1%}; ASA {k.asa_seconds:.0f} s, "
                       f"{k.abandoned} abandoned")
    return out


def parse_rename(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise UserError(f"--rename {pair!r}: write OLD=NEW (the queue the calls went to = the "
                            "queue they go to now)")
        out[old] = new
    return out


def replay_run(ctx: click.Context, *, since: datetime, until: datetime | None, queues: str | None,
               agents: str | None, rename: tuple[str, ...], crm: str | None, fmt: str, seed: int) -> None:
    settings = _settings(ctx)
    until = until or datetime.now(timezone.utc)
    if until <= since:
        raise UserError("--until must come after --since")
    current = load_acd(None, None, settings) if settings is not None else None
    new = load_acd(queues, agents, settings)
    records, events = read_crm(crm_url_of(ctx, crm), since, until)
    configs = {"current": current, "new": new} if current is not None else {"new": new}
    result = compare(records, events, since, until, configs, parse_rename(rename), seed)
    targets = {q.name: (q.service_level_target, q.service_level_seconds) for q in new.queues}
    rows = comparison_rows(result, targets)
    notes = _replay_notes(result, since, until)
    if "current" in result:
        notes += worse_than_target(result, new, "current")
    emit_rows(rows, fmt, f"Replay {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M}",
              {"calls": result["new"].calls,
               **{f"{n}_occupancy": round(r.occupancy, 4) for n, r in result.items()
                  if isinstance(r, ReplayResult)}},
              notes if fmt != "csv" else None)


def _replay_notes(result: dict[str, Any], since: datetime, until: datetime) -> list[str]:
    notes = [f"{result['new'].calls} queued calls from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} "
             "replayed at their recorded times, queues, priorities and handle times; phones ring "
             f"{result['ring_seconds']:.1f} s before an answer (estimated from the recorded waits)"]
    for name, res in result.items():
        if isinstance(res, ReplayResult) and res.agents_without_history:
            notes.append(f"{name}: {len(res.agents_without_history)} agent(s) the CRM never saw taken "
                         f"as logged in all the time: {', '.join(res.agents_without_history[:8])}")
    return notes


def what_if(ctx: click.Context, days: int, settings: Settings, running: AcdConfig | None,
            crm: str | None) -> tuple[list[str], str]:
    """Replay the last `days` days under the configuration on disk (and the running one, when
    the engine says which): the problems to tell, and the printed comparison."""
    until = datetime.now(timezone.utc)
    since = until - timedelta(days=days)
    new = load_acd(None, None, settings)
    records, events = read_crm(crm_url_of(ctx, crm), since, until)
    configs = {"current": running, "new": new} if running is not None else {"new": new}
    result = compare(records, events, since, until, configs, {}, seed=1)
    targets = {q.name: (q.service_level_target, q.service_level_seconds) for q in new.queues}
    rows = comparison_rows(result, targets)
    buf = io.StringIO()
    console = Console(file=buf, width=160)
    table = Table(title=f"What-if: the last {days} days under the configuration on disk")
    for col in rows[0]:
        table.add_column(col.replace("_", " "), justify="right")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)
    for note in _replay_notes(result, since, until):
        console.print(note)
    return worse_than_target(result, new, "current" if running is not None else "recorded"), buf.getvalue()
