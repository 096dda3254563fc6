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
        hub.arrived({"task_id": stored[1], "queue": "general", "channel": "email", "priority": 0})  # heard of
        assert await hub.catch_up() == 1                            # only the one it missed
        assert await hub.catch_up() == 0                            # nothing twice
        assert set(acd.center.tasks.agent_tasks("gina")) == set(stored)
    finally:
        await asyncio.gather(*spawned, return_exceptions=True)
        await store.close()
