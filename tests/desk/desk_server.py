"""A real desk server for tests: `ivr desk serve` as a subprocess on loopback, on its own
copy of the config and its own SQLite CRM; users added through the real CLI.

    server = start_desk(tmp_path, port=desk_port())      # own config; waits until it answers
    server = serve_desk(lab_config, desk_port(), log)    # or beside the lab's engine
    server.add_user("alice", "agent", "alice-password")  # `ivr desk user add … --password-stdin`
    server.url + "/login"
    server.stop()

Ports: IVR_TEST_BASE_PORT (default 15000) + 480 … + 499 (the lab uses +38 … +400 and
+2000 … +2999), one per server started in the test session.
"""
from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ivr.config import load_settings

PROJECT = Path(__file__).resolve().parents[2]
IVR = [sys.executable, "-m", "ivr"]
BASE_PORT = int(os.environ.get("IVR_TEST_BASE_PORT", "15000"))
_next_port = itertools.cycle(range(BASE_PORT + 480, BASE_PORT + 500))


def desk_port() -> int:
    """A port for the next desk server of this test session."""
    return next(_next_port)


@dataclass
class DeskServer:
    url: str
    config: Path
    db: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def ivr(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The real `ivr` CLI on this server's settings."""
        result = subprocess.run([*IVR, "--config", str(self.config), *args], input=stdin,
                                capture_output=True, text=True, timeout=60, cwd=PROJECT)
        if check and result.returncode != 0:
            raise AssertionError(f"ivr {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result

    def add_user(self, name: str, role: str, password: str, *, language: str = "en",
                 full_name: str = "") -> None:
        self.ivr("desk", "user", "add", name, "--role", role, "--language", language,
                 "--full-name", full_name, "--password-stdin", stdin=password + "\n")

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A statement on the server's CRM file (SQLite) (to age a session, count rows…)."""
        with sqlite3.connect(self.db) as conn:
            return list(conn.execute(statement, params))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def write_desk_config(directory: Path, port: int, **desk: Any) -> Path:
    """engine.yaml (+ agents.yaml, queues.yaml from config/) with a SQLite CRM in `directory`."""
    config = directory / "config"
    config.mkdir(parents=True, exist_ok=True)
    for name in ("agents.yaml", "queues.yaml"):
        shutil.copy(PROJECT / "config" / name, config / name)
    settings = {"crm": {"url": f"sqlite:///{directory / 'crm.db'}", "spool_dir": str(directory / "spool")},
                "desk": {"host": "127.0.0.1", "port": port, **desk}}
    (config / "engine.yaml").write_text(yaml.safe_dump(settings))
    return config / "engine.yaml"


def start_desk(directory: Path, port: int, *, tls: tuple[Path, Path] | None = None,
               **desk: Any) -> DeskServer:
    """Write a config in `directory` (desk settings from `desk`), start `ivr desk serve` on
    it and wait until it answers (raises with its log if it does not)."""
    if tls:
        desk |= {"tls_cert": str(tls[0]), "tls_key": str(tls[1])}
    return serve_desk(write_desk_config(directory, port, **desk), port, directory / "desk.log")


def serve_desk(config: Path, port: int, log: Path) -> DeskServer:
    """`ivr desk serve --port PORT` on an existing settings file (e.g. the lab's engine.yaml,
    to run the desk beside a real engine), once it answers."""
    settings = load_settings(config)
    scheme = "https" if settings.desk.tls_cert else "http"
    db = Path(settings.crm_url().removeprefix("sqlite:///"))
    server = DeskServer(f"{scheme}://127.0.0.1:{port}", config, db, log)
    with open(log, "wb") as out:
        server.process = subprocess.Popen([*IVR, "--config", str(config), "desk", "serve", "--port", str(port)],
                                          stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: DeskServer, timeout_s: float = 30.0) -> None:
    context = ssl._create_unverified_context() if server.url.startswith("https") else None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise AssertionError(f"ivr desk serve exited {server.process.returncode}:\n"
                                 f"{server.log.read_text()}")
        try:
            with urllib.request.urlopen(server.url + "/login", timeout=2, context=context) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"the desk did not answer on {server.url} within {timeout_s:g} s:\n"
                         f"{server.log.read_text()}")
