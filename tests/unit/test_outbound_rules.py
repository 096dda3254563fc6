"""Outbound campaigns (issue 15): the campaign file, the list import and the compliance rules."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ivr.outbound.campaign import Campaign, parse_campaign
from ivr.outbound.listing import parse_list, rejects_csv
from ivr.outbound.rules import (Attempt, Contact, abandon_rate, in_window, may_dial, next_opening,
                               zones_for)

UTC = timezone.utc
GOOD = """\
name: care-q4
purpose: care calls to patients on treatment X
caller_id: "+4930123456"
dialplan: care.yaml
mode: predictive
queue: care
abandon_message: abandon-id
list:
  csv: patients.csv
  country_code: "49"
"""


def campaign(**overrides) -> Campaign:
    c, problems = parse_campaign(GOOD, "c.yaml")
    assert c is not None and not problems
    return c.model_copy(update=overrides)


def test_a_good_file_gets_the_strict_defaults() -> None:
    c = campaign()
    assert c.limits.ring_seconds >= 15 and c.limits.abandon_rate_max == 0.03
    assert c.limits.no_recall_after_abandon_hours == 72 and c.requires_consent
    assert c.windows.weekly["mon"] == ["10:00-13:00", "14:00-20:00"] and "sat" not in c.windows.weekly


@pytest.mark.parametrize("change, where, words", [
    ("limits:\n  ring_seconds: 10\n", 12, "greater than or equal to 15"),
    ("windows:\n  weekly: {mon: ['09:00-08:00']}\n", 12, "bad range"),
    ("limits:\n  abandon_slow_from: 0.04\n", 12, "slows before the limit"),
    ("colour: red\n", 11, "colour"),
])
def test_problems_point_at_the_line(change: str, where: int, words: str) -> None:
    c, problems = parse_campaign(GOOD + change, "c.yaml")
    assert c is None
    assert any(p.file == "c.yaml" and p.line == where and words in p.message for p in problems), problems


def test_predictive_needs_agents_and_an_abandon_message() -> None:
    text = GOOD.replace("queue: care\n", "").replace("abandon_message: abandon-id\n", "")
    _, problems = parse_campaign(text, "c.yaml")
    assert any("needs `queue:` or `agents:`" in p.message for p in problems)
    _, problems = parse_campaign(GOOD.replace("abandon_message: abandon-id\n", ""), "c.yaml")
    assert any("abandon_message" in p.message for p in problems)


def test_list_rows_are_checked_one_by_one() -> None:
    text = ("number,name,tz,consent,drug\n"
            "030 1234567,Ann,,yes,X\n"
            "12,Bob,,yes,X\n"
            "+49 30 1234567,Ann again,,yes,X\n"
            "+12125550100,Cy,Mars/Base,yes,X\n"
            "+33123456789,Dee,,maybe,X\n"
            "+33123456780,Eve,Europe/Paris,no,Y\n")
    contacts, rejects, header = parse_list(text, "49")
    assert header == ""
    assert [(c.number, c.consent, c.fields) for c in contacts] == [
        ("+49301234567", True, {"drug": "X"}), ("+33123456780", False, {"drug": "Y"})]
    assert [(r.line, r.reason.split(" ")[0]) for r in rejects] == [
        (3, "number"), (4, "number"), (5, "unknown"), (6, "consent")]
    assert "already on line 2" in rejects[1].reason
    out = rejects_csv(rejects).splitlines()
    assert out[0].startswith("line,reason,number") and out[1].startswith("3,")


def test_a_list_without_a_number_column_is_refused() -> None:
    assert "needs a 'number' column" in parse_list("name\nAnn\n")[2]


# ---- the rules -----------------------------------------------------------------------
MONDAY_NOON_BERLIN = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)    # 12:00 in Berlin
ANN = Contact("+49301234567", consent=True)


def test_allowed_inside_the_window() -> None:
    assert may_dial(campaign(), ANN, [], MONDAY_NOON_BERLIN).allowed


@pytest.mark.parametrize("contact, reason", [
    (Contact("+49301234567", consent=True, dnc=True), "dnc"),
    (Contact("+49301234567", consent=None), "consent"),
    (Contact("+49301234567", consent=False), "consent"),
])
def test_dnc_and_consent_are_final(contact: Contact, reason: str) -> None:
    verdict = may_dial(campaign(), contact, [], MONDAY_NOON_BERLIN)
    assert (verdict.allowed, verdict.reason, verdict.final) == (False, reason, True)


def test_no_consent_needed_when_the_campaign_says_so() -> None:
    assert may_dial(campaign(requires_consent=False), Contact("+4930123456"), [], MONDAY_NOON_BERLIN).allowed


def test_the_lunch_break_and_the_evening_are_outside() -> None:
    lunch = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)               # 13:30 Berlin
    verdict = may_dial(campaign(), ANN, [], lunch)
    assert verdict.reason == "window" and verdict.not_before == datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    friday_night = datetime(2026, 12, 11, 19, 30, tzinfo=UTC)       # 20:30 Berlin, Friday
    verdict = may_dial(campaign(), ANN, [], friday_night)
    assert verdict.not_before == datetime(2026, 12, 14, 9, 0, tzinfo=UTC)   # Monday 10:00


def test_the_number_tells_the_zone_and_every_zone_must_be_open() -> None:
    new_york = Contact("+12125550100", consent=True)
    assert zones_for(new_york, "Europe/Berlin") == ("America/New_York",)
    assert not may_dial(campaign(), new_york, [], MONDAY_NOON_BERLIN).allowed   # 06:00 there
    assert may_dial(campaign(), new_york, [], MONDAY_NOON_BERLIN + timedelta(hours=5)).allowed
    own = Contact("+12125550100", tz="Europe/Berlin", consent=True)            # the contact's zone wins
    assert may_dial(campaign(), own, [], MONDAY_NOON_BERLIN).allowed
    c = campaign()
    both = ("America/New_York", "America/Los_Angeles")
    opening = next_opening(c.windows, both, MONDAY_NOON_BERLIN)
    # 10:00 in LA is 13:00 in New York (lunch): the overlap opens at 14:00 New York, 11:00 LA
    assert opening == datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
    assert not in_window(c.windows, both, opening - timedelta(minutes=1))


def test_holidays_from_the_calendar_and_the_campaign() -> None:
    christmas = datetime(2026, 12, 25, 11, 0, tzinfo=UTC)    # a Friday
    assert may_dial(campaign(), ANN, [], christmas).allowed
    assert may_dial(campaign(), ANN, [], christmas, holidays=frozenset({date(2026, 12, 25)})).reason == "window"
    c = campaign(windows=campaign().windows.model_copy(update={"holidays": [date(2026, 12, 25)]}))
    assert may_dial(c, ANN, [], christmas).not_before == datetime(2026, 12, 28, 9, 0, tzinfo=UTC)


def test_no_recall_within_72_hours_of_an_abandoned_call() -> None:
    then = MONDAY_NOON_BERLIN - timedelta(hours=71)
    verdict = may_dial(campaign(), ANN, [Attempt(then, "abandoned")], MONDAY_NOON_BERLIN)
    assert verdict.reason == "abandoned_recently" and verdict.not_before == then + timedelta(hours=72)
    assert may_dial(campaign(), ANN, [Attempt(then - timedelta(hours=2), "abandoned")], MONDAY_NOON_BERLIN).allowed


def test_retry_delays_and_limits_per_outcome() -> None:
    busy = Attempt(MONDAY_NOON_BERLIN - timedelta(minutes=10), "busy")
    verdict = may_dial(campaign(), ANN, [busy], MONDAY_NOON_BERLIN)
    assert verdict.reason == "retry_busy" and verdict.not_before == busy.at + timedelta(minutes=15)
    days = [Attempt(MONDAY_NOON_BERLIN - timedelta(days=d), "busy") for d in (1, 2, 3, 4)]
    assert may_dial(campaign(), ANN, days, MONDAY_NOON_BERLIN).reason == "retries_busy"
    assert may_dial(campaign(), ANN, [Attempt(MONDAY_NOON_BERLIN - timedelta(days=1), "answered")],
                    MONDAY_NOON_BERLIN).reason == "done"


def test_attempts_per_day_and_in_total() -> None:
    today = [Attempt(MONDAY_NOON_BERLIN - timedelta(hours=h), o)
             for h, o in ((2.5, "busy"), (2, "no_answer"), (1, "failed"))]
    verdict = may_dial(campaign(), ANN, today, MONDAY_NOON_BERLIN)
    assert verdict.reason == "attempts_per_day"
    assert verdict.not_before == datetime(2026, 12, 7, 23, 0, tzinfo=UTC)    # midnight in Berlin
    outcomes = ["busy", "no_answer", "failed", "machine", "busy", "no_answer"]
    many = [Attempt(MONDAY_NOON_BERLIN - timedelta(days=d + 1), o) for d, o in enumerate(outcomes)]
    assert may_dial(campaign(), ANN, many, MONDAY_NOON_BERLIN).reason == "attempts_total"


def test_the_rolling_abandon_rate_is_recomputable_from_the_attempts() -> None:
    now = MONDAY_NOON_BERLIN
    attempts = ([Attempt(now - timedelta(days=1), "answered")] * 60
                + [Attempt(now - timedelta(days=2), "abandoned")] * 2
                + [Attempt(now - timedelta(days=31), "abandoned")] * 5
                + [Attempt(now - timedelta(days=1), "no_answer")] * 50)
    rate = abandon_rate(attempts, now)
    assert (rate.abandoned, rate.answered) == (2, 62) and rate.rate == pytest.approx(2 / 62)


def test_an_interrupted_attempt_waits_for_the_next_day() -> None:
    restart = [Attempt(MONDAY_NOON_BERLIN - timedelta(minutes=5), "interrupted")]
    verdict = may_dial(campaign(), ANN, restart, MONDAY_NOON_BERLIN)
    assert verdict.reason == "interrupted" and verdict.not_before == datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    assert may_dial(campaign(), ANN, restart, datetime(2026, 12, 8, 9, 0, tzinfo=UTC)).allowed


def test_the_opt_out_key_is_seen_in_a_walk() -> None:
    from ivr.outbound.campaign import opted_out
    assert opted_out([{"node": "main", "input": "key", "key": "8"}], "8")
    assert not opted_out([{"node": "main", "input": "invalid", "key": "8"},
                          {"node": "main", "input": "key", "key": "1"}], "8")
