"""The channels worker process (`ivr channels-worker`, started and supervised by the engine):
e-mail ingestion and the public chat/form page away from the engine's event loop. It commits
each contact to the CRM as the in-process channels do, then tells the engine on its control
socket; the engine, which holds the ACD, routes. See README.md "Worker process"."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from acd import events as ev
from ivr.app.control import ControlError, ControlServer, request_async

from .email_in import EmailChannel
from .mime import InboundMail
from .task_store import Ingested

log = logging.getLogger(__name__)


def worker_socket(control_socket: Path) -> Path:
    """Where the worker listens for the engine (chat replies, task news): beside the engine's."""
    return control_socket.with_name(control_socket.name + ".channels")


def note_of(event: Any, now: float) -> dict[str, Any] | None:
    """An ACD event as a JSON note; `age_s` instead of the arrival instant (each process has
    its own monotonic clock)."""
    if isinstance(event, ev.TaskArrived):
        age = 0.0 if event.arrival is None else max(0.0, now - event.arrival)
        return {"event": "arrived", "task_id": event.task_id, "queue": event.queue,
                "channel": event.channel, "priority": event.priority, "age_s": round(age, 3)}
    if isinstance(event, ev.TaskTransferred):
        return {"event": "transferred", "task_id": event.task_id, "queue": event.queue}
    if isinstance(event, ev.TaskEnded):
        return {"event": "ended", "task_id": event.task_id}
    return None


class EngineLink:
    """Notes to the engine, in order, a batch per request (what gathered within `linger_s`):
    the worker never waits for the engine, and the engine pays one request per batch, not
    one per mail. An engine that does not answer is retried; the tasks are safe in the CRM
    meanwhile (the engine catches up from it), so this is about promptness, not safety."""

    def __init__(self, socket_path: Path, retry_s: float = 1.0, linger_s: float = 0.2) -> None:
        self.socket_path = socket_path
        self.retry_s, self.linger_s = retry_s, linger_s
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent = 0

    def submit_mail(self, ing: Ingested, mail: InboundMail) -> None:
        from .email_in import acd_event
        self.submit(acd_event(ing, time.monotonic()))

    def submit(self, event: Any) -> None:
        note = note_of(event, time.monotonic()) if event is not None else None
        if note is not None:
            self.queue.put_nowait(note)

    async def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One request to the engine now (a chat closed by its visitor's leaving)."""
        return await request_async(self.socket_path, payload)

    async def run(self) -> None:
        warned = False
        while True:
            notes = [await self.queue.get()]
            await asyncio.sleep(self.linger_s)
            while not self.queue.empty():
                notes.append(self.queue.get_nowait())
            while True:
                try:
                    await request_async(self.socket_path, {"cmd": "tasks_arrived", "notes": notes})
                    self.sent += len(notes)
                    warned = False
                    break
                except ControlError as exc:
                    if not warned:
                        log.warning("channels worker: cannot tell the engine about %d task(s) (%s); "
                                    "retrying (they are stored in the CRM)", len(notes), exc)
                        warned = True
                    await asyncio.sleep(self.retry_s)


class _RemoteOutbox:
    """The engine's live feed as the chat sees it (chat/<agent>/<task> lines for the desk)."""

    def __init__(self, link: EngineLink) -> None:
        self.link = link

    def publish(self, topic: str, payload: dict[str, Any], retain: bool = False) -> None:
        task = asyncio.ensure_future(self.link.call({"cmd": "publish", "topic": topic, "payload": payload}))
        task.add_done_callback(_log_failure)


class RemoteHub:
    """What ChatChannel needs of the engine's TaskHub, from the worker: its own CRM store, the
    ACD's events sent over the link, offers and the desk's news heard back (task_news)."""

    def __init__(self, store: Any, link: EngineLink) -> None:
        self.store, self.link = store, link
        self.outbox = _RemoteOutbox(link)
        self.senders: dict[str, Any] = {}
        self.watchers: list[Any] = []
        self.offered: dict[str, str] = {}      # chat task id -> the agent it is offered to / held by

    def submit(self, event: Any) -> None:
        self.link.submit(event)

    async def close(self, task_id: str, agent: str, outcome: str) -> None:
        await self.link.call({"cmd": "task", "action": "close", "task_id": task_id, "agent": agent,
                              "outcome": outcome})

    def news(self, request: dict[str, Any]) -> dict[str, Any]:
        """The engine's `task_news`: offered, withdrawn, declined, accepted, transferred, closed."""
        task_id, state, agent = str(request["task_id"]), str(request["state"]), str(request.get("agent", ""))
        if state in ("offered", "accepted"):
            self.offered[task_id] = agent
        else:
            self.offered.pop(task_id, None)
        for watcher in self.watchers:
            watcher(task_id, state, agent)
        return {"ok": True}

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """The worker's own socket: what the engine asks of the chat."""
        cmd = request.get("cmd")
        if cmd == "task_news":
            return self.news(request)
        if cmd == "chat_reply":
            chat = self.senders.get("chat")
            if chat is None:
                return {"ok": False, "error": "no web chat in this channels worker (channels.chat)"}
            try:
                await chat.reply(str(request["task_id"]), str(request["agent"]), str(request["text"]))
            except (LookupError, ValueError) as exc:
                return {"ok": False, "error": str(exc)}
            return {"ok": True}
        return {"ok": False, "error": f"unknown channels worker command {cmd!r}"}


async def run_worker(settings: Any) -> None:
    """Until SIGTERM, or until the engine that started us is gone (our parent changed)."""
    from ivr.crm.store import open_store

    channels = settings.channels
    if channels.email is None and channels.chat is None:
        raise ValueError("neither channels.email nor channels.chat is configured: the channels worker "
                         "has nothing to do")
    store = await open_store(settings.crm_url(), linger_ms=settings.crm.linger_ms)
    control = settings.path(settings.control.socket)
    link = EngineLink(control)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    jobs = [asyncio.ensure_future(link.run()), asyncio.ensure_future(_watch_parent(os.getppid(), stop))]
    email = server = None
    if channels.email is not None:
        email = EmailChannel(channels.email, store, link.submit_mail)
        jobs.append(asyncio.ensure_future(email.run()))
    if channels.chat is not None:
        from .chat_live import ChatChannel
        from .chat_web import serve

        hub = RemoteHub(store, link)
        server = ControlServer(worker_socket(control), hub.handle)
        await server.start()
        chat = ChatChannel(channels.chat, hub)
        jobs += [asyncio.ensure_future(chat.run()), asyncio.ensure_future(serve(chat, channels.chat))]
        log.info("channels: web chat and form on http://%s:%d/ (channels worker)",
                 channels.chat.host, channels.chat.port)
    log.info("channels worker %d: %s for the engine %d", os.getpid(),
             " and ".join(n for n, c in (("e-mail", channels.email), ("web chat", channels.chat)) if c),
             os.getppid())
    try:
        await stop.wait()
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        if server is not None:
            await server.stop()
        await store.close()
        log.info("channels worker %d stopped%s", os.getpid(), f" (e-mail: {email.stats})" if email else "")


async def _watch_parent(parent: int, stop: asyncio.Event, every_s: float = 0.5) -> None:
    """An engine killed with -9 cannot stop us: a new parent (init) means it is gone; its
    successor reloads the CRM's open tasks and starts its own worker."""
    while os.getppid() == parent:
        await asyncio.sleep(every_s)
    log.warning("channels worker %d: the engine %d is gone; stopping", os.getpid(), parent)
    stop.set()


def _log_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("channels worker: the engine did not take a chat event (%s)", task.exception())
