"""The engine's live events for its own displays (the agents' desk, later the supervisor's
console), over the control socket: a client sends `{"cmd": "subscribe"}` and receives, one JSON
line each, `{"topic": …, "payload": …}`: first every retained topic (agent states, the latest
offer per agent), then each event as it happens.

The call path never waits on a display: `publish` encodes once and puts the line in each
subscriber's bounded buffer; a subscriber that falls that far behind is cut off (it reconnects
and starts again from the retained state), so a stuck browser or desk costs the engine nothing.

`Outbox` is what calls publish to: this feed and MQTT (ivr/app/bus.py), same topics.
"""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from collections.abc import Callable, Iterable
from typing import Any

from ivr.app.bus import EventBus

log = logging.getLogger(__name__)
BUFFER_LINES = 5_000          # ~ a minute of a busy center's events: beyond, the reader is stuck


def _default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _line(topic: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"topic": topic, "payload": payload}, default=_default).encode() + b"\n"


class _Subscriber:
    def __init__(self, writer: asyncio.StreamWriter):
        self.writer = writer
        self.lines: asyncio.Queue[bytes] = asyncio.Queue(BUFFER_LINES)
        self.cut_off = False

    def offer(self, line: bytes) -> None:
        try:
            self.lines.put_nowait(line)
        except asyncio.QueueFull:
            log.warning("live feed: a subscriber fell %d events behind; cut off (it will "
                        "reconnect and resynchronise)", BUFFER_LINES)
            self.cut(b"")

    def cut(self, last: bytes) -> None:
        """Stop serving it: `last` wakes its writer loop if the buffer has room."""
        if self.cut_off:
            return
        self.cut_off = True
        self.writer.transport.abort()
        try:
            self.lines.put_nowait(last)
        except asyncio.QueueFull:
            pass


class LiveFeed:
    def __init__(self, current: Callable[[], Iterable[tuple[str, dict[str, Any]]]] = tuple) -> None:
        """`current`: the state a new subscriber starts from (topic, payload), e.g. every
        agent's; it is fresher than anything retained, so it goes last."""
        self._current = current
        self._subscribers: set[_Subscriber] = set()
        self._retained: dict[str, bytes] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._subscribers)

    def publish(self, topic: str, payload: dict[str, Any], retain: bool = False) -> None:
        if not (self._subscribers or retain):
            return
        line = _line(topic, payload)
        if retain:
            self._retained[topic] = line
        for subscriber in self._subscribers:
            subscriber.offer(line)

    def forget(self, topic: str) -> None:
        """A retained topic that is over (a closed task): new subscribers no longer get it."""
        self._retained.pop(topic, None)

    async def serve(self, writer: asyncio.StreamWriter) -> None:
        """One subscriber, until it goes away (a write fails), falls behind, or `close`."""
        subscriber = _Subscriber(writer)
        for line in self._retained.values():
            subscriber.offer(line)
        for topic, payload in self._current():
            subscriber.offer(_line(topic, payload))
        self._subscribers.add(subscriber)
        try:
            while True:
                line = await subscriber.lines.get()
                if subscriber.cut_off:
                    return
                writer.write(line)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._subscribers.discard(subscriber)
            writer.close()

    def close(self) -> None:
        """The engine stops: every subscriber is let go (they reconnect to the next one)."""
        for subscriber in list(self._subscribers):
            subscriber.cut(b"")


class Outbox:
    """Where calls and the ACD publish: the live feed and, when configured, MQTT."""

    def __init__(self, mqtt: EventBus, feed: LiveFeed):
        self.mqtt, self.feed = mqtt, feed

    @property
    def enabled(self) -> bool:
        return self.mqtt.enabled or self.feed.enabled

    @property
    def pops_with_history(self) -> bool:
        return self.mqtt.enabled

    def publish(self, topic: str, payload: dict[str, Any], retain: bool = False) -> None:
        self.mqtt.publish(topic, payload, retain)
        self.feed.publish(topic, payload, retain)
