"""voice_cpu_ratio_with_channels (issue 14), for bench/channels.py --only voice. Root (chroot).

What is measured: the ENGINE PROCESS's own CPU (utime+stime of its pid in /proc/<pid>/stat,
not its children: the channels worker is measured apart) over a phase of CALLS SIPp calls
(RATE calls/s to the menu of dialplans/minimal.yaml: key 1 -> queue orders -> one SIPp UAS
answers for every agent after 1 s, talks 2 s), divided by the calls SIPp completed: CPU ms per
call. Each phase starts once the previous calls have all ended and ends when SIPp has finished.
- idle: no mail arrives, the chat visitors are connected (their event streams open) but silent;
- loaded: during the whole phase 20 e-mails/s are APPENDed over IMAP to a real Dovecot (the
  engine's channel reads them: IDLE, MIME, CRM, SMTP acknowledgement to aiosmtpd) and 100 web
  chats (opened once on the engine's public chat page) each send a line every 5 s (20 lines/s).
Phases alternate idle, loaded (REPEATS each); the figures are medians over the repeats.
ratio = loaded / idle per-call CPU (goal <= 1.10). The worker's CPU over the loaded phases is
reported apart (`worker_cpu_s_per_loaded_phase`). The e-mails and chats go to a queue no agent
serves: their tasks reach the ACD and wait, so they never take an agent from a call (what is
measured is the cost of their traffic, not of agents busy with them).

The harness is bench/load.py's (its engine wrapper bench/engine_run.py, its one-UAS sandbox),
moved to its own ports, work folder and sandbox (IVR_SANDBOX_DIR, else .cache/sandbox-bench).
"""
from __future__ import annotations

import argparse
import asyncio
import imaplib
import os
import re
import statistics
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests

import load   # bench/load.py (its sys.path covers the repo and the lab)

CHAT_PERIOD_S = 5.0
QUIET_QUEUE = "backoffice"          # no agent has its skill: channel tasks wait, calls go on


def _ports(base: int) -> None:
    """bench/load.py's harness on this benchmark's own ports and folders."""
    load.BASE_PORT = base
    load.PHONE_PORT, load.PHONE_MEDIA = base + 100, base + 400
    load.CALLER_PORT, load.CALLER_MEDIA = base + 200, base + 300
    load.WORK = load.PROJECT / ".cache/bench-voice-cpu"
    load.SANDBOX_DIR = Path(os.environ.get("IVR_SANDBOX_DIR") or load.PROJECT / ".cache/sandbox-bench")


def _with_channels(channels: dict[str, Any], base: int):
    original = load.write_config

    def write_config(*args, **kw):
        kw["extra"] = {**kw.get("extra", {}), "channels": channels}
        kw["sandbox"] = {**kw.get("sandbox", {}), "rtp_start": base + 700, "rtp_end": base + 998}
        return original(*args, **kw)
    return write_config


class MailFlood(threading.Thread):
    """IMAP APPEND at `per_s` mails/s until stopped (one session, paced by the clock)."""

    def __init__(self, port: int, user: str, password: str, per_s: float, tag: str) -> None:
        super().__init__(daemon=True)
        self.port, self.user, self.password, self.per_s, self.tag = port, user, password, per_s, tag
        self.stopping, self.sent = threading.Event(), 0

    def run(self) -> None:
        imap = imaplib.IMAP4("127.0.0.1", self.port)
        imap.login(self.user, self.password)
        t0 = time.monotonic()
        while not self.stopping.is_set():
            m = EmailMessage()
            m["From"], m["To"] = f"sender{self.sent % 500}@clinic.example", "hotline@pharma.example"
            m["Subject"], m["Message-ID"] = f"Question {self.sent}", f"<{self.tag}-{self.sent}@clinic.example>"
            m.set_content(f"What is the dose for case {self.sent}? " * 20)
            imap.append("INBOX", None, None, bytes(m))
            self.sent += 1
            time.sleep(max(0.0, t0 + self.sent / self.per_s - time.monotonic()))
        imap.logout()


class ChatLines(threading.Thread):
    """Every visitor sends a line every CHAT_PERIOD_S (spread evenly) until stopped."""

    def __init__(self, visitors: list[Any]) -> None:
        super().__init__(daemon=True)
        self.visitors, self.stopping, self.sent, self.failed = visitors, threading.Event(), 0, 0

    def run(self) -> None:
        gap = CHAT_PERIOD_S / len(self.visitors)
        t0 = time.monotonic()
        while not self.stopping.is_set():
            visitor = self.visitors[self.sent % len(self.visitors)]
            try:
                visitor.send("/chat/send", text=f"line {self.sent}")
            except (AssertionError, requests.RequestException):   # refused, or a keep-alive closed
                self.failed += 1
            self.sent += 1
            time.sleep(max(0.0, t0 + self.sent * gap - time.monotonic()))


def _worker_pid(log_path: Path) -> int | None:
    pids = re.findall(r"channels worker started \(pid (\d+)\)", log_path.read_text(errors="replace"))
    return int(pids[-1]) if pids else None


def _quiet(bench: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while bench.asterisk_channels() > 0 and time.monotonic() < deadline:
        time.sleep(0.5)


def _phase(bench: Any, prefix: str, calls: int, rate: float) -> tuple[float, int, float]:
    """(engine CPU s, calls completed, wall s) of one batch of calls."""
    _quiet(bench)
    time.sleep(1.0)
    e0, t0 = load.cpu_s(bench.engine_pid), time.monotonic()
    bench.callers(prefix, "100", rate, calls, timeout=60).wait()
    _quiet(bench)
    return load.cpu_s(bench.engine_pid) - e0, bench.sipp_totals()["ok"], time.monotonic() - t0


def voice_cpu(calls: int = 60, rate: float = 3.0, repeats: int = 3, base: int = 31000,
              chats: int = 100, mails_per_s: float = 20.0, out=print) -> dict[str, Any]:
    from chat_rtt import VisitorClient
    from tests.channels.mail_servers import PASSWORD, USER, Dovecot, SmtpReceiver

    _ports(base)
    os.environ["IVR_TEST_BASE_PORT"] = str(base)      # Dovecot on base+600, SMTP on base+601
    os.environ["IVR_BENCH_IMAP_PASSWORD"] = PASSWORD
    dovecot, smtp = Dovecot(), SmtpReceiver()
    asyncio.run(dovecot.clear())
    chat_port = base + 650
    load.write_config = _with_channels({
        "email": {"imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_tls": False, "user": USER,
                  "password_env": "IVR_BENCH_IMAP_PASSWORD", "smtp_host": "127.0.0.1",
                  "smtp_port": smtp.port, "from_address": "hotline@pharma.example", "queue": QUIET_QUEUE},
        "chat": {"port": chat_port, "queue": QUIET_QUEUE, "per_session_per_minute": 1000,
                 "per_address_per_minute": 100_000, "open_chats_per_address": 10_000,
                 "leave_grace_s": 3600, "answer_within_s": 3600}}, base)
    args = argparse.Namespace(agents=20, ami_filter=False, ami_callback_events_only=False, engine_src=None,
                              loop="auto", gc_default=False, crm_linger_ms=None, gc_threshold=None,
                              tracemalloc=0, profile=False, talk=2.0)
    bench = load.Bench(args)
    with open(load.WORK / "queues.yaml", "a") as f:
        f.write(f"  {QUIET_QUEUE}: {{requirement: '{QUIET_QUEUE}'}}\n")
    idle_ms, loaded_ms, worker_s, ingest = [], [], [], []
    try:
        bench.up()
        bench.start_phone(answer_after=1.0, talk=2.0)
        deadline = time.monotonic() + 60
        while "e-mail: reading" not in (load.WORK / "engine.log").read_text(errors="replace"):
            assert time.monotonic() < deadline, "the e-mail channel did not start (see engine.log)"
            time.sleep(0.5)
        url = f"http://127.0.0.1:{chat_port}"
        visitors = [VisitorClient(url) for _ in range(chats)]
        for i, v in enumerate(visitors):
            v.send("/chat/start", name=f"Visitor {i}", text="hello")
        _phase(bench, "0699", 10, rate)                # warm-up (imports, first CRM writes)
        for r in range(repeats):
            cpu, ok, _ = _phase(bench, f"06{r}1", calls, rate)
            idle_ms.append(cpu * 1000 / max(1, ok))
            out(f"idle   #{r + 1}: {ok}/{calls} calls, engine {cpu:.2f} s CPU, {idle_ms[-1]:.1f} ms/call")
            flood = MailFlood(dovecot.port, USER, PASSWORD, mails_per_s, f"bench-{r}-{time.time_ns()}")
            lines = ChatLines(visitors)
            worker = _worker_pid(load.WORK / "engine.log")
            w0 = load.cpu_s(worker) if worker else 0.0
            flood.start(), lines.start()
            time.sleep(2.0)                            # the load is running before the calls
            cpu, ok, wall = _phase(bench, f"06{r}2", calls, rate)
            flood.stopping.set(), lines.stopping.set()
            flood.join(), lines.join()
            loaded_ms.append(cpu * 1000 / max(1, ok))
            w1 = load.cpu_s(worker) if worker and Path(f"/proc/{worker}").exists() else w0
            worker_s.append(w1 - w0)
            ingest.append(flood.sent / (wall + 2.0))
            out(f"loaded #{r + 1}: {ok}/{calls} calls, engine {cpu:.2f} s CPU, {loaded_ms[-1]:.1f} ms/call; "
                f"{flood.sent} mails ({ingest[-1]:.1f}/s), {lines.sent} chat lines ({lines.failed} refused), "
                f"worker {worker_s[-1]:.2f} s CPU")
    finally:
        bench.down()
        smtp.stop()
        dovecot.stop()
    idle, loaded = statistics.median(idle_ms), statistics.median(loaded_ms)
    return {"idle_ms": idle, "loaded_ms": loaded, "ratio": loaded / idle, "worker_s": statistics.median(worker_s),
            "mails_per_s": statistics.median(ingest)}
