"""SMS through the real Asterisk 22: SIPp sends a SIP MESSAGE to the sandbox, [hotline-sms]
spools it in AstDB and raises a UserEvent, the engine stores it as an SMS task in the CRM and
offers it; the agent's reply (control socket, as the desk sends it) goes out by AMI
MessageSend and reaches a SIPp UAS. Messages sent while the engine is down wait in AstDB."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import pytest

from hotline_lab.lab import PROJECT, Lab
from hotline_lab.sms import SmsPhone
from ivr.app.control import ControlError, request
from ivr.channels.sms_rules import signature
from ivr.channels.task_store import get_task, thread_messages
from ivr.crm.store import open_store

from .conftest import BASE_PORT, lab_config, sounds_of

pytestmark = pytest.mark.timeout(240)
RECEIVE_PORT, SEND_PORT, WEBHOOK_PORT = BASE_PORT + 95, BASE_PORT + 96, BASE_PORT + 97
SECRET = "integration-webhook-secret"


@pytest.fixture
def sms_lab(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IVR_SMS_WEBHOOK_SECRET", SECRET)       # the engine's environment
    sms = {"queue": "operator", "pv_queue": "pharmacovigilance",
           "webhook": {"port": WEBHOOK_PORT},
           "reply_uri": f"pjsip:test-caller/sip:{{number}}@127.0.0.1:{RECEIVE_PORT}",
           "from_uri": "sip:+33100000000@127.0.0.1",
           "safety_phrases": {"fr": ["effet indésirable"], "en": ["side effect"]}}
    other = Lab(lab_config(tmp_path, PROJECT / "dialplans/minimal.yaml", sounds_of(lab),
                           extra={"channels": {"sms": sms}}))
    phone = SmsPhone(other.sipp, RECEIVE_PORT, SEND_PORT)
    other.sandbox.cli("database deltree hotline_sms", check=False)
    yield other, phone
    phone.stop()
    other.stop_engine()


def crm(lab: Lab, job):
    async def run():
        store = await open_store(lab.settings.crm_url())
        try:
            return await job(store)
        finally:
            await store.close()
    return asyncio.run(run())


def sms_tasks(lab: Lab) -> list[dict]:
    async def job(store):
        rows = await store.transact(lambda tx: tx.fetchall(
            "SELECT task_id FROM tasks WHERE channel = 'sms' ORDER BY created_at, task_id", ()))
        return [await get_task(store, r[0]) for r in rows]
    return crm(lab, job)


def wait_for(what: str, probe, timeout: float = 20, lab: Lab | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} not within {timeout} s" +
                         (f"; engine log:\n{lab.log_text()[-3000:]}" if lab else ""))


def control(lab: Lab, **payload) -> dict:
    return request(lab.settings.path(lab.settings.control.socket), payload)


def test_sms_in_becomes_a_task_and_the_agent_replies_by_sms(sms_lab) -> None:
    lab, phone = sms_lab
    lab.start_engine("--grace", "2")
    phone.start_receiver()
    phone.send("+33612345678", "Bonjour, une question (dosage, enfants)\nmerci".encode())
    task = wait_for("the SMS task", lambda: [t for t in sms_tasks(lab) if t["agent"]], lab=lab)[0]
    assert task["sender"] == "+33612345678" and task["queue"] == "operator"
    assert task["subject"] == "Bonjour, une question (dosage, enfants)"
    msgs = crm(lab, lambda store: thread_messages(store, task["thread_id"]))
    assert msgs[0]["body_text"] == "Bonjour, une question (dosage, enfants)\nmerci"
    agent = task["agent"]
    assert control(lab, cmd="task", action="accept", task_id=task["task_id"], agent=agent)["ok"]
    answer = control(lab, cmd="task", action="reply", task_id=task["task_id"], agent=agent,
                     text="Bonjour, nous vous rappelons aujourd'hui.")
    assert answer["ok"], answer
    received = phone.wait_received("nous vous rappelons aujourd'hui")
    assert "MESSAGE sip:+33612345678@127.0.0.1" in received
    msgs = crm(lab, lambda store: thread_messages(store, task["thread_id"]))
    assert [m["direction"] for m in msgs] == ["in", "out"] and msgs[1]["agent"] == agent
    long_reply = "Posologie chez l'enfant : " + "une dose matin et soir, " * 30 + "fin."
    assert control(lab, cmd="task", action="reply", task_id=task["task_id"], agent=agent,
                   text=long_reply)["ok"]
    phone.wait_received("fin. (2/2)")                   # a long reply goes out in labelled parts
    assert "(1/2)" in phone.wait_received("(1/2)")
    with pytest.raises(ControlError, match="at most 1600"):
        control(lab, cmd="task", action="reply", task_id=task["task_id"], agent=agent, text="x" * 1700)
    assert "hotline_sms" not in lab.sandbox.cli("database show hotline_sms")   # spool emptied


def test_sms_sent_while_the_engine_is_down_waits_in_astdb_and_is_stored_once(sms_lab) -> None:
    lab, phone = sms_lab
    call_id = phone.send("+33698765432", b"caf\xe9 \xff: effet ind\xc3\xa9sirable, urticaire")
    assert "hotline_sms" in lab.sandbox.cli("database show hotline_sms")      # spooled
    lab.start_engine("--grace", "2")
    task = wait_for("the spooled SMS task", lambda: sms_tasks(lab), lab=lab)[0]
    msgs = crm(lab, lambda store: thread_messages(store, task["thread_id"]))
    assert task["queue"] == "pharmacovigilance" and task["case_id"], msgs
    assert msgs[0]["body_text"] == "caf\ufffd \ufffd: effet indésirable, urticaire"
    assert "not valid UTF-8" in (msgs[0]["notes"] or "")
    wait_for("the spool emptied", lambda: "hotline_sms" not in lab.sandbox.cli("database show hotline_sms"))
    # The same MESSAGE again (a trunk that resends after a lost 202): stored once.
    phone.send("+33698765432", b"caf\xe9 \xff: effet ind\xc3\xa9sirable, urticaire", call_id=call_id)
    wait_for("the resent SMS read", lambda: "hotline_sms" not in lab.sandbox.cli("database show hotline_sms"))
    assert len(crm(lab, lambda store: thread_messages(store, task["thread_id"]))) == 1
    assert len(sms_tasks(lab)) == 1


def test_a_gateway_posts_to_the_engines_webhook(sms_lab) -> None:
    lab, _ = sms_lab
    lab.start_engine("--grace", "2")
    body = json.dumps({"from": "+33655554444", "to": "+33100000000", "text": "Bonjour (passerelle)",
                       "id": "gw-42"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{WEBHOOK_PORT}/sms/inbound", data=body, method="POST",
                                 headers={"X-Signature": signature(SECRET.encode(), body)})
    answer = wait_for("the webhook's answer", lambda: _post(req), lab=lab)
    assert answer["ok"] and not answer["duplicate"]
    task = [t for t in sms_tasks(lab) if t["task_id"] == answer["task_id"]][0]   # committed before 200
    assert task["sender"] == "+33655554444" and task["subject"] == "Bonjour (passerelle)"


def _post(req: urllib.request.Request) -> dict | None:
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())
    except OSError:          # not listening yet
        return None
