"""Pure rules of the SMS channel: what Asterisk's [hotline-sms] dialplan hands over (base64
fields, so commas, line breaks and invalid UTF-8 survive the AMI event), the sender's number,
body limits, the webhook's signature, the reply's limits. No I/O, no clock."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field

_SIP_USER = re.compile(r"<?\s*(?:sips?|pjsip|tel):([^@;>\s]+)", re.IGNORECASE)
_PHONE_CHARS = re.compile(r"[^0-9+*#]")
MAX_ID_CHARS = 200


@dataclass(frozen=True)
class InboundSms:
    message_id: str        # the dedupe key: "sip:<Call-ID hash>" or "<gateway>:<its id>"
    sender: str            # the customer's number as received (digits, maybe a leading +)
    recipient: str         # the hotline's number it was sent to
    text: str
    notes: tuple[str, ...] = field(default_factory=tuple)   # what was repaired or cut, for people


class BadSms(ValueError):
    """The hand-over is unusable (not a body problem: those are repaired, with a note)."""


def decode_body(raw: bytes, max_chars: int) -> tuple[str, list[str]]:
    """UTF-8 text of an untrusted body: invalid bytes become U+FFFD and control characters
    (but line breaks and tabs) are dropped, each with a note; a long body is cut."""
    notes: list[str] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        notes.append("the text was not valid UTF-8: unreadable bytes are shown as \ufffd")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    cleaned = "".join(ch for ch in text if ch in "\n\t" or (ch >= " " and ch != "\x7f"))
    if len(cleaned) != len(text):
        notes.append("control characters were removed from the text")
    if len(cleaned) > max_chars:
        notes.append(f"the text had {len(cleaned)} characters; only the first {max_chars} are kept "
                     "(channels.sms.max_body_chars)")
        cleaned = cleaned[:max_chars]
    return cleaned, notes


def sender_number(uri_or_number: str) -> str:
    """'"Anna" <sip:+4930123@10.0.0.1:5060>' → '+4930123'; a plain number stays as it is."""
    m = _SIP_USER.search(uri_or_number or "")
    user = m.group(1) if m else (uri_or_number or "")
    return _PHONE_CHARS.sub("", user)[:32]


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadSms(f"the {what} field is not base64 (check [hotline-sms] in "
                     "extensions_hotline.conf)") from None


def spooled_key(call_id: str) -> str:
    """The AstDB key the dialplan derives from the SIP Call-ID (MD5, so it is key-safe)."""
    return hashlib.md5(call_id.encode(), usedforsecurity=False).hexdigest()


def parse_spooled(key: str, value: str, max_chars: int) -> InboundSms:
    """One message as [hotline-sms] stored it: key = MD5 of the Call-ID (hex),
    value = base64(from) ':' base64(to) ':' base64(body)."""
    if not re.fullmatch(r"[0-9a-f]{32}", key or ""):
        raise BadSms(f"spooled SMS key {key!r} is not the MD5 of a Call-ID")
    parts = (value or "").split(":")
    if len(parts) != 3:
        raise BadSms(f"spooled SMS {key}: expected from:to:body, got {len(parts)} field(s)")
    sender = _b64(parts[0], "from").decode("utf-8", errors="replace")
    recipient = _b64(parts[1], "to").decode("utf-8", errors="replace")
    text, notes = decode_body(_b64(parts[2], "body"), max_chars)
    number = sender_number(sender)
    if not number:
        notes.append(f"no number in the sender {sender[:80]!r}")
    return InboundSms(f"sip:{key}", number, sender_number(recipient), text, tuple(notes))


def parse_webhook(payload: object, max_chars: int) -> InboundSms:
    """A gateway's JSON {from, to, text, id}; `text` may be missing (an empty SMS)."""
    if not isinstance(payload, dict):
        raise BadSms("the body must be a JSON object {from, to, text, id}")
    missing = [k for k in ("from", "id") if not isinstance(payload.get(k), str) or not payload[k].strip()]
    if missing:
        raise BadSms(f"missing or empty field(s): {', '.join(missing)} (expected from, to, text, id)")
    text = payload.get("text", "")
    if not isinstance(text, str):
        raise BadSms("field 'text' must be a string")
    ident = payload["id"].strip()
    if len(ident) > MAX_ID_CHARS:
        raise BadSms(f"field 'id' is longer than {MAX_ID_CHARS} characters")
    body, notes = decode_body(_raw(text), max_chars)
    number = sender_number(payload["from"])
    if not number:
        raise BadSms("field 'from' holds no phone number")
    to = payload.get("to")
    return InboundSms(f"gw:{ident}", number, sender_number(to if isinstance(to, str) else ""),
                      body, tuple(notes))


def _raw(text: str) -> bytes:
    """The bytes behind a JSON string: invalid UTF-8 read with surrogateescape comes back as
    it was; lone surrogates sent as "\\ud800" escapes are kept as their (invalid) UTF-8."""
    try:
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="surrogatepass")


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """X-Signature: sha256=<hex HMAC of the raw body> (compared in constant time)."""
    return bool(header) and hmac.compare_digest(signature(secret, body), (header or "").strip())


def reply_problem(text: str, max_chars: int) -> str | None:
    """Why an agent's reply cannot go out as an SMS, or None."""
    if not text.strip():
        return "the reply is empty"
    if len(text) > max_chars:
        return (f"the reply has {len(text)} characters; an SMS reply may have at most {max_chars} "
                "(channels.sms.max_reply_chars)")
    return None


def split_reply(text: str, part_chars: int) -> list[str]:
    """An agent's reply as the messages that go out, in order. A reply longer than one part is
    cut at word boundaries (inside a word only when one word is longer than a part) and each part
    ends with "(i/n)", so the customer can read them in order whatever order the network keeps."""
    text = text.strip()
    if len(text) <= part_chars:
        return [text]
    label = len(" (99/99)")                 # room kept in every part for its label
    room = max(1, part_chars - label)
    parts: list[str] = []
    rest = text
    while rest:
        if len(rest) <= room:
            parts.append(rest)
            break
        cut = rest.rfind(" ", 1, room + 1)
        if cut <= 0:
            cut = room
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [f"{part} ({i}/{len(parts)})" for i, part in enumerate(parts, 1)]


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
