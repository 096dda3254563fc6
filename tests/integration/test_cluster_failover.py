"""An active engine and a standby through the real Asterisk sandbox and a real PostgreSQL
(issue 16): callers waiting on engine A, kill -9 of A; they continue in the dialplan to
engine B, which resumes them in their queue at their places (no menus again) and serves them
in their original order, whichever comes back first; none reaches the operator fallback. A
call talking with an agent across the kill goes on, and that agent is offered nobody else
until it ends."""
from __future__ import annotations

import threading
import sys
import time
from pathlib import Path

import pytest

from hotline_lab.cluster import EnginePair, until
from hotline_lab.lab import Lab
from hotline_lab.sipp import AwaitHangup, Pause, Press

from .conftest import HERE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "crm"))
from crm_pg import pg_server  # noqa: E402


@pytest.fixture
def pair(lab: Lab, tmp_path: Path):
    engines = EnginePair(lab, tmp_path, pg_server().new_database(), queues_file=HERE / "queues.yaml")
    yield engines
    engines.close()
    lab.stop_phones()
    shown = lab.sandbox.cli("dialplan show globals")              # one engine again, for the
    assert "IVR_ENGINE_B=\n" in shown + "\n" or "IVR_ENGINE_B= " in shown or \
        any(line.strip() == "IVR_ENGINE_B=" for line in shown.splitlines()), shown   # tests after


def test_kill_9_of_the_active_engine_waiting_callers_keep_their_places_and_order(
        lab: Lab, pair: EnginePair) -> None:
    pair.start("engine-a")
    until(lambda: pair.active() == "engine-a")
    pair.start("engine-b")
    time.sleep(1.0)
    assert pair.active() == "engine-a"
    assert pair.ivr("engine-a", "agent", "login", "alice").returncode == 0
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
    waiting = pair.places()                                  # written as they changed
    assert [(p[0], p[1]) for p in waiting if p[0] != "0611000021"] == [
        ("0611000022", "waiting"), ("0611000023", "waiting")], waiting
    before = {p[0]: p[1] for p in waiting}
    killed, killed_at = time.monotonic(), time.time()
    pair.kill("engine-a")
    until(lambda: pair.active() == "engine-b", timeout=10)
    assert time.monotonic() - killed < 5.0
    watcher.join(120)
    assert talk_ended and talk_ended[0] - killed_at > 3.0, "the talk did not span the takeover"
    for sipp in (first, second):
        assert sipp.wait(120) == 0
    log_b = pair.log("engine-b").read_text(errors="replace")
    resumed = [c for c, state in before.items() if state != "done"]
    assert f"{len(resumed)} caller(s) of the former active engine were waiting" in log_b, log_b[-3000:]
    # the CRM writer commits a call's end a moment after the caller hangs up (it batches)
    until(lambda: all(pair.crm_calls().get(c, {}).get("disposition") == "answered" for c in resumed),
          timeout=20)
    calls = pair.crm_calls()
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
