"""Outbound campaigns through the real sandbox (issue 15, agentless): the engine originates
over AMI, Asterisk's [hotline-outbound] runs AMD() on the SIPp "customer" phone's answer, and
the CRM holds the attempt with its outcome and AMD verdict; with the clock pinned outside the
calling window, nothing is dialled."""
from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sipp import AwaitHangup, CallerHangsUp, Pause, Press

pytestmark = pytest.mark.asterisk
IN_WINDOW = "2026-11-24T10:30:00+01:00"          # a Tuesday, 10:30 in Paris
AFTER_HOURS = "2026-11-24T21:00:00+01:00"


def campaign_file(lab: Lab, folder: Path, name: str, dialplan: str = "minimal") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text("number,name,consent\n+33123456789,Ann,yes\n")
    file = folder / f"{name}.yaml"
    file.write_text(f"""\
name: {name}
purpose: a care call through the sandbox
caller_id: "+33100000000"
dialplan: {PROJECT / "dialplans" / f"{dialplan}.yaml"}
channel: "PJSIP/test-caller/sip:{{number}}@127.0.0.1:{lab.box.callback_port}"
limits: {{channels: 2, ring_seconds: 15}}
list: {{csv: {name}.csv}}
""")
    return file


def attempts(lab: Lab, name: str) -> list[tuple]:
    db = sqlite3.connect(lab.settings.crm_url().removeprefix("sqlite:///"))
    try:
        return db.execute("SELECT outcome, amd_status, amd_cause, detail FROM campaign_attempts "
                          "WHERE campaign = ?", [name]).fetchall()
    finally:
        db.close()


def status(lab: Lab, name: str) -> dict:
    out = lab.ivr("campaign", "status", name, "--format", "json").stdout
    return json.loads(out)["rows"][0]


def wait_for(lab: Lab, name: str, done, timeout: float = 40) -> dict:
    end = time.monotonic() + timeout
    while True:
        row = status(lab, name)
        if done(row) or time.monotonic() > end:
            return row
        time.sleep(0.5)


def test_an_answered_call_is_dialled_amd_checked_and_recorded(lab: Lab, tmp_path: Path):
    lab.start_engine("--grace", "2", "--clock", IN_WINDOW)
    try:
        lab.start_customer_phone(answer_after=0.5, talk_seconds=8)
        file = campaign_file(lab, tmp_path, "sandbox-care")
        assert "1 contact(s)" in lab.ivr("campaign", "load", str(file)).stdout
        lab.ivr("campaign", "start", "sandbox-care")
        row = wait_for(lab, "sandbox-care", lambda r: r.get("attempts", 0) >= 1
                       and not r.get("outcome_in_progress"))
        assert row["attempts"] == 1, (row, lab.log_text()[-3000:])
        assert row.get("outcome_machine", 0) + row.get("outcome_answered", 0) == 1, row
        # silence from the phone: AMD decides; its verdict is kept with the attempt
        [(outcome, amd, cause, _)] = attempts(lab, "sandbox-care")
        assert amd in ("MACHINE", "HUMAN", "NOTSURE") and cause
        assert outcome == ("machine" if amd == "MACHINE" else "answered")
    finally:
        lab.stop_phones()
        lab.stop_engine()


def test_no_call_outside_the_window(lab: Lab, tmp_path: Path):
    lab.start_engine("--grace", "2", "--clock", AFTER_HOURS)
    try:
        file = campaign_file(lab, tmp_path, "sandbox-night")
        lab.ivr("campaign", "load", str(file))
        lab.ivr("campaign", "start", "sandbox-night")
        time.sleep(4)
        row = status(lab, "sandbox-night")
        assert row["state"] == "running" and row["attempts"] == 0
        assert row.get("contacts_pending") == 1
    finally:
        lab.stop_engine()


def run_one(lab: Lab, tmp_path: Path, name: str, customer, dialplan: str = "minimal") -> dict:
    """One contact, one customer phone behaving as `customer` (a Popen), the campaign started
    in the window; the status once the attempt has its outcome."""
    lab.start_engine("--grace", "2", "--clock", IN_WINDOW)
    try:
        lab.phones["customer"] = customer
        lab.ivr("campaign", "load", str(campaign_file(lab, tmp_path, name, dialplan)))
        lab.ivr("campaign", "start", name)
        return wait_for(lab, name, lambda r: r.get("attempts", 0) >= 1
                        and not r.get("outcome_in_progress"), timeout=60)
    finally:
        lab.stop_phones()
        lab.stop_engine()


def customer(lab: Lab, answer_after: float | None, steps=(), busy: bool = False):
    return lab.sipp.customer(lab.box.callback_port, lab.box.rtp_end + 80, answer_after,
                             list(steps), busy)


def test_the_opt_out_key_puts_the_number_on_the_dnc_list(lab: Lab, tmp_path: Path):
    lab.ivr("sounds", "build", str(PROJECT / "dialplans/outbound-care.yaml"))
    lab.sandbox.sync_sounds()                 # Asterisk plays them from its own folder
    # AMD listens up to 5 s (the phone is silent: NOTSURE, so a person), then the menu
    phone = customer(lab, 0.3, [Pause(7.5), Press("8"), AwaitHangup(30)])
    row = run_one(lab, tmp_path, "sandbox-optout", phone, dialplan="outbound-care")
    assert row.get("outcome_answered") == 1, row
    [(outcome, amd, _, detail)] = attempts(lab, "sandbox-optout")
    assert (outcome, detail) == ("answered", "opted out")
    db = sqlite3.connect(lab.settings.crm_url().removeprefix("sqlite:///"))
    assert db.execute("SELECT source, campaign FROM dnc WHERE number = '+33123456789'").fetchall() == [
        ("opt-out key", "sandbox-optout")]
    db.execute("DELETE FROM dnc")          # the other tests call the same number
    db.commit()
    db.close()


def test_a_busy_customer(lab: Lab, tmp_path: Path):
    row = run_one(lab, tmp_path, "sandbox-busy", customer(lab, None, busy=True))
    assert row.get("outcome_busy") == 1 and row["contacts_pending"] == 1, row


def test_a_customer_who_does_not_answer_rings_15_s(lab: Lab, tmp_path: Path):
    started = time.monotonic()
    row = run_one(lab, tmp_path, "sandbox-noanswer", customer(lab, None))
    assert row.get("outcome_no_answer") == 1, row
    assert time.monotonic() - started > 15


def test_amd_tells_a_machine_greeting_from_a_person(lab: Lab, tmp_path: Path):
    from hotline_lab.greetings import greetings
    from hotline_lab.outbound import amd_trial
    from hotline_lab.outbound import attempts as all_attempts
    lab.ivr("sounds", "build", str(PROJECT / "dialplans/outbound-care.yaml"))
    lab.sandbox.sync_sounds()
    lab.start_engine("--grace", "2", "--clock", IN_WINDOW)
    try:
        trial = greetings(2, machine=True) + greetings(2, machine=False)
        results = amd_trial(lab, tmp_path, "sandbox-amd", trial, channels=4)
    finally:
        lab.stop_engine()
    assert len(results) == 4
    assert [r.amd_status for r in results if r.machine] == ["MACHINE", "MACHINE"], results
    assert [r.amd_status for r in results if not r.machine] == ["HUMAN", "HUMAN"], results
    outcomes = {amd: outcome for _, outcome, amd, _, _ in all_attempts(lab, "sandbox-amd")}
    assert outcomes == {"MACHINE": "machine", "HUMAN": "answered"}


def test_a_restart_mid_campaign_dials_no_number_twice(lab: Lab, tmp_path: Path):
    import signal
    from hotline_lab.outbound import attempts as all_attempts
    from hotline_lab.outbound import run_campaign
    lab.start_engine("--grace", "2", "--clock", IN_WINDOW)
    try:
        lab.phones["customer"] = customer(lab, None)              # rings, never answers
        rows = [{"number": "+33123456701"}, {"number": "+33123456702"}]
        channel = f"PJSIP/test-caller/sip:{{number}}@127.0.0.1:{lab.box.callback_port}"
        row = run_campaign(lab, tmp_path, "sandbox-restart", rows, channel=channel, channels=1,
                           timeout=3)
        assert row["attempts"] == 1 and row.get("outcome_in_progress") == 1, row
        lab.stop_engine(sig=signal.SIGKILL)                    # a crash, the call still ringing
        lab.start_engine("--grace", "2", "--clock", IN_WINDOW)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = all_attempts(lab, "sandbox-restart")
            if len(done) >= 2 and all(outcome for _, outcome, *_ in done):
                break
            time.sleep(0.5)
        time.sleep(3)                                          # a second call to 701 would show now
        done = all_attempts(lab, "sandbox-restart")
        assert [(number, outcome) for number, outcome, *_ in done] == [
            ("+33123456701", "interrupted"), ("+33123456702", "no_answer")], done
        assert status(lab, "sandbox-restart")["state"] == "running"
    finally:
        lab.stop_phones()
        lab.stop_engine()


def test_a_survey_answered_by_keys_is_kept_with_the_campaign(lab: Lab, tmp_path: Path):
    lab.ivr("sounds", "build", str(PROJECT / "dialplans/outbound-survey.yaml"))
    lab.sandbox.sync_sounds()
    # AMD hears silence (5 s, a person), then: 1 (the survey), CSAT 4, NPS 9 (its 3 s timeout)
    phone = customer(lab, 0.3, [Pause(7.5), Press("1"), Pause(2), Press("4"), Pause(2), Press("9"),
                                AwaitHangup(40)])
    row = run_one(lab, tmp_path, "sandbox-survey", phone, dialplan="outbound-survey")
    assert row.get("outcome_answered") == 1, row
    out = lab.ivr("surveys", "--crm", lab.settings.crm_url(), "--by", "campaign", "--format", "json").stdout
    [scores] = [r for r in json.loads(out)["rows"] if r["campaign"] == "sandbox-survey"]
    assert (scores["csat_answers"], scores["csat_mean"]) == (1, 4.0), scores
    assert (scores["nps_answers"], scores["nps"]) == (1, 100.0), scores


def test_star_in_a_campaign_survey_reaches_pharmacovigilance_with_a_case(lab: Lab, tmp_path: Path):
    lab.ivr("sounds", "build", str(PROJECT / "dialplans/outbound-survey.yaml"))
    lab.sandbox.sync_sounds()
    # AMD (5 s of silence: a person), 1: the survey, then star in the CSAT question (a side
    # effect to report, as the question announces); the customer hangs up in the PV queue
    phone = customer(lab, 0.3, [Pause(7.5), Press("1"), Pause(2), Press("*"), Pause(6),
                                CallerHangsUp()])
    row = run_one(lab, tmp_path, "sandbox-survey-pv", phone, dialplan="outbound-survey")
    assert row.get("outcome_answered") == 1, row
    db = sqlite3.connect(lab.settings.crm_url().removeprefix("sqlite:///"))
    try:
        [attempt] = [a for (a,) in db.execute(
            "SELECT attempt_id FROM campaign_attempts WHERE campaign = 'sandbox-survey-pv'")]
        deadline = time.monotonic() + 15
        while not (call := db.execute("SELECT queue, adverse_event, priority FROM calls WHERE call_id = ?",
                                      [attempt]).fetchone()) and time.monotonic() < deadline:
            time.sleep(0.3)
        answers = db.execute("SELECT COUNT(*) FROM survey_answers WHERE campaign = 'sandbox-survey-pv'"
                             ).fetchone()[0]
    finally:
        db.close()
    assert call == ("pharmacovigilance", 1, 100), call
    assert answers == 0                               # the star was no score
    case = json.loads(lab.ivr("cases", "show", f"AE-{attempt}", "--format", "json").stdout)
    assert case["kind"] == "adverse_event" and case["status"] == "open", case
