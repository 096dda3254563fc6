"""A campaign file: what is dialled, how, when and within which limits.

Defaults are those of the strictest common regulation (all configurable): calls on
weekdays 10:00-13:00 and 14:00-20:00 local time (the French rule for unsolicited calls),
never on holidays, ring at least 15 s, an abandon rate of at most 3 % of answered calls
over a rolling 30 days, no re-call within 72 h of an abandoned call.
"""
from __future__ import annotations

import re
from datetime import date, time
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ivr.dialplan.problems import Problem
from ivr.dialplan.source import Source, load_yaml

Mode = Literal["agentless", "preview", "progressive", "predictive"]
Outcome = Literal["busy", "no_answer", "machine", "failed"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
_NUMBER = r"^\+?[0-9]{3,20}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)") from None
    return name


class ContactSegment(_Model):
    """Contact cards of the CRM, taken when the campaign is loaded (load it again to refresh):
    every card matching all the filters given, called on its first phone number."""
    types: list[str] = Field(default_factory=list, description="contact types (pharmacist, doctor…); empty: all")
    language: str | None = None
    organisation_contains: str | None = None
    consent: Literal["may_contact_phone", "pv_follow_up_consent"] | None = Field(
        "may_contact_phone", description="only cards where this flag is yes (null: no filter; "
                                         "the campaign's requires_consent still applies)")


class ListSource(_Model):
    """Exactly one of `csv` (a file imported row by row) or `segment`: a CRM query, either a
    built-in one by name (`ae-followup`) or contact filters (ContactSegment)."""
    csv: str | None = None
    segment: str | ContactSegment | None = None
    country_code: str = Field("", pattern=r"^[0-9]{0,3}$",
                              description="for national numbers in the CSV ('49': 030… → +4930…)")
    rejects: str = Field("", description="where rejected rows go (default: <csv>.rejects.csv)")

    @model_validator(mode="after")
    def _one(self) -> "ListSource":
        if (self.csv is None) == (self.segment is None):
            raise ValueError("give exactly one of `csv:` (a file) or `segment:` (a CRM query)")
        return self


class Windows(_Model):
    """When contacts may be called, in each contact's own local time."""
    weekly: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], list[str]] = Field(
        default_factory=lambda: {d: ["10:00-13:00", "14:00-20:00"] for d in DAYS[:5]})
    holidays: list[date] = Field(default_factory=list)
    default_tz: str = Field("Europe/Berlin", description="when neither contact nor number tells")

    @field_validator("default_tz")
    @classmethod
    def _tz(cls, v: str) -> str:
        return _zone(v)

    @field_validator("weekly")
    @classmethod
    def _ranges(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in v.items():
            for r in ranges:
                m = _RANGE.match(str(r))
                if not m or not (0 <= int(m[1]) < 24 and 0 <= int(m[3]) <= 24
                                 and int(m[2]) < 60 and int(m[4]) < 60) or (m[1], m[2]) >= (m[3], m[4]):
                    raise ValueError(f"{day}: bad range {r!r}, expected 'HH:MM-HH:MM' (quoted)")
        return v

    def ranges(self, day: date) -> list[tuple[time, time]]:
        out = []
        for r in self.weekly.get(DAYS[day.weekday()], []):
            start = time(int(r[:2]), int(r[3:5]))
            end = time.max if r[6:] == "24:00" else time(int(r[6:8]), int(r[9:11]))
            out.append((start, end))
        return sorted(out)


class Retry(_Model):
    delay_minutes: float = Field(ge=1)
    max: int = Field(ge=0, description="further attempts after this outcome")


def _retries() -> dict[str, Retry]:
    return {"busy": Retry(delay_minutes=15, max=3), "no_answer": Retry(delay_minutes=120, max=3),
            "machine": Retry(delay_minutes=240, max=2), "failed": Retry(delay_minutes=30, max=2)}


class Limits(_Model):
    attempts_per_day: int = Field(3, ge=1)
    attempts_total: int = Field(6, ge=1)
    ring_seconds: float = Field(25, ge=15, le=120, description="the law: at least 15 s")
    channels: int = Field(10, ge=1, description="trunk channels this campaign may use")
    abandon_rate_max: float = Field(0.03, gt=0, le=0.2)
    abandon_slow_from: float = Field(0.02, ge=0, description="the pacer slows from this rate on")
    abandon_window_days: int = Field(30, ge=1)
    abandon_after_seconds: float = Field(2, gt=0, le=2, description="no agent within: abandoned")
    no_recall_after_abandon_hours: float = Field(72, ge=72)

    @model_validator(mode="after")
    def _slow_before(self) -> "Limits":
        if self.abandon_slow_from >= self.abandon_rate_max:
            raise ValueError(f"abandon_slow_from ({self.abandon_slow_from}) must be below "
                             f"abandon_rate_max ({self.abandon_rate_max}): the pacer slows before the limit")
        return self


class Machine(_Model):
    action: Literal["leave_message", "retry"] = "retry"
    message: str = Field("", description="the prompt left on the machine (leave_message)")

    @model_validator(mode="after")
    def _message(self) -> "Machine":
        if self.action == "leave_message" and not self.message:
            raise ValueError("machine.action leave_message needs machine.message (a prompt)")
        return self


class Preview(_Model):
    """Preview mode's timings (the agent reads the record, then dials)."""
    hold_seconds: float = Field(120, ge=10, le=1800, description="a record shown on an agent's "
                                "desk this long without a dial or a skip goes back to the list")
    # ae-followup segment: when the reporter's call is due. The regulatory clock (15 days for
    # a serious case) runs from a valid report; the follow-up is what makes it valid.
    followup_due_days: int = Field(3, ge=1, le=15, description="call the reporter of an AE case "
                                   "missing criteria within this many days of its opening")


class Campaign(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    purpose: str = Field(min_length=3)
    caller_id: str = Field(pattern=_NUMBER)
    channel: str = Field("PJSIP/{number}@trunk", pattern=r"\{number\}",
                         description="the Originate channel; {number}: the contact's number, "
                         "{column}: a column of the list (a per-contact route)")
    dialplan: str = Field(description="the YAML dialplan the answered party hears")
    mode: Mode = "agentless"
    queue: str | None = None
    agents: list[str] = Field(default_factory=list)
    list: ListSource
    requires_consent: bool = True
    # Every menu of the campaign's dialplan must offer it (ivr check); pressing it puts the
    # number on the do-not-call list at once. Not 9: that is the hotline's safety key.
    opt_out_key: str = Field("8", pattern=r"^[0-9*#]$")
    windows: Windows = Field(default_factory=Windows)
    retries: dict[Outcome, Retry] = Field(default_factory=_retries)
    limits: Limits = Field(default_factory=Limits)
    machine: Machine = Field(default_factory=Machine)
    preview: Preview = Field(default_factory=Preview)
    abandon_message: str = Field("", description="a node of the campaign's dialplan whose prompt "
                                 "identifies the caller (who calls, why, a number to call back): "
                                 "played when no agent is free within 2 s")
    # Predictive pacing counts every call as answered until it has measured the list (safe);
    # a team lead who knows the list's answer rate gives it here, for the first calls.
    expected_answer_rate: float = Field(1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _agents(self) -> "Campaign":
        if self.mode != "agentless" and not (self.queue or self.agents):
            raise ValueError(f"mode {self.mode} needs `queue:` or `agents:` (who takes the calls)")
        if self.mode in ("progressive", "predictive") and not self.abandon_message:
            raise ValueError(f"mode {self.mode} needs `abandon_message:` (the identification "
                             "played when no agent is free within 2 s)")
        return self

    def retry_for(self, outcome: str) -> Retry | None:
        return self.retries.get(outcome)  # type: ignore[call-overload]


# ---- the file ---------------------------------------------------------------------

def _data_path(loc: tuple, data: Any) -> tuple:
    path: list = []
    for part in loc:
        if isinstance(data, dict) and str(part) in data:
            path.append(str(part))
            data = data[str(part)]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            path.append(part)
            data = data[part]
    return tuple(path)


def parse_campaign(text: str, file: str = "<string>") -> tuple[Campaign | None, list[Problem]]:
    """The campaign and every problem found, each at `file:line:col`; never raises."""
    data, src, problems = load_yaml(text, file)
    if data is None:
        return None, problems
    if not isinstance(data, dict):
        return None, problems + [Problem(file, 1, 1, "a campaign file is a mapping (name: …, purpose: …)")]
    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as exc:
        return None, problems + [_problem(src, data, err) for err in exc.errors()]
    return campaign, problems


def _problem(src: Source, data: dict, err: Any) -> Problem:
    path = _data_path(err["loc"], data)
    names = [str(p) for p in path]
    if err["type"] == "missing" and err["loc"]:
        names.append(str(err["loc"][-1]))
    msg = err["msg"].removeprefix("Value error, ")
    if isinstance(err.get("input"), bool):
        msg += " (YAML read this as a boolean: quote it)"
    where = ".".join(names)
    return src.problem(path, f"{where}: {msg}" if where else msg, key=err["type"] == "extra_forbidden")


def opted_out(path: list[dict], key: str) -> bool:
    """Did the person press the opt-out key in a menu (a dialplan walk's path entries)?"""
    return any(step.get("input") == "key" and step.get("key") == key for step in path)


def opt_out_problems(campaign: Campaign, menus: dict[str, dict[str, str]], human_key: str,
                     safety_key: str) -> list[tuple[str, str]]:
    """(menu or '', message) for each way the dialplan fails the opt-out rule: `menus` maps
    each menu node of the campaign's dialplan to its options (key → node)."""
    key = campaign.opt_out_key
    if key in (human_key, safety_key):
        which = "human_key" if key == human_key else "safety_key"
        return [("", f"opt_out_key {key!r} is the dialplan's policy.{which}: choose another key")]
    if not menus:
        return [("", "the dialplan has no menu, so no opt-out key: add a menu offering "
                     f"key {key!r} (\"to never be called again, press {key}\")")]
    return [(name, f"menu {name} does not offer the opt-out key {key!r}: every menu of an outbound "
                   "dialplan must (it adds the number to the do-not-call list)")
            for name, options in sorted(menus.items()) if key not in options]
