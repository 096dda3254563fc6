"""The e-mail channel inside the engine's parts: EmailChannel.run() waiting in IMAP IDLE on
Dovecot, the engine's AcdDriver (ContactCenter), TaskHub publishing offers on the live feed,
the desk's accept/close recorded in the CRM, and open tasks reloaded after a restart."""
from __future__ import annotations

import asyncio

import pytest

from acd.config import AcdConfig
from ivr.app.acd_driver import AcdDriver
from ivr.app.bus import EventBus
from ivr.app.feed import LiveFeed, Outbox
from ivr.app.tasks import TaskHub, start_email
from ivr.channels.settings import EmailSettings
from ivr.channels.task_store import get_task
from ivr.config import MqttSettings
from ivr.crm.store import open_store

from acd import events as E

from .mail_servers import PASSWORD, USER, Dovecot, SmtpReceiver
from .test_email_channel import HOTLINE, mail

pytestmark = pytest.mark.timeout(120)
CONFIG = AcdConfig.from_dict({"agents": {"gina": {}}, "queues": {"general": {}}})


def retained(feed: LiveFeed) -> dict[str, dict]:
    return feed.retained()


def spawner(tasks: set[asyncio.Task]):
    """The engine's spawn: each task kept, so the test can cancel what is left."""
    def spawn(coro):
        t = asyncio.ensure_future(coro)
        tasks.add(t)
        return t
    return spawn


async def until(cond, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_idle_offer_accept_close_and_reload(crm_url: str, mailbox: Dovecot, smtp: SmtpReceiver,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_TEST_IMAP_PASSWORD", PASSWORD)
    settings = EmailSettings(imap_host="127.0.0.1", imap_port=mailbox.port, imap_tls=False, user=USER,
                             password_env="IVR_TEST_IMAP_PASSWORD", smtp_host="127.0.0.1",
                             smtp_port=smtp.port, from_address=HOTLINE)
    store = await open_store(crm_url)
    tasks: set[asyncio.Task] = set()
    spawn = spawner(tasks)
    try:
        feed = LiveFeed()
        acd = AcdDriver(CONFIG, start_callback=lambda a: None)
        acd.handle(E.AgentLoggedIn("gina"))
        hub = TaskHub(acd, store, Outbox(EventBus(MqttSettings()), feed), spawn)
        channel = start_email(settings, hub, spawn)
        await until(lambda: channel.imap is not None)
        assert channel.idle_offered                                   # Dovecot offers IDLE
        await asyncio.sleep(0.3)                                      # now waiting in IDLE
        await mailbox.deliver(bytes(mail()), bytes(mail(sender="bob@clinic.example")))
        await until(lambda: len([p for p in retained(feed).values() if p["state"] == "offered"]) == 2)
        offers = {p["task_id"]: p for p in retained(feed).values()}
        first, second = sorted(offers)
        assert {p["sender"] for p in offers.values()} == {"anna@clinic.example", "bob@clinic.example"}
        assert [(r["channel"], r["offered"], r["connected"]) for r in acd.channel_backlog()] == [
            ("email", 2, 0)]                                            # the wallboard's line (ivr top)
        await hub.accept(first, "gina")
        assert [(r["offered"], r["connected"]) for r in acd.channel_backlog()] == [(1, 1)]
        accepted = retained(feed)[f"tasks/gina/{first}"]   # what a desk connecting now gets
        assert accepted["state"] == "accepted" and accepted["sender"] == offers[first]["sender"]
        await hub.close(first, "gina", "answered")
        row = await get_task(store, first)
        assert row["status"] == "closed" and row["outcome"] == "answered" and row["agent"] == "gina"
        assert f"tasks/gina/{first}" not in feed.retained()
        with pytest.raises(ValueError):
            await hub.close(second, "gina", " ")
        # restart: a new ACD gets the task still open, not the closed one
        acd2 = AcdDriver(CONFIG, start_callback=lambda a: None)
        acd2.handle(E.AgentLoggedIn("gina"))
        hub2 = TaskHub(acd2, store, Outbox(EventBus(MqttSettings()), LiveFeed()), spawn)
        assert await hub2.reload() == 1
        assert hub2.offered == {second: "gina"}
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_a_chat_cut_by_a_restart_comes_back_as_an_email_and_holds_no_calls_back(crm_url: str) -> None:
    """The visitor's live page ended with the last engine: reloaded as a chat, the task would
    keep its agent from every call (a chat holds calls back) for a visitor who is gone."""
    from datetime import datetime, timezone

    from ivr.channels.chat_store import Visitor, open_contact
    store = await open_store(crm_url)
    tasks: set[asyncio.Task] = set()
    spawn = spawner(tasks)
    try:
        stored = await open_contact(store, task_id="CH-1", channel="chat", visitor=Visitor("Anna", "anna@example.org"),
                                    subject="Chat: dose?", text="What is the dose?", queue="general", priority=0,
                                    safety=None, pv_queue="general", pv_priority=0, now=datetime.now(timezone.utc))
        acd = AcdDriver(CONFIG, start_callback=lambda a: None)
        acd.handle(E.AgentLoggedIn("gina"))
        hub = TaskHub(acd, store, Outbox(EventBus(MqttSettings()), LiveFeed()), spawn)
        assert await hub.reload() == 1
        assert hub.offered == {stored.task_id: "gina"}
        assert (await get_task(store, stored.task_id))["channel"] == "email"
        assert acd.center.tasks.agent_tasks("gina") == {stored.task_id: "email"}
        assert not acd.center.held_for_tasks("gina")             # calls still reach her
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await store.close()
