"""Calls Asterisk handled without the engine reach the CRM at the next start (issue 7).

With the engine killed, Asterisk's [hotline] context sends callers to the operator ring group
(alice and bob); the only trace is Asterisk's CDR (cdr_csv Master.csv). The restarted engine
reads it and writes a recovered record per call; a second restart writes nothing more.
"""
from __future__ import annotations

import csv
import signal
import time

import pytest

from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sipp import AwaitHangup, CallerHangsUp, Pause
from tests.integration.conftest import lab_config, sounds_of

pytestmark = pytest.mark.asterisk


def cdr_uniqueid(lab: Lab, caller: str) -> str:
    """The caller channel's uniqueid, as Asterisk's cdr_csv wrote it (column 17)."""
    with open(lab.settings.cdr_csv_path(), newline="") as fh:
        ids = [row[16] for row in csv.reader(fh) if len(row) > 16 and row[1] == caller]
    assert ids, f"Asterisk wrote no CDR for {caller}"
    return ids[-1]


def records_of(lab: Lab, caller: str) -> list[dict]:
    return [c for c in lab.calls() if c["caller"] == caller]


def test_calls_asterisk_took_while_the_engine_was_down_are_recorded_once(lab, hotline):
    assert "cdr_csv.so" in lab.sandbox.cli("module show like cdr_csv"), \
        "Asterisk's cdr_csv module is not loaded: no Master.csv to reconcile from"
    hotline.start_engine("--grace", "2")              # creates the CRM…
    hotline.stop_engine(signal.SIGKILL)               # …then dies: Asterisk alone takes calls
    hotline.start_phones(only={"alice": 0.5, "bob": None}, talk_seconds=2.0)
    answered = hotline.call("0611000071", [AwaitHangup(60)])
    assert answered.wait(60) == 0, hotline.sipp.errors("caller", 0)
    hotline.start_phones(only={"alice": None, "bob": None})
    nobody = hotline.call("0611000072", [AwaitHangup(60)])     # rings 10 s, "sorry", hang-up
    gave_up = hotline.call("0611000073", [Pause(3.0), CallerHangsUp()])
    assert nobody.wait(60) == 0 and gave_up.wait(60) == 0
    hotline.stop_phones()

    hotline.start_engine("--grace", "2")
    rec = hotline.call_record("0611000071")
    assert rec["call_id"] == cdr_uniqueid(hotline, "0611000071")
    assert rec["recovered"] and rec["route"] == "fallback" and rec["disposition"] == "answered"
    assert rec["agent"] == "alice" and rec["talk_seconds"] >= 2
    assert rec["dialed"] == "100" and rec["started_at"] < rec["ended_at"]
    assert "recovered from Asterisk's CDR" in rec["hangup_cause"]
    assert hotline.call_record("0611000072")["disposition"] == "failed"
    assert hotline.call_record("0611000073")["disposition"] == "abandoned"
    log = hotline.log_text()
    assert "******0071" in log and "0611000071" not in log          # numbers masked in logs

    hotline.stop_engine()
    hotline.start_engine("--grace", "2")                            # reconciles again…
    deadline = time.monotonic() + 15
    while "the CRM has all 3 hotline call(s)" not in hotline.log_text():   # …and finds all
        assert time.monotonic() < deadline, hotline.log_text()[-3000:]
        time.sleep(0.3)
    for caller in ("0611000071", "0611000072", "0611000073"):
        assert len(records_of(hotline, caller)) == 1, records_of(hotline, caller)
    assert hotline.log_text().count("Asterisk handled without the engine") == 1


def test_a_call_cut_off_by_a_kill_gets_its_outcome_once_it_ends(lab, tmp_path):
    # Checked every second here (cdr.every_s), so the test need not wait a minute.
    other = Lab(lab_config(tmp_path, PROJECT / "dialplans/minimal.yaml", sounds_of(lab),
                           extra={"cdr": {"every_s": 1.0}}))
    try:
        other.start_engine("--grace", "2")
        other.start_phones(only={"alice": 0.5, "bob": None}, talk_seconds=6.0)
        call = other.call("0611000074", [AwaitHangup(90)])
        time.sleep(2.0)                                             # in the menu
        other.stop_engine(signal.SIGKILL)                           # the fallback rings alice
        time.sleep(1.5)
        other.start_engine("--grace", "2")                          # she is still talking
        assert call.wait(60) == 0
        deadline = time.monotonic() + 10
        rec = other.call_record("0611000074")
        while "Asterisk's CDR" not in (rec["hangup_cause"] or ""):  # the next check completes it
            assert time.monotonic() < deadline, rec
            time.sleep(0.3)
            rec = other.call_record("0611000074")
        assert rec["recovered"] and rec["disposition"] == "answered" and rec["agent"] == "alice"
        assert "answered by alice" in rec["hangup_cause"] and rec["talk_seconds"] >= 6
        assert len(records_of(other, "0611000074")) == 1
        assert "periodic check" in other.log_text()
    finally:
        other.stop_phones()
        other.stop_engine()
