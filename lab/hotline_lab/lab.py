"""A running hotline on this machine: sandbox Asterisk, the engine, SIPp agent phones and
callers. The demo, the integration tests and the load benchmark all drive it the same way.
"""
from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ivr.config import Settings, load_settings

from hotline_lab.sandbox import PROJECT, Sandbox, agent_phone_port
from hotline_lab.settings import (CDR_CSV_IN_CHROOT, SANDBOX_DIR_ENV, load_sandbox_settings,
                                  sandbox_file)
from hotline_lab.sipp import Sipp, Step, stop


def write_config(directory: Path, *, base_port: int, dialplan: Path, crm: Path,
                 sounds: Path, agents_file: Path | None = None,
                 queues_file: Path | None = None, extra: dict | None = None,
                 sandbox: dict | None = None) -> Path:
    """An engine.yaml and the lab's sandbox.yaml beside it, every port offset from `base_port`
    (tests don't collide with a running demo) and absolute paths, so they work from any
    folder. `extra` overrides engine settings, `sandbox` the sandbox's."""
    box = {
        # IVR_SANDBOX_DIR: another chroot copy, so two test runs can each have an Asterisk.
        "dir": str(Path(os.environ.get(SANDBOX_DIR_ENV) or PROJECT / ".cache/sandbox").resolve()),
        "sip_port": base_port + 60,
        "rtp_start": base_port + 2000, "rtp_end": base_port + 2999,
        "agent_phone_base_port": base_port + 100, "callback_port": base_port + 90,
        "operator_ring_seconds": 10,
        **(sandbox or {}),
    }
    config = {
        "agi": {"host": "127.0.0.1", "port": base_port + 73},
        "ami": {"host": "127.0.0.1", "port": base_port + 38},
        "audiosocket": {"host": "127.0.0.1", "port": base_port + 92},
        "crm": {"url": f"sqlite:///{crm}"},
        "dialplan": str(dialplan),
        "sounds": {"dir": str(sounds), "asterisk_prefix": "hotline"},
        "agents_file": str(agents_file or PROJECT / "config/agents.yaml"),
        "queues_file": str(queues_file or PROJECT / "config/queues.yaml"),
        # The engine reads this sandbox's CDRs; production names its own file (or none).
        "cdr": {"csv_path": str(Path(box["dir"]) / CDR_CSV_IN_CHROOT)},
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "engine.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    sandbox_file(path).write_text(yaml.safe_dump(box, sort_keys=False))
    return path


@dataclass
class Lab:
    config_path: Path
    engine: subprocess.Popen | None = None
    phones: dict[str, subprocess.Popen] = field(default_factory=dict)
    engine_log: Path | None = None
    _ports: itertools.count = field(default_factory=lambda: itertools.count())

    def __post_init__(self) -> None:
        self.env = {**os.environ, "IVR_CONFIG": str(self.config_path)}
        self.env.setdefault("IVR_AMI_SECRET", "sandbox-" + os.urandom(6).hex())
        os.environ.setdefault("IVR_AMI_SECRET", self.env["IVR_AMI_SECRET"])
        self.settings: Settings = load_settings(self.config_path)
        self.box = load_sandbox_settings(self.config_path)
        self.sandbox = Sandbox(self.settings, self.box)
        self.sipp = Sipp(self.sandbox)
        self.agent_names = list(self.settings.agents())

    # ---- Asterisk ----------------------------------------------------------------------
    def up(self, log=print) -> None:
        self.sandbox.down(log=lambda *_: None)
        self.sandbox.up(log=log)

    def down(self) -> None:
        self.stop_phones()
        self.stop_engine()
        self.sandbox.down(log=lambda *_: None)

    # ---- the engine --------------------------------------------------------------------
    def ivr(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run the `ivr` CLI against this lab's config."""
        result = subprocess.run([sys.executable, "-m", "ivr", *args], env=self.env, cwd=PROJECT,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"ivr {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}")
        return result

    def start_engine(self, *args: str, log_path: Path | None = None,
                     restore_agents: bool = False) -> subprocess.Popen:
        """The engine on this lab's config. Agents start in the default state (`--reset-agents`:
        each test's agents are its own) unless `restore_agents` (a restart as in production)."""
        self.engine_log = log_path or self.settings.path("var") / "engine.log"
        self.engine_log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.engine_log, "ab")
        verbosity = "-vv" if os.environ.get("IVR_DEBUG") else "-v"   # -vv: every AMI message
        reset = [] if restore_agents else ["--reset-agents"]
        self.engine = subprocess.Popen([sys.executable, "-m", "ivr", verbosity, "serve", *reset, *args],
                                       env=self.env, cwd=PROJECT, stdout=out,
                                       stderr=subprocess.STDOUT)
        _wait_port(self.settings.agi.port, self.engine, self.engine_log)
        return self.engine

    def stop_engine(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int | None:
        if self.engine is None:
            return None
        if self.engine.poll() is None:
            self.engine.send_signal(sig)
            try:
                self.engine.wait(timeout)
            except subprocess.TimeoutExpired:
                self.engine.kill()
                self.engine.wait()
        code, self.engine = self.engine.returncode, None
        return code

    def log_text(self) -> str:
        return self.engine_log.read_text(errors="replace") if self.engine_log else ""

    # ---- phones and callers ------------------------------------------------------------
    def start_phones(self, answer_after: float | None = 1.0, talk_seconds: float = 3.0,
                     only: dict[str, float | None] | None = None) -> None:
        """Start a SIPp phone per agent. `only` maps agent → answer delay (None: never
        answers); agents not listed get no phone (unreachable)."""
        self.stop_phones()
        for index, name in enumerate(self.agent_names):
            if only is not None and name not in only:
                continue
            delay = only[name] if only is not None else answer_after
            port = agent_phone_port(self.box, index)
            self.phones[name] = self.sipp.phone(port, self.box.rtp_end + 1 + index * 4,
                                                delay, talk_seconds)
        time.sleep(0.5)

    def start_customer_phone(self, answer_after: float = 0.5, talk_seconds: float = 2.0) -> None:
        """The phone that answers when the hotline calls a caller back."""
        port = self.box.callback_port
        self.phones["customer"] = self.sipp.phone(port, self.box.rtp_end + 80,
                                                  answer_after, talk_seconds)

    def stop_phones(self) -> None:
        for proc in self.phones.values():
            stop(proc)
        self.phones.clear()

    def call(self, caller: str, steps: list[Step], exten: str = "100",
             timeout: float = 180, name: str | None = None) -> subprocess.Popen:
        n = next(self._ports)
        base = self.box.agent_phone_base_port + 100 + (n % 200)
        media = self.box.rtp_end + 100 + (n % 200) * 4
        return self.sipp.call(caller, exten, steps, base, media, timeout, name)

    # ---- the CRM -----------------------------------------------------------------------
    def calls(self, since: str | None = None) -> list[dict]:
        """Call records (the newest 200; those started since `since`, a UTC ISO time)."""
        return json.loads(self.ivr("calls", "--format", "json", *(("--since", since) if since else ())).stdout)

    def call_events(self, call_id: str) -> list[dict]:
        """The CRM timeline of one call (read straight from the store)."""
        import asyncio

        from ivr.crm.store import open_store

        async def read() -> list[dict]:
            store = await open_store(self.settings.crm_url())
            try:
                return [{"kind": e.kind, **e.data} for e in await store.call_events(call_id)]
            finally:
                await store.close()
        return asyncio.run(read())

    def call_record(self, caller: str, timeout: float = 15) -> dict:
        """The CRM record of the latest call from `caller`, waiting for it to be written."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls() if c["caller"] == caller]
            if found and found[-1].get("ended_at"):
                return found[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no CRM record for caller {caller} within {timeout} s; "
                                     f"engine log:\n{self.log_text()[-3000:]}")
            time.sleep(0.3)


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the engine exited ({proc.returncode}) at start:\n"
                               f"{log.read_text(errors='replace')[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the engine did not listen on {port} within {timeout} s")
