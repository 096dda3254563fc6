"""Planning benchmark: replay speed and fidelity, forecast error against the seasonal-naive
baseline, and the time to staff a day of 96 intervals.

    .venv/bin/python bench/planning.py [--per-day 600] [--days 30]

A synthetic month (ivr/planning/synthetic.py: weekly and intraday pattern, a Sunday closure,
a holiday, phones that ring 2-6 s, callers with 2 min mean patience) is served by the real ACD,
written to a fresh SQLite CRM, read back and replayed under the unchanged configuration.
Prints a table, then a JSON line last."""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acd.config import AcdConfig  # noqa: E402
from ivr.crm.store import open_store  # noqa: E402
from ivr.planning.history import read_window  # noqa: E402
from ivr.planning import forecast as fc  # noqa: E402
from ivr.planning import holt_winters, profiles  # noqa: E402
from ivr.planning.intraday import Target, spread, staff_intervals  # noqa: E402
from ivr.planning.replay import (agent_changes, recorded_calls, recorded_kpis, replay,  # noqa: E402
                                 ring_estimate, total_of)  # noqa: E402
from ivr.planning.synthetic import arrivals, recorded_history  # noqa: E402

FIRST = date(2026, 10, 5)               # a Monday
HOLIDAY = date(2026, 11, 11)
CONFIG = AcdConfig.from_dict({
    "queues": {"orders": {"requirement": "orders", "aht_seconds": 240, "wrapup_seconds": 10,
                          "service_level_seconds": 20, "service_level_target": 0.8},
               "medinfo": {"requirement": "medinfo", "aht_seconds": 300, "wrapup_seconds": 30,
                           "service_level_seconds": 30, "service_level_target": 0.8,
                           "escalation": [{"after_seconds": 60, "widen": "orders"}]}},
    "agents": {**{f"o{i}": {"skills": {"orders": 3}} for i in range(5)},
               **{f"m{i}": {"skills": {"medinfo": 3, "orders": 1}} for i in range(4)}}})


async def write(url: str, records: list) -> None:
    store = await open_store(url)
    try:
        for r in records:
            store.save_call(r)
    finally:
        await store.close()


def write_and_read(url: str, records: list) -> tuple[float, list]:
    """Write the month, then read it back as `ivr simulate --replay` does."""
    asyncio.run(write(url, records))
    t = time.perf_counter()
    back, _ = read_window(url, None, None)
    return time.perf_counter() - t, back


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-day", type=float, default=600.0)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--forecast-weeks", type=int, default=8, help="history for the forecast check")
    args = ap.parse_args()
    split = {"orders": args.per_day * 0.7, "medinfo": args.per_day * 0.3}

    # -- replay: a recorded month, read from the CRM and replayed unchanged
    month = arrivals(FIRST, args.days, split, seed=7, holidays=frozenset({HOLIDAY}))
    records = recorded_history(CONFIG, month, seed=11)
    with tempfile.TemporaryDirectory() as tmp:
        read_s, back = write_and_read(f"sqlite:///{tmp}/crm.db", records)
    start = min(r.started_at for r in back)
    horizon = (max(r.ended_at for r in back) - start).total_seconds()
    t = time.perf_counter()
    calls = recorded_calls(back, start, CONFIG, seed=1)
    ring = ring_estimate(back, CONFIG)
    prep_s = time.perf_counter() - t
    walls = []
    gc.collect()
    gc.freeze()   # the month's records leave the young generations: GC pauses are the replay's own
    for _ in range(5):
        t = time.perf_counter()
        result = replay(calls, agent_changes([], start), CONFIG, horizon, ring)
        walls.append(time.perf_counter() - t)
    gc.unfreeze()
    replay_s = statistics.median(walls)
    recorded = total_of(recorded_kpis(calls, CONFIG))
    sl_error = abs(result.total.service_level - recorded.service_level)
    per_queue = {q: (recorded_kpis(calls, CONFIG)[q].service_level, k.service_level)
                 for q, k in result.queues.items()}

    # -- forecast: weeks of history, the last one held out
    hist_days = args.forecast_weeks * 7
    hist = arrivals(FIRST, hist_days, split, seed=21, holidays=frozenset({HOLIDAY}), growth_per_week=0.01)
    slots = [(q, at.date(), (at.hour * 60 + at.minute) // 30) for q, at in hist]
    grids = fc.count_history(slots, FIRST, FIRST + timedelta(days=hist_days - 1), 48)
    t = time.perf_counter()
    fcs = [fc.forecast_queue(g, {HOLIDAY}, 1, holt_winters.daily_forecast, holt_winters.NAME)
           for g in grids.values()]
    forecast_s = time.perf_counter() - t
    # pooled WAPE over the queues: weighted by their calls
    held = {g.queue: g.counts[-7:] for g in grids.values()}
    weight = {q: sum(map(sum, rows)) for q, rows in held.items()}
    total_w = sum(weight.values())
    f_wape = sum(f.error["wape"] * weight[f.queue] for f in fcs) / total_w
    b_wape = sum(f.error["baseline_wape"] * weight[f.queue] for f in fcs) / total_w

    # -- staffing: a day of 96 intervals (15 min, 24 h)
    window = profiles.parse_window("00:00-24:00", 15)
    shares = profiles.typical(window)
    target = Target(300.0, 20.0, 0.8, None, 0.3)
    times = []
    for _ in range(7):
        t = time.perf_counter()
        plan = staff_intervals(spread(args.per_day * 4, shares), window.labels(), 15, target)
        times.append(time.perf_counter() - t)
    staffing_ms = statistics.median(times) * 1000

    print(f"recorded month: {len(back)} calls over {args.days} days, read from SQLite in {read_s:.2f} s "
          f"({len(back) / read_s:,.0f} calls/s), prepared in {prep_s:.2f} s")
    print(f"phones ring {ring:.1f} s before an answer (estimated from the recorded waits)")
    print(f"replay (median of 5, best {len(calls) / min(walls):,.0f} calls/s): {replay_s:.3f} s = {len(calls) / replay_s:,.0f} calls/s")
    print(f"{'queue':10} {'recorded SL':>12} {'replayed SL':>12}")
    for q, (a, b) in per_queue.items():
        print(f"{q:10} {a:12.2%} {b:12.2%}")
    print(f"{'TOTAL':10} {recorded.service_level:12.2%} {result.total.service_level:12.2%}   "
          f"|error| {sl_error:.4f}")
    print(f"forecast ({hist_days} days of history, last week held out, {forecast_s:.2f} s): "
          f"WAPE {f_wape:.1%} (Holt-Winters) vs {b_wape:.1%} (seasonal-naive)")
    print(f"staffing a day of 96 intervals at {args.per_day * 4:g} calls: {staffing_ms:.1f} ms "
          f"(peak {plan.peak_agents} agents)")
    print(json.dumps({"replay_calls_per_s": round(len(calls) / replay_s),
                      "replay_calls_per_s_best": round(len(calls) / min(walls)),
                      "replay_read_calls_per_s": round(len(back) / read_s),
                      # read + turned into arrivals + replayed, one pass
                      "replay_end_to_end_calls_per_s": round(len(calls) / (read_s + prep_s + replay_s)),
                      "replay_calls": len(calls),
                      "replay_sl_error": round(sl_error, 4),
                      "forecast_wape": round(f_wape, 4), "baseline_wape": round(b_wape, 4),
                      "staffing_ms": round(staffing_ms, 2)}))


if __name__ == "__main__":
    main()
