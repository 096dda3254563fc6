"""The SMS channel through real parts: the CRM on SQLite and PostgreSQL, the ACD
(ContactCenter) receiving the tasks, and the gateways' webhook over real HTTP. Asterisk's side
(SIP MESSAGE in, MessageSend out) is in tests/integration/test_sms_calls.py."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from acd import actions as A
from acd import events as E
from acd.center import ContactCenter
from acd.config import AcdConfig
from ivr.channels.settings import SmsSettings
from ivr.channels.sms import SmsChannel, acd_event
from ivr.channels.sms_rules import InboundSms, signature
from ivr.channels.sms_webhook import SmsWebhook
from ivr.channels.task_store import get_task, set_task, thread_messages
from ivr.crm.store import open_store

pytestmark = pytest.mark.timeout(120)
SECRET = "webhook-test-secret"


class Rig:
    """An SmsChannel feeding a ContactCenter with one general and one PV agent logged in."""

    def __init__(self, store: Any, **over: Any) -> None:
        self.settings = SmsSettings(**{"safety_phrases": {"en": ["side effect"], "de": ["Nebenwirkung"]},
                                       **over})
        self.store = store
        self.acd = ContactCenter(AcdConfig.from_dict({
            "agents": {"gina": {"skills": {"general": 1}}, "paul": {"skills": {"pv": 1}}},
            "queues": {"general": {"requirement": "general"},
                       "pharmacovigilance": {"requirement": "pv", "priority": 5}}}))
        for agent in ("gina", "paul"):
            self.acd.handle(E.AgentLoggedIn(agent), 0.0)
        self.offers: list[A.OfferTask] = []
        self.channel = SmsChannel(self.settings, store, lambda: None, self.submit, asyncio.ensure_future)

    def submit(self, ing) -> None:
        ev = acd_event(ing)
        if ev is not None:
            self.offers += [a for a in self.acd.handle(ev, 1.0) if isinstance(a, A.OfferTask)]


@pytest.fixture
async def rig(crm_url: str):
    store = await open_store(crm_url, country_code="49")
    try:
        yield Rig(store)
    finally:
        await store.close()


def sms(text: str, mid: str, sender: str = "+49301234567") -> InboundSms:
    return InboundSms(mid, sender, "+4930999", text)


async def test_sms_becomes_a_task_of_the_contact_with_that_number(rig: Rig) -> None:
    contact = await rig.store.save_contact("Anna Berg", ["030 1234567"], "doctor")
    ing = await rig.channel.accept(sms("Is Ibuprofen OK with coffee?", "gw:1"))
    assert ing.new_task and not ing.duplicate
    assert [(o.agent, o.channel, o.queue) for o in rig.offers] == [("gina", "sms", "general")]
    task = await get_task(rig.store, ing.task_id)
    assert task is not None and task["channel"] == "sms" and task["contact_id"] == contact
    assert task["sender"] == "+49301234567" and task["subject"] == "Is Ibuprofen OK with coffee?"
    again = await rig.channel.accept(sms("Is Ibuprofen OK with coffee?", "gw:1"))
    assert again.duplicate and again.task_id == ing.task_id and len(rig.offers) == 1


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_a_conversation_stays_one_task_until_it_is_closed(rig: Rig) -> None:
    first = await rig.channel.accept(sms("Hello", "gw:1"))
    for n in range(2, 12):                       # a flood from one number: one task
        nxt = await rig.channel.accept(sms(f"again {n}", f"gw:{n}"))
        assert nxt.task_id == first.task_id and not nxt.new_task
    assert len(rig.offers) == 1
    assert len(await thread_messages(rig.store, first.thread_id)) == 11
    other = await rig.channel.accept(sms("Hi", "gw:x", sender="+4940111"))
    assert other.new_task and other.task_id != first.task_id
    await set_task(rig.store, first.task_id, status="closed", outcome="answered")
    later = await rig.channel.accept(sms("One more question", "gw:99"))
    assert later.new_task and later.task_id != first.task_id


async def test_safety_phrase_goes_to_pv_with_an_ae_case(rig: Rig) -> None:
    ing = await rig.channel.accept(sms("Since the new tablets I have a NEBENWIRKUNG: rash", "gw:ae"))
    assert ing.queue == "pharmacovigilance" and ing.case_id
    assert [(o.agent, o.queue) for o in rig.offers] == [("paul", "pharmacovigilance")]
    rows = await rig.store.transact(lambda tx: tx.fetchall(
        "SELECT kind, status FROM cases WHERE case_id = ?", (ing.case_id,)))
    assert [tuple(r) for r in rows] == [("adverse_event", "open")]


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_safety_phrase_in_a_conversation_moves_it_to_pv(rig: Rig) -> None:
    first = await rig.channel.accept(sms("Question about dosage", "gw:1"))
    assert rig.offers[-1].queue == "general"
    moved = await rig.channel.accept(sms("and now a side effect", "gw:2"))
    assert moved.task_id == first.task_id and moved.queue == "pharmacovigilance" and moved.case_id
    task = await get_task(rig.store, first.task_id)
    assert task is not None and task["queue"] == "pharmacovigilance" and task["case_id"] == moved.case_id


# ---- the webhook, over real HTTP --------------------------------------------------------------
def post(port: int, body: bytes, sig: str | None, path: str = "/sms/inbound") -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          **({"X-Signature": sig} if sig else {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
async def webhook(rig: Rig, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IVR_SMS_WEBHOOK_SECRET", SECRET)
    rig.settings = rig.channel.settings = SmsSettings(
        **{**rig.settings.model_dump(), "webhook": {"port": 0, "max_request_bytes": 4000,
                                                    "max_per_sender": 3}})
    hook = SmsWebhook(rig.settings.webhook, rig.channel)
    task = asyncio.ensure_future(hook.serve())
    for _ in range(200):
        if hook.port:
            break
        await asyncio.sleep(0.02)
    assert hook.port, "the webhook did not start"
    yield hook
    await hook.stop()
    await asyncio.wait_for(task, 10)


async def call(port: int, body: bytes, sig: str | None) -> tuple[int, dict]:
    return await asyncio.to_thread(post, port, body, sig)


async def test_webhook_stores_then_answers_200_and_is_idempotent(rig: Rig, webhook: SmsWebhook) -> None:
    body = json.dumps({"from": "+49301234567", "to": "+4930999", "text": "Call me back, please",
                       "id": "gw-abc"}).encode()
    status, answer = await call(webhook.port, body, signature(SECRET.encode(), body))
    assert status == 200 and answer["ok"] and not answer["duplicate"]
    task = await get_task(rig.store, answer["task_id"])     # committed before the 200
    assert task is not None and task["channel"] == "sms" and task["sender"] == "+49301234567"
    status, again = await call(webhook.port, body, signature(SECRET.encode(), body))
    assert status == 200 and again["duplicate"] and again["task_id"] == answer["task_id"]
    assert len(rig.offers) == 1


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_webhook_refuses_what_it_cannot_trust_or_read(rig: Rig, webhook: SmsWebhook) -> None:
    good = json.dumps({"from": "+4930123", "text": "x", "id": "1"}).encode()
    status, answer = await call(webhook.port, good, None)
    assert status == 401 and "X-Signature" in answer["error"]
    status, _ = await call(webhook.port, good, signature(b"wrong", good))
    assert status == 401
    bad = b"{not json"
    status, answer = await call(webhook.port, bad, signature(SECRET.encode(), bad))
    assert status == 400 and "not JSON" in answer["error"]
    no_id = json.dumps({"from": "+4930123", "text": "x"}).encode()
    status, answer = await call(webhook.port, no_id, signature(SECRET.encode(), no_id))
    assert status == 400 and "id" in answer["error"]
    huge = json.dumps({"from": "+4930123", "text": "x" * 5000, "id": "2"}).encode()
    status, answer = await call(webhook.port, huge, signature(SECRET.encode(), huge))
    assert status == 413
    assert rig.offers == []


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_webhook_invalid_utf8_becomes_a_task_with_a_note(rig: Rig, webhook: SmsWebhook) -> None:
    body = b'{"from": "+4930123", "id": "u1", "text": "caf\xe9 \xff side effect"}'
    status, answer = await call(webhook.port, body, signature(SECRET.encode(), body))
    assert status == 200
    task = await get_task(rig.store, answer["task_id"])
    assert task is not None and task["queue"] == "pharmacovigilance"
    msgs = await thread_messages(rig.store, task["thread_id"])
    assert msgs[0]["body_text"] == "caf\ufffd \ufffd side effect"
    assert "not valid UTF-8" in (msgs[0]["notes"] or "")


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_webhook_throttles_a_flood_from_one_number(rig: Rig, webhook: SmsWebhook) -> None:
    statuses = []
    for n in range(5):
        body = json.dumps({"from": "+4930111", "text": f"spam {n}", "id": f"f{n}"}).encode()
        statuses.append((await call(webhook.port, body, signature(SECRET.encode(), body)))[0])
    assert statuses == [200, 200, 200, 429, 429]
    other = json.dumps({"from": "+4930222", "text": "hello", "id": "o1"}).encode()
    assert (await call(webhook.port, other, signature(SECRET.encode(), other)))[0] == 200
    thread = await thread_messages(rig.store, (await get_task(rig.store, rig.offers[0].task_id))["thread_id"])
    assert len(thread) == 3                  # the refused ones are the gateway's to send again
