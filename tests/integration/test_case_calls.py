"""The automatic adverse-event case through real Asterisk: a call flagged by the IVR (the
safety key, or an AE phrase recognised by speech) opens a case pre-filled with the reporter
(the known caller), the call and what the caller said, audited as opened by the IVR."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from hotline_lab.lab import Lab
from hotline_lab.sipp import AwaitHangup, Pause, Press
from tests.integration.conftest import OFFICE_HOURS
from tests.integration.test_speech_calls import OPEN_LINE, after_prompt, say, speech  # noqa: F401 (fixture)

pytestmark = pytest.mark.asterisk


def the_case(lab: Lab, call_id: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        shown = lab.ivr("cases", "show", f"AE-{call_id}", "--format", "json", check=False)
        if shown.returncode == 0:
            return json.loads(shown.stdout)
        if time.monotonic() > deadline:
            raise AssertionError(f"no case AE-{call_id}: {shown.stderr}\n{lab.log_text()[-3000:]}")
        time.sleep(0.3)


def known_caller(lab: Lab, tmp_path: Path, number: str, name: str) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(f"name,type,numbers\n{name},pharmacist,{number}\n", encoding="utf-8")
    lab.ivr("contacts", "import", str(contacts))


def test_safety_key_call_opens_a_case_with_the_reporter_and_the_call(hotline, tmp_path):
    known_caller(hotline, tmp_path, "0611000091", "Pharmacie <b>Centrale</b>")
    hotline.start_engine("--clock", OFFICE_HOURS)
    hotline.start_phones(answer_after=0.5, talk_seconds=1.0)
    call = hotline.call("0611000091", [Pause(1.5), Press("9"), AwaitHangup(90)])
    assert call.wait(120) == 0
    rec = hotline.call_record("0611000091")
    assert rec["adverse_event"] and rec["queue"] == "pharmacovigilance"
    case = the_case(hotline, rec["call_id"])
    assert case["kind"] == "adverse_event" and case["status"] == "open" and case["opened_by"] == "ivr"
    assert case["calls"] == [rec["call_id"]]
    assert case["fields"]["reporter_contact"] == "0611000091"
    assert case["fields"]["reporter"] == "Pharmacie <b>Centrale</b> (pharmacist)"     # kept as text
    assert case["contact_id"] is not None
    assert case["missing_criteria"] == ["patient", "product", "reaction"] and case["day0"] is None
    assert {(a["field"], a["new"], a["by"]) for a in case["audit"]} >= {("status", "open", "ivr")}
    listed = json.loads(hotline.ivr("cases", "--kind", "adverse_event", "--format", "json").stdout)
    assert [c["case_id"] for c in listed] == [f"AE-{rec['call_id']}"]


def test_adverse_event_phrase_case_holds_the_transcript(speech, tmp_path):  # noqa: F811
    known_caller(speech, tmp_path, "0611000092", "Dr Kim")
    call = speech.call("0611000092", [OPEN_LINE, after_prompt(speech), say("tel-adverse"), AwaitHangup(60)])
    assert call.wait(120) == 0
    rec = speech.call_record("0611000092")
    assert rec["adverse_event"] and rec["speech_text"]
    case = the_case(speech, rec["call_id"])
    assert case["fields"]["transcript"] == rec["speech_text"]
    assert case["fields"]["reporter"] == "Dr Kim (pharmacist)" and case["calls"] == [rec["call_id"]]
