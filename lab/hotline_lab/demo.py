"""`python -m hotline_lab demo` (`make demo`): a real hotline in one command — sandbox
Asterisk, the engine on the demo plan, the agents' desk, SIPp agent phones and a handful of
callers, then the CRM records they left; an e-mail, a web form, a chat and an SMS reaching the desk's Tasks panel,
then a small care-call campaign to three SIPp
customers (a survey answered, an answering machine, an opt-out: demo_campaign.py). `--keep` leaves it all running so a person can sign in
to the desk (the URL and the demo accounts are printed) and watch the calls pop.
"""
from __future__ import annotations

import imaplib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hotline_lab.demo_campaign import SURVEY_PLAN, run_care_campaign
from hotline_lab.lab import PROJECT, Lab, write_config
from hotline_lab.mail_servers import PASSWORD as MAIL_PASSWORD
from hotline_lab.mail_servers import USER as MAIL_USER
from hotline_lab.mail_servers import Dovecot, SmtpReceiver
from hotline_lab.sipp import AwaitHangup, CallerHangsUp, Pause, Press
from hotline_lab.sms import SmsPhone

# Calls placed one after another; each says what the caller does (keys from hotline.yaml).
DEMO_CALLS = [
    ("0612340001", "French pharmacist, orders: 1 (français) → 2 (orders) → 1 (place an order)",
     [Pause(3), Press("1"), Pause(4), Press("2"), Pause(2), Press("1"), AwaitHangup(120)]),
    ("0612340002", "English caller, medical question: 2 (English) → 1 → 1; carol, the most "
     "skilled, does not answer, so alice takes it",
     [Pause(3), Press("2"), Pause(4), Press("1"), Pause(2), Press("1"), AwaitHangup(120)]),
    ("0612340003", "Caller hangs up in the main menu",
     [Pause(3), Press("1"), Pause(3), CallerHangsUp()]),
    ("0612340004", "Adverse-effect report with the safety key 9: it goes to the front of the "
     "line and waits for alice, the drug-safety agent, to finish her wrap-up",
     [Pause(3), Press("1"), Pause(4), Press("9"), AwaitHangup(180)]),
]
NO_ANSWER = "carol"
# The demo runs at a fixed office-hours instant, so it looks the same at any time of day.
DEMO_CLOCK = "2026-11-24T10:00:00+01:00"
# Demo accounts for the desk (loopback only, a demo CRM: never use these on a real site).
DEMO_USERS = {"alice": ("agent", "alice-demo-pass"), "bob": ("agent", "bob-demo-pass"),
              "carol": ("agent", "carol-demo-pass"), "dave": ("agent", "dave-demo-pass"),
              "sam": ("supervisor", "sam-demo-pass"), "admin": ("admin", "admin-demo-pass")}


MAIL_PASSWORD_ENV = "IVR_DEMO_MAIL_PASSWORD"


def demo_config(base_port: int) -> Path:
    """The demo hotline of config/engine.yaml on ports offset from `base_port`, with its own
    CRM under var/demo-<port>/, so it can run beside another hotline on this machine. The
    e-mail channel reads a Dovecot the demo starts on loopback (when Dovecot is installed)."""
    work = PROJECT / f"var/demo-{base_port}"
    email = {"email": {"imap_host": "127.0.0.1", "imap_port": base_port + 600, "imap_tls": False,
                       "user": MAIL_USER, "password_env": MAIL_PASSWORD_ENV,
                       "smtp_host": "127.0.0.1", "smtp_port": base_port + 601,
                       "from_address": "hotline@pharma.example", "queue": "medinfo"}
             } if shutil.which("dovecot") else {}
    return write_config(work / "config", base_port=base_port,
                        dialplan=PROJECT / "dialplans/hotline.yaml", crm=work / "crm.db",
                        sounds=PROJECT / "sounds", sandbox={"operator_ring_seconds": 30},
                        extra={"desk": {"port": base_port + 480},
                               "knowledge": {"dir": str(PROJECT / "knowledge")},
                               "channels": {"chat": {"port": base_port + 700, "queue": "medinfo",
                                                     "display_names": {"alice": "Alice", "bob": "Bob"}},
                                            "sms": {"queue": "medinfo", "from_uri": "sip:+33100000000@127.0.0.1",
                                                    "reply_uri": "pjsip:test-caller/sip:{number}@127.0.0.1:"
                                                                 f"{base_port + 95}"},
                                            **email}})


def start_desk(lab: Lab, console: Console) -> subprocess.Popen:
    """`ivr desk serve` beside the engine, with the demo accounts; once it answers."""
    existing = {u["name"] for u in json.loads(lab.ivr("desk", "user", "list", "--format", "json").stdout)}
    for name, (role, password) in DEMO_USERS.items():
        if name not in existing:
            subprocess.run([sys.executable, "-m", "ivr", "desk", "user", "add", name, "--role", role,
                            "--password-stdin"], input=password + "\n", text=True, env=lab.env,
                           cwd=PROJECT, check=True, capture_output=True)
    log = lab.settings.path("var") / "desk.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    desk = subprocess.Popen([sys.executable, "-m", "ivr", "desk", "serve"], env=lab.env, cwd=PROJECT,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    url = f"http://{lab.settings.desk.host}:{lab.settings.desk.port}"
    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "/login", timeout=1):
                break
        except OSError:
            if desk.poll() is not None:
                raise RuntimeError(f"the desk stopped at start: see {log}") from None
            time.sleep(0.2)
    console.print(f"• the agents' desk: [bold]{url}/[/bold] — sign in as "
                  + ", ".join(f"{n} / {p} ({r})" for n, (r, p) in DEMO_USERS.items()))
    return desk


def run_demo(config_path: Path, keep: bool = False) -> int:
    console = Console()
    lab = Lab(config_path)
    desk: subprocess.Popen | None = None
    sms: SmsPhone | None = None
    mail: tuple[Dovecot, SmtpReceiver] | None = None
    console.rule("[bold]Hotline demo")
    cdr = lab.settings.cdr_csv_path()
    if cdr is None or cdr.resolve() != lab.box.cdr_csv_path(lab.settings):
        console.print(f"[yellow]note: {config_path} does not read this sandbox's CDRs "
                      f"({lab.box.cdr_csv_path(lab.settings)}): calls Asterisk serves alone will "
                      "not be recovered into the CRM (--base-port writes a matching config)")
    try:
        console.print("• building prompts (espeak-ng) and starting Asterisk 22 …")
        lab.ivr("sounds", "build", timeout=600)
        lab.ivr("sounds", "build", str(SURVEY_PLAN), timeout=600)   # the care campaign's prompts
        lab.up(log=console.print)
        mail = _mail_servers(lab, console)
        lab.start_engine("--clock", DEMO_CLOCK)
        lab.ivr("kb", "index")                    # the knowledge base the pops suggest from
        desk = start_desk(lab, console)
        # carol never picks up (ring-no-answer → paused RONA); the others answer after 1 s.
        lab.start_phones(only={n: (None if n == NO_ANSWER else 1.0) for n in lab.agent_names},
                         talk_seconds=4.0)
        console.print(f"• engine up; agent phones: {', '.join(lab.agent_names)} "
                      f"({NO_ANSWER} will not answer)")
        started = datetime.now(timezone.utc)
        for caller, what, steps in DEMO_CALLS:
            console.print(f"• call from {caller}: {what}")
            t0 = time.monotonic()
            proc = lab.call(caller, steps)
            code = proc.wait(180)
            console.print(f"  … ended after {time.monotonic() - t0:.0f} s "
                          f"({'as scripted' if code == 0 else f'SIPp exit {code}'})")
        if lab.settings.channels.chat is not None:
            _web_contacts(lab, console)
        sms = _sms(lab, console) if lab.settings.channels.sms is not None else None
        if mail is not None:
            _email(mail[0], console)
        _print_tasks(lab, console, started)
        if mail is not None:
            acks = [m["Subject"] for m in mail[1].inbox.messages if m["Auto-Submitted"] == "auto-replied"]
            console.print(f"• the engine's acknowledgement by e-mail (SMTP): {acks[0] if acks else 'none yet'}")
        time.sleep(1)
        records = lab.calls(since=started.isoformat()[:19])
        _print_records(console, records)
        console.print(lab.ivr("report", "--since", started.isoformat()[:19]).stdout)
        console.print(lab.ivr("cases").stdout)
        campaign_ok = run_care_campaign(lab, console, run_id=int(started.timestamp()))
        if keep:
            console.print("• still running (--keep): open the desk above, call again with SIPp or "
                          "`ivr agent …`; Ctrl+C stops everything")
            try:
                while lab.engine is not None and lab.engine.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return 0 if len(records) >= len(DEMO_CALLS) and campaign_ok else 1
    except Exception as exc:
        console.print(f"[red]demo failed: {exc}")
        if lab.engine_log:
            console.print(lab.log_text()[-2000:])
        return 2
    finally:
        if sms is not None:
            sms.stop()
        if mail is not None:
            mail[1].stop()
            mail[0].stop()
        if desk is not None:
            desk.terminate()
            desk.wait(15)
        lab.down()
        console.print("• stopped the engine, the phones and Asterisk")


def _web_contacts(lab: Lab, console: Console) -> None:
    """A web form and a chat line from the public page (channels.chat), as a visitor's browser
    sends them; then where they are: tasks offered on the agents' desk."""
    import http.cookiejar
    import urllib.parse

    chat = lab.settings.channels.chat
    url = f"http://{chat.host}:{chat.port}"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        page = opener.open(url + "/", timeout=5).read().decode()
        csrf = re.search(r'data-csrf="([0-9a-f]+)"', page).group(1)

        def post(path: str, **fields: str) -> None:
            body = urllib.parse.urlencode({"csrf_token": csrf, **fields}).encode()
            opener.open(url + path, body, timeout=10).read()
        post("/form", name="Carl Weber", email="carl@example.org", phone="", topic="order",
             message="Where is my order 4711?")
        post("/chat/start", name="Anna", email="anna@example.org", text="Can I take Dolorex with food?")
    except OSError as exc:
        console.print(f"[yellow]note: the public chat page at {url} did not answer ({exc})")
        return
    console.print(f"• the public chat and form page: [bold]{url}/[/bold] — a form and a chat sent")


def _mail_servers(lab: Lab, console: Console) -> tuple[Dovecot, SmtpReceiver] | None:
    """The customers' mailbox (Dovecot, IMAP) the engine reads and the SMTP server that takes
    its acknowledgements and the agents' replies (aiosmtpd), on the config's loopback ports."""
    email = lab.settings.channels.email
    if email is None:
        console.print("[yellow]note: no e-mail in this demo: Dovecot is not installed (scripts/setup.sh)")
        return None
    lab.env[MAIL_PASSWORD_ENV] = MAIL_PASSWORD
    dovecot = Dovecot(email.imap_port)
    return dovecot, SmtpReceiver(email.smtp_port)


def _email(dovecot: Dovecot, console: Console) -> None:
    """A pharmacist's e-mail, delivered to the hotline's mailbox as a mail server would."""
    from email.message import EmailMessage
    from email.utils import make_msgid
    msg = EmailMessage()
    msg["From"], msg["To"] = "Pharmacie du Centre <contact@pharmacie-centre.example>", "hotline@pharma.example"
    msg["Subject"], msg["Message-ID"] = "Dolorex 500: storage above 25 °C?", make_msgid(domain="pharmacie-centre.example")
    msg.set_content("Hello,\nour shop reaches 28 °C in summer. May we keep Dolorex 500 on the shelf?\n")
    imap = imaplib.IMAP4("127.0.0.1", dovecot.port)
    try:
        imap.login(MAIL_USER, MAIL_PASSWORD)
        imap.append("INBOX", None, None, bytes(msg))
    finally:
        imap.logout()
    console.print("• an e-mail from contact@pharmacie-centre.example delivered to the hotline's mailbox (IMAP)")


def _sms(lab: Lab, console: Console) -> SmsPhone | None:
    """A customer's SMS through the sandbox (SIP MESSAGE, as an SMS trunk hands it over); the
    same SIPp phone takes the replies an agent sends from the desk (--keep)."""
    reply = re.search(r":(\d+)$", lab.settings.channels.sms.reply_uri)
    port = int(reply.group(1)) if reply else lab.box.callback_port + 5
    phone = SmsPhone(lab.sipp, port, port + 1)
    try:
        phone.start_receiver()
        phone.send("+33612340005", "Bonjour, ma boîte de Dolorex est arrivée abîmée. Que faire ?".encode())
    except (AssertionError, OSError, subprocess.SubprocessError) as exc:
        console.print(f"[yellow]note: the SMS did not reach the sandbox ({exc})")
        return phone
    console.print("• an SMS from +33612340005 sent to the hotline (SIP MESSAGE through Asterisk)")
    return phone


def _print_tasks(lab: Lab, console: Console, since: datetime) -> None:
    """The non-voice contacts of this run, once the ACD offered them (agents finishing their
    calls' wrap-up get no offers until it ends: up to a minute)."""
    db = Path(lab.settings.crm_url().removeprefix("sqlite:///"))
    deadline = time.monotonic() + 75
    while True:
        time.sleep(1)
        with sqlite3.connect(db) as conn:
            # an SMS joins its number's open conversation: a task of an earlier run may get it
            rows = conn.execute("SELECT task_id, channel, queue, agent, subject FROM tasks WHERE task_id IN "
                                "(SELECT task_id FROM task_messages WHERE at >= ?) ORDER BY created_at",
                                [since.isoformat()[:19]]).fetchall()
        if (rows and all(row[3] for row in rows)) or time.monotonic() > deadline:
            break
    table = Table(title="CRM: the e-mail, web form, chat and SMS (on the desk's Tasks panel)")
    for col in ("task", "channel", "queue", "offered to (empty: waiting)", "subject"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(v or "") for v in row))
    console.print(table)


def _print_records(console: Console, records: list[dict]) -> None:
    table = Table(title="CRM: the calls just made")
    for col in ("caller", "keys", "queue", "agent", "wait s", "talk s", "disposition"):
        table.add_column(col)
    for r in records:
        # keys pressed in order; ∅ = no key before the timeout
        path = " ".join(p.get("key", "∅") for p in r["path"]
                        if p.get("input") in ("key", "invalid", "safety", "timeout"))
        table.add_row(r["caller"], path, r.get("queue") or "", r.get("agent") or "",
                      _num(r.get("wait_seconds")), _num(r.get("talk_seconds")),
                      r.get("disposition") or "")
    console.print(table)


def _num(value) -> str:
    return "" if value is None else f"{value:.1f}"


