"""Issue 7, "no call lost": the CRM database is locked by another process while calls come
in, or (PostgreSQL) not running when the engine starts. Calls are served as usual; their
records wait in the durable spool and are written, exactly once, when it works again."""
from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from ivr.app.control import request
from ivr.crm import codec
from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sipp import AwaitHangup, CallerHangsUp, Pause, Press
from tests.crm.crm_pg import PgServer
from tests.integration.conftest import OFFICE_HOURS, lab_config, sounds_of

pytestmark = pytest.mark.asterisk

# Holds SQLite's write lock until its stdin closes (a backup tool or a stuck report would).
LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


def hold_write_lock(db: Path) -> subprocess.Popen:
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert locker.stdout.readline().strip() == "locked"
    return locker


def release(locker: subprocess.Popen) -> None:
    if locker.poll() is None:
        locker.stdin.close()
        try:
            locker.wait(10)
        except subprocess.TimeoutExpired:
            locker.kill()
            locker.wait()


def wait_for(condition, timeout: float, what: str, lab: Lab) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s; engine log:\n{lab.log_text()[-3000:]}"
        time.sleep(0.3)


def test_calls_are_served_while_the_crm_is_locked_and_recorded_once_it_is_free(engine: Lab) -> None:
    settings = engine.settings
    db = Path(settings.crm_url()[len("sqlite:///"):])
    spool = settings.path(settings.crm.spool_dir)
    log_start = len(engine.log_text())
    engine.start_phones(answer_after=1.0, talk_seconds=2.0)

    locker = hold_write_lock(db)
    try:
        to_agent = engine.call("0611700001", [Pause(1.5), Press("1"), AwaitHangup(60)])
        time.sleep(0.5)
        leaves_in_menu = engine.call("0611700002", [Pause(1.0), CallerHangsUp()])
        to_operator = engine.call("0611700003", [Pause(1.5), Press("0"), AwaitHangup(60)])
        assert to_agent.wait(90) == 0, engine.sipp.errors("caller", 0)
        assert leaves_in_menu.wait(30) == 0
        assert to_operator.wait(90) == 0

        # The engine said once what happened, and the records sit in the private spool.
        log = lambda: engine.log_text()[log_start:]  # noqa: E731
        wait_for(lambda: "cannot write to" in log(), 30, "the CRM outage logged", engine)
        assert log().count("cannot write to") == 1
        assert str(spool) in log() and "still being served" in log()
        wait_for(lambda: any(spool.glob("0*.jsonl")), 15, "a spool segment", engine)
        assert stat.S_IMODE(spool.stat().st_mode) == 0o700
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in spool.glob("*.jsonl"))
        status = request(settings.path(settings.control.socket), {"cmd": "status"})
        assert status["crm_spool"] > 0
    finally:
        release(locker)

    answered = engine.call_record("0611700001", timeout=90)
    assert answered["disposition"] == "answered" and answered["queue"] == "orders"
    assert answered["agent"] in ("bob", "dave") and answered["talk_seconds"] > 1.0
    steps = [e["kind"] for e in engine.call_events(answered["call_id"]) if e["kind"] != "ivr"]
    assert steps == ["arrived", "queue_enter", "offer", "answered", "connect", "complete",
                     "hangup"]                                                  # once each
    abandoned = engine.call_record("0611700002", timeout=30)
    assert abandoned["disposition"] == "abandoned" and abandoned["agent"] is None
    operator = engine.call_record("0611700003", timeout=30)
    assert operator["disposition"] == "answered" and operator["queue"] == "operator"
    assert len([c for c in engine.calls() if c["caller"].startswith("06117")]) == 3
    wait_for(lambda: not any(spool.glob("0*.jsonl")), 30, "the spool emptied", engine)
    assert "works again" in engine.log_text()[log_start:]


def test_engine_restarted_while_the_crm_is_locked_serves_calls_and_replays_its_spool(engine: Lab) -> None:
    settings = engine.settings
    db = Path(settings.crm_url()[len("sqlite:///"):])
    spool = settings.path(settings.crm.spool_dir)
    engine.start_phones(answer_after=1.0, talk_seconds=2.0)
    locker = hold_write_lock(db)
    try:
        before = engine.call("0611700011", [Pause(1.0), CallerHangsUp()])
        assert before.wait(30) == 0
        assert engine.stop_engine() == 0                     # close leaves the spool on disk
        assert any(spool.glob("0*.jsonl"))
        engine.start_engine("--grace", "2")                  # starts although the CRM is locked
        engine.start_phones(answer_after=1.0, talk_seconds=2.0)
        after = engine.call("0611700012", [Pause(1.5), Press("1"), AwaitHangup(60)])
        assert after.wait(90) == 0, engine.sipp.errors("caller", 0)
    finally:
        release(locker)
    first = engine.call_record("0611700011", timeout=90)
    assert first["disposition"] == "abandoned"
    assert [s for s in first["path"] if s.get("node") == "main"]    # the engine's own record
    second = engine.call_record("0611700012", timeout=30)
    assert second["disposition"] == "answered" and second["agent"] in ("bob", "dave")
    wait_for(lambda: not any(spool.glob("0*.jsonl")), 30, "the spool emptied", engine)


def spooled_calls(spool: Path, caller: str) -> list:
    """The call records waiting in the spool for this caller, oldest save first."""
    rows = [json.loads(line) for seg in sorted(spool.glob("0*.jsonl")) for line in seg.read_text().splitlines()]
    return [codec.row_to_call(tuple(r["row"])) for r in rows if r["kind"] == "call" and r["row"][1] == caller]


def test_engine_started_while_postgres_is_down_serves_calls_and_writes_them_once_it_is_up(
        lab: Lab, tmp_path: Path) -> None:
    server = PgServer()
    url = server.new_database()                  # exists, no schema yet: the engine migrates it
    server.halt()                                # nothing listens on its port now
    pg_lab = Lab(lab_config(tmp_path, PROJECT / "dialplans/hotline.yaml", sounds_of(lab),
                            extra={"crm": {"url": url}}))
    spool = pg_lab.settings.path(pg_lab.settings.crm.spool_dir)
    try:
        pg_lab.start_engine("--clock", OFFICE_HOURS, "--grace", "2")   # starts: no fallback-only hotline
        log = pg_lab.log_text
        wait_for(lambda: "cannot write to PostgreSQL" in log(), 15, "the CRM outage logged", pg_lab)
        assert "starts without its database" in log()
        pg_lab.start_phones(answer_after=1.0, talk_seconds=2.0)
        # French, the lookup node (the CRM cannot answer: an unknown caller), main menu, 0: a person
        to_agent = pg_lab.call("0611700021", [Pause(1.5), Press("1"), Pause(2.0), Press("0"), AwaitHangup(90)])
        time.sleep(0.5)
        leaves = pg_lab.call("0611700022", [Pause(1.5), Press("1"), Pause(1.5), CallerHangsUp()])
        assert to_agent.wait(120) == 0, pg_lab.sipp.errors("caller", 0)
        assert leaves.wait(30) == 0

        wait_for(lambda: [c for c in spooled_calls(spool, "0611700021") if c.ended_at], 15,
                 "the answered call's record in the spool", pg_lab)
        spooled = spooled_calls(spool, "0611700021")[-1]
        assert spooled.disposition == "answered" and spooled.queue == "operator" and spooled.agent
        assert {"node": "identify", "input": "lookup", "contact_type": "unknown"} in spooled.path
        assert log().count("cannot read from PostgreSQL") == 1          # once, not once per call
        assert "callers are taken as unknown" in log()
        assert "handed to Asterisk's" not in log() and "handing it to" not in log()   # none to the fallback
        status = request(pg_lab.settings.path(pg_lab.settings.control.socket), {"cmd": "status"})
        assert status["crm_spool"] > 0

        server.start()
        wait_for(lambda: "schema is ready" in log(), 60, "the schema created", pg_lab)
        wait_for(lambda: not any(spool.glob("0*.jsonl")), 30, "the spool emptied", pg_lab)
        wait_for(lambda: "are being taken care of" in log(), 30, "the start-up reads done", pg_lab)
        assert "works again" in log()

        answered = pg_lab.call_record("0611700021", timeout=30)
        assert answered["disposition"] == "answered" and answered["queue"] == "operator"
        assert answered["agent"] == spooled.agent and answered["talk_seconds"] > 1.0
        steps = [e["kind"] for e in pg_lab.call_events(answered["call_id"]) if e["kind"] != "ivr"]
        assert steps == ["arrived", "queue_enter", "offer", "answered", "connect", "complete",
                     "hangup"]                                                  # once each
        assert pg_lab.call_record("0611700022", timeout=30)["disposition"] == "abandoned"
        with psycopg.connect(url) as conn:
            calls = conn.execute("SELECT caller, COUNT(*) FROM calls WHERE caller LIKE '06117000%' "
                                 "GROUP BY caller ORDER BY caller").fetchall()
            keys = conn.execute("SELECT COUNT(event_key), COUNT(DISTINCT event_key) FROM call_events").fetchone()
        assert calls == [("0611700021", 1), ("0611700022", 1)]
        assert keys[0] == keys[1] > 0                                   # no event written twice
    finally:
        pg_lab.stop_phones()
        pg_lab.stop_engine()
        server.stop()
