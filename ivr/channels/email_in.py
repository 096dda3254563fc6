"""The e-mail channel's adapter: read a mailbox over IMAP (IDLE when offered, polling
otherwise), store each mail in the CRM (task_store), hand new tasks to the ACD, acknowledge
over SMTP, and only then mark the mail \\Seen on the server.

Order matters: a crash before the CRM commit leaves the mail unseen (read again, nothing
lost); a crash after it but before \\Seen reads it again and the Message-ID says it is stored
already (nothing duplicated, no second acknowledgement)."""
from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aioimaplib
import aiosmtplib

from .mail_rules import Throttle, ack_text, no_ack_reason, reply_references, reply_subject, safety_hit
from .mime import InboundMail, parse_mail
from .settings import EmailSettings
from .task_store import Ingested, ingest_mail, record_reply, task_event

log = logging.getLogger(__name__)
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_UID = re.compile(rb"UID (\d+)")
_SLICE = 100   # messages whose sizes are asked in one command


class MailboxError(Exception):
    """The IMAP server refused something: what, and what to check."""


class EmailChannel:
    def __init__(self, settings: EmailSettings, store: Any,
                 submit: Callable[[Ingested, InboundMail], None], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.store = store
        self.submit = submit
        self.clock = clock
        self.throttle = Throttle(settings.ack_per_sender, settings.ack_window_seconds)
        self.imap: aioimaplib.IMAP4 | None = None
        self.smtp = SmtpSender(settings)
        self._acks: set[asyncio.Future] = set()
        self.stats = {"read": 0, "tasks": 0, "duplicates": 0, "acks": 0, "acks_skipped": 0}
        self.idle_offered = False

    # ---------------------------------------------------------------- IMAP session
    async def connect(self) -> None:
        s = self.settings
        if s.imap_tls:
            imap = aioimaplib.IMAP4_SSL(s.imap_host, s.imap_port, ssl_context=ssl.create_default_context())
        else:
            imap = aioimaplib.IMAP4(s.imap_host, s.imap_port)
        await imap.wait_hello_from_server()
        r = await imap.login(s.user, s.password())
        if r.result != "OK":
            raise MailboxError(f"IMAP login of {s.user!r} at {s.imap_host}:{s.imap_port} refused "
                               f"({_text(r)}); check channels.email.user and ${s.password_env}")
        r = await imap.select(s.mailbox)
        if r.result != "OK":
            raise MailboxError(f"cannot open mailbox {s.mailbox!r} ({_text(r)}); check channels.email.mailbox")
        self.idle_offered = imap.has_capability("IDLE")
        self.imap = imap

    async def close(self) -> None:
        await self.flush_acks(timeout=5.0)   # a stopping engine waits a little, not forever
        await self.smtp.close()
        if self.imap is not None:
            try:
                await asyncio.wait_for(self.imap.logout(), 5)
            except Exception:  # noqa: BLE001 — closing a broken session
                pass
            self.imap = None

    async def run(self) -> None:
        """Forever: read what is unseen, then wait (IDLE or poll); reconnect after errors."""
        backoff = 1.0
        while True:
            try:
                if self.imap is None:
                    await self.connect()
                    log.info("e-mail: reading %s at %s:%s (%s)", self.settings.mailbox,
                             self.settings.imap_host, self.settings.imap_port,
                             "IDLE" if self.idle_offered else f"polling every {self.settings.poll_seconds:g}s")
                await self.read_once()
                backoff = 1.0
                await self.wait_for_mail()
            except asyncio.CancelledError:
                await self.close()
                raise
            except Exception as exc:  # noqa: BLE001 — the channel must outlive a server outage
                log.warning("e-mail: %s; retrying in %.0fs (mails stay unseen on the server: none is lost)",
                            exc, backoff)
                await self.close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)

    async def wait_for_mail(self) -> None:
        imap = self.imap
        assert imap is not None
        if not self.idle_offered:
            await asyncio.sleep(self.settings.poll_seconds)
            return
        idle = await imap.idle_start(timeout=self.settings.idle_seconds)
        try:
            await imap.wait_server_push(timeout=self.settings.idle_seconds + 5)
        except asyncio.TimeoutError:
            pass
        finally:
            imap.idle_done()
            await asyncio.wait_for(idle, 10)

    async def read_once(self) -> int:
        """Handle every unseen mail; returns how many were handled."""
        imap = self.imap
        assert imap is not None
        r = await imap.uid_search("UNSEEN")
        if r.result != "OK":
            raise MailboxError(f"IMAP search failed ({_text(r)})")
        uids = [u.decode() for line in r.lines[:1] for u in bytes(line).split() if u.isdigit()]
        # In slices: aioimaplib handles the lines of one answer recursively, and an answer of
        # ~1,000 lines (a backlog after an outage) overflows Python's stack and stalls.
        for start in range(0, len(uids), _SLICE):
            part = uids[start:start + _SLICE]
            sizes = await self._sizes(part)
            for uid in part:
                await self.handle_uid(uid, sizes.get(uid))
        return len(uids)

    async def _sizes(self, uids: list[str]) -> dict[str, int]:
        """Every message's size in one round trip (before deciding what to download)."""
        if not uids:
            return {}
        assert self.imap is not None
        r = await self.imap.uid("fetch", ",".join(uids), "(RFC822.SIZE)")
        sizes = {}
        for line in r.lines:
            if isinstance(line, (bytes, bytearray)):
                uid, size = _UID.search(bytes(line)), _SIZE.search(bytes(line))
                if uid and size:
                    sizes[uid.group(1).decode()] = int(size.group(1))
        return sizes

    async def handle_uid(self, uid: str, size: int | None = None) -> None:
        imap = self.imap
        assert imap is not None
        if size is None:
            sizes = await self._sizes([uid])
            size = sizes.get(uid, 0)
        too_big = size > self.settings.max_message_bytes
        part = "BODY.PEEK[HEADER]" if too_big else "BODY.PEEK[]"
        r = await imap.uid("fetch", uid, f"({part})")
        raw = next((bytes(x) for x in r.lines if isinstance(x, bytearray)), None)
        if r.result != "OK" or raw is None:
            raise MailboxError(f"IMAP fetch of UID {uid} failed ({_text(r)})")
        mail = parse_mail(raw, self.settings.max_attachment_bytes)
        if too_big:
            mail.notes.append(f"message of {size / 1e6:.1f} MB above channels.email.max_message_bytes "
                              f"({self.settings.max_message_bytes / 1e6:.1f} MB): body and attachments "
                              "not fetched; they stay on the mail server")
        await self.ingest(mail)
        r = await imap.uid("store", uid, "+FLAGS", "(\\Seen)")
        if r.result != "OK":
            raise MailboxError(f"cannot mark UID {uid} seen ({_text(r)}); it is stored, and will be "
                               "recognised by its Message-ID when read again")

    # ---------------------------------------------------------------- CRM, ACD, acknowledgement
    async def ingest(self, mail: InboundMail) -> Ingested:
        s = self.settings
        self.stats["read"] += 1
        hit = safety_hit(f"{mail.subject}\n{mail.text}", s.safety_phrases)
        ing = await ingest_mail(self.store, mail, queue=s.queue, priority=s.priority, safety=hit,
                                pv_queue=s.pv_queue, pv_priority=s.pv_priority,
                                now=datetime.now(timezone.utc))
        if ing.duplicate:
            self.stats["duplicates"] += 1
            return ing
        if ing.new_task:
            self.stats["tasks"] += 1
        self.submit(ing, mail)
        if ing.new_task:
            why = self.ack_refusal(mail)   # decided now (throttle order), sent in the background
            if why:
                self.stats["acks_skipped"] += 1
                log.info("e-mail: no acknowledgement for task %s: %s", ing.task_id, why)
            else:
                task = asyncio.ensure_future(self.acknowledge(mail, ing))
                self._acks.add(task)
                task.add_done_callback(self._acks.discard)
        return ing

    async def flush_acks(self, timeout: float = 30.0) -> None:
        """Wait for the acknowledgements still being sent (before closing)."""
        if self._acks:
            await asyncio.wait(set(self._acks), timeout=timeout)

    async def reply(self, task_id: str, agent: str, text: str) -> str:
        return await send_reply(self, task_id, agent, text)

    def ack_refusal(self, mail: InboundMail) -> str | None:
        s = self.settings
        if not s.ack:
            return "acknowledgements are off (channels.email.ack)"
        if not mail.sender or "@" not in mail.sender:
            return "no sender address"
        if mail.sender == s.from_address.lower():
            return "sent by our own address"
        reason = no_ack_reason(mail.headers, mail.return_path)
        if reason:
            return reason
        if not self.throttle.allow(mail.sender, self.clock()):
            return (f"sender throttled: more than {s.ack_per_sender} acknowledgements in "
                    f"{s.ack_window_seconds:g}s (the mails are all stored as tasks)")
        return None

    async def acknowledge(self, mail: InboundMail, ing: Ingested) -> bool:
        """Send the acknowledgement (ack_refusal said yes). The mailbox is not held up by it:
        a crash meanwhile loses an acknowledgement, never a mail."""
        s = self.settings
        msg = EmailMessage()
        msg["From"] = s.from_address
        msg["To"] = mail.sender
        msg["Subject"] = reply_subject(s.ack_subject, ing.thread_id)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=s.from_address.rpartition("@")[2] or None)
        msg["In-Reply-To"] = mail.message_id
        msg["References"] = reply_references(mail.references, mail.message_id)
        msg["Auto-Submitted"] = "auto-replied"   # RFC 3834: their robots must not answer
        msg.set_content(ack_text(ing.thread_id, mail.subject, s.ack_template))
        try:
            await self.smtp.send(msg)
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("e-mail: acknowledgement for task %s not sent (%s); the task is stored",
                        ing.task_id, exc)
            return False
        await record_reply(self.store, ing.task_id, message_id=str(msg["Message-ID"]), agent="",
                           sender=s.from_address, recipients=mail.sender, subject=str(msg["Subject"]),
                           text=msg.get_content(), refs=str(msg["References"]),
                           now=datetime.now(timezone.utc))
        self.stats["acks"] += 1
        return True


async def _last_inbound(store: Any, task_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from .task_store import get_task, thread_messages

    task = await get_task(store, task_id)
    if task is None:
        raise LookupError(f"no task {task_id}")
    inbound = [m for m in await thread_messages(store, task["thread_id"]) if m["direction"] == "in"]
    if not inbound:
        raise LookupError(f"task {task_id} has no message to answer")
    return task, inbound[-1]


class SmtpSender:
    """One SMTP session kept open between messages (a connection per mail costs about as much
    as the rest of the ingest); reconnects once when the server has closed it meanwhile."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, start_tls=s.smtp_starttls,
                                 timeout=30)
        await client.connect()
        if s.smtp_user:
            await client.login(s.smtp_user, s.smtp_password() or "")
        return client

    async def send(self, msg: EmailMessage) -> None:
        async with self._lock:
            for attempt in (1, 2):
                if self._client is None or not self._client.is_connected:
                    self._client = await self._connect()
                try:
                    await self._client.send_message(msg)
                    return
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    self._client = None
                    if attempt == 2:
                        raise

    async def close(self) -> None:
        if self._client is not None and self._client.is_connected:
            try:
                await self._client.quit()
            except (aiosmtplib.SMTPException, OSError):
                pass
        self._client = None


async def send_reply(channel: "EmailChannel", task_id: str, agent: str, text: str) -> str:
    """An agent's reply in the thread of the task's last inbound mail; returns its Message-ID."""
    s = channel.settings
    task, last = await _last_inbound(channel.store, task_id)
    msg = EmailMessage()
    msg["From"] = s.from_address
    msg["To"] = last["sender"]
    msg["Subject"] = reply_subject(last["subject"] or "", task["thread_id"])
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=s.from_address.rpartition("@")[2] or None)
    msg["In-Reply-To"] = last["message_id"]
    msg["References"] = reply_references(last["refs"], last["message_id"])
    msg.set_content(text)
    await channel.smtp.send(msg)
    await record_reply(channel.store, task_id, message_id=str(msg["Message-ID"]), agent=agent,
                       sender=s.from_address, recipients=last["sender"], subject=str(msg["Subject"]),
                       text=text, refs=str(msg["References"]), now=datetime.now(timezone.utc))
    return str(msg["Message-ID"])


def _text(r: Any) -> str:
    return " ".join(bytes(x).decode("utf-8", "replace") for x in r.lines[-1:]) or r.result


def acd_event(ing: Ingested, arrival: float | None = None) -> Any:
    return task_event(ing, "email", arrival)
