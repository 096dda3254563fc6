"""An engine without Asterisk (its non-voice channels only) and a desk beside it, for the desk
tests of e-mail, chat and voice messages: one engine.yaml shape, one start and one stop.

    config = channel_config(work, agi_port, {"chat": {...}})
    with engine_and_desk(work, config, b"web chat and form on", {"alice": "pw"}) as desk: ...
"""
from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from .desk_server import IVR, PROJECT, DeskServer, desk_port, serve_desk

QUEUES = ("medinfo", "pharmacovigilance", "orders", "operator")


def channel_config(work: Path, agi_port: int, channels: dict[str, Any],
                   agents: dict[str, Any] | None = None) -> Path:
    """engine.yaml (and its agents and queues) under work/config; AGI/AMI ports unused."""
    config = work / "config"
    config.mkdir()
    (config / "agents.yaml").write_text(yaml.safe_dump({"agents": agents or {"alice": {"skills": {"medinfo": 5}}}}))
    (config / "queues.yaml").write_text(yaml.safe_dump({"queues": {q: {"requirement": "medinfo"} for q in QUEUES}}))
    (config / "engine.yaml").write_text(yaml.safe_dump({
        "crm": {"url": f"sqlite:///{work / 'crm.db'}", "spool_dir": str(work / "spool")},
        "dialplan": str(PROJECT / "dialplans/minimal.yaml"), "sounds": {"dir": str(work / "sounds")},
        "agi": {"port": agi_port}, "ami": {"port": agi_port + 1},   # no Asterisk
        "control": {"socket": str(work / "control.sock")},
        "knowledge": {"dir": str(PROJECT / "knowledge")},
        "channels": channels}))
    return config / "engine.yaml"


@contextmanager
def engine_and_desk(work: Path, config: Path, ready: bytes, users: dict[str, str],
                    env: dict[str, str] | None = None) -> Iterator[DeskServer]:
    """`ivr serve` until its log says `ready`, then `ivr desk serve` with these agents."""
    env = {**os.environ, "IVR_AMI_SECRET": "unused", **(env or {})}
    subprocess.run([*IVR, "--config", str(config), "sounds", "build", str(PROJECT / "dialplans/minimal.yaml")],
                   check=True, capture_output=True, cwd=PROJECT, timeout=120)
    log_path = work / "engine.log"
    with open(log_path, "wb") as log:
        engine = subprocess.Popen([*IVR, "--config", str(config), "serve"], stdout=log,
                                  stderr=subprocess.STDOUT, cwd=PROJECT, env=env)
        desk = None
        try:
            deadline = time.monotonic() + 60
            while ready not in log_path.read_bytes():
                assert engine.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
            desk = serve_desk(config, desk_port(), work / "desk.log")
            for name, password in users.items():
                desk.add_user(name, "agent", password)
            yield desk
        finally:
            if desk:
                desk.stop()
            engine.terminate()
            engine.wait(30)
