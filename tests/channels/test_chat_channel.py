"""The web chat and form through the real parts: the public page on a real uvicorn port,
HTTP from outside (requests, in threads), the engine's AcdDriver and TaskHub, the CRM on
SQLite and PostgreSQL. The visitor's stream is read as server-sent events."""
from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from typing import Any

import pytest
import requests

from acd import events as E
from acd.config import AcdConfig
from ivr.app.acd_driver import AcdDriver
from ivr.app.bus import EventBus
from ivr.app.feed import LiveFeed, Outbox
from ivr.app.tasks import TaskHub, start_chat
from ivr.channels.settings import ChatSettings
from ivr.channels.task_store import get_task, thread_messages
from ivr.config import MqttSettings
from ivr.crm.store import open_store

pytestmark = pytest.mark.timeout(120)
CONFIG = AcdConfig.from_dict({"agents": {"gina": {}}, "queues": {"general": {}, "pharmacovigilance": {},
                                                                  "orders": {}}})
PORT = int(os.environ.get("IVR_TEST_BASE_PORT", "15000")) + 700


class Visitor:
    """A browser's view of the page: its cookie jar, the page's CSRF token, its event stream."""

    def __init__(self, url: str) -> None:
        self.url, self.http = url, requests.Session()
        page = self.http.get(url + "/")
        assert page.status_code == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert "HttpOnly" in page.headers["set-cookie"]
        self.csrf = re.search(r'data-csrf="([0-9a-f]+)"', page.text).group(1)
        self.events: list[tuple[str, dict[str, Any]]] = []

    def post(self, path: str, **fields: str) -> requests.Response:
        return self.http.post(self.url + path, data={"csrf_token": self.csrf, **fields})

    def listen(self) -> None:
        def read() -> None:
            with self.http.get(self.url + "/chat/events", stream=True, timeout=60) as answer:
                kind = ""
                try:
                    for line in answer.iter_lines(decode_unicode=True):
                        if line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: "):
                            self.events.append((kind, json.loads(line[6:])))
                except requests.RequestException:
                    pass             # the server stopped at the end of the test
        threading.Thread(target=read, daemon=True).start()

    def saw(self, kind: str, **match: Any) -> bool:
        return any(k == kind and all(e.get(f) == v for f, v in match.items()) for k, e in self.events)


async def until(cond, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
async def center(crm_url: str):
    store = await open_store(crm_url)
    tasks: set[asyncio.Task] = set()

    def spawn(coro):
        t = asyncio.ensure_future(coro)
        tasks.add(t)
        return t
    feed = LiveFeed()
    acd = AcdDriver(CONFIG, start_callback=lambda a: None)
    acd.handle(E.AgentLoggedIn("gina"))
    hub = TaskHub(acd, store, Outbox(EventBus(MqttSettings()), feed), spawn)
    settings = ChatSettings(port=PORT, display_names={"gina": "Gina"}, answer_within_s=30,
                            leave_grace_s=1.0, per_session_per_minute=5)
    channel = start_chat(settings, hub, spawn)
    url = f"http://127.0.0.1:{PORT}"
    for _ in range(100):
        try:
            await asyncio.to_thread(requests.get, url + "/static/chat.css", timeout=1)
            break
        except requests.ConnectionError:
            await asyncio.sleep(0.05)
    try:
        yield hub, channel, feed, store, url
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()


@pytest.mark.parametrize("crm_url", ["sqlite", "postgresql"], indirect=True)
async def test_chat_both_ways_limits_and_privacy(center) -> None:
    hub, channel, feed, store, url = center
    anna = await asyncio.to_thread(Visitor, url)
    anna.listen()
    refused = await asyncio.to_thread(anna.http.post, url + "/chat/start",
                                      data={"name": "Anna", "text": "hello"})     # no CSRF token
    assert refused.status_code == 403 and refused.json()["reason"] == "csrf"
    first = await asyncio.to_thread(anna.post, "/chat/start", name="Anna", email="anna@clinic.example",
                                    text="How do I store <b>Dolorex</b>?")
    assert first.json() == {"ok": True}
    await until(lambda: any(p.get("state") == "offered" for p in feed.retained().values()))
    (task_id,) = [p["task_id"] for p in feed.retained().values() if p.get("state") == "offered"]
    row = await get_task(store, task_id)
    assert row["channel"] == "chat" and row["sender"] == "anna@clinic.example" and row["queue"] == "general"
    await hub.command({"action": "accept", "task_id": task_id, "agent": "gina"})
    await until(lambda: anna.saw("state", state="joined", name="Gina"))
    assert not any("gina" in json.dumps(e) for _, e in anna.events)     # the display name only
    answer = await hub.command({"action": "reply", "task_id": task_id, "agent": "gina",
                                "text": "In a dry place below 25 °C."})
    assert answer["ok"], answer
    await until(lambda: anna.saw("line", **{"from": "agent", "text": "In a dry place below 25 °C."}))
    # a 1 MB message is refused with its reason; the chat stays open
    huge = await asyncio.to_thread(anna.post, "/chat/send", text="x" * 1_000_000)
    assert huge.status_code == 413 and "too long" in huge.json()["message"]
    ok = await asyncio.to_thread(anna.post, "/chat/send", text="Thanks!")
    assert ok.json() == {"ok": True}
    assert (await get_task(store, task_id))["case_id"] is None
    # per session: 5 a minute (settings): the 6th in the minute is throttled, with its reason
    answers = [await asyncio.to_thread(anna.post, "/chat/send", text=f"line {i}") for i in range(5)]
    assert [a.status_code for a in answers].count(429) >= 1
    assert "too quickly" in [a for a in answers if a.status_code == 429][0].json()["message"]
    texts = [m["body_text"] for m in await thread_messages(store, task_id)]
    assert texts[:4] == ["How do I store <b>Dolorex</b>?", "In a dry place below 25 °C.", "Thanks!", "line 0"]
    # another visitor: its own session, none of Anna's lines, cannot post into her chat
    bob = await asyncio.to_thread(Visitor, url)
    bob.listen()
    await asyncio.sleep(0.3)
    assert bob.events == []
    stray = await asyncio.to_thread(bob.post, "/chat/send", text="let me in")
    assert stray.status_code == 409
    forged = await asyncio.to_thread(requests.get, url + "/chat/events",
                                     cookies={"ivr_chat": "guessed-token"}, timeout=5)
    assert forged.status_code == 404
    # transfer to another queue: the visitor waits again; the ACD offers it anew
    answer = await hub.command({"action": "transfer", "task_id": task_id, "agent": "gina", "queue": "orders"})
    assert answer["ok"], answer
    await until(lambda: anna.events[-1] == ("state", {"kind": "state", "state": "waiting"}))
    assert (await get_task(store, task_id))["queue"] == "orders"
    await until(lambda: feed.retained().get(f"tasks/gina/{task_id}", {}).get("state") == "offered")
    assert (await hub.command({"action": "accept", "task_id": task_id, "agent": "gina"}))["ok"]
    # the agent closes: the visitor is told; the CRM has the outcome
    await hub.command({"action": "close", "task_id": task_id, "agent": "gina", "outcome": "answered"})
    await until(lambda: anna.saw("state", state="closed"))
    assert (await get_task(store, task_id))["outcome"] == "answered"


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_form_safety_fallback_and_leaving(center) -> None:
    hub, channel, feed, store, url = center
    visitor = await asyncio.to_thread(Visitor, url)
    bad = await asyncio.to_thread(visitor.post, "/form", name="", email="nope", topic="x", message="")
    assert bad.status_code == 422 and 'id="problem-email"' in bad.text and 'id="problem-topic"' in bad.text
    sent = await asyncio.to_thread(visitor.post, "/form", name="Carl <script>", email="carl@example.org",
                                   phone="", topic="side effect",
                                   message="I had an allergic reaction after Dolorex")
    assert sent.status_code == 200 and "<script>" not in sent.text
    reference = re.search(r'id="form-ref">(WF-[0-9A-F-]+)<', sent.text).group(1)
    row = await get_task(store, reference)
    assert (row["channel"], row["queue"], row["priority"]) == ("email", "pharmacovigilance", 10)
    assert row["case_id"] and row["sender"] == "carl@example.org"
    # a chat nobody answers in time: the visitor leaves an e-mail address → an e-mail task
    dora = await asyncio.to_thread(Visitor, url)
    dora.listen()
    assert (await asyncio.to_thread(dora.post, "/chat/start", name="Dora", text="anyone?")).json()["ok"]
    chat = next(c for c in channel.sessions.values() if c.visitor and c.visitor.name == "Dora")
    await channel.tick(chat.waiting_since + 31)
    await until(lambda: dora.saw("state", state="unanswered", hours=8))
    assert (await asyncio.to_thread(dora.post, "/chat/email", email="dora@example.org")).json()["ok"]
    await until(lambda: dora.saw("state", state="emailed"))
    row = await get_task(store, chat.task_id)
    assert (row["channel"], row["sender"], row["status"]) == ("email", "dora@example.org", "open")
    # a visitor who closes the page: the chat nobody took closes itself with an outcome
    eve = await asyncio.to_thread(Visitor, url)
    assert (await asyncio.to_thread(eve.post, "/chat/start", name="Eve", text="hello?")).json()["ok"]
    chat = next(c for c in channel.sessions.values() if c.visitor and c.visitor.name == "Eve")
    await channel.tick(channel.clock() + 0.5)          # a stream may connect after the first line
    assert (await get_task(store, chat.task_id))["status"] == "open"
    await channel.tick(channel.clock() + 2)
    row = await get_task(store, chat.task_id)
    assert (row["status"], row["outcome"]) == ("closed", "visitor_left")


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_four_chats_per_agent_and_three_per_address(center) -> None:
    hub, channel, feed, store, url = center

    def offered() -> list[str]:
        return [p["task_id"] for p in feed.retained().values() if p.get("state") == "offered"]
    chats = [channel.session(None, f"10.0.0.{i}") for i in range(5)]
    for i, chat in enumerate(chats):
        assert await channel.start(chat, f"V{i}", "", "hello") is None
    await until(lambda: len(offered()) == 4)
    await asyncio.sleep(0.3)
    assert len(offered()) == 4 and chats[4].task_id not in offered()     # chat capacity: 4 x 5 of 20 units
    await hub.command({"action": "accept", "task_id": chats[0].task_id, "agent": "gina"})
    await hub.command({"action": "close", "task_id": chats[0].task_id, "agent": "gina", "outcome": "answered"})
    await until(lambda: chats[4].task_id in offered())
    same = [channel.session(None, "10.0.1.1") for _ in range(4)]
    answers = [await channel.start(chat, "W", "", "hi") for chat in same]
    assert answers == [None, None, None, "too_many_chats"]
    # a safety phrase in a waiting chat: pharmacovigilance at top priority, with an AE case
    pv = channel.session(None, "10.0.2.1")
    assert await channel.start(pv, "P", "", "hello") is None
    assert await channel.say(pv, "I think I had an allergic reaction") is None
    row = await get_task(store, pv.task_id)
    assert (row["queue"], row["priority"]) == ("pharmacovigilance", 10) and row["case_id"].startswith("AE")


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_the_page_speaks_the_visitors_language(center) -> None:
    _hub, _channel, _feed, _store, url = center

    def get(path: str, session: requests.Session | None = None, **headers: str) -> requests.Response:
        return (session or requests).get(url + path, headers=headers, timeout=5)
    french = await asyncio.to_thread(get, "/", None, **{"Accept-Language": "de-DE, fr;q=0.8, en;q=0.5"})
    assert '<html lang="fr">' in french.text and "Discutez avec nous" in french.text
    assert "En attente d" in json.loads(re.search(r'data-texts="([^"]*)"', french.text).group(1)
                                        .replace("&#34;", '"').replace("&quot;", '"'))["state.waiting"]
    english = await asyncio.to_thread(get, "/")                     # nothing asked: the default
    assert '<html lang="en">' in english.text and "Chat with us" in english.text
    visitor = requests.Session()                                    # a choice is remembered
    assert "Chat with us" in (await asyncio.to_thread(get, "/?lang=en", visitor, **{"Accept-Language": "fr"})).text
    page = await asyncio.to_thread(get, "/", visitor, **{"Accept-Language": "fr"})
    assert '<html lang="en">' in page.text
    csrf = re.search(r'data-csrf="([0-9a-f]+)"', page.text).group(1)
    refused = await asyncio.to_thread(lambda: visitor.post(url + "/chat/start", timeout=5, data={
        "csrf_token": csrf, "name": "Zoé", "text": " "}, headers={"Accept-Language": "fr"}))
    assert refused.status_code == 422 and refused.json()["message"] == "Please type a message first."
    refused = await asyncio.to_thread(lambda: requests.post(url + "/chat/send", timeout=5, data={
        "csrf_token": "x"}, headers={"Accept-Language": "fr-FR"}))
    assert refused.status_code == 403 and refused.json()["message"].startswith("Cette page a expiré")
