"""Preview dialing on the desk beside the real engine and Asterisk (issue 15): alice sees the
next record of her preview campaign (number, reason, history), skips it with a reason, sees
the next one and clicks Dial: her SIPp phone rings first, then the SIPp customer's; the CRM
holds both attempts (skipped; answered by alice)."""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from hotline_lab.lab import PROJECT, Lab, write_config
from hotline_lab.outbound import IN_WINDOW
from hotline_lab.sipp import AwaitHangup

from .conftest import PASSWORDS, screenshot, sign_in
from .desk_server import BASE_PORT, DeskServer, desk_port, serve_desk

pytestmark = pytest.mark.asterisk
SHOTS = PROJECT / "var" / "screenshots"


@pytest.fixture(scope="module")
def hotline(tmp_path_factory) -> Iterator[tuple[Lab, DeskServer, Path]]:
    work = tmp_path_factory.mktemp("desk-preview")
    config = write_config(work / "config", base_port=BASE_PORT, dialplan=PROJECT / "dialplans/minimal.yaml",
                          crm=work / "crm.db", sounds=work / "sounds",
                          queues_file=PROJECT / "tests/integration/queues.yaml")
    lab = Lab(config)
    lab.ivr("sounds", "build", str(PROJECT / "dialplans/minimal.yaml"))
    lab.up(log=lambda *_: None)
    desk = None
    try:
        lab.start_engine("--grace", "2", "--clock", IN_WINDOW)
        desk = serve_desk(config, desk_port(), work / "desk.log")
        desk.add_user("alice", "agent", PASSWORDS["alice"])
        yield lab, desk, work
    finally:
        if desk:
            desk.stop()
        lab.stop_phones()
        lab.stop_engine()
        lab.down()


def preview_campaign(lab: Lab, folder: Path) -> Path:
    (folder / "preview.csv").write_text("number,name,product\n+33123456781,Ann Martin,Demo 5 mg\n"
                                        "+33123456782,<b>Bob</b> Durand,Demo 10 mg\n")
    file = folder / "preview.yaml"
    file.write_text(f"""\
name: sandbox-preview
purpose: treatment follow-up call
caller_id: "+33100000000"
dialplan: {PROJECT / "dialplans" / "outbound-care.yaml"}
channel: "PJSIP/test-caller/sip:{{number}}@127.0.0.1:{lab.box.callback_port}"
mode: preview
agents: [alice]
requires_consent: false
limits: {{ring_seconds: 15}}
list: {{csv: preview.csv}}
""")
    return file


def attempts(lab: Lab) -> list[tuple]:
    db = sqlite3.connect(lab.settings.crm_url().removeprefix("sqlite:///"))
    try:
        return db.execute("SELECT number, outcome, agent, detail FROM campaign_attempts "
                          "WHERE campaign = 'sandbox-preview' ORDER BY number").fetchall()
    finally:
        db.close()


def test_the_agent_previews_skips_and_dials(hotline, page: Page):
    lab, desk, work = hotline
    for name in ("bob", "carol", "dave"):
        lab.ivr("agent", "logout", name)
    lab.ivr("campaign", "load", str(preview_campaign(lab, work)))
    lab.ivr("campaign", "start", "sandbox-preview")
    lab.start_phones(only={"alice": 1.0}, talk_seconds=3.0)
    lab.phones["customer"] = lab.sipp.customer(lab.box.callback_port, lab.box.rtp_end + 80, 0.5,
                                               [AwaitHangup(60)])
    sign_in(page, desk, "alice")
    expect(page).to_have_url(desk.url + "/agent/alice")
    page.goto(desk.url + "/agent/alice/preview")
    expect(page.locator("#preview-number")).to_have_text("+33123456781")
    expect(page.locator("#preview-reason")).to_contain_text("treatment follow-up call")
    SHOTS.mkdir(parents=True, exist_ok=True)
    screenshot(page, SHOTS / "desk-preview.png")
    page.select_option("#skip-reason", "not_today")
    page.click("#preview-skip")
    expect(page.locator("#preview-notice")).to_be_visible()
    expect(page.locator("#preview-number")).to_have_text("+33123456782")
    expect(page.locator("#preview-name")).to_have_text("<b>Bob</b> Durand")     # text, not markup
    page.click("#preview-dial")
    expect(page.locator("#preview-notice")).to_be_visible()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        done = attempts(lab)
        if len(done) == 2 and all(outcome for _, outcome, _, _ in done):
            break
        time.sleep(0.5)
    assert attempts(lab) == [("+33123456781", "skipped", None, "not_today"),
                             ("+33123456782", "answered", "alice", "agent alice")], lab.log_text()[-3000:]
    page.goto(desk.url + "/agent/alice/preview")
    expect(page.locator("#preview-none")).to_be_visible()        # both done for today


def open_ae_case(lab: Lab, fields: dict) -> str:
    import asyncio

    from ivr.crm.store import open_store

    async def go() -> str:
        store = await open_store(lab.settings.crm_url())
        try:
            return (await store.open_case("adverse_event", fields, "ivr"))["case_id"]
        finally:
            await store.close()
    # Playwright's sync API keeps an event loop running in this thread: the CRM's in another
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def test_an_incomplete_adverse_event_case_is_followed_up_and_completed(hotline, page: Page):
    lab, desk, work = hotline
    case_id = open_ae_case(lab, {"reporter": "Dr Claire Petit", "reporter_contact": "+33 1 23 45 67 99",
                                 "reaction": "rash on both arms"})
    (work / "ae.yaml").write_text(f"""\
name: ae-followup
purpose: adverse-event follow-up
caller_id: "+33100000000"
dialplan: {PROJECT / "dialplans" / "outbound-care.yaml"}
channel: "PJSIP/test-caller/sip:{{number}}@127.0.0.1:{lab.box.callback_port}"
mode: preview
agents: [alice]
requires_consent: false
list: {{segment: ae-followup}}
""")
    lab.ivr("campaign", "load", str(work / "ae.yaml"))
    lab.ivr("campaign", "start", "ae-followup")
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/agent/alice/preview")
    # the follow-up comes first, to the reporter, with what the case still lacks
    expect(page.locator("#preview-number")).to_have_text("+33123456799")
    expect(page.locator("#preview-name")).to_have_text("Dr Claire Petit")
    expect(page.locator("#preview-missing")).to_contain_text("patient, product")
    page.fill("#case-patient", "woman, 54")
    page.fill("#case-product", "Demo 10 mg")
    page.fill("#case-note", "Reporter reached; rash resolved after stopping.")
    page.click("#case-save")
    expect(page.locator("#preview-notice")).to_be_visible()
    screenshot(page, SHOTS / "desk-ae-followup.png")
    shown = json.loads(lab.ivr("cases", "show", case_id, "--format", "json").stdout)
    case = shown[0] if isinstance(shown, list) else shown
    assert case["fields"]["patient"] == "woman, 54" and case["fields"]["product"] == "Demo 10 mg"
    assert case["missing_criteria"] == [] and case["day0"]           # now a valid report
    assert "[follow-up call" in case["fields"]["narrative"] and "alice" in case["fields"]["narrative"]
    page.select_option("#skip-reason", "already_done")
    page.click("#preview-skip")
