"""An active engine and its standby on the lab's sandbox and one PostgreSQL database (issue
16): their configs (each its own AGI port and control socket), the cluster's row, Asterisk's
IVR_ENGINE_B global, the processes, and what the database says. Used by
tests/integration/test_cluster_failover.py and bench/failover.py."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hotline_lab.lab import PROJECT, Lab, write_config

NAMES = ("engine-a", "engine-b")


def until(condition: Callable[[], Any], timeout: float = 20.0, every: float = 0.2) -> float:
    """Seconds until `condition()` held; AssertionError after `timeout`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(every)
    return time.monotonic() - started


class EnginePair:
    def __init__(self, lab: Lab, directory: Path, url: str, *, queues_file: Path,
                 agents_file: Path | None = None, lease_s: float = 1.5, poll_s: float = 0.2):
        self.lab, self.directory, self.url = lab, directory, url
        self.procs: dict[str, subprocess.Popen] = {}
        base = lab.settings.agi.port
        self.ports = {NAMES[0]: base, NAMES[1]: base + 1}
        self.configs = {name: self._config(name, port, queues_file, agents_file, lease_s, poll_s)
                        for name, port in self.ports.items()}
        init = self.ivr(NAMES[0], "cluster", "init")
        assert init.returncode == 0, init.stderr
        lab.sandbox.cli(f"dialplan set global IVR_ENGINE_B agi://127.0.0.1:{self.ports[NAMES[1]]}")

    def _config(self, name: str, port: int, queues_file: Path, agents_file: Path | None,
                lease_s: float, poll_s: float) -> Path:
        lab, d = self.lab, self.directory
        return write_config(d / name, base_port=lab.box.sip_port - 60,
                            dialplan=PROJECT / "dialplans/minimal.yaml", crm=d / "unused.db",
                            sounds=lab.settings.path(lab.settings.sounds.dir),
                            queues_file=queues_file, agents_file=agents_file,
                            extra={"crm": {"url": self.url, "spool_dir": str(d / name / "spool")},
                                   "cdr": {"enabled": False},
                                   "agi": {"port": port}, "audiosocket": {"port": port + 5},
                                   # each its own: `ivr agent login` must reach this engine
                                   "control": {"socket": str(d / name / "control.sock")},
                                   "cluster": {"enabled": True, "name": "pharma", "engine_id": name,
                                               "poll_s": poll_s, "lease_s": lease_s}})

    def ivr(self, name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ivr", "--config", str(self.configs[name]), *args],
                              cwd=PROJECT, env=self.lab.env, capture_output=True, text=True, timeout=60)

    def control(self, name: str, *args: str) -> Any:
        """A listing from that engine's control socket (`ivr queues|agents --format json`)."""
        res = self.ivr(name, *args, "--format", "json")
        return json.loads(res.stdout) if res.returncode == 0 else None

    def active(self) -> str | None:
        res = self.ivr(NAMES[0], "cluster", "status", "--format", "json")
        return json.loads(res.stdout)["active"] if res.returncode == 0 else None

    def log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def start(self, name: str) -> subprocess.Popen:
        out = open(self.log(name), "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "ivr", "-v", "--config", str(self.configs[name]), "serve",
             "--no-agents-ready", "--grace", "2"], cwd=PROJECT, env=self.lab.env,
            stdout=out, stderr=subprocess.STDOUT)
        return self.procs[name]

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.lab.sandbox.cli('dialplan set global IVR_ENGINE_B ""')   # one engine again

    # ---- what the database says ---------------------------------------------------------
    def places(self) -> list[tuple]:
        """(caller, state, queue) of the callers' places the active engine wrote, oldest first."""
        import psycopg
        with psycopg.connect(self.url) as conn:
            return conn.execute("SELECT data::json->>'caller', state, queue FROM cluster_waiting "
                                "ORDER BY arrived_at").fetchall()

    def crm_calls(self) -> dict[str, dict]:
        """The CRM's calls by caller number, each with its timeline events."""
        import asyncio

        from ivr.crm.store import open_store

        async def read() -> dict[str, dict]:
            store = await open_store(self.url)
            try:
                return {c.caller: {**c.__dict__, "events": [(e.kind, e.data, e.at) for e in
                                                            await store.call_events(c.call_id)]}
                        for c in await store.list_calls()}
            finally:
                await store.close()
        return asyncio.run(read())
