"""Intraday profiles: the share of a day's calls that falls in each interval of the open window.

A profile is a list of weights, one per interval, summing to one. The built-in one is the shape
of a typical inbound hotline (a morning peak around 10:00, a dip at lunch, a second peak in the
early afternoon, a long tail into the evening); a planner replaces it with a file or with the
shape the CRM learned from the center's own calls.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Relative calls per clock hour of a typical hotline (hour 0..23): only the shape matters,
# it is cut to the open window and scaled to one.
TYPICAL_HOURLY = (0.20, 0.10, 0.08, 0.07, 0.07, 0.10, 0.20, 0.45, 0.85, 1.30, 1.55, 1.45,
                  1.05, 1.00, 1.35, 1.40, 1.25, 1.05, 0.85, 0.65, 0.50, 0.40, 0.32, 0.25)
SUM_TOLERANCE = 1e-3
_CLOCK = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")


class ProfileError(ValueError):
    """A profile or an open window a planner must fix (the message says what and where)."""


@dataclass(frozen=True)
class Window:
    """The open hours of one day, cut into intervals of `interval_minutes`."""
    start_minute: int
    end_minute: int
    interval_minutes: int

    @property
    def intervals(self) -> int:
        return (self.end_minute - self.start_minute) // self.interval_minutes

    def label(self, index: int) -> str:
        m = self.start_minute + index * self.interval_minutes
        return f"{m // 60:02d}:{m % 60:02d}"

    def labels(self) -> list[str]:
        return [self.label(i) for i in range(self.intervals)]


def clock_minutes(text: str) -> int:
    m = _CLOCK.match(text.strip())
    if not m or (m[1] == "24" and m[2] != "00"):
        raise ProfileError(f"{text!r} is not a time of day: write HH:MM, e.g. 09:00 or 24:00")
    return int(m[1]) * 60 + int(m[2])


def parse_window(text: str, interval_minutes: int) -> Window:
    """`09:00-24:00` → Window; the ends must fall on interval boundaries."""
    if interval_minutes not in (15, 30, 60):
        raise ProfileError(f"interval {interval_minutes} min: use 15, 30 or 60")
    start, sep, end = text.partition("-")
    if not sep:
        raise ProfileError(f"open hours {text!r}: write START-END, e.g. 09:00-24:00")
    lo, hi = clock_minutes(start), clock_minutes(end)
    if hi <= lo:
        raise ProfileError(f"open hours {text!r}: the end must come after the start")
    if lo % interval_minutes or hi % interval_minutes:
        raise ProfileError(f"open hours {text!r} do not fall on {interval_minutes}-minute intervals")
    return Window(lo, hi, interval_minutes)


def typical(window: Window) -> list[float]:
    """The built-in hotline shape over the window's intervals, summing to one."""
    raw = [TYPICAL_HOURLY[(window.start_minute + i * window.interval_minutes) // 60 % 24]
           for i in range(window.intervals)]
    return normalise(raw, "the built-in profile")


def normalise(weights: list[float], where: str) -> list[float]:
    total = sum(weights)
    if total <= 0:
        raise ProfileError(f"{where}: no calls in the open window, so there is no shape to spread "
                           "the day over")
    return [w / total for w in weights]


def from_mapping(data: object, window: Window, where: str) -> list[float]:
    """A profile file's content: `{"09:00": 0.05, "09:30": 0.06, ...}` (interval starts) or a list
    with one share per interval. Shares must sum to one; intervals not given are closed (0)."""
    labels = window.labels()
    if isinstance(data, dict) and isinstance(data.get("profile"), (dict, list)):
        data = data["profile"]
    if isinstance(data, list):
        if len(data) != len(labels):
            raise ProfileError(f"{where}: {len(data)} shares for {len(labels)} intervals of "
                               f"{labels[0]}-{_end(window)}; give one per interval or a mapping")
        weights = [_share(v, f"{where}: item {i + 1}") for i, v in enumerate(data)]
    elif isinstance(data, dict):
        unknown = [str(k) for k in data if str(k) not in labels]
        if unknown:
            raise ProfileError(f"{where}: {', '.join(unknown[:5])} not an interval start of the open "
                               f"window {labels[0]}-{_end(window)} every {window.interval_minutes} min")
        weights = [_share(data.get(lab, 0.0), f"{where}: {lab}") for lab in labels]
    else:
        raise ProfileError(f"{where}: expected a mapping 'HH:MM: share' or a list of shares")
    total = sum(weights)
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ProfileError(f"{where}: the shares sum to {total:.4f}, not 1; a profile says which part "
                           "of the day's calls falls in each interval (fix the shares or rescale them)")
    return [w / total for w in weights]


def from_counts(counts: list[float], where: str) -> list[float]:
    """A profile learned from calls counted per interval (the CRM's history)."""
    return normalise(counts, where)


def _share(value: object, where: str) -> float:
    try:
        share = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ProfileError(f"{where}: {value!r} is not a number") from None
    if share < 0:
        raise ProfileError(f"{where}: a share cannot be negative ({share})")
    return share


def _end(window: Window) -> str:
    return f"{window.end_minute // 60:02d}:{window.end_minute % 60:02d}"
