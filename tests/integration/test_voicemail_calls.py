"""Voice messages through the real Asterisk 22: a SIPp caller reaches a queue nobody staffs,
is diverted to a `voicemail: true` destination, speaks after the beep and hangs up; the
engine stores a callback task (channel "voicemail", due in 2 h) with the recording; once an
agent is in, the task is offered, and the agent's one-click call back (control socket, as the
desk sends it) rings the agent's phone first, then the customer's."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from hotline_lab.lab import PROJECT, Lab, write_config
from hotline_lab.sipp import SCENARIO_DIR, CallerHangsUp, Pause, Press, Speak
from ivr.crm import codec
from tests.audio.make_audio import ensure

from .conftest import BASE_PORT, HERE, sounds_of
from .test_sms_calls import control, crm, wait_for

pytestmark = pytest.mark.timeout(300)
AUDIO = PROJECT / "tests/audio/generated"
VM_IN_CHROOT = "var/spool/asterisk/hotline-voicemail"
DESTINATION = """
  leave-message:
    voicemail: true
    max_seconds: 30
    prompt:
      fr: "Laissez un message après le bip, nous vous rappelons dans les deux heures."
      en: "Please leave a message after the tone; we will call you back within two hours."
      ko: "삐 소리 후에 메시지를 남겨 주세요."
"""


@pytest.fixture
def vm_lab(lab: Lab, tmp_path: Path):
    ensure()
    queues = tmp_path / "queues.yaml"
    queues.write_text((HERE / "queues.yaml").read_text().replace(
        "    announce_every_seconds: 3\n",
        "    announce_every_seconds: 3\n    join_when_no_agents: divert\n"
        "    no_agents_destination: leave-message\n", 1).replace("destinations:\n", "destinations:" + DESTINATION, 1))
    spool = lab.sandbox.root / VM_IN_CHROOT
    night = Lab(write_config(tmp_path / "config", base_port=BASE_PORT,
                             dialplan=PROJECT / "dialplans/minimal.yaml", crm=tmp_path / "crm.db",
                             sounds=sounds_of(lab), queues_file=queues,
                             extra={"channels": {"voicemail": {"spool_dir": str(spool)}}}))
    audio = lab.sandbox.root / SCENARIO_DIR / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    (audio / "vm-words.ulaw").write_bytes((AUDIO / "adverse.ulaw").read_bytes() + b"\xff" * 8000)
    yield night
    night.stop_phones()
    night.stop_engine()


def voicemail_tasks(lab: Lab) -> list[dict]:
    async def job(store):
        rows = await store.transact(lambda tx: tx.fetchall(
            "SELECT t.task_id, t.queue, t.sender, t.created_at, t.due_at, t.call_id, t.agent, "
            "a.content_type, a.data FROM tasks t JOIN task_messages m ON m.task_id = t.task_id "
            "JOIN task_attachments a ON a.message_id = m.message_id WHERE t.channel = 'voicemail'", ()))
        keys = ("task_id", "queue", "sender", "created_at", "due_at", "call_id", "agent",
                "content_type", "data")
        return [dict(zip(keys, r)) for r in rows]
    return crm(lab, job)


def test_a_voice_message_becomes_a_callback_task_and_the_agent_calls_back(vm_lab: Lab) -> None:
    lab = vm_lab
    lab.start_engine("--no-agents-ready")
    size = (lab.sandbox.root / SCENARIO_DIR / "audio/vm-words.ulaw").stat().st_size
    caller = lab.call("0611000077", [Pause(1.5), Press("0"), Pause(4.0),
                                     Speak(f"/{SCENARIO_DIR}/audio/vm-words.ulaw", size / 8000),
                                     CallerHangsUp()])
    assert caller.wait(90) == 0
    rec = lab.call_record("0611000077")
    assert rec["disposition"] == "voicemail" and rec["queue"] == "operator", rec
    task = wait_for("the voice-message task", lambda: voicemail_tasks(lab), lab=lab)[0]
    assert task["sender"] == "0611000077" and task["queue"] == "operator"
    assert task["call_id"] == rec["call_id"]
    created, due = codec.parse_ts(task["created_at"]), codec.parse_ts(task["due_at"])
    assert abs((due - created).total_seconds() - 7200) < 1
    audio = bytes(task["data"])
    assert task["content_type"] == "audio/wav" and audio[:4] == b"RIFF" and len(audio) > 8000
    assert list((lab.sandbox.root / VM_IN_CHROOT).glob("*.wav")) == []      # in the CRM now
    # The morning shift: alice logs in, the task is offered to her, she calls back.
    lab.start_phones(only={"alice": 0.5}, talk_seconds=2.0)
    lab.start_customer_phone(answer_after=0.5, talk_seconds=2.0)
    lab.ivr("agent", "login", "alice")
    wait_for("the offer to alice", lambda: voicemail_tasks(lab)[0]["agent"] == "alice", lab=lab)
    assert control(lab, cmd="task", action="accept", task_id=task["task_id"], agent="alice")["ok"]
    assert control(lab, cmd="task", action="call_back", task_id=task["task_id"], agent="alice")["ok"]
    master = lab.sandbox.root / "var/log/asterisk/cdr-csv/Master.csv"
    line = wait_for("the callback's CDR", lambda: [x for x in master.read_text(errors="replace").splitlines()
                                                   if '"hotline-callback"' in x and '"0611000077"' in x
                                                   and '"ANSWERED"' in x], timeout=40, lab=lab)
    assert "PJSIP/alice" in line[-1]          # the agent's leg first, then the customer
