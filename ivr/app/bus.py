"""Live events over MQTT (aiomqtt): call lifecycle, queue and agent states, screen-pops.

Topics (payloads are JSON):
  <prefix>/calls/<call_id>/<event>  started · queued · offered · answered · ended
  <prefix>/queues/<queue>           queue statistics (retained)
  <prefix>/agents/<agent>           agent state (retained)
  <prefix>/screenpop/<agent>        what the agent being rung should see: the contact, their
                                    last calls, open adverse-event cases, the IVR path
A call never waits for the broker: publishing only queues the message (the oldest are dropped
when the broker is away too long) and a background task delivers, reconnecting with backoff.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from datetime import datetime
from typing import Any

import aiomqtt

from ivr.config import MqttSettings

log = logging.getLogger(__name__)
BACKLOG = 10_000


class EventBus:
    def __init__(self, settings: MqttSettings):
        self.settings = settings
        self.enabled = settings.enabled
        self._backlog: deque[tuple[str, bytes, bool]] = deque(maxlen=BACKLOG)
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.connected = False
        self.dropped = 0

    @property
    def pops_with_history(self) -> bool:
        return self.enabled

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._deliver_forever())

    async def stop(self, flush_s: float = 2.0) -> None:
        if self._task is None:
            return
        deadline = asyncio.get_running_loop().time() + flush_s
        while self._backlog and self.connected and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def publish(self, topic: str, payload: dict[str, Any], retain: bool = False) -> None:
        """Queue one message; never blocks, never raises into the call path."""
        if not self.enabled:
            return
        if len(self._backlog) == self._backlog.maxlen:
            if self.dropped == 0:
                log.warning("MQTT backlog full (%d events, broker %s:%d away): the oldest "
                            "events are dropped until it is back", BACKLOG, self.settings.host,
                            self.settings.port)
            self.dropped += 1
        data = json.dumps(payload, default=_json_default).encode()
        self._backlog.append((f"{self.settings.topic_prefix}/{topic}", data, retain))
        self._ready.set()

    async def _deliver_forever(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with aiomqtt.Client(self.settings.host, self.settings.port,
                                          identifier=self.settings.client_id, timeout=5) as client:
                    self.connected, backoff = True, 0.5
                    log.info("MQTT connected to %s:%d", self.settings.host, self.settings.port)
                    await self._drain(client)
            except aiomqtt.MqttError as exc:
                if self.connected or backoff == 0.5:
                    log.warning("MQTT broker %s:%d unavailable (%s); calls go on, events are "
                                "kept (up to %d) and sent when it is back. Check that the broker "
                                "runs and mqtt.host/mqtt.port in the engine settings",
                                self.settings.host, self.settings.port, exc, BACKLOG)
            finally:
                self.connected = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _drain(self, client: aiomqtt.Client) -> None:
        while True:
            while self._backlog:
                topic, data, retain = self._backlog[0]
                await client.publish(topic, data, qos=1 if retain else 0, retain=retain)
                self._backlog.popleft()       # only once delivered: nothing lost on a drop
            self._ready.clear()
            await self._ready.wait()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
