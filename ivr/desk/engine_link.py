"""The desk's link to the engine: its live feed over the control socket (ivr/app/feed.py),
kept open across engine restarts, and its commands (`ivr agent …` over the same socket).

The engine may be down, restarting or stopped: the desk keeps serving pages, shows "engine
unavailable", and resynchronises on reconnect (the engine's feed starts with every agent's
state and each agent's latest offer).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ivr.app.control import ControlError, request_async

log = logging.getLogger(__name__)
LISTENER_BUFFER = 200          # a browser tab this far behind is told to reload its panels
CALLS_KEPT = 2_000             # recent calls' lifecycle (answered by, ended) for the pages
# the agent page's panel each kind of topic changes (agents/<agent>, tasks/<agent>/<task>, …)
PANEL_OF_TOPIC = {"agents": "state", "offers": "call", "calls": "call", "tasks": "tasks",
                  "chat": "chat"}          # chat/<agent>/<task>: a new line in a live chat


class EngineLink:
    def __init__(self, socket_path: Path, retry_max_s: float = 2.0):
        self.socket_path = socket_path
        self.retry_max_s = retry_max_s
        self.connected = False
        self.agents: dict[str, dict[str, Any]] = {}     # agent → its latest state
        self.offers: dict[str, dict[str, Any]] = {}     # agent → the latest call offered to it
        self.calls: OrderedDict[str, dict[str, Any]] = OrderedDict()   # call → {event: payload}
        self.tasks: dict[str, dict[str, dict[str, Any]]] = {}   # agent → task id → its offer
        self._listeners: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}   # agent → its pages
        self._offer_of_call: dict[str, str] = {}        # call → the agent it was last offered to
        self._task: asyncio.Task[None] | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._follow_forever(), name="engine-link")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow_forever(self) -> None:
        delay, said = 0.1, False
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.socket_path), limit=2**20)
            except OSError as exc:
                if not said:
                    log.warning("desk: the engine is not reachable at %s (%s); retrying every "
                                "%g s at most. Pages work; live states and pops resume when it "
                                "is back", self.socket_path, exc, self.retry_max_s)
                    said = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)
                continue
            delay, said = 0.1, False
            try:
                writer.write(b'{"cmd": "subscribe"}\n')
                await writer.drain()
                await self._read(reader)
            except (OSError, ValueError) as exc:
                log.warning("desk: the engine's feed broke (%s); reconnecting", exc)
            finally:
                writer.close()
                self._set_connected(False)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            if not self.connected:
                self._set_connected(True)
            event = json.loads(line)
            self._apply(event["topic"], event["payload"])
            self._tell(event)
        log.warning("desk: the engine closed its feed (stopped or restarting); reconnecting")

    def _set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            log.info("desk: engine feed %s", "connected" if connected else "lost")
            self._tell({"topic": "engine", "payload": {"connected": connected}})

    def _apply(self, topic: str, payload: dict[str, Any]) -> None:
        kind, _, rest = topic.partition("/")
        if kind == "agents":
            self.agents[rest] = payload
        elif kind == "offers":
            self.offers[rest] = payload
            self._offer_of_call[payload.get("call_id")] = rest
            while len(self._offer_of_call) > CALLS_KEPT:       # oldest first (insertion order)
                del self._offer_of_call[next(iter(self._offer_of_call))]
        elif kind == "tasks":              # tasks/<agent>/<task id>: offered, accepted, over
            agent, _, task_id = rest.partition("/")
            held = self.tasks.setdefault(agent, {})
            if payload.get("state") in ("offered", "accepted"):
                held[task_id] = {**held.get(task_id, {}), **payload}
            else:
                held.pop(task_id, None)
        elif kind == "calls":
            call_id, _, what = rest.rpartition("/")
            self.calls.setdefault(call_id, {})[what] = payload
            self.calls.move_to_end(call_id)
            while len(self.calls) > CALLS_KEPT:
                self.calls.popitem(last=False)

    # ---- pages listen ----------------------------------------------------------------------
    def _tell(self, event: dict[str, Any]) -> None:
        """Hand the event to the pages it concerns only, tagged with the panel it changes: an
        agent's desk hears its own state, its offers, its tasks and its current call's events; every page
        hears about the engine link. (Hundreds of open desks must not all wake for each event
        of one call.)"""
        kind, _, rest = event["topic"].partition("/")
        if kind in ("engine", "resync"):
            for queues in self._listeners.values():
                for queue in queues:
                    _put(queue, {"panel": "engine", **event})
            return
        agent = (rest if kind in ("agents", "offers") else rest.partition("/")[0] if kind in ("tasks", "chat")
                 else self._offered_to(rest) if kind == "calls" else None)
        tagged = {"panel": PANEL_OF_TOPIC.get(kind, "call"), **event}
        for queue in self._listeners.get(agent, ()) if agent is not None else ():
            _put(queue, tagged)

    def _offered_to(self, call_event: str) -> str | None:
        """The agent whose current offer is this call (`calls/<id>/<what>` → id)."""
        call_id = call_event.rpartition("/")[0]
        agent = self._offer_of_call.get(call_id)
        offer = self.offers.get(agent) if agent is not None else None
        return agent if offer is not None and offer.get("call_id") == call_id else None

    @contextlib.asynccontextmanager
    async def listening(self, agent: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """The events that concern this agent's desk, while the context lasts."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(LISTENER_BUFFER)
        self._listeners.setdefault(agent, set()).add(queue)
        try:
            yield queue
        finally:
            self._listeners[agent].discard(queue)
            if not self._listeners[agent]:
                del self._listeners[agent]

    # ---- commands --------------------------------------------------------------------------
    async def command(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One request to the engine; ControlError (with a message for people) if refused
        or unreachable."""
        return await request_async(self.socket_path, payload)

    async def agent_action(self, agent: str, action: str, reason: str = "") -> dict[str, Any]:
        return await self.command({"cmd": "agent", "action": action, "agent": agent, "reason": reason})

    async def task_action(self, agent: str, task_id: str, action: str, **fields: str) -> dict[str, Any]:
        return await self.command({"cmd": "task", "action": action, "agent": agent, "task_id": task_id,
                                   **fields})

    async def more_time(self, agent: str, seconds: float) -> dict[str, Any]:
        return await self.command({"cmd": "wrapup_more", "agent": agent, "seconds": seconds})


def _put(queue: asyncio.Queue[dict[str, Any]], event: dict[str, Any]) -> None:
    try:
        queue.put_nowait(event)
    except asyncio.QueueFull:                   # a stuck tab: it reloads its panels once
        queue.get_nowait()
        queue.put_nowait({"panel": "engine", "topic": "resync", "payload": {}})


__all__ = ["EngineLink", "ControlError"]
