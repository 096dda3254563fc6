"""Rules of the public web chat and web form (pure: `now` in, decisions out).

What a visitor may send (size, rate per address and per session, open chats per address),
what a form must hold, and when a waiting visitor is told that no agent is free. The adapter
(chat_web.py) turns each refusal into a clear message; the chat stays open."""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']{1,255}\.[A-Za-z]{2,63}$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{6,24}$")


@dataclass(frozen=True)
class Limits:
    max_message_chars: int = 4_000
    max_form_chars: int = 20_000
    per_address_per_minute: int = 30
    per_session_per_minute: int = 12
    open_chats_per_address: int = 3


class RateWindow:
    """Sliding one-minute window of events per key; old keys are forgotten as time passes."""

    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        self.per_minute, self.window_s = per_minute, window_s
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float, count: bool = True) -> bool:
        """Counts the event when allowed (and `count`); a refused one does not count (a flood
        stays refused for one window after it stops, not for ever)."""
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if len(times) >= self.per_minute:
            return False
        if count:
            times.append(now)
        return True

    def forget_idle(self, now: float) -> None:
        for key in [k for k, t in self._seen.items() if not t or t[-1] <= now - self.window_s]:
            del self._seen[key]


@dataclass
class Gate:
    """The limits of one public page: one RateWindow per address and one per session."""
    limits: Limits
    by_address: RateWindow = field(init=False)
    by_session: RateWindow = field(init=False)

    def __post_init__(self) -> None:
        self.by_address = RateWindow(self.limits.per_address_per_minute)
        self.by_session = RateWindow(self.limits.per_session_per_minute)

    def check_message(self, text: str, address: str, session: str, now: float) -> str | None:
        """None when the message may go through, else the reason key (chat.refused.*)."""
        if not text.strip():
            return "empty"
        if len(text) > self.limits.max_message_chars:
            return "too_long"
        # both windows must agree before either counts the message
        if not (self.by_address.allow(address, now, False) and self.by_session.allow(session, now, False)):
            return "too_fast"
        self.by_address.allow(address, now)
        self.by_session.allow(session, now)
        return None

    def check_new_chat(self, open_for_address: int, address: str, now: float) -> str | None:
        if open_for_address >= self.limits.open_chats_per_address:
            return "too_many_chats"
        return None if self.by_address.allow(address, now) else "too_fast"


@dataclass(frozen=True)
class FormInput:
    name: str
    email: str
    phone: str
    topic: str
    message: str


def check_form(form: FormInput, topics: tuple[str, ...], max_chars: int) -> dict[str, str]:
    """Field → reason key; empty when the form may become a task."""
    problems: dict[str, str] = {}
    if not form.name.strip() or len(form.name) > 200:
        problems["name"] = "required"
    if form.email and not _EMAIL.match(form.email.strip()):
        problems["email"] = "invalid"
    if form.phone and not _PHONE.match(form.phone.strip()):
        problems["phone"] = "invalid"
    if not form.email.strip() and not form.phone.strip():
        problems["email"] = "email_or_phone"
    if form.topic not in topics:
        problems["topic"] = "pick_one"
    if not form.message.strip():
        problems["message"] = "required"
    elif len(form.message) > max_chars:
        problems["message"] = "too_long"
    return problems


def valid_email(address: str) -> bool:
    return bool(_EMAIL.match(address.strip()))


def normalised_phone(phone: str) -> str:
    """Digits with a leading + kept: how contact_identities stores a phone number."""
    digits = re.sub(r"[^0-9+]", "", phone)
    return digits[:1] + digits[1:].replace("+", "")


def unanswered(waiting_since: float, accepted: bool, answer_within_s: float, now: float) -> bool:
    """The visitor has waited past the chat's service level with no agent: offer the e-mail
    fallback (the chat stays queued meanwhile)."""
    return not accepted and now - waiting_since >= answer_within_s


def gone(last_seen: float, connected: bool, grace_s: float, now: float) -> bool:
    """The visitor's page has been closed (no live stream) for longer than the grace a
    reload or a network hiccup needs."""
    return not connected and now - last_seen >= grace_s
