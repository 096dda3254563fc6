"""AmiLink against a fake AMI server on loopback: what happens to actions and logins when the
link drops (the real-Asterisk version is tests/integration/test_faults_links.py)."""
from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from ivr.telephony.ami import AmiError, AmiLink
from ivr.config import AmiSettings


class FakeAmi:
    """Speaks just enough AMI: the banner, Login, Ping; Originate is never answered (so it is
    still in flight when the test cuts the link). `answer_login=False` models a wrong secret or
    a stuck Asterisk: the connection is accepted, the login never answered."""

    def __init__(self, answer_login: bool = True, close_at_once: int = 0):
        self.answer_login = answer_login
        self.close_at_once = close_at_once      # the first N connections: closed on accept
        self.connections = 0
        self.received: list[dict[str, str]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> FakeAmi:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def cut(self) -> None:
        """Drop every open connection, as a broken network path or a proxy reset would."""
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        self.server.close()
        await self.server.wait_closed()

    def actions(self, name: str) -> list[dict[str, str]]:
        return [a for a in self.received if a.get("Action", "").lower() == name.lower()]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections <= self.close_at_once:
            writer.transport.abort()
            return
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                block = await reader.readuntil(b"\r\n\r\n")
                action = dict(line.split(": ", 1) for line in block.decode().split("\r\n")
                              if ": " in line)
                self.received.append(action)
                reply = self._reply(action)
                if reply:
                    writer.write(reply.encode())
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def _reply(self, action: dict[str, str]) -> str:
        name, action_id = action.get("Action", "").lower(), action.get("ActionID", "")
        if name == "login" and self.answer_login:
            return (f"Response: Success\r\nActionID: {action_id}\r\n"
                    "Message: Authentication accepted\r\n\r\n"
                    "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n")
        if name == "ping":
            return f"Response: Success\r\nActionID: {action_id}\r\nPing: Pong\r\n\r\n"
        return ""


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("IVR_AMI_SECRET", "unit-test-secret")


async def wait_until(predicate, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "condition not met in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_an_action_in_flight_fails_at_once_when_the_link_drops_and_is_never_resent(secret):
    server = await FakeAmi().start()
    logins: list[float] = []
    link = AmiLink(AmiSettings(port=server.port, action_timeout=30), lambda event: None,
                   on_login=lambda: logins.append(time.monotonic()))
    try:
        await link.start(timeout=5)
        originate = asyncio.ensure_future(link.originate("PJSIP/bob", application="Wait",
                                                         data="1"))
        await wait_until(lambda: server.actions("Originate"), 2)
        server.cut()
        started = time.monotonic()
        with pytest.raises(AmiError, match="dropped before its answer"):
            await originate
        assert time.monotonic() - started < 1.0          # not the 30 s action timeout
        await wait_until(lambda: len(logins) == 2, 5)    # reconnects by itself (1 s retry)
        await asyncio.sleep(0.3)                         # FullyBooted has been handled
        # panoramisk would replay the Originate after FullyBooted: a second ring.
        assert len(server.actions("Originate")) == 1
        assert link.reconnects == 1
    finally:
        await link.close()
        await server.close()


async def test_an_action_while_the_link_is_down_fails_at_once_with_a_clear_message(secret):
    server = await FakeAmi().start()
    link = AmiLink(AmiSettings(port=server.port), lambda event: None)
    try:
        await link.start(timeout=5)
        await server.close()                             # Asterisk's AMI gone, no reconnect
        await wait_until(lambda: not link.connected, 2)
        started = time.monotonic()
        with pytest.raises(AmiError, match="not connected to Asterisk"):
            await link.originate("PJSIP/bob", application="Wait", data="1")
        assert time.monotonic() - started < 0.1
        assert await link.wait_connected(0.2) is False
    finally:
        await link.close()


async def test_a_connection_that_never_logs_in_is_dropped_and_retried(secret, caplog):
    server = await FakeAmi(answer_login=False).start()
    link = AmiLink(AmiSettings(port=server.port), lambda event: None,
                   ping_every=0.1, login_timeout=0.5)
    try:
        with pytest.raises(AmiError, match="no AMI login"):
            await link.start(timeout=2.5)
        # Without the watchdog panoramisk keeps the first connection waiting forever.
        assert server.connections >= 2
        assert "no login succeeded" in caplog.text and "IVR_AMI_SECRET" in caplog.text
    finally:
        await link.close()
        await server.close()


def close_on_accept(listener: socket.socket, times: int) -> threading.Thread:
    """In another thread, so the close races the client's own connect handling as a proxy
    or a remote Asterisk would (the fake server shares the client's loop: it cannot)."""
    def serve() -> None:
        for _ in range(times):
            conn, _ = listener.accept()
            conn.close()
        listener.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_connections_closed_at_once_are_retried_until_a_login(secret, loop_name):
    # uvloop can run connection_lost before panoramisk's setup callback when the peer closes
    # at once; panoramisk then failed on its missing factory and never reconnected.
    uvloop = pytest.importorskip("uvloop") if loop_name == "uvloop" else None
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    closer = close_on_accept(listener, 3)

    async def scenario() -> None:
        link = AmiLink(AmiSettings(port=port), lambda event: None)
        server = None
        try:
            link.manager.loop = asyncio.get_running_loop()
            link.manager.connect()
            link._pinger = asyncio.create_task(link._ping_loop())
            await asyncio.to_thread(closer.join, 10)     # 3 connections closed at once
            server = FakeAmi()
            for _ in range(30):          # the closed connections may hold the port a moment
                try:
                    server.server = await asyncio.start_server(server._serve, "127.0.0.1",
                                                               port, reuse_address=True)
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            assert await link.wait_connected(5), "never reconnected after the closes"
        finally:
            await link.close()
            if server and server.server:
                await server.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop if uvloop else None) as runner:
        runner.run(scenario())
