"""Two real engine processes (`ivr serve`) on one PostgreSQL: exactly one active, the standby
hands calls back, kill -9 of the active makes the standby take over with a new term, a leader
whose session dies exits (status 2), an engine on the wrong database is refused (status 1).
No Asterisk here: FastAGI is spoken by the test; through Asterisk see tests/integration."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import pg_server  # noqa: E402

from hotline_lab.lab import PROJECT, write_config  # noqa: E402

BASE = int(os.environ.get("IVR_TEST_BASE_PORT", "15000")) + 400
ENV = {**os.environ, "IVR_AMI_SECRET": "no-asterisk-here"}     # AMI is down: calls work without


SOUNDS: list[Path] = []        # built once for the module (the dialplan's prompts)


def config(tmp: Path, name: str, base: int, url: str) -> Path:
    return write_config(tmp / name, base_port=base, dialplan=PROJECT / "dialplans/minimal.yaml",
                        crm=tmp / "unused.db", sounds=SOUNDS[0] if SOUNDS else tmp / "sounds",
                        extra={"crm": {"url": url}, "cdr": {"enabled": False},
                               "control": {"socket": str(tmp / name / "control.sock")},
                               "cluster": {"enabled": True, "name": "pharma", "engine_id": name,
                                           "poll_s": 0.2, "lease_s": 1.5}})


def ivr(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ivr", "--config", str(cfg), *args], cwd=PROJECT,
                          capture_output=True, text=True, timeout=60, env=ENV)


def status(cfg: Path) -> dict[str, Any]:
    res = ivr(cfg, "cluster", "status", "--format", "json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def until(condition: Callable[[], Any], timeout: float = 20.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.1)
    return time.monotonic() - started


class Engines:
    def __init__(self, tmp: Path):
        self.tmp, self.procs = tmp, {}

    def start(self, cfg: Path, name: str, port: int) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", "ivr", "-v", "--config", str(cfg), "serve",
                                 "--reset-agents", "--grace", "1"], cwd=PROJECT, stdout=log, env=ENV,
                                stderr=subprocess.STDOUT)
        self.procs[name] = proc
        until(lambda: proc.poll() is not None or _listening(port), timeout=30)
        assert proc.poll() is None, self.log(name)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def agi_call(port: int, most: int = 3) -> list[str]:
    """A caller's FastAGI session as Asterisk opens it; the first commands the engine sent
    (then the caller hangs up)."""
    header = ("agi_network: yes\nagi_network_script: hotline\nagi_request: agi://127.0.0.1/hotline\n"
              "agi_channel: PJSIP/caller-00000001\nagi_uniqueid: 1700000000.1\n"
              "agi_callerid: 0611000001\nagi_arg_1: 100\n\n")
    commands = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(header.encode())
        buf = s.makefile("rb")
        while len(commands) < most and (line := buf.readline()):
            commands.append(line.decode().strip())
            s.sendall(b"200 result=1\n")
    return commands


@pytest.fixture(scope="module", autouse=True)
def sounds(tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("sounds")
    res = ivr(config(tmp, "sounds", BASE, "postgresql://unused@127.0.0.1/x"), "sounds", "build",
              str(PROJECT / "dialplans/minimal.yaml"), "--no-progress")
    assert res.returncode == 0, res.stderr
    SOUNDS.append(tmp / "sounds")


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Engines]:
    e = Engines(tmp_path)
    yield e
    e.stop()


def test_one_active_a_standby_that_hands_calls_back_and_a_takeover_after_kill_9(
        engines: Engines, tmp_path: Path) -> None:
    url = pg_server().new_database()
    cfg_a, cfg_b = config(tmp_path, "engine-a", BASE, url), config(tmp_path, "engine-b", BASE + 200, url)
    res = ivr(cfg_a, "cluster", "init")
    assert res.returncode == 0 and "cluster 'pharma' created (term 0)" in res.stdout, res.stderr

    engines.start(cfg_a, "engine-a", BASE + 73)
    until(lambda: status(cfg_a)["active"] == "engine-a")
    engines.start(cfg_b, "engine-b", BASE + 273)
    until(lambda: len(status(cfg_b)["links"]) == 2)
    st = status(cfg_b)
    assert st["active"] == "engine-a" and st["term"] == 1 and st["cluster"] == "pharma"
    assert {(x["name"], x["role"]) for x in st["links"]} == {("engine-a", "active"), ("engine-b", "standby")}
    csv = ivr(cfg_b, "cluster", "status", "--format", "csv").stdout.splitlines()
    assert csv[0] == "link,name,role,address,since,pg_pid,lag_s" and len(csv) == 3

    # a call reaching the standby is handed back at once, marked for the dialplan
    assert agi_call(BASE + 273) == ['SET VARIABLE IVR_STANDBY "1"']

    # kill -9 the active: the standby takes over with the next term within the goal (5 s)
    engines.procs["engine-a"].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    until(lambda: status(cfg_b)["active"] == "engine-b", timeout=10)
    assert time.monotonic() - killed < 5.0
    assert status(cfg_b)["term"] == 2
    assert "engine engine-b is ACTIVE (term 2)" in engines.log("engine-b")
    assert agi_call(BASE + 273) != ['SET VARIABLE IVR_STANDBY "1"']   # now it takes calls

    # the leader's session dies under it (a DBA, a partition the server saw): it steps down
    # and exits with status 2 for its supervisor to restart it as a standby
    [pid] = [x["pg_pid"] for x in status(cfg_b)["links"] if x["role"] == "active"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert engines.procs["engine-b"].wait(15) == 2
    assert "engine engine-b STEPS DOWN from term 2" in engines.log("engine-b")
    st = status(cfg_b)
    assert st["active"] is None and st["term"] == 2


def test_an_engine_on_a_database_of_no_cluster_is_refused(tmp_path: Path) -> None:
    url = pg_server().new_database()            # reachable, never `ivr cluster init`
    cfg = config(tmp_path, "engine-c", BASE + 400, url)
    res = subprocess.run([sys.executable, "-m", "ivr", "--config", str(cfg), "serve"], cwd=PROJECT,
                         capture_output=True, text=True, timeout=60, env=ENV)
    assert res.returncode == 1
    assert "holds no hotline cluster" in res.stderr and "ivr cluster init" in res.stderr
