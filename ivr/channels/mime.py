"""Parse an inbound e-mail (bytes as read over IMAP) into what the CRM stores, never raising:
malformed MIME, unknown charsets and oversized parts become notes on the mail instead.
HTML is sanitised with nh3: no scripts, styles, forms or images (the desk never loads remote
content; a mail's inline images are kept as attachments instead)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from datetime import datetime

import nh3

from .mail_rules import attachment_refusal, message_ids

# Text structure only: nothing that fetches (img, link, iframe, object) or runs (script).
_TAGS = {"a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr", "i",
         "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td", "th",
         "thead", "tr", "u", "ul"}
_ATTRS = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


def sanitise_html(html: str) -> str:
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRS, url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


_WANTED = frozenset({"subject", "from", "to", "cc", "date", "message-id", "in-reply-to", "references",
                     "auto-submitted", "precedence", "return-path", "list-id", "list-unsubscribe",
                     "x-auto-response-suppress", "reply-to"})


@dataclass
class Attachment:
    filename: str
    content_type: str
    size: int
    data: bytes | None        # None when refused
    refused: str | None = None


@dataclass
class InboundMail:
    message_id: str
    sender: str               # lower-cased address
    sender_name: str
    subject: str
    text: str
    html: str                 # sanitised
    in_reply_to: str
    references: str
    headers: dict[str, str]   # lower-case names, first occurrence
    return_path: str | None
    date: datetime | None
    attachments: list[Attachment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _text_of(part: EmailMessage, notes: list[str]) -> str:
    try:
        return str(part.get_content())
    except (LookupError, UnicodeError, AssertionError, ValueError) as exc:
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "?"
        notes.append(f"part {part.get_content_type()} in charset {charset!r} could not be "
                     f"decoded ({type(exc).__name__}); shown as UTF-8 with replacements")
        return payload.decode("utf-8", errors="replace")


def _header(msg: EmailMessage, name: str, notes: list[str]) -> str:
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except Exception as exc:  # noqa: BLE001 — a broken header must not lose the mail
        notes.append(f"header {name} unreadable ({type(exc).__name__})")
        raw = msg.get_all(name, failobj=[""]) or [""]
        return str(raw[0]).encode("utf-8", "replace").decode("utf-8")


def parse_mail(raw: bytes, max_attachment_bytes: int) -> InboundMail:
    """The mail as a task needs it. Never raises: a mail the parser cannot read at all still
    becomes a task (its raw bytes attached, with the reason), or it would be fetched again and
    again and hold up every mail behind it."""
    try:
        return _parse(raw, max_attachment_bytes)
    except Exception as exc:  # noqa: BLE001 — one unreadable mail must not stop the mailbox
        reason = f"unreadable mail ({type(exc).__name__}: {str(exc)[:200]}): the original is attached"
        refused = attachment_refusal(len(raw), max_attachment_bytes)
        return InboundMail(
            message_id=f"<sha256-{hashlib.sha256(raw).hexdigest()[:32]}@unreadable>", sender="", sender_name="",
            subject="(unreadable mail)", text="", html="", in_reply_to="", references="", headers={},
            return_path=None, date=None, notes=[reason] + ([f"original.eml: {refused}"] if refused else []),
            attachments=[Attachment("original.eml", "message/rfc822", len(raw), None if refused else raw, refused)])


def _parse(raw: bytes, max_attachment_bytes: int) -> InboundMail:
    notes: list[str] = []
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    for defect in getattr(msg, "defects", [])[:5]:
        notes.append(f"malformed MIME: {type(defect).__name__}")
    mid_ids = message_ids(_header(msg, "Message-ID", notes))
    message_id = mid_ids[0] if mid_ids else f"<sha256-{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id>"
    if not mid_ids:
        notes.append("no Message-ID: identified by its content's hash")
    addrs = getaddresses([_header(msg, "From", notes)])
    name, addr = addrs[0] if addrs else ("", "")
    headers: dict[str, str] = {}
    for key in msg.keys():  # only those the rules read: parsing every header costs ~1 ms a mail
        k = key.lower()
        if k in _WANTED and k not in headers:
            headers[k] = _header(msg, key, notes)
    try:
        date = parsedate_to_datetime(headers["date"]) if headers.get("date") else None
    except (TypeError, ValueError, IndexError):
        date = None
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    parts = msg.walk() if msg.is_multipart() else iter([msg])
    for part in parts:
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        if disposition is None and ctype in ("text/plain", "text/html"):
            (texts if ctype == "text/plain" else htmls).append(_text_of(part, notes))
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception as exc:  # noqa: BLE001
            notes.append(f"part {ctype} unreadable ({type(exc).__name__})")
            continue
        filename = part.get_filename() or f"part.{ctype.split('/')[-1]}"
        refused = attachment_refusal(len(data), max_attachment_bytes)
        if refused:
            notes.append(f"{filename}: {refused}")
        attachments.append(Attachment(filename, ctype, len(data), None if refused else data, refused))
    html = sanitise_html("\n".join(htmls)) if htmls else ""
    text = "\n".join(texts) or (nh3.clean(html, tags=set()) if html else "")
    return InboundMail(
        message_id=message_id, sender=(addr or "").strip().lower(), sender_name=name or "",
        subject=headers.get("subject", ""), text=text, html=html,
        in_reply_to=headers.get("in-reply-to", ""), references=headers.get("references", ""),
        headers=headers, return_path=headers.get("return-path"), date=date,
        attachments=attachments, notes=notes)
