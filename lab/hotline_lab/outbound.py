"""Outbound campaigns in the lab (issue 15): AMD on many greetings through the real sandbox,
for tests/integration/test_outbound_calls.py and bench/outbound.py.

Each greeting gets its own SIPp customer phone (its own SIP and RTP ports), and the campaign
list routes each number to its phone through a `port` column (the campaign's channel
template names it). The campaign's machine action is `retry`, so AMD's verdict is what the
CRM records: MACHINE → outcome machine, anything else → the dialplan, outcome answered."""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from hotline_lab.greetings import Greeting
from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sipp import SCENARIO_DIR, Speak

IN_WINDOW = "2026-11-24T10:30:00+01:00"          # a Tuesday, 10:30 in Paris


@dataclass(frozen=True)
class AmdResult:
    greeting: str
    machine: bool
    amd_status: str
    amd_cause: str

    @property
    def right(self) -> bool:
        return (self.amd_status == "MACHINE") == self.machine


def status(lab: Lab, name: str) -> dict:
    rows = json.loads(lab.ivr("campaign", "status", name, "--format", "json").stdout)["rows"]
    return rows[0] if rows else {}


def run_campaign(lab: Lab, folder: Path, name: str, rows: list[dict[str, str]], *,
                 channel: str, channels: int = 10, dialplan: str = "outbound-care",
                 timeout: float = 120, extra: str = "") -> dict:
    """Load and start a campaign on the running engine; its status once every contact has an
    outcome (or at `timeout`)."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0])
    (folder / f"{name}.csv").write_text(
        "\n".join([",".join(columns), *(",".join(r[c] for c in columns) for r in rows)]) + "\n")
    file = folder / f"{name}.yaml"
    file.write_text(f"""\
name: {name}
purpose: outbound calls through the sandbox
caller_id: "+33100000000"
dialplan: {PROJECT / "dialplans" / f"{dialplan}.yaml"}
channel: "{channel}"
requires_consent: false
limits: {{channels: {channels}, ring_seconds: 15}}
machine: {{action: retry}}
list: {{csv: {name}.csv}}
{extra}""")
    lab.ivr("campaign", "load", str(file))
    lab.ivr("campaign", "start", name)
    end = time.monotonic() + timeout
    while True:
        row = status(lab, name)
        done = row.get("attempts", 0) >= len(rows) and not row.get("outcome_in_progress")
        if done or time.monotonic() > end:
            return row
        time.sleep(0.5)


def attempts(lab: Lab, name: str) -> list[tuple]:
    """(number, outcome, amd_status, amd_cause, detail) of every attempt of the campaign."""
    db = sqlite3.connect(lab.settings.crm_url().removeprefix("sqlite:///"))
    try:
        return db.execute("SELECT number, outcome, amd_status, amd_cause, detail FROM campaign_attempts "
                          "WHERE campaign = ? ORDER BY number", [name]).fetchall()
    finally:
        db.close()


def amd_trial(lab: Lab, folder: Path, name: str, greetings: list[Greeting], *,
              channels: int = 10, port_base: int | None = None) -> list[AmdResult]:
    """Every greeting answers one call of a campaign on the running engine (in the window);
    what AMD said of each."""
    audio = lab.sandbox.root / SCENARIO_DIR / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    port_base = port_base or lab.box.callback_port + 600
    numbers = {}
    rows = []
    try:
        for i, g in enumerate(greetings):
            (audio / f"{g.name}.ulaw").write_bytes(g.audio)
            port = port_base + i
            lab.phones[f"greeting-{i}"] = lab.sipp.customer(
                port, lab.box.rtp_end + 200 + 4 * i, 0.3,
                [Speak(f"/{SCENARIO_DIR}/audio/{g.name}.ulaw", 9.0)])
            number = f"+3312000{i:04d}"
            numbers[number] = g
            rows.append({"number": number, "port": str(port)})
        time.sleep(0.5)                   # the phones are listening
        run_campaign(lab, folder, name, rows, channels=channels,
                     channel="PJSIP/test-caller/sip:{number}@127.0.0.1:{port}",
                     timeout=60 + 15 * len(greetings) / channels)
    finally:
        lab.stop_phones()
    return [AmdResult(numbers[n].name, numbers[n].machine, amd or "", cause or "")
            for n, _, amd, cause, _ in attempts(lab, name)]
