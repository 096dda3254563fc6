"""The engine's live events for its own displays (the agents' desk, later the supervisor's
console), over the control socket: a client sends `{"cmd": "subscribe"}` and receives, one JSON
line each, `{"topic": …, "payload": …}`: first every retained topic (agent states, the latest
offer per agent), then each event as it happens.

The call path never waits on a display: `publish` encodes once and hands the line to each
subscriber's socket without waiting; a subscriber whose unsent bytes pass a bound is cut off
(it reconnects and starts again from the retained state), so a stuck desk costs the engine
nothing.

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
BUFFER_BYTES = 4 * 2**20      # ~ a minute of a busy center's events: beyond, the reader is stuck


def _default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _line(topic: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"topic": topic, "payload": payload}, default=_default).encode() + b"\n"


class _Subscriber:
    """One reader of the feed. Lines published in one turn of the event loop go out in one
    write, straight to the transport: no task, queue or wake-up per line (those cost the
    engine more than the encoding did). The transport's own buffer is the bound."""

    def __init__(self, writer: asyncio.StreamWriter):
        self.writer = writer
        self.pending: list[bytes] = []
        self.cut_off = False

    def offer(self, line: bytes) -> None:
        if self.cut_off:
            return
        if not self.pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self.pending.append(line)

    def _flush(self) -> None:
        if self.cut_off or not self.pending:
            return
        transport = self.writer.transport
        if transport.is_closing():              # the reader went away
            self.cut()
            return
        transport.write(b"".join(self.pending))
        self.pending.clear()
        if transport.get_write_buffer_size() > BUFFER_BYTES:
            log.warning("live feed: a subscriber fell %d MiB behind; cut off (it will reconnect "
                        "and resynchronise)", BUFFER_BYTES // 2**20)
            self.cut()

    def cut(self) -> None:
        if not self.cut_off:
            self.cut_off = True
            self.pending.clear()
            self.writer.transport.abort()


class LiveFeed:
    def __init__(self, current: Callable[[], Iterable[tuple[str, dict[str, Any]]]] = tuple) -> None:
        """`current`: the state a new subscriber starts from (topic, payload), e.g. every
        agent's; it is fresher than anything retained, so it goes last."""
        self._current = current
        self._subscribers: set[_Subscriber] = set()
        # topic → its latest payload, encoded only when someone subscribes: with no desk
        # following, a call's retained offer costs a dict entry, not a JSON encoding
        self._retained: dict[str, dict[str, Any]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self._subscribers)

    def publish(self, topic: str, payload: dict[str, Any], retain: bool = False) -> None:
        if retain:
            self._retained[topic] = payload
        if not self._subscribers:
            return
        line = _line(topic, payload)
        for subscriber in self._subscribers:
            subscriber.offer(line)

    def retained(self) -> dict[str, dict[str, Any]]:
        """The retained topics and their latest payloads (what a new subscriber starts from)."""
        return dict(self._retained)

    def forget(self, topic: str) -> None:
        """A retained topic that is over (a closed task): new subscribers no longer get it."""
        self._retained.pop(topic, None)

    async def serve(self, writer: asyncio.StreamWriter) -> None:
        """One subscriber, until it goes away (a write fails), falls behind, or `close`."""
        subscriber = _Subscriber(writer)
        for topic, payload in self._retained.items():
            subscriber.offer(_line(topic, payload))
        for topic, payload in self._current():
            subscriber.offer(_line(topic, payload))
        self._subscribers.add(subscriber)
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
        finally:
            subscriber.cut_off = True
            self._subscribers.discard(subscriber)

    def close(self) -> None:
        """The engine stops: every subscriber is let go (they reconnect to the next one)."""
        for subscriber in list(self._subscribers):
            subscriber.cut()


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
