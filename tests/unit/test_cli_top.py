"""`ivr top`, the terminal wallboard, through the real CLI process and a real control socket
answering with a real ACD's snapshot: the queues, the backlog per channel, the agents."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from acd import events as E
from acd.config import AcdConfig
from ivr.app.acd_driver import AcdDriver
from ivr.app.control import ControlServer

ROOT = Path(__file__).resolve().parents[2]


def test_the_wallboard_shows_the_backlog_per_channel(tmp_path: Path) -> None:
    acd = AcdDriver(AcdConfig.from_dict({"agents": {"gina": {"skills": {"general": 1}}},
                                         "queues": {"general": {"requirement": "general"}}}),
                    start_callback=lambda a: None)
    acd.task_sink = lambda action: None          # offers: nobody to tell here
    acd.handle(E.AgentLoggedIn("gina"))
    for n in range(7):                          # gina holds 5 e-mails (capacity 20, 4 each)
        acd.handle(E.TaskArrived(f"EM-{n}", "general", "email"))
    socket = tmp_path / "control.sock"
    (tmp_path / "engine.yaml").write_text(yaml.safe_dump({"control": {"socket": str(socket)}}))
    loop = asyncio.new_event_loop()
    server = ControlServer(socket, lambda r: {"ok": True, **acd.snapshot(), "channels": acd.channel_backlog(), "plan_version": "v1",
                                               "crm_spool": 0})
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "ivr", "--config", str(tmp_path / "engine.yaml"),
                                 "top", "--every", "0.2"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        seen: list[str] = []                    # a loaded machine may take seconds to start it
        reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and \
                sum("gina" in line for line in seen) < 2:      # two whole frames drawn
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)             # Ctrl-C: the wallboard's way out
        proc.wait(10)
        reader.join(5)
        out = "".join(seen)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
    assert "Other channels" in out, out
    line = next(l for l in out.splitlines() if "email" in l)
    channel, waiting, oldest, offered, handled = [c.strip() for c in line.strip("│┃ ").split("│")][:5]
    assert (channel, waiting, offered, handled) == ("email", "2", "5", "0") and oldest.isdigit(), line
    assert "gina" in out
