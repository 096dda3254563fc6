"""Real mail servers for the e-mail channel's tests and the demo: Debian's Dovecot (IMAP,
IDLE) from a private config on a loopback port, and aiosmtpd as the SMTP receiver of
acknowledgements and replies. Ports: the ones asked for, else IVR_TEST_BASE_PORT + 600 (IMAP)
and + 601 (SMTP) unless taken (then free ones).

As root, Dovecot wants its login process to run as `dovenull` and mail users with a uid of at
least first_valid_uid: the mailbox belongs to the `dovecot` user (see DESIGN.md §7, "Mail")."""
from __future__ import annotations

import asyncio
import imaplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import aioimaplib
from aiosmtpd.controller import Controller

USER, PASSWORD = "desk", "mail-test-secret"


class MailServerMissing(RuntimeError):
    """Dovecot is not installed on this machine."""


def _port(offset: int, wanted: int | None = None) -> int:
    base = int(os.environ.get("IVR_TEST_BASE_PORT", "31000"))
    for port in (wanted or base + offset, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


class Dovecot:
    def __init__(self, port: int | None = None) -> None:
        if not shutil.which("dovecot") or not shutil.which("doveadm"):
            raise MailServerMissing("Dovecot is not installed: run scripts/setup.sh "
                                    "(apt-get install dovecot-imapd)")
        self.dir = Path(tempfile.mkdtemp(prefix="ivr-dovecot-"))
        self.dir.chmod(0o755)
        self.port = _port(600, port)
        owner = pwd.getpwnam("dovecot") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        home = self.dir / "home" / USER
        home.mkdir(parents=True)
        os.chown(home, owner.pw_uid, owner.pw_gid)
        digest = subprocess.run(["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", PASSWORD], check=True,
                                capture_output=True, text=True).stdout.strip()
        (self.dir / "users").write_text(f"{USER}:{digest}:{owner.pw_uid}:{owner.pw_gid}::{home}::\n")
        root = os.geteuid() == 0
        (self.dir / "dovecot.conf").write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
{'default_login_user = dovenull' if root else ''}
{'default_internal_user = dovecot' if root else ''}
first_valid_uid = 100
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=SHA512-CRYPT {self.dir}/users
}}
userdb {{
  driver = passwd-file
  args = {self.dir}/users
}}
""")
        subprocess.run(["dovecot", "-c", str(self.dir / "dovecot.conf")], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"Dovecot did not listen on {self.port}: {(self.dir / 'dovecot.log').read_text()}")

    def stop(self) -> None:
        pid_file = self.dir / "run" / "master.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            time.sleep(0.3)
        shutil.rmtree(self.dir, ignore_errors=True)

    async def client(self) -> aioimaplib.IMAP4:
        imap = aioimaplib.IMAP4("127.0.0.1", self.port)
        await imap.wait_hello_from_server()
        await imap.login(USER, PASSWORD)
        await imap.select("INBOX")
        return imap

    async def deliver(self, *messages: bytes) -> None:
        imap = await self.client()
        try:
            for raw in messages:
                r = await imap.append(raw, mailbox="INBOX")
                assert r.result == "OK", r
        finally:
            await imap.logout()

    async def clear(self) -> None:
        """Empty the mailbox (stdlib imaplib: aioimaplib stalls on an EXPUNGE of ~1,000 lines)."""
        imap = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            imap.login(USER, PASSWORD)
            _, count = imap.select("INBOX")
            if int(count[0] or 0):
                imap.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
                imap.expunge()
        finally:
            imap.logout()

    async def unseen(self) -> int:
        imap = await self.client()
        try:
            r = await imap.search("UNSEEN")
            return len(bytes(r.lines[0]).split())
        finally:
            await imap.logout()


class Inbox:
    """aiosmtpd handler: every message received, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 — aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"


class SmtpReceiver:
    def __init__(self, port: int | None = None) -> None:
        self.inbox = Inbox()
        self.port = _port(601, port)
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    async def wait_for(self, n: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.inbox.messages) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.inbox.messages
