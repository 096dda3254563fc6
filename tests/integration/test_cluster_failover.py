"""An active engine and a standby through the real Asterisk sandbox and a real PostgreSQL
(issue 16): callers waiting on engine A, kill -9 of A; they continue in the dialplan to
engine B, which resumes them in their queue at their places (no menus again) and serves them
in their original order, whichever comes back first; none reaches the operator fallback. A
call talking with an agent across the kill goes on, and that agent is offered nobody else
until it ends."""
from __future__ import annotations

import asyncio
import json
import signal
import threading
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hotline_lab.lab import PROJECT, Lab, write_config
from hotline_lab.sipp import AwaitHangup, Pause, Press

from .conftest import BASE_PORT, HERE, sounds_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import pg_server  # noqa: E402


def cluster_config(lab: Lab, directory: Path, name: str, url: str, agi_port: int) -> Path:
    return write_config(directory / name, base_port=BASE_PORT, dialplan=PROJECT / "dialplans/minimal.yaml",
                        crm=directory / "unused.db", sounds=sounds_of(lab), queues_file=HERE / "queues.yaml",
                        extra={"crm": {"url": url, "spool_dir": str(directory / name / "spool")},
                               "cdr": {"enabled": False},
                               "agi": {"port": agi_port}, "audiosocket": {"port": agi_port + 5},
                               # each its own: `ivr agent login` must reach this engine
                               "control": {"socket": str(directory / name / "control.sock")},
                               "cluster": {"enabled": True, "name": "pharma", "engine_id": name,
                                           "poll_s": 0.2, "lease_s": 1.5}})


def ivr(lab: Lab, cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ivr", "--config", str(cfg), *args], cwd=PROJECT,
                          env=lab.env, capture_output=True, text=True, timeout=60)


def active(lab: Lab, cfg: Path) -> str | None:
    res = ivr(lab, cfg, "cluster", "status", "--format", "json")
    return json.loads(res.stdout)["active"] if res.returncode == 0 else None


def until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def crm_calls(url: str) -> dict[str, dict]:
    from ivr.crm.store import open_store

    async def read() -> dict[str, dict]:
        store = await open_store(url)
        try:
            calls = await store.list_calls()
            return {c.caller: {**c.__dict__, "events": [(e.kind, e.data, e.at) for e in
                                                        await store.call_events(c.call_id)]}
                    for c in calls}
        finally:
            await store.close()
    return asyncio.run(read())


def places(url: str) -> list[tuple]:
    import psycopg
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT data::json->>'caller', state, queue FROM cluster_waiting "
                            "ORDER BY arrived_at").fetchall()


@pytest.fixture
def pair(lab: Lab, tmp_path: Path):
    url = pg_server().new_database()
    port_b = lab.settings.agi.port + 1
    cfg_a = cluster_config(lab, tmp_path, "engine-a", url, lab.settings.agi.port)
    cfg_b = cluster_config(lab, tmp_path, "engine-b", url, port_b)
    assert ivr(lab, cfg_a, "cluster", "init").returncode == 0
    lab.sandbox.cli(f"dialplan set global IVR_ENGINE_B agi://127.0.0.1:{port_b}")
    procs: dict[str, subprocess.Popen] = {}

    def start(name: str, cfg: Path) -> subprocess.Popen:
        out = open(tmp_path / f"{name}.log", "ab")
        procs[name] = subprocess.Popen([sys.executable, "-m", "ivr", "-v", "--config", str(cfg), "serve",
                                        "--no-agents-ready", "--grace", "2"], cwd=PROJECT, env=lab.env,
                                       stdout=out, stderr=subprocess.STDOUT)
        return procs[name]
    yield url, cfg_a, cfg_b, start, procs, tmp_path
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lab.stop_phones()
    lab.sandbox.cli('dialplan set global IVR_ENGINE_B ""')       # one engine again, for the
    shown = lab.sandbox.cli("dialplan show globals")              # tests after this one
    assert "IVR_ENGINE_B=\n" in shown + "\n" or "IVR_ENGINE_B= " in shown or \
        any(line.strip() == "IVR_ENGINE_B=" for line in shown.splitlines()), shown


def test_kill_9_of_the_active_engine_waiting_callers_keep_their_places_and_order(lab: Lab, pair) -> None:
    url, cfg_a, cfg_b, start, procs, logs = pair
    start("engine-a", cfg_a)
    until(lambda: active(lab, cfg_a) == "engine-a")
    start("engine-b", cfg_b)
    time.sleep(1.0)
    assert active(lab, cfg_b) == "engine-a"
    assert ivr(lab, cfg_a, "agent", "login", "alice").returncode == 0
    # alice talks 14 s: the first caller's talk spans the kill and the takeover
    lab.start_phones(answer_after=0.5, talk_seconds=14.0)
    talking = lab.call("0611000021", [Pause(1.5), Press("0"), AwaitHangup(120)])
    talk_ended: list[float] = []
    watcher = threading.Thread(target=lambda: talking.wait(120) == 0 and talk_ended.append(time.time()))
    watcher.start()
    time.sleep(4.0)
    first = lab.call("0611000022", [Pause(1.5), Press("0"), AwaitHangup(120)])
    time.sleep(2.0)
    second = lab.call("0611000023", [Pause(1.5), Press("0"), AwaitHangup(120)])
    time.sleep(3.5)                                        # both wait: alice is busy
    waiting = places(url)                                  # written as they changed
    assert [(p[0], p[1]) for p in waiting if p[0] != "0611000021"] == [
        ("0611000022", "waiting"), ("0611000023", "waiting")], waiting
    before = {p[0]: p[1] for p in waiting}
    procs["engine-a"].send_signal(signal.SIGKILL)
    killed, killed_at = time.monotonic(), time.time()
    until(lambda: active(lab, cfg_b) == "engine-b", timeout=10)
    assert time.monotonic() - killed < 5.0
    watcher.join(120)
    assert talk_ended and talk_ended[0] - killed_at > 3.0, "the talk did not span the takeover"
    for sipp in (first, second):
        assert sipp.wait(120) == 0
    log_b = (logs / "engine-b.log").read_text(errors="replace")
    resumed = [c for c, state in before.items() if state != "done"]
    assert f"{len(resumed)} caller(s) of the former active engine were waiting" in log_b, log_b[-3000:]
    # the CRM writer commits a call's end a moment after the caller hangs up (it batches)
    until(lambda: all(crm_calls(url).get(c, {}).get("disposition") == "answered" for c in resumed),
          timeout=20)
    calls = crm_calls(url)
    for caller in resumed:
        enters = [d for kind, d, _ in calls[caller]["events"] if kind == "queue_enter"]
        assert enters and "resumed_after_s" in enters[-1], calls[caller]
        assert calls[caller]["agent"] == "alice", calls[caller]
    offered = {c: max(at for kind, _, at in calls[c]["events"] if kind == "offer")  # the new active's
               for c in resumed}
    assert sorted(resumed, key=offered.get) == resumed     # their original order
    # The talk went on through the failover (the caller heard the agent's hangup, not the
    # fallback) and B, re-synced from AMI, offered alice nobody while she was talking.
    talked = calls["0611000021"]
    assert "0611000021" not in resumed and talked["disposition"] is not None, talked
    assert min(offered.values()).timestamp() > talk_ended[0] - 0.5, (offered, talk_ended)
    # Nobody went to the operator fallback (lines of this run's calls only: the CDR file
    # keeps earlier tests' calls).
    ids = {calls[c]["call_id"] for c in ("0611000021", "0611000022", "0611000023")}
    master = lab.sandbox.root / "var/log/asterisk/cdr-csv/Master.csv"

    def mine() -> list[str]:
        return [line for line in master.read_text().splitlines() if any(i in line for i in ids)]
    until(lambda: len({i for i in ids if any(i in line for line in mine())}) == len(ids))
    assert not [line for line in mine() if "ivr-fallback" in line], mine()
