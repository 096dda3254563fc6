"""The channels worker process (`ivr channels-worker`, started and supervised by the engine):
e-mail ingestion away from the engine's event loop. It commits each mail to the CRM as the
in-process channel does, then tells the engine `task_arrived` on its control socket; the
engine, which holds the ACD, submits the task. See README.md "Worker process"."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

from ivr.app.control import ControlError, request_async

from .email_in import EmailChannel
from .mime import InboundMail
from .task_store import Ingested

log = logging.getLogger(__name__)


class EngineLink:
    """`task_arrived` notes to the engine, in order, from a queue: the mail loop never waits
    for the engine. An engine that does not answer is retried; the tasks are safe in the CRM
    meanwhile (the next engine reloads them), so this is about promptness, not safety."""

    def __init__(self, socket_path: Path, retry_s: float = 1.0) -> None:
        self.socket_path = socket_path
        self.retry_s = retry_s
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent = 0

    def submit(self, ing: Ingested, mail: InboundMail) -> None:
        if ing.duplicate:
            return
        if ing.new_task:
            event = "arrived"
        elif ing.case_id is not None:     # a safety phrase later in the thread: to the PV queue
            event = "transferred"
        else:
            return                        # a message joining a task the ACD already has
        self.queue.put_nowait({"cmd": "task_arrived", "event": event, "task_id": ing.task_id,
                               "queue": ing.queue, "channel": "email", "priority": ing.priority})

    async def run(self) -> None:
        warned = False
        while True:
            note = await self.queue.get()
            while True:
                try:
                    await request_async(self.socket_path, note)
                    self.sent += 1
                    warned = False
                    break
                except ControlError as exc:
                    if not warned:
                        log.warning("channels worker: cannot tell the engine about task %s (%s); "
                                    "retrying (the task is stored in the CRM)", note["task_id"], exc)
                        warned = True
                    await asyncio.sleep(self.retry_s)


async def run_worker(settings: Any) -> None:
    """Until SIGTERM, or until the engine that started us is gone (our parent changed)."""
    from ivr.crm.store import open_store

    email = settings.channels.email
    if email is None:
        raise ValueError("channels.email is not configured: the channels worker has nothing to do")
    store = await open_store(settings.crm_url(), linger_ms=settings.crm.linger_ms)
    link = EngineLink(settings.path(settings.control.socket))
    channel = EmailChannel(email, store, link.submit)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    jobs = [asyncio.ensure_future(channel.run()), asyncio.ensure_future(link.run()),
            asyncio.ensure_future(_watch_parent(os.getppid(), stop))]
    log.info("channels worker %d: e-mail ingestion for the engine %d", os.getpid(), os.getppid())
    try:
        await stop.wait()
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await store.close()
        log.info("channels worker %d stopped (%s)", os.getpid(), channel.stats)


async def _watch_parent(parent: int, stop: asyncio.Event, every_s: float = 0.5) -> None:
    """An engine killed with -9 cannot stop us: a new parent (init) means it is gone; its
    successor reloads the CRM's open tasks and starts its own worker."""
    while os.getppid() == parent:
        await asyncio.sleep(every_s)
    log.warning("channels worker %d: the engine %d is gone; stopping", os.getpid(), parent)
    stop.set()
