"""Pure rules of the e-mail channel: mail loops, threading, per-sender throttling, safety
phrases, attachment limits, acknowledgement text. No I/O, no clock (`now` is passed in)."""
from __future__ import annotations

import re
import unicodedata
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

_BULK = ("bulk", "list", "junk")
_MSGID = re.compile(r"<[^<>\s]+>")


def no_ack_reason(headers: Mapping[str, str], return_path: str | None) -> str | None:
    """Why an automatic acknowledgement must not go to this mail (RFC 3834), or None.
    `headers`: lower-case names; `return_path`: None when the header is absent."""
    auto = (headers.get("auto-submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto}"
    prec = (headers.get("precedence") or "").strip().lower()
    if prec in _BULK:
        return f"Precedence: {prec}"
    if return_path is not None and return_path.strip() in ("", "<>"):
        return "empty Return-Path (a bounce or an automatic message)"
    if headers.get("list-id") or headers.get("list-unsubscribe"):
        return "mailing-list message (List-Id / List-Unsubscribe)"
    if (headers.get("x-auto-response-suppress") or "").strip().lower() in ("all", "autoreply", "oof"):
        return "X-Auto-Response-Suppress"
    return None


def message_ids(text: str | None) -> list[str]:
    """The <id@host> tokens of a Message-ID / In-Reply-To / References header, in order."""
    return _MSGID.findall(text or "")


def thread_candidates(in_reply_to: str | None, references: str | None) -> list[str]:
    """Message-IDs that may place a mail in an existing thread: In-Reply-To first, then
    References from the newest back (a client may cut the list; any known one will do)."""
    seen: list[str] = []
    for mid in message_ids(in_reply_to) + list(reversed(message_ids(references))):
        if mid not in seen:
            seen.append(mid)
    return seen


def reply_references(references: str | None, message_id: str) -> str:
    """References of a reply to a message (RFC 5322 §3.6.4): its references + its id."""
    ids = message_ids(references)
    if message_id and message_id not in ids:
        ids.append(message_id)
    return " ".join(ids[-20:])  # keep the header bounded on endless threads


def reply_subject(subject: str, reference: str) -> str:
    subject = (subject or "").strip()
    tag = f"[{reference}]"
    if tag not in subject:
        subject = f"{subject} {tag}".strip()
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


class Throttle:
    """At most `limit` per `window` seconds per key (acknowledgements per sender): a flood
    from one sender still becomes tasks, it just stops getting answers."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self._sent: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float) -> bool:
        q = self._sent.setdefault(key.lower(), deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        if len(q) >= self.limit:
            return False
        q.append(now)
        return True


def fold(text: str) -> str:
    """Case- and accent-free, whitespace collapsed: 'Nebenwirkung' matches 'NEBEN­WIRKUNG'."""
    t = unicodedata.normalize("NFKD", text or "")
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).casefold()
    return " ".join(t.split())


@dataclass(frozen=True)
class SafetyHit:
    language: str
    phrase: str


def safety_hit(text: str, phrases: Mapping[str, list[str]]) -> SafetyHit | None:
    """The first configured safety phrase (per language) found in the text, or None."""
    folded = fold(text)
    for language, items in phrases.items():
        for phrase in items:
            if phrase and fold(phrase) in folded:
                return SafetyHit(language, phrase)
    return None


def attachment_refusal(size: int, limit: int) -> str | None:
    if size > limit:
        return (f"attachment of {size / 1e6:.1f} MB refused: above the limit of "
                f"{limit / 1e6:.1f} MB (channels.email.max_attachment_bytes)")
    return None


def ack_text(reference: str, subject: str, template: str) -> str:
    """The acknowledgement body; `template` may use {reference} and {subject}. The subject is
    the sender's own text, returned to the sender only (plain text, no markup)."""
    return template.replace("{reference}", reference).replace("{subject}", subject or "")
