"""`ivr simulate --replay` and `ivr reload --what-if`: the CRM's recorded calls replayed
through the real ACD under two configurations, side by side (adapters over
ivr/planning/replay.py and acd/replay.py)."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from acd.config import AcdConfig
from ivr.cli.common import UserError
from ivr.cli.planning import crm_url_of, read_crm, settings_or_none
from ivr.cli.tables import cell, emit_rows
from ivr.config import ConfigError, Settings
from ivr.planning.replay import (ReplayError, ReplayResult, agent_changes, recorded_calls,
                                 recorded_kpis, replay, ring_estimate, total_of)


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
    settings = settings_or_none(ctx)
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
        table.add_row(*(cell(k, v) for k, v in row.items()))
    console.print(table)
    for note in _replay_notes(result, since, until):
        console.print(note)
    return worse_than_target(result, new, "current" if running is not None else "recorded"), buf.getvalue()
