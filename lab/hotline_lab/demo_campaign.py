"""The demo's care-call campaign (issue 15): after the inbound calls, the demo hotline calls
three SIPp customers with an agentless survey campaign — one answers the survey by keys, one
is an answering machine (a recorded espeak-ng greeting: AMD must say MACHINE), one presses
the opt-out key (the number goes on the do-not-call list at once) — and prints what the
engine and the CRM say of it.

The demo's CRM outlives a run and an opted-out number stays on the do-not-call list, so each
run calls numbers and a campaign name of its own (`run_id`)."""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from hotline_lab.greetings import greetings
from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sipp import SCENARIO_DIR, AwaitHangup, Pause, Press, Speak, Step, stop

SURVEY_PLAN = PROJECT / "dialplans/outbound-survey.yaml"
# outbound-survey.yaml's keys: 1 the survey, then CSAT (one key) and NPS (its 3 s timeout ends
# it); 8 the opt-out. A silent answer lets AMD listen its full 5 s (NOTSURE: a person), then
# the menu plays and the customer keys in while it plays.
SURVEY_KEYS = [Pause(7.5), Press("1"), Pause(2), Press("4"), Pause(2), Press("9"), AwaitHangup(40)]
OPT_OUT_KEYS = [Pause(7.5), Press("8"), AwaitHangup(30)]
CSAT, NPS = 4, 9


@dataclass(frozen=True)
class Customer:
    role: str                 # survey | machine | opt-out
    number: str
    port: int                 # its SIPp phone's SIP port (the list's `port` column)
    what: str


@dataclass(frozen=True)
class Attempt:
    number: str
    outcome: str | None
    amd_status: str | None
    detail: str


def customers(run_id: int, port_base: int) -> list[Customer]:
    """The three customers of one run: French mobile numbers ending in the run's id."""
    def number(i: int) -> str:
        return f"+337{run_id % 10**7:07d}{i}"
    return [Customer("survey", number(1), port_base, f"answers the survey: 1, CSAT {CSAT}, NPS {NPS}"),
            Customer("machine", number(2), port_base + 1, "an answering machine's recorded greeting"),
            Customer("opt-out", number(3), port_base + 2, "presses 8: do not call me again")]


def missing_outcomes(people: list[Customer], attempts: list[Attempt], dnc: set[str],
                     survey: dict | None) -> list[str]:
    """What the campaign did not reach of its three outcomes, in words (empty: all reached).
    `survey` is the campaign's row of `ivr surveys --by campaign` (None: no answers)."""
    by_number = {a.number: a for a in attempts}
    missing = []
    for person in people:
        a = by_number.get(person.number)
        if a is None or a.outcome is None:
            missing.append(f"{person.role} ({person.number}): not called, or no outcome yet")
        elif person.role == "machine" and (a.outcome, a.amd_status) != ("machine", "MACHINE"):
            missing.append(f"machine ({person.number}): AMD said {a.amd_status or 'nothing'}, "
                           f"outcome {a.outcome}")
        elif person.role == "opt-out" and ((a.outcome, a.detail) != ("answered", "opted out")
                                           or person.number not in dnc):
            missing.append(f"opt-out ({person.number}): outcome {a.outcome} ({a.detail or 'no detail'}), "
                           f"{'on' if person.number in dnc else 'not on'} the do-not-call list")
        elif person.role == "survey" and a.outcome != "answered":
            missing.append(f"survey ({person.number}): outcome {a.outcome}")
    if survey is None or (survey.get("csat_answers"), survey.get("csat_mean")) != (1, float(CSAT)) \
            or survey.get("nps_answers") != 1:
        missing.append(f"survey answers: expected CSAT {CSAT} and one NPS answer, got {survey}")
    return missing


def campaign_yaml(name: str) -> str:
    return f"""\
name: {name}
purpose: the demo's care survey (agentless), to three SIPp customers in the sandbox
caller_id: "+33100000000"
dialplan: {SURVEY_PLAN}
channel: "PJSIP/test-caller/sip:{{number}}@127.0.0.1:{{port}}"
limits: {{channels: 3, ring_seconds: 15}}
machine: {{action: retry}}
list: {{csv: {name}.csv}}
"""


def start_customers(lab: Lab, people: list[Customer]) -> None:
    """A SIPp phone per customer; the machine streams an espeak-ng voicemail greeting."""
    [greeting] = greetings(1, machine=True)
    audio = lab.sandbox.root / SCENARIO_DIR / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    (audio / "demo-machine.ulaw").write_bytes(greeting.audio)
    steps: dict[str, list[Step]] = {
        "survey": SURVEY_KEYS, "opt-out": OPT_OUT_KEYS,
        "machine": [Speak(f"/{SCENARIO_DIR}/audio/demo-machine.ulaw", 9.0)]}
    for i, person in enumerate(people):
        lab.phones[f"customer-{person.role}"] = lab.sipp.customer(
            person.port, lab.box.rtp_end + 200 + 4 * i, 0.3, steps[person.role])
    time.sleep(0.5)                       # the phones are listening


def run_care_campaign(lab: Lab, console: Console, run_id: int) -> bool:
    """Load and start the campaign on the running engine, wait for its three outcomes, print
    `ivr campaign status`, `ivr surveys` and the do-not-call entry. True if all three came."""
    name = f"demo-care-{run_id % 10**7}"
    people = customers(run_id, lab.box.callback_port + 600)
    folder = lab.settings.path("var") / "demo-campaign"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.csv").write_text("number,name,consent,port\n" + "".join(
        f"{p.number},{p.role},yes,{p.port}\n" for p in people))
    (folder / f"{name}.yaml").write_text(campaign_yaml(name))
    console.print(f"• care-call campaign {name} (agentless, dialplans/outbound-survey.yaml) to "
                  + "; ".join(f"{p.number} {p.what}" for p in people))
    start_customers(lab, people)
    try:
        lab.ivr("campaign", "load", str(folder / f"{name}.yaml"))
        lab.ivr("campaign", "start", name)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            rows = json.loads(lab.ivr("campaign", "status", name, "--format", "json").stdout)["rows"]
            if rows and rows[0].get("attempts", 0) >= len(people) and not rows[0].get("outcome_in_progress"):
                break
            time.sleep(1)
    finally:
        for person in people:
            stop(lab.phones.pop(f"customer-{person.role}"))
    _print_status(console, name, json.loads(
        lab.ivr("campaign", "status", name, "--format", "json").stdout)["rows"])
    # The machine's retry is hours away; stopped, the campaign does not wake up in a later
    # run's engine (its state survives restarts).
    lab.ivr("campaign", "stop", name)
    attempts, dnc = asyncio.run(_crm(lab, name, [p.number for p in people]))
    _print_attempts(console, people, attempts)
    for number, (source, campaign) in dnc.items():
        console.print(f"• do-not-call list: {number} (source: {source}, campaign {campaign})")
    surveys = json.loads(lab.ivr("surveys", "--by", "campaign", "--format", "json").stdout)["rows"]
    survey = next((r for r in surveys if r.get("campaign") == name), None)
    _print_survey(console, survey)
    missing = missing_outcomes(people, attempts, set(dnc), survey)
    for line in missing:
        console.print(f"[red]campaign outcome missing: {line}")
    return not missing


def _print_status(console: Console, name: str, rows: list[dict]) -> None:
    """`ivr campaign status NAME` turned on its side: its twenty-odd columns do not fit a
    terminal's width."""
    table = Table(title=f"ivr campaign status {name}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in (rows[0] if rows else {}).items():
        table.add_row(key, str(value))
    console.print(table)


def _print_attempts(console: Console, people: list[Customer], attempts: list[Attempt]) -> None:
    role = {p.number: p.role for p in people}
    table = Table(title="CRM: the campaign's attempts")
    for col in ("number", "customer", "outcome", "AMD", "detail"):
        table.add_column(col)
    for a in attempts:
        table.add_row(a.number, role.get(a.number, ""), a.outcome or "in progress",
                      a.amd_status or "", a.detail)
    console.print(table)


def _print_survey(console: Console, row: dict | None) -> None:
    """This campaign's row of `ivr surveys --by campaign` (the demo's CRM keeps the earlier
    runs' campaigns too)."""
    if row is None:
        console.print("• ivr surveys --by campaign: no answers for this campaign")
        return
    table = Table(title="ivr surveys --by campaign (this campaign)")
    for key in row:
        table.add_column(key.replace("_", " "), no_wrap=key == "campaign")
    table.add_row(*(str(v) for v in row.values()))
    console.print(table)


async def _crm(lab: Lab, name: str, numbers: list[str]) -> tuple[list[Attempt], dict[str, tuple[str, str]]]:
    """The campaign's attempts and the do-not-call entries of its numbers, from the CRM."""
    from ivr.crm.outbound import CampaignStore
    from ivr.crm.store import open_store
    store = await open_store(lab.settings.crm_url())
    try:
        campaigns = CampaignStore(store)
        attempts = [Attempt(a.number, a.outcome, a.amd_status, a.detail)
                    for a in await campaigns.attempts(name)]
        marks = ",".join("?" * len(numbers))
        rows = await campaigns.backend.fetchall(
            f"SELECT number, source, campaign FROM dnc WHERE number IN ({marks})", numbers)
        return attempts, {r[0]: (r[1], r[2]) for r in rows}
    finally:
        await store.close()
