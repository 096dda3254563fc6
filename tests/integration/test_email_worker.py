"""E-mail ingestion in its own process, through the real parts: `ivr serve` on the sandbox's
Asterisk starts `ivr channels-worker`, which reads a real Dovecot over IMAP IDLE; a mail becomes
an offered task on the engine's live feed (what the desk subscribes to). The worker killed
with -9 in the middle of a flood of mails: the engine logs it and starts it again, every mail
ends up exactly once in the CRM and in the ACD, none stays unseen, and a call placed meanwhile
reaches its agent."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sipp import AwaitHangup, Pause, Press
from ivr.app.control import request
from tests.channels.mail_servers import PASSWORD, USER, Dovecot, SmtpReceiver

from .conftest import lab_config, sounds_of

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(300)]
FLOOD = 40


@pytest.fixture
def mail_lab(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IVR_TEST_IMAP_PASSWORD", PASSWORD)       # the engine's (and worker's) environment
    dovecot, smtp = Dovecot(), SmtpReceiver()
    email = {"imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_tls": False, "user": USER,
             "password_env": "IVR_TEST_IMAP_PASSWORD", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
             "from_address": "hotline@pharma.example", "queue": "operator"}
    other = Lab(lab_config(tmp_path, PROJECT / "dialplans/minimal.yaml", sounds_of(lab),
                           extra={"channels": {"email": email}}))
    try:
        yield other, dovecot
    finally:
        other.stop_phones()
        other.stop_engine()
        smtp.stop()
        dovecot.stop()


def mail(i: int) -> bytes:
    m = EmailMessage()
    m["From"], m["To"] = f"sender{i}@clinic.example", "hotline@pharma.example"
    m["Subject"], m["Message-ID"] = f"Question {i}", f"<worker-test-{i}@clinic.example>"
    m.set_content(f"How do I store the tablets of order {i}?")
    return bytes(m)


def wait_for(what: str, probe, lab: Lab, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout} s; engine log:\n{lab.log_text()[-4000:]}")


def worker_pids(lab: Lab) -> list[int]:
    return [int(p) for p in re.findall(r"channels worker started \(pid (\d+)\)", lab.log_text())]


def feed_lines(lab: Lab, seconds: float = 1.0) -> list[dict]:
    """What a desk subscribing now receives first: the retained lines (offers included)."""
    lines: list[dict] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(lab.settings.path(lab.settings.control.socket)))
        sock.sendall(b'{"cmd": "subscribe"}\n')
        sock.settimeout(seconds)
        data = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            pass
    for line in data.splitlines():
        lines.append(json.loads(line))
    return lines


def email_rows(lab: Lab) -> list[tuple[str, int]]:
    """(task id, how many inbound messages) per e-mail task, straight from the SQLite file."""
    with sqlite3.connect(lab.settings.path(str(lab.settings.crm_url()).split("sqlite:///", 1)[1])) as db:
        return db.execute("SELECT t.task_id, COUNT(m.message_id) FROM tasks t JOIN task_messages m "
                          "ON m.task_id = t.task_id AND m.direction = 'in' WHERE t.channel = 'email' "
                          "GROUP BY t.task_id").fetchall()


def acd_email_tasks(lab: Lab) -> int:
    status = request(lab.settings.path(lab.settings.control.socket), {"cmd": "status"})
    return sum(r["waiting"] + r["offered"] + r["connected"] for r in status["channels"] if r["channel"] == "email")


def test_a_mail_is_offered_and_a_killed_worker_loses_and_duplicates_nothing(mail_lab) -> None:
    lab, dovecot = mail_lab
    lab.start_engine("--grace", "2")
    wait_for("the worker reading the mailbox", lambda: "e-mail: reading" in lab.log_text(), lab)
    [first_pid] = worker_pids(lab)
    assert first_pid != lab.engine.pid

    asyncio.run(dovecot.deliver(mail(0)))
    offer = wait_for("the mail offered on the feed", lambda: [
        line for line in feed_lines(lab) if line.get("topic", "").startswith("tasks/")
        and line["payload"].get("state") == "offered"], lab)
    assert offer[0]["payload"]["sender"] == "sender0@clinic.example"
    assert offer[0]["payload"]["channel"] == "email"

    lab.start_phones(answer_after=1.0, talk_seconds=2.0)
    flood = threading.Thread(target=lambda: asyncio.run(dovecot.deliver(*(mail(i) for i in range(1, FLOOD + 1)))))
    flood.start()
    wait_for("the worker busy with the flood", lambda: len(email_rows(lab)) >= 5, lab)
    os.kill(first_pid, signal.SIGKILL)                 # mid-traffic
    call = lab.call("0611000914", [Pause(1.5), Press("1"), AwaitHangup(60)])
    flood.join(60)

    wait_for("the worker started again", lambda: len(worker_pids(lab)) == 2, lab)
    assert "killed by SIGKILL" in lab.log_text()
    wait_for("every mail stored", lambda: len(email_rows(lab)) == FLOOD + 1, lab, timeout=90)
    wait_for("every mail seen on the server", lambda: asyncio.run(dovecot.unseen()) == 0, lab)
    rows = email_rows(lab)
    assert len(rows) == FLOOD + 1 and all(n == 1 for _, n in rows)     # one task, one message each
    wait_for("every task in the ACD", lambda: acd_email_tasks(lab) == FLOOD + 1, lab)

    assert call.wait(90) == 0, lab.sipp.errors("caller", 0)
    rec = lab.call_record("0611000914")
    assert rec["disposition"] == "answered" and rec["queue"] == "orders"
    assert lab.engine.poll() is None                  # the engine never went down
