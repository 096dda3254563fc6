"""Agents on campaign calls through the real sandbox (issue 15): the pacer's Connect rings the
agent's SIPp phone from the answered SIPp customer's channel; with no agent free within 2 s
(predictive places more calls than free agents), the customer hears the campaign's
identification (an espeak-ng prompt) and the attempt is recorded as abandoned."""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest

from hotline_lab.feed_reader import FeedReader
from hotline_lab.lab import PROJECT, Lab
from hotline_lab.outbound import IN_WINDOW, status
from hotline_lab.sipp import AwaitHangup

pytestmark = pytest.mark.asterisk
AGENT = "alice"


def agent_campaign(lab: Lab, folder: Path, name: str, mode: str, numbers: list[str],
                   extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text("number\n" + "".join(f"{n}\n" for n in numbers))
    file = folder / f"{name}.yaml"
    file.write_text(f"""\
name: {name}
purpose: a care call with a pharmacist
caller_id: "+33100000000"
dialplan: {PROJECT / "dialplans" / "outbound-care.yaml"}
channel: "PJSIP/test-caller/sip:{{number}}@127.0.0.1:{lab.box.callback_port}"
mode: {mode}
agents: [{AGENT}]
abandon_message: care-abandon
requires_consent: false
limits: {{channels: {len(numbers)}, ring_seconds: 15}}
list: {{csv: {name}.csv}}
{extra}""")
    return file


def attempt_rows(lab: Lab, name: str) -> list[dict]:
    db = sqlite3.connect(lab.settings.crm_url().removeprefix("sqlite:///"))
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute(
            "SELECT number, reserved_at, answered_at, ended_at, outcome, amd_status, agent, detail "
            "FROM campaign_attempts WHERE campaign = ? ORDER BY reserved_at, number", [name])]
    finally:
        db.close()


def run(lab: Lab, tmp_path: Path, file: Path, name: str, calls: int, timeout: float = 90,
        feed: FeedReader | None = None) -> dict:
    lab.ivr("sounds", "build", str(PROJECT / "dialplans/outbound-care.yaml"))
    lab.sandbox.sync_sounds()
    lab.start_engine("--grace", "2", "--clock", IN_WINDOW)
    if feed is not None:          # the desk's live feed: the agent's pop
        feed.path = lab.settings.path(lab.settings.control.socket)
        feed.start()
        feed.connected.wait(5)
    try:
        lab.start_phones(only={AGENT: 0.5}, talk_seconds=4)
        # every call: answered, silent (AMD: a person after its 5 s), then waits for our BYE
        lab.phones["customer"] = lab.sipp.customer(lab.box.callback_port, lab.box.rtp_end + 80,
                                                   0.3, [AwaitHangup(60)])
        lab.ivr("campaign", "load", str(file))
        lab.ivr("campaign", "start", name)
        end = time.monotonic() + timeout
        while True:
            row = status(lab, name)
            if (row.get("attempts", 0) >= calls and not row.get("outcome_in_progress")) \
                    or time.monotonic() > end:
                return row
            time.sleep(0.5)
    finally:
        if feed is not None:
            feed.stop.set()
        lab.stop_phones()
        lab.stop_engine()


def _seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def test_progressive_connects_the_customer_to_the_one_free_agent(lab: Lab, tmp_path: Path):
    numbers = ["+33123456781", "+33123456782"]
    file = agent_campaign(lab, tmp_path, "sandbox-progressive", "progressive", numbers)
    feed = FeedReader("")
    row = run(lab, tmp_path, file, "sandbox-progressive", calls=2, timeout=120, feed=feed)
    rows = attempt_rows(lab, "sandbox-progressive")
    assert [(r["outcome"], r["agent"], r["detail"]) for r in rows] == [
        ("answered", AGENT, f"agent {AGENT}")] * 2, (rows, lab.log_text()[-4000:])
    # one free agent: one call at a time, the second once the agent hung up the first (its
    # phone talks 4 s; the Hangup that writes ended_at may come a moment after the new call)
    assert _seconds(rows[0]["answered_at"], rows[1]["reserved_at"]) >= 4, rows
    assert _seconds(rows[0]["ended_at"], rows[1]["reserved_at"]) > -0.5, rows
    assert row.get("outcome_abandoned", 0) == 0, row
    # the desk's pop, as for an inbound offer: the customer's number (the desk reads the CRM)
    pops = [p for _, p in feed.topics(f"offers/{AGENT}")]
    assert [(p["caller"], p["campaign"], p["route"]) for p in pops] == [
        (n, "sandbox-progressive", "campaign") for n in numbers], pops


def test_predictive_dials_more_than_free_agents_and_abandons_with_the_message(lab: Lab, tmp_path: Path):
    numbers = ["+33123456791", "+33123456792", "+33123456793"]
    # the list's expected answer rate (5 %) makes the pacer place 3 calls for its one agent
    file = agent_campaign(lab, tmp_path, "sandbox-predictive", "predictive", numbers,
                          extra="expected_answer_rate: 0.05\n")
    run(lab, tmp_path, file, "sandbox-predictive", calls=3)
    rows = attempt_rows(lab, "sandbox-predictive")
    assert len(rows) == 3, (rows, lab.log_text()[-4000:])
    # all three placed at once (more calls than the one free agent)
    assert _seconds(rows[0]["reserved_at"], rows[-1]["reserved_at"]) < 2, rows
    connected = [r for r in rows if r["outcome"] == "answered"]
    abandoned = [r for r in rows if r["outcome"] == "abandoned"]
    assert len(connected) == 1 and connected[0]["agent"] == AGENT, rows
    assert len(abandoned) == 2, rows
    for r in abandoned:
        assert r["detail"] == "no agent free" and r["agent"] is None
        # the identification (about 9 s of espeak-ng speech) played to its end before our hang-up
        assert _seconds(r["answered_at"], r["ended_at"]) > 6, r
    # the identification began within 2 s of the answer (the engine logs the delay)
    delays = [float(line.rsplit(" after ", 1)[1].split(" s")[0]) for line in lab.log_text().splitlines()
              if "sandbox-predictive: no agent free" in line]
    assert len(delays) == 2 and max(delays) <= 2.2, delays
