"""Planning commands (adapters over ivr/planning's pure cores): `ivr staffing --per-day`,
`--forecast` and `--scenario`, and `ivr forecast`. Replays are in whatif.py."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import yaml
from ivr.cli.common import UserError
from ivr.cli.tables import emit_rows
from ivr.config import ConfigError, Settings
from ivr.planning import forecast as fc
from ivr.planning import profiles
from ivr.planning.chart import staffing_html
from ivr.planning.intraday import Target, spread, staff_intervals
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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


def settings_or_none(ctx: click.Context) -> Settings | None:
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
        settings = settings_or_none(ctx)
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
    tz, holidays, cal_note = calendar(settings_or_none(ctx), tz_name)
    records, _ = read_crm(crm_url_of(ctx, crm), since, until, agents=False)
    slots = local_slots(records, tz, interval)
    if not slots:
        raise UserError("the CRM has no queued calls" + (" in this window" if since or until else "")
                        + ": no history to forecast from")
    first = min(d for _, d, _ in slots)
    last = (until.astimezone(tz).date() - timedelta(days=1)) if until else max(d for _, d, _ in slots)
    grids = fc.count_history(slots, first, last, 1440 // interval)
    results, skipped = [], []
    for q in sorted(grids):        # a young queue is left out, said so; the others go on
        try:
            results.append(fc.forecast_queue(grids[q], holidays, weeks, holt_winters.daily_forecast,
                                             holt_winters.NAME))
        except fc.ForecastError as exc:
            skipped.append(str(exc))
    if not results:
        raise UserError("; ".join(skipped))
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
    notes += [f"left out: {why}" for why in skipped]
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


@click.command("forecast")
@click.option("--weeks", type=int, default=1, show_default=True, help="weeks to forecast")
@click.option("--interval", type=click.Choice(["15", "30", "60"]), default="30", show_default=True,
              help="interval length in minutes")
@click.option("--since", help="first day of history to use (YYYY-MM-DD; default all)")
@click.option("--until", help="end of the history, exclusive (YYYY-MM-DD; default all)")
@click.option("--tz", help="time zone of days and intervals (default the dialplan's hours node)")
@click.option("--output", type=click.Path(dir_okay=False),
              help="save the forecast (JSON) for `ivr staffing --forecast FILE`")
@click.option("--crm", envvar="IVR_CRM_URL", metavar="URL", help="CRM store (default the settings')")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@click.pass_context
def forecast_cmd(ctx: click.Context, weeks: int, interval: str, since: str | None, until: str | None,
             tz: str | None, output: str | None, crm: str | None, fmt: str) -> None:
    """Forecast calls per queue, day and interval from the CRM's history (Holt-Winters with a
    weekly season, beside a seasonal-naive baseline; error measured on the last week)."""
    def day(text: str | None, name: str):
        if text is None:
            return None
        try:
            return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
        except ValueError:
            raise UserError(f"{name} {text!r}: write a date, e.g. 2026-11-02") from None

    forecast_run(ctx, weeks=weeks, interval=int(interval), since=day(since, "--since"),
                          until=day(until, "--until"), tz_name=tz, crm=crm, fmt=fmt, output=output)
