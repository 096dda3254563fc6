"""The desk's rules, pure: roles and who may see what, session expiry, sign-in throttling,
password and name checks. No I/O, no clock: `now` comes from the caller."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

ROLES = ("agent", "supervisor", "admin")       # each role may do what those before it may
LANGUAGES = ("fr", "en")
MIN_PASSWORD_LENGTH = 10
# Names go into URLs (/agent/<name>) and logs: staff names only, plain characters.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# A session's last_seen is written at most this often (not on every request).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class DeskUser:
    name: str
    role: str
    language: str
    full_name: str = ""
    disabled: bool = False


@dataclass(frozen=True)
class SessionTimes:
    created_at: datetime
    last_seen: datetime
    expires_at: datetime          # the absolute end, fixed at sign-in


@dataclass(frozen=True)
class Throttle:
    max_failures: int
    window: timedelta


def role_at_least(user: DeskUser, role: str) -> bool:
    """Admin ≥ supervisor ≥ agent."""
    return ROLES.index(user.role) >= ROLES.index(role)


def may_see_agent(user: DeskUser, agent: str) -> bool:
    """An agent sees only their own desk; supervisors and admins everyone's."""
    return role_at_least(user, "supervisor") or user.name == agent


def home_path(user: DeskUser) -> str:
    """Where `/` sends a user after sign-in."""
    return {"agent": f"/agent/{user.name}", "supervisor": "/supervisor", "admin": "/admin"}[user.role]


def session_expiry(created_at: datetime, max_age: timedelta) -> datetime:
    return created_at + max_age


def session_alive(times: SessionTimes, idle: timedelta, now: datetime) -> bool:
    """Alive until its absolute end, and while used at least every `idle`."""
    return now < times.expires_at and now - times.last_seen < idle


def needs_touch(times: SessionTimes, now: datetime) -> bool:
    """Whether to write last_seen now: once a minute is exact enough for an idle timeout
    counted in minutes, and spares a database write per request."""
    return now - times.last_seen >= TOUCH_EVERY


def locked_until(failures: list[datetime], throttle: Throttle, now: datetime) -> datetime | None:
    """When sign-in opens again for a name + address, or None if it is open now.
    Locked while `max_failures` or more failures lie within the last `window`; it opens
    when the oldest of the last `max_failures` of them leaves the window."""
    recent = sorted(f for f in failures if now - f < throttle.window)
    if len(recent) < throttle.max_failures:
        return None
    return recent[-throttle.max_failures] + throttle.window


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"too short: at least {MIN_PASSWORD_LENGTH} characters (a phrase is easiest)"
    if not password.strip():
        return "only spaces"
    return None


def name_problem(name: str) -> str | None:
    if not NAME_PATTERN.match(name):
        return ("use 1–64 lower-case letters, digits, '.', '_' or '-', starting with a letter "
                "or digit (for an agent: the name in agents.yaml)")
    return None


def safe_back_path(path: str | None, default: str = "/") -> str:
    """A local path to return to after a form (never another site: no '//' nor scheme)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return default
