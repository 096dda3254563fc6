"""A channels worker killed between its CRM commit and its note to the engine: the engine,
still up, would never hear of the task. After restarting the worker it catches up from the
CRM (TaskHub.catch_up): each stored task the ACD does not know enters it once, with its age.
Real CRM on both backends."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from acd import events as E
from acd.config import AcdConfig
from ivr.app.acd_driver import AcdDriver
from ivr.app.bus import EventBus
from ivr.app.feed import LiveFeed, Outbox
from ivr.app.tasks import TaskHub
from ivr.channels.mime import parse_mail
from ivr.channels.task_store import ingest_mail
from ivr.config import MqttSettings
from ivr.crm.store import open_store

from .test_email_channel import mail

CONFIG = AcdConfig.from_dict({"agents": {"gina": {}}, "queues": {"general": {}}})


async def test_catch_up_routes_what_the_engine_never_heard_of_once(crm_url: str) -> None:
    store = await open_store(crm_url)
    spawned: list[asyncio.Task] = []
    try:
        stored = []
        for i, sender in enumerate(("anna@clinic.example", "bob@clinic.example")):
            ing = await ingest_mail(store, parse_mail(bytes(mail(sender=sender)), 1_000_000), queue="general",
                                    priority=0, safety=None, pv_queue="general", pv_priority=0,
                                    now=datetime.now(timezone.utc) - timedelta(minutes=10 - i))
            stored.append(ing.task_id)
        acd = AcdDriver(CONFIG, start_callback=lambda a: None)
        acd.handle(E.AgentLoggedIn("gina"))
        hub = TaskHub(acd, store, Outbox(EventBus(MqttSettings()), LiveFeed()),
                      lambda coro: spawned.append(asyncio.ensure_future(coro)))
        hub.arrived([{"event": "arrived", "task_id": stored[1], "queue": "general", "channel": "email",
                      "priority": 0, "age_s": 540.0}])                   # heard of
        assert await hub.catch_up() == 1                            # only the one it missed
        assert await hub.catch_up() == 0                            # nothing twice
        assert set(acd.center.tasks.agent_tasks("gina")) == set(stored)
    finally:
        await asyncio.gather(*spawned, return_exceptions=True)
        await store.close()


async def test_chats_cut_by_the_workers_restart_come_back_as_emails(crm_url: str) -> None:
    """Their visitors' sessions died with the worker: waiting as chats they would hold calls back."""
    from ivr.channels.chat_store import Visitor, open_contact
    from ivr.channels.task_store import get_task

    store = await open_store(crm_url)
    spawned: list[asyncio.Task] = []
    try:
        await open_contact(store, task_id="CH-1", channel="chat", visitor=Visitor("Anna", "anna@example.org"),
                           subject="Chat: dose?", text="What is the dose?", queue="general", priority=0,
                           safety=None, pv_queue="general", pv_priority=0, now=datetime.now(timezone.utc))
        acd = AcdDriver(CONFIG, start_callback=lambda a: None)
        acd.handle(E.AgentLoggedIn("gina"))
        hub = TaskHub(acd, store, Outbox(EventBus(MqttSettings()), LiveFeed()),
                      lambda coro: spawned.append(asyncio.ensure_future(coro)))
        hub.arrived([{"event": "arrived", "task_id": "CH-1", "queue": "general", "channel": "chat", "priority": 0}])
        assert acd.center.tasks.agent_tasks("gina") == {"CH-1": "chat"}
        assert await hub.catch_up() == 1
        assert acd.center.tasks.agent_tasks("gina") == {"CH-1": "email"}
        assert (await get_task(store, "CH-1"))["channel"] == "email"
        assert not acd.center.held_for_tasks("gina")             # calls reach her again
    finally:
        await asyncio.gather(*spawned, return_exceptions=True)
        await store.close()
