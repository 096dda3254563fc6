"""The desk handles e-mail tasks, end to end through real parts: a mail APPENDed to Dovecot is
read by the real engine (`ivr serve`, IMAP IDLE; no Asterisk needed for e-mail: AMI is left
away), acknowledged over SMTP to aiosmtpd, offered to alice's desk live, accepted, read (its
HTML in a sandboxed iframe, nothing remote loaded), answered from a knowledge-base template
over SMTP in the thread, and closed with an outcome, which the CRM records."""
from __future__ import annotations

import imaplib
import sqlite3
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.channels.mail_servers import PASSWORD, USER, Dovecot, SmtpReceiver

from .conftest import PASSWORDS, screenshot, sign_in
from .channel_center import channel_config, engine_and_desk
from .desk_server import BASE_PORT, DeskServer

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def center(tmp_path_factory) -> Iterator[tuple[Dovecot, SmtpReceiver, DeskServer, Path]]:
    work = tmp_path_factory.mktemp("desk-tasks")
    dovecot, smtp = Dovecot(), SmtpReceiver()
    config = channel_config(work, BASE_PORT + 610, {"email": {
        "imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_tls": False, "user": USER,
        "password_env": "IVR_TEST_IMAP_PASSWORD", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
        "from_address": "hotline@pharma.example", "queue": "medinfo"}})
    try:
        with engine_and_desk(work, config, b"e-mail: reading", {"alice": PASSWORDS["alice"]},
                             {"IVR_TEST_IMAP_PASSWORD": PASSWORD}) as desk:
            yield dovecot, smtp, desk, work
    finally:
        smtp.stop()
        dovecot.stop()


def deliver(dovecot: Dovecot, msg: EmailMessage) -> None:
    imap = imaplib.IMAP4("127.0.0.1", dovecot.port)
    imap.login(USER, PASSWORD)
    imap.append("INBOX", None, None, bytes(msg))
    imap.logout()


def test_email_task_offer_accept_read_reply_close(center, page: Page, tmp_path: Path) -> None:
    dovecot, smtp, desk, work = center
    msg = EmailMessage()
    msg["From"], msg["To"] = "Anna Berg <anna@clinic.example>", "hotline@pharma.example"
    msg["Subject"], msg["Message-ID"] = "How should I store Dolorex tablets?", make_msgid(domain="clinic.example")
    msg.set_content("Hello, how should I store Dolorex tablets in summer?")
    msg.add_alternative('<p>Hello, how should I store <b>Dolorex tablets</b> in summer?</p>'
                        '<script>document.title="owned"</script>'
                        '<img src="http://tracker.example/pixel.png">', subtype="html")
    remote: list[str] = []
    page.on("request", lambda r: remote.append(r.url) if not r.url.startswith((desk.url, "about:", "data:")) else None)
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/agent/alice")
    expect(page.locator("#no-tasks")).to_be_visible()
    deliver(dovecot, msg)
    task_link = page.locator("#tasks .task-subject")
    expect(task_link).to_have_text("How should I store Dolorex tablets?", timeout=20_000)  # live
    expect(page.locator("#tasks .task .state")).to_have_text("offered")
    task_link.click()
    page.click("#task-accept")
    expect(page.locator("#reply-text")).to_be_visible()
    frame = page.locator("iframe.mail-html")
    assert frame.get_attribute("sandbox") == ""                    # no scripts, no same origin
    inner = page.frame_locator("iframe.mail-html")
    expect(inner.locator("b")).to_have_text("Dolorex tablets")
    assert inner.locator("img").count() == 0 and inner.locator("script").count() == 0
    assert page.title() != "owned"
    ref = page.locator("#task-ref").inner_text()
    page.locator("a.kb-template", has_text="Dolorex").first.click()       # a knowledge-base template
    draft = page.locator("#reply-text").input_value()
    assert "Dolorex" in draft and len(draft) > 50
    page.fill("#reply-text", "Dear Ms Berg,\n\n" + draft)
    page.click("#reply-send")
    expect(page.locator("#task-sent")).to_be_visible()
    screenshot(page, tmp_path / "task.png", full_page=True)
    deadline = time.monotonic() + 10
    while len(smtp.inbox.messages) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    ack, reply = smtp.inbox.messages[:2]
    assert ack["Auto-Submitted"] == "auto-replied" and ref in ack["Subject"]
    assert reply["In-Reply-To"] == msg["Message-ID"] and msg["Message-ID"] in reply["References"]
    assert reply["Subject"] == f"Re: How should I store Dolorex tablets? [{ref}]"
    assert reply.get_content().startswith("Dear Ms Berg")
    page.select_option("#outcome", "answered")
    page.click("#task-close")
    expect(page.locator("#no-tasks")).to_be_visible()
    with sqlite3.connect(work / "crm.db") as db:
        row = db.execute("SELECT status, outcome, agent, first_response_at IS NOT NULL FROM tasks "
                         "WHERE thread_id = ?", (ref,)).fetchone()
    assert row == ("closed", "answered", "alice", 1)
    assert not [u for u in remote if "tracker.example" in u], remote


def test_attachments_download_only_for_the_agent_holding_the_task(center, page: Page) -> None:
    dovecot, _smtp, desk, _work = center
    pdf = b"%PDF-1.4\n% a fax-like PDF\n%%EOF\n"
    msg = EmailMessage()
    msg["From"], msg["To"] = "Ward 4 <ward4@hospital.example>", "hotline@pharma.example"
    msg["Subject"], msg["Message-ID"] = "Order form attached", make_msgid(domain="hospital.example")
    msg.set_content("Please find our order attached.")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="commande été.pdf")
    msg.add_attachment(b"<script>alert(1)</script>", maintype="text", subtype="html", filename="x.html")
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/agent/alice")
    deliver(dovecot, msg)
    page.locator("#tasks .task-subject", has_text="Order form attached").click(timeout=20_000)
    page.click("#task-accept")
    link = page.locator("p.attachment a", has_text="commande été.pdf")
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == pdf
    assert download.value.suggested_filename == "commande été.pdf"
    html_href = page.locator("p.attachment a", has_text="x.html").get_attribute("href")
    answer = page.request.get(desk.url + html_href)
    assert answer.status == 200 and answer.body() == b"<script>alert(1)</script>"
    assert answer.headers["content-type"] == "application/octet-stream"       # never rendered
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.headers["content-security-policy"].startswith("sandbox")   # plus the desk's own
    page.select_option("#outcome", "answered")
    page.click("#task-close")
    expect(page.locator("#no-tasks")).to_be_visible()
    assert page.request.get(desk.url + html_href).status == 404          # no longer held
