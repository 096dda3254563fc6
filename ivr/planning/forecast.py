"""Forecast calls per queue, day and interval from the CRM's history (pure: the daily model is
passed in, so the statistics library stays in an adapter).

Method: the daily totals go through a model with weekly seasonality (Holt-Winters in
`holt_winters.py`); each weekday's intraday shape is the average share of that weekday's calls
per interval. The baseline is seasonal-naive: the same interval one week earlier. Holidays of
the dialplan's calendar are closed days: in the history they are replaced by the same weekday
a week earlier (so they neither drag the level down nor teach a false shape), and in the
forecast they get no calls.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

DailyModel = Callable[[list[float], int], list[float]]   # (daily history, days ahead) -> forecast
WEEK = 7
MIN_MODEL_DAYS = 2 * WEEK          # Holt-Winters needs two full seasons to start


class ForecastError(ValueError):
    """The history cannot give a forecast (the message says why and what to do)."""


@dataclass
class QueueHistory:
    """Calls counted per day (consecutive dates from `first`) and interval of the day."""
    queue: str
    first: date
    counts: list[list[float]]

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(len(self.counts))]


@dataclass
class QueueForecast:
    queue: str
    days: dict[date, list[float]]
    method: str
    error: dict[str, float | None] = field(default_factory=dict)


def count_history(arrivals: Iterable[tuple[str, date, int]], first: date, last: date,
                  slots: int) -> dict[str, QueueHistory]:
    """(queue, local date, interval index) of each call → per-queue daily grids."""
    n_days = (last - first).days + 1
    grids: dict[str, QueueHistory] = {}
    for queue, day, slot in arrivals:
        if not first <= day <= last:
            continue
        h = grids.get(queue)
        if h is None:
            h = grids[queue] = QueueHistory(queue, first, [[0.0] * slots for _ in range(n_days)])
        h.counts[(day - first).days][slot] += 1
    for h in grids.values():     # a queue opened later starts at its first call, not with zeros
        empty = next(i for i, row in enumerate(h.counts) if any(row))
        h.first, h.counts = h.first + timedelta(days=empty), h.counts[empty:]
    return grids


def _fill_holidays(h: QueueHistory, holidays: set[date]) -> list[list[float]]:
    """History with each holiday replaced by the same weekday a week earlier (or later)."""
    days = h.days
    grid = [row[:] for row in h.counts]
    for i, d in enumerate(days):
        if d in holidays:
            for j in (i - WEEK, i + WEEK, i - 2 * WEEK, i + 2 * WEEK):
                if 0 <= j < len(days) and days[j] not in holidays:
                    grid[i] = h.counts[j][:]
                    break
    return grid


def weekday_shapes(grid: list[list[float]], first: date) -> dict[int, list[float]]:
    """Average share of each weekday's calls per interval (all zeros on a weekday with none)."""
    slots = len(grid[0]) if grid else 0
    sums = {wd: [0.0] * slots for wd in range(WEEK)}
    for i, row in enumerate(grid):
        acc = sums[(first + timedelta(days=i)).weekday()]
        for s, v in enumerate(row):
            acc[s] += v
    out = {}
    for wd, acc in sums.items():
        total = sum(acc)
        out[wd] = [v / total for v in acc] if total else [0.0] * slots
    return out


def model_forecast(h: QueueHistory, holidays: set[date], ahead: int,
                   daily_model: DailyModel) -> list[list[float]]:
    """Daily totals from the model × each weekday's shape, for `ahead` days after the history."""
    grid = _fill_holidays(h, holidays)
    shapes = weekday_shapes(grid, h.first)
    daily = [sum(row) for row in grid]
    predicted = daily_model(daily, ahead)
    start = h.first + timedelta(days=len(grid))
    out = []
    for i in range(ahead):
        d = start + timedelta(days=i)
        shape = shapes[d.weekday()]
        total = 0.0 if d in holidays or not any(shape) else max(0.0, predicted[i])
        out.append([total * s for s in shape])
    return out


def seasonal_naive(h: QueueHistory, holidays: set[date], ahead: int) -> list[list[float]]:
    """Each interval as the same interval one week earlier (the last week repeated)."""
    grid = _fill_holidays(h, holidays)
    if len(grid) < WEEK:
        raise ForecastError(f"queue {h.queue}: {len(grid)} day(s) of history; the seasonal-naive "
                            "baseline needs a full week")
    last_week = grid[-WEEK:]
    start = h.first + timedelta(days=len(grid))
    out = []
    for i in range(ahead):
        d = start + timedelta(days=i)
        row = last_week[i % WEEK]
        out.append([0.0] * len(row) if d in holidays else row[:])
    return out


def wape(actual: list[list[float]], predicted: list[list[float]]) -> float | None:
    """Σ|error| ÷ Σ actual over every interval (None when nothing happened)."""
    num = sum(abs(a - p) for ra, rp in zip(actual, predicted) for a, p in zip(ra, rp))
    den = sum(a for row in actual for a in row)
    return num / den if den else None


def mape(actual: list[list[float]], predicted: list[list[float]]) -> float | None:
    """Mean |error| ÷ actual over the intervals that had calls (MAPE cannot divide by zero)."""
    errors = [abs(a - p) / a for ra, rp in zip(actual, predicted) for a, p in zip(ra, rp) if a > 0]
    return sum(errors) / len(errors) if errors else None


def forecast_queue(h: QueueHistory, holidays: set[date], weeks: int,
                   daily_model: DailyModel, model_name: str) -> QueueForecast:
    """Forecast `weeks` after the history; the error is measured on the last week held out."""
    n = len(h.counts)
    if n < WEEK:
        raise ForecastError(f"queue {h.queue}: only {n} day(s) of history; a forecast with weekly "
                            "seasonality needs at least two weeks (three to measure its error)")
    ahead = weeks * WEEK
    error: dict[str, float | None] = {}
    if n >= MIN_MODEL_DAYS + WEEK:
        train = QueueHistory(h.queue, h.first, h.counts[:-WEEK])
        held = h.counts[-WEEK:]
        open_days = [i for i in range(WEEK)
                     if train.first + timedelta(days=n - WEEK + i) not in holidays]
        actual = [held[i] for i in open_days]
        ours = model_forecast(train, holidays, WEEK, daily_model)
        base = seasonal_naive(train, holidays, WEEK)
        error = {"wape": wape(actual, [ours[i] for i in open_days]),
                 "mape": mape(actual, [ours[i] for i in open_days]),
                 "baseline_wape": wape(actual, [base[i] for i in open_days]),
                 "baseline_mape": mape(actual, [base[i] for i in open_days])}
    start = h.first + timedelta(days=n)
    if n >= MIN_MODEL_DAYS:
        grid, method = model_forecast(h, holidays, ahead, daily_model), model_name
    else:
        grid, method = seasonal_naive(h, holidays, ahead), "seasonal-naive (under two weeks of history)"
    return QueueForecast(h.queue, {start + timedelta(days=i): row for i, row in enumerate(grid)},
                         method, error)


def intervals_of(forecast: dict[str, object], day: str, queue: str | None) -> tuple[list[float], int]:
    """Calls per interval of one day from a saved forecast (all queues summed by default)."""
    queues = forecast.get("queues")
    minutes = forecast.get("interval_minutes")
    if not isinstance(queues, dict) or not isinstance(minutes, int):
        raise ForecastError("not a forecast file of `ivr forecast --output` (no queues or "
                            "interval_minutes)")
    chosen = [queue] if queue else sorted(queues)
    missing = [q for q in chosen if q not in queues]
    if missing:
        raise ForecastError(f"the forecast has no queue {missing[0]!r}; it has {', '.join(sorted(queues))}")
    total: list[float] | None = None
    for q in chosen:
        days = queues[q]["days"]
        if day not in days:
            raise ForecastError(f"the forecast has no day {day} for queue {q}; it covers "
                                f"{min(days)} to {max(days)}")
        row = days[day]
        total = list(row) if total is None else [a + b for a, b in zip(total, row)]
    return total or [], minutes
