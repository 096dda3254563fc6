"""Spoken survey answers through real Asterisk (issue 15): a SIPp caller says 매우 만족 ("very
satisfied") to a CSAT question and 넷 ("four") to an NPS question, streamed as µ-law RTP to
the engine's vosk model (the speech tests' path); the call's path holds both scores, heard."""
from __future__ import annotations

from pathlib import Path

import pytest

from hotline_lab.lab import Lab
from hotline_lab.sipp import AwaitHangup, Pause
from tests.integration.test_speech_calls import OPEN_LINE, say, seconds, speech_lab

pytestmark = pytest.mark.asterisk

PLAN = """\
name: spoken-survey
languages: [ko]
default_language: ko
start: q-csat
policy:
  human_route: operator
  safety_route: safety
  safety_phrases: {ko: [이상 반응]}
nodes:
  q-csat:
    type: collect
    survey: csat
    speech: true
    variable: csat
    prompt: {ko: "서비스에 만족하십니까? 일에서 오까지 말씀해 주세요."}
    timeout: 6
    next: q-nps
    on_invalid: bye
  q-nps:
    type: collect
    survey: nps
    speech: true
    variable: nps
    prompt: {ko: "영에서 십까지, 추천하시겠습니까?"}
    timeout: 6
    next: bye
    on_invalid: bye
  bye: {type: hangup, prompt: {ko: "감사합니다."}}
  operator: {type: route, queue: operator, intent: operator}
  safety: {type: route, queue: pharmacovigilance, intent: adverse-event, priority: 100}
"""


@pytest.fixture
def spoken(lab: Lab, tmp_path: Path):
    plan = tmp_path / "spoken-survey.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    lab.ivr("sounds", "build", str(plan))
    lab.sandbox.sync_sounds()
    hub = speech_lab(lab, plan, tmp_path)
    hub.start_engine()
    yield hub
    hub.stop_engine()


def test_scores_said_in_korean_are_the_answers(spoken: Lab):
    call = spoken.call("0611000160", [
        OPEN_LINE, Pause(seconds(spoken, "q-csat") + 0.8), say("tel-very-satisfied"),
        Pause(1.0 + seconds(spoken, "q-nps") + 0.8), say("tel-four"), AwaitHangup(60)])
    assert call.wait(120) == 0
    rec = spoken.call_record("0611000160")
    answers = [(s["node"], s["value"], s.get("via")) for s in rec["path"] if s.get("input") == "digits"]
    assert answers == [("q-csat", "5", "speech"), ("q-nps", "4", "speech")], rec["path"]
    assert rec["disposition"] == "self_service"
    assert "만족" not in spoken.log_text()          # what callers say never goes to the logs
