"""The engine's live feed on a real Unix socket, and the desk's link to it: a subscriber starts
from the current state, follows events, is cut off when it stops reading (the engine never
waits), and the desk's link comes back by itself after an engine restart."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from ivr.app.control import ControlServer
from ivr.app.feed import BUFFER_BYTES, LiveFeed
from ivr.desk.engine_link import EngineLink


async def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def start_engine_socket(path: Path, feed: LiveFeed) -> ControlServer:
    server = ControlServer(path, lambda request: {"ok": True, "echo": request}, stream=feed.serve)
    await server.start()
    return server


async def subscribe(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(b'{"cmd": "subscribe"}\n')
    return reader, writer


async def next_event(reader: asyncio.StreamReader) -> dict:
    return json.loads(await asyncio.wait_for(reader.readline(), 2))


async def test_a_subscriber_starts_from_the_current_state_then_follows(tmp_path: Path) -> None:
    states = {"alice": "ready"}
    feed = LiveFeed(current=lambda: [(f"agents/{a}", {"state": s}) for a, s in states.items()])
    feed.publish("offers/alice", {"call_id": "c0"}, retain=True)     # before anyone listens
    feed.publish("calls/c0/started", {"caller": "x"})                # not retained: gone
    server = await start_engine_socket(tmp_path / "ctl", feed)
    try:
        reader, writer = await subscribe(tmp_path / "ctl")
        assert await next_event(reader) == {"topic": "offers/alice", "payload": {"call_id": "c0"}}
        assert await next_event(reader) == {"topic": "agents/alice", "payload": {"state": "ready"}}
        await until(lambda: feed.enabled)
        feed.publish("calls/c1/answered", {"agent": "alice"})
        assert (await next_event(reader))["topic"] == "calls/c1/answered"
        writer.close()
    finally:
        feed.close()
        await server.stop()


async def test_a_subscriber_that_stops_reading_is_cut_off_without_slowing_publish(tmp_path: Path) -> None:
    feed = LiveFeed()
    server = await start_engine_socket(tmp_path / "ctl", feed)
    try:
        _, writer = await subscribe(tmp_path / "ctl")      # never reads
        await until(lambda: feed.enabled)
        payload = {"text": "x" * 500}
        events = BUFFER_BYTES // 500 * 2
        started = time.perf_counter()
        for _ in range(events):
            feed.publish("calls/c/ended", payload)
            await asyncio.sleep(0)         # the engine's other work: the lines go out meanwhile
        per_event_us = (time.perf_counter() - started) / events * 1e6
        await until(lambda: not feed.enabled)
        assert per_event_us < 1000         # an append and a write (~10 µs), never a wait on the reader
        writer.close()
    finally:
        feed.close()
        await server.stop()


async def test_the_desk_link_follows_and_comes_back_after_an_engine_restart(tmp_path: Path) -> None:
    path = tmp_path / "ctl"
    state = {"value": "ready"}
    feed = LiveFeed(current=lambda: [("agents/alice", {"agent": "alice", "state": state["value"]})])
    server = await start_engine_socket(path, feed)
    link = EngineLink(path, retry_max_s=0.2)
    link.start()
    try:
        async with link.listening("alice") as events, link.listening("bob") as bobs:
            await until(lambda: link.connected and link.agents.get("alice", {}).get("state") == "ready")
            feed.publish("offers/alice", {"call_id": "c1", "caller_name": "<b>x</b>"}, retain=True)
            feed.publish("calls/c1/answered", {"agent": "alice"})
            await until(lambda: "answered" in link.calls.get("c1", {}))
            assert link.offers["alice"]["call_id"] == "c1"
            feed.close()                                  # the engine stops
            await server.stop()
            await until(lambda: not link.connected)
            state["value"] = "paused"                     # changed while it was away
            feed = LiveFeed(current=lambda: [("agents/alice", {"agent": "alice", "state": state["value"]})])
            server = await start_engine_socket(path, feed)
            await until(lambda: link.connected and link.agents["alice"]["state"] == "paused")
            seen = []
            while not events.empty():
                seen.append(events.get_nowait()["topic"])
            assert seen.count("engine") == 3      # connected, lost, connected again
            assert "offers/alice" in seen and "calls/c1/answered" in seen
            bob_saw = []
            while not bobs.empty():
                bob_saw.append(bobs.get_nowait()["topic"])
            assert set(bob_saw) == {"engine"}      # alice's call never woke bob's desk
        answer = await link.command({"cmd": "status"})
        assert answer["echo"] == {"cmd": "status"}
    finally:
        await link.stop()
        feed.close()
        await server.stop()
