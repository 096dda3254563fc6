"""Compliance: may this contact be dialled now, and if not, why and from when.

Every rule of the campaign is checked here and nowhere else, so the runner cannot dial
around one: do-not-call list, consent, attempts per day and in total, retries per
outcome, no re-call within 72 h of an abandoned call, and the contact's local calling
window (the contact's time zone, else every zone of the number's country or area: a
number that spans zones is called only when the window is open in all of them).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as number_zones

from .campaign import Campaign, Windows

# What an attempt ended as. "answered": a person was reached and served (agent or IVR).
# "interrupted": reserved, then the engine stopped before its outcome was known; the call
# may have rung, so the number waits for the next local day (a restart dials no one twice).
OUTCOMES = ("answered", "abandoned", "busy", "no_answer", "machine", "message_left", "failed",
            "interrupted", "skipped", "expired")
# A preview record the agent skipped, or left on the desk until the reservation expired: no
# call was placed, so it counts toward no limit; a skipped contact waits for the next day.
NOT_DIALLED = ("skipped", "expired")
HUMAN_ANSWERED = ("answered", "abandoned")     # the abandon rate's denominator
FINAL = ("answered", "message_left")           # the contact is done with
_SEARCH_DAYS = 15                               # a window that never opens in 2 weeks: none


@dataclass(frozen=True)
class Contact:
    number: str
    tz: str | None = None
    consent: bool | None = None
    dnc: bool = False


@dataclass(frozen=True)
class Attempt:
    at: datetime          # aware (UTC)
    outcome: str


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""                      # a word for reports: dnc, consent, window, …
    not_before: datetime | None = None    # None and not allowed: never again

    @property
    def final(self) -> bool:
        return not self.allowed and self.not_before is None


ALLOWED = Verdict(True)


def zones_for(contact: Contact, default_tz: str) -> tuple[str, ...]:
    """The contact's zone, else every zone of the number, else the campaign's default."""
    if contact.tz:
        return (contact.tz,)
    try:
        found = number_zones.time_zones_for_number(phonenumbers.parse(contact.number, None))
    except phonenumbers.NumberParseException:
        found = ()
    zones = tuple(z for z in found if z != number_zones.UNKNOWN_TIMEZONE)
    return zones or (default_tz,)


def _open_at(windows: Windows, zone: str, now: datetime, holidays: frozenset[date]) -> bool:
    local = now.astimezone(ZoneInfo(zone))
    if local.date() in holidays:
        return False
    t = local.time().replace(tzinfo=None)
    return any(start <= t < end for start, end in windows.ranges(local.date()))


def in_window(windows: Windows, zones: Iterable[str], now: datetime,
              holidays: frozenset[date] = frozenset()) -> bool:
    return all(_open_at(windows, z, now, holidays) for z in zones)


def next_opening(windows: Windows, zones: tuple[str, ...], now: datetime,
                 holidays: frozenset[date] = frozenset()) -> datetime | None:
    """The first moment ≥ now when the window is open in every zone (None: not in 2 weeks).
    Where windows of several zones overlap, the overlap starts where one of them starts."""
    if in_window(windows, zones, now, holidays):
        return now
    candidates = []
    for zone in zones:
        tz = ZoneInfo(zone)
        today = now.astimezone(tz).date()
        for d in range(_SEARCH_DAYS):
            day = today + timedelta(days=d)
            candidates += [datetime.combine(day, start, tz) for start, _ in windows.ranges(day)]
    for start in sorted(c for c in candidates if c > now):
        if in_window(windows, zones, start, holidays):
            return start
    return None


def may_dial(campaign: Campaign, contact: Contact, attempts: list[Attempt], now: datetime, *,
             holidays: frozenset[date] = frozenset()) -> Verdict:
    """Every rule, the final ones first; `attempts` are this contact's, in any order."""
    if contact.dnc:
        return Verdict(False, "dnc")
    if campaign.requires_consent and contact.consent is not True:
        return Verdict(False, "consent")
    skipped = [a.at for a in attempts if a.outcome == "skipped"]
    history = sorted((a for a in attempts if a.outcome not in NOT_DIALLED), key=lambda a: a.at)
    if any(a.outcome in FINAL for a in history):
        return Verdict(False, "done")
    limits = campaign.limits
    if len(history) >= limits.attempts_total:
        return Verdict(False, "attempts_total")
    later: list[tuple[datetime, str]] = []
    abandoned = [a.at for a in history if a.outcome == "abandoned"]
    if abandoned:
        later.append((abandoned[-1] + timedelta(hours=limits.no_recall_after_abandon_hours),
                      "abandoned_recently"))
    if history:
        last = history[-1]
        retry = campaign.retry_for(last.outcome)
        if retry is not None:
            if sum(a.outcome == last.outcome for a in history) > retry.max:
                return Verdict(False, f"retries_{last.outcome}")
            later.append((last.at + timedelta(minutes=retry.delay_minutes), f"retry_{last.outcome}"))
    zones = zones_for(contact, campaign.windows.default_tz)
    day_zone = ZoneInfo(zones[0])
    today = now.astimezone(day_zone).date()
    tomorrow = datetime.combine(today + timedelta(days=1), time(), day_zone)
    if sum(a.at.astimezone(day_zone).date() == today for a in history) >= limits.attempts_per_day:
        later.append((tomorrow, "attempts_per_day"))
    if any(a.outcome == "interrupted" and a.at.astimezone(day_zone).date() == today for a in history):
        later.append((tomorrow, "interrupted"))
    if any(at.astimezone(day_zone).date() == today for at in skipped):
        later.append((tomorrow, "skipped"))
    waits = [(when, why) for when, why in later if when > now]
    if waits:
        return Verdict(False, max(waits)[1], max(waits)[0])
    all_holidays = holidays | frozenset(campaign.windows.holidays)
    if not in_window(campaign.windows, zones, now, all_holidays):
        opening = next_opening(campaign.windows, zones, now, all_holidays)
        return Verdict(False, "window", opening)
    return ALLOWED


@dataclass(frozen=True)
class AbandonRate:
    abandoned: int
    answered: int               # answered by a person (abandoned ones included)

    @property
    def rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0


def abandon_rate(attempts: Iterable[Attempt], now: datetime, days: int = 30) -> AbandonRate:
    """Over the rolling `days` before `now`: what an auditor recomputes from the attempts."""
    since = now - timedelta(days=days)
    recent = [a for a in attempts if since < a.at <= now and a.outcome in HUMAN_ANSWERED]
    return AbandonRate(sum(a.outcome == "abandoned" for a in recent), len(recent))
