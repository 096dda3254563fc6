"""The e-mail channel end to end through real servers: Dovecot (IMAP), aiosmtpd (SMTP), the
CRM on SQLite and PostgreSQL, and the ACD (ContactCenter) receiving the tasks."""
from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from acd import actions as A
from acd import events as E
from acd.center import ContactCenter
from acd.config import AcdConfig
from ivr.channels.email_in import EmailChannel, acd_event
from ivr.channels.settings import EmailSettings
from ivr.channels import mime
from ivr.channels.task_store import attachments, get_task, thread_messages
from ivr.crm.store import open_store

from .mail_servers import PASSWORD, USER, Dovecot, SmtpReceiver

pytestmark = pytest.mark.timeout(120)
HOTLINE = "hotline@pharma.example"


def mail(sender: str = "anna@clinic.example", subject: str = "Question about Ibuprofen",
         body: str = "What is the maximum dose?", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Anna Berg <{sender}>"
    msg["To"] = HOTLINE
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="clinic.example")
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content(body)
    return msg


class Rig:
    """An EmailChannel feeding a ContactCenter with one general and one PV agent logged in."""

    def __init__(self, store: Any, dovecot: Dovecot, smtp: SmtpReceiver, **over: Any) -> None:
        self.settings = EmailSettings(**{
            "imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_tls": False, "user": USER,
            "password_env": "IVR_TEST_IMAP_PASSWORD", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
            "from_address": HOTLINE, "safety_phrases": {"en": ["side effect"], "de": ["Nebenwirkung"]},
            **over})
        self.store = store
        self.acd = ContactCenter(AcdConfig.from_dict({
            "agents": {"gina": {"skills": {"general": 1}}, "paul": {"skills": {"pv": 1}}},
            "queues": {"general": {"requirement": "general"},
                       "pharmacovigilance": {"requirement": "pv", "priority": 5}}}))
        for agent in ("gina", "paul"):
            self.acd.handle(E.AgentLoggedIn(agent), 0.0)
        self.offers: list[A.OfferTask] = []
        self.channel = self.new_channel()

    def new_channel(self) -> EmailChannel:
        return EmailChannel(self.settings, self.store, self.submit)

    def submit(self, ing, mail) -> None:
        ev = acd_event(ing)
        if ev is not None:
            self.offers += [a for a in self.acd.handle(ev, 1.0) if isinstance(a, A.OfferTask)]

    async def read(self, channel: EmailChannel | None = None) -> int:
        ch = channel or self.channel
        await ch.connect()
        try:
            return await ch.read_once()
        finally:
            await ch.close()


@pytest.fixture
async def rig(crm_url: str, mailbox: Dovecot, smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IVR_TEST_IMAP_PASSWORD", PASSWORD)
    store = await open_store(crm_url)
    try:
        yield Rig(store, mailbox, smtp)
    finally:
        await store.close()


async def test_mail_becomes_task_crm_record_and_acknowledgement(rig: Rig, mailbox: Dovecot,
                                                                smtp: SmtpReceiver) -> None:
    contact = await rig.store.save_contact("Anna Berg", ["+49 30 1234567"], "doctor")

    async def identity(tx):
        await tx.execute("INSERT INTO contact_identities (kind, value, contact_id, raw) VALUES "
                         "('email', 'anna@clinic.example', ?, 'Anna@Clinic.example')", (contact,))
    await rig.store.transact(identity)
    m = mail()
    await mailbox.deliver(bytes(m))
    assert await rig.read() == 1
    assert [(o.agent, o.channel, o.queue) for o in rig.offers] == [("gina", "email", "general")]
    task = await get_task(rig.store, rig.offers[0].task_id)
    assert task is not None and task["status"] == "open" and task["contact_id"] == contact
    assert task["subject"] == "Question about Ibuprofen" and task["sender"] == "anna@clinic.example"
    acks = await smtp.wait_for(1)
    assert len(acks) == 1
    ack = acks[0]
    assert task["thread_id"] in ack["Subject"] and ack["In-Reply-To"] == m["Message-ID"]
    assert ack["To"] == "anna@clinic.example" and ack["Auto-Submitted"] == "auto-replied"
    assert await mailbox.unseen() == 0                       # marked seen after the commit
    msgs = await thread_messages(rig.store, task["thread_id"])
    assert [x["direction"] for x in msgs] == ["in", "out"]


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_auto_replies_and_bulk_mail_get_no_acknowledgement(rig: Rig, mailbox: Dovecot,
                                                                 smtp: SmtpReceiver) -> None:
    await mailbox.deliver(bytes(mail(subject="Out of office", Auto_Submitted="auto-replied")),
                          bytes(mail(sender="news@list.example", Precedence="bulk")),
                          bytes(mail(sender="mailer-daemon@x.example", Return_Path="<>")),
                          bytes(mail(sender="sam@clinic.example")))
    assert await rig.read() == 4
    assert len(rig.offers) == 4                              # all are tasks
    acks = await smtp.wait_for(1)
    assert [a["To"] for a in acks] == ["sam@clinic.example"]
    assert rig.channel.stats["acks_skipped"] == 3


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_a_reply_threads_onto_the_first_mail(rig: Rig, mailbox: Dovecot, smtp: SmtpReceiver) -> None:
    first = mail()
    await mailbox.deliver(bytes(first))
    await rig.read()
    reply = mail(subject="Re: Question about Ibuprofen", body="And for children?",
                 In_Reply_To=first["Message-ID"], References=first["Message-ID"])
    await mailbox.deliver(bytes(reply))
    await rig.read()
    assert len(rig.offers) == 1                              # no second task
    task = await get_task(rig.store, rig.offers[0].task_id)
    msgs = await thread_messages(rig.store, task["thread_id"])
    assert [m["message_id"] for m in msgs if m["direction"] == "in"] == [first["Message-ID"], reply["Message-ID"]]
    assert len(await smtp.wait_for(1)) == 1                  # the reply is not acknowledged again


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_restart_mid_read_duplicates_nothing(rig: Rig, mailbox: Dovecot, smtp: SmtpReceiver) -> None:
    await mailbox.deliver(bytes(mail()), bytes(mail(sender="bob@clinic.example")))
    crashing = rig.new_channel()
    real_uid = None

    async def crash_on_seen(command, *args):
        if command == "store":
            raise ConnectionResetError("engine killed before \\Seen")
        return await real_uid(command, *args)

    await crashing.connect()
    real_uid = crashing.imap.uid
    crashing.imap.uid = crash_on_seen
    with pytest.raises(ConnectionResetError):
        await crashing.read_once()                           # first mail committed, not seen
    await crashing.close()
    assert await mailbox.unseen() == 2
    restarted = rig.new_channel()
    assert await rig.read(restarted) == 2
    assert restarted.stats == {**restarted.stats, "duplicates": 1, "tasks": 1}
    assert len(rig.offers) == 2 and len({o.task_id for o in rig.offers}) == 2
    assert len(await smtp.wait_for(2)) == 2                  # one acknowledgement each
    assert await mailbox.unseen() == 0


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_html_is_stored_sanitised(rig: Rig, mailbox: Dovecot) -> None:
    m = mail()
    m.add_alternative('<p onclick="steal()">Dose <b>question</b></p><script>alert(1)</script>'
                      '<img src="http://tracker.example/pixel.png"><a href="javascript:x()">x</a>',
                      subtype="html")
    await mailbox.deliver(bytes(m))
    await rig.read()
    task = await get_task(rig.store, rig.offers[0].task_id)
    html = (await thread_messages(rig.store, task["thread_id"]))[0]["body_html"]
    assert "<b>question</b>" in html
    for bad in ("<script", "alert(1)", "<img", "tracker.example", "onclick", "javascript:"):
        assert bad not in html


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_oversized_attachment_refused_with_reason_mail_still_a_task(
        rig: Rig, mailbox: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    rig.settings = rig.settings.model_copy(update={"max_attachment_bytes": 1_000_000})
    rig.channel = rig.new_channel()
    m = mail()
    m.add_attachment(b"%PDF" + b"x" * 2_000_000, maintype="application", subtype="pdf", filename="scan.pdf")
    m.add_attachment(b"small", maintype="text", subtype="plain", filename="note.txt")
    await mailbox.deliver(bytes(m))
    await rig.read()
    assert len(rig.offers) == 1

    async def rows(tx):
        return await tx.fetchall("SELECT filename, size, data IS NULL, refused FROM task_attachments "
                                 "ORDER BY id")
    got = await rig.store.transact(rows)
    assert got[0][0] == "scan.pdf" and got[0][1] == 2_000_004 and got[0][2] in (1, True)
    assert "refused" in got[0][3] and "2.0 MB" in got[0][3]
    assert got[1][0] == "note.txt" and got[1][3] is None
    task = await get_task(rig.store, rig.offers[0].task_id)
    assert "scan.pdf" in task["notes"]


async def test_safety_phrase_opens_an_ae_case_and_routes_to_pv(rig: Rig, mailbox: Dovecot) -> None:
    await mailbox.deliver(bytes(mail(subject="Frage", body="Meine Mutter hat eine starke NEBENWIRKUNG "
                                                          "nach der Einnahme bemerkt.")))
    await rig.read()
    assert [(o.agent, o.queue) for o in rig.offers] == [("paul", "pharmacovigilance")]
    task = await get_task(rig.store, rig.offers[0].task_id)
    assert task["priority"] == 10 and task["case_id"]
    case = await rig.store.get_case(task["case_id"])
    assert case["kind"] == "adverse_event" and case["status"] == "open"
    assert "NEBENWIRKUNG" in case["fields"]["narrative"] and case["fields"]["language"] == "de"
    assert case["fields"]["reporter_contact"] == "anna@clinic.example"


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_flood_from_one_sender_throttled_nothing_lost(rig: Rig, mailbox: Dovecot,
                                                            smtp: SmtpReceiver) -> None:
    await mailbox.deliver(*[bytes(mail(subject=f"spam {i}")) for i in range(6)])
    assert await rig.read() == 6
    assert len(rig.offers) == 5 and rig.channel.stats["tasks"] == 6   # gina holds 5; 1 waits
    assert len(await smtp.wait_for(3)) == 3
    assert rig.channel.stats["acks_skipped"] == 3


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_broken_mime_and_unknown_charset_become_tasks_with_a_note(rig: Rig, mailbox: Dovecot) -> None:
    raw = (b"From: x@y.example\r\nTo: hotline@pharma.example\r\nSubject: broken\r\n"
           b"Message-ID: <broken-1@y.example>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\n"
           b"Content-Type: text/plain; charset=x-klingon\r\n\r\nqapla\xff\xfe\r\n")  # no end boundary
    await mailbox.deliver(raw)
    await rig.read()
    task = await get_task(rig.store, rig.offers[0].task_id)
    assert "x-klingon" in task["notes"] and "malformed MIME" in task["notes"]
    body = (await thread_messages(rig.store, task["thread_id"]))[0]["body_text"]
    assert "qapla" in body


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_a_backlog_of_1200_unseen_mails_is_read(rig: Rig, mailbox: Dovecot) -> None:
    """One answer of ~1,000 lines stalls aioimaplib (it recurses per line): the channel asks
    in slices, so a backlog after an outage is read in one pass."""
    rig.settings = rig.settings.model_copy(update={"ack": False})
    rig.channel = rig.new_channel()
    await mailbox.deliver(*[bytes(mail(sender=f"s{i}@clinic.example", subject=f"q{i}")) for i in range(1200)])
    assert await asyncio.wait_for(rig.read(), 120) == 1200
    assert rig.channel.stats["tasks"] == 1200 and await mailbox.unseen() == 0


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_a_mail_the_parser_cannot_read_is_a_task_and_holds_up_nothing(
        rig: Rig, mailbox: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    """A parser bug on one mail (injected: no input is known to crash the stdlib's parser) must
    not make the channel fetch that mail forever with every later mail stuck behind it."""
    parse = mime._parse

    def crash_on_poison(raw: bytes, limit: int):
        if b"poison" in raw:
            raise RecursionError("maximum recursion depth exceeded")
        return parse(raw, limit)
    monkeypatch.setattr(mime, "_parse", crash_on_poison)
    await mailbox.deliver(bytes(mail(subject="poison pill")), bytes(mail(sender="bob@clinic.example")))
    assert await rig.read() == 2
    assert await rig.read() == 0                                  # both marked \Seen
    tasks = [await get_task(rig.store, o.task_id) for o in rig.offers]
    unreadable = next(t for t in tasks if t["subject"] == "(unreadable mail)")
    assert "RecursionError" in unreadable["notes"] and "original is attached" in unreadable["notes"]
    [message] = await thread_messages(rig.store, unreadable["thread_id"])
    [original] = await attachments(rig.store, message["message_id"])
    assert original["filename"] == "original.eml" and original["size"] > 0
    assert any(t["sender"] == "bob@clinic.example" for t in tasks)
