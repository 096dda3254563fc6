"""Thin asyncio adapter for FastAGI: moves bytes between sockets and the sans-IO core."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ivr.telephony.agi.protocol import (
    NEED_DATA, AgiConnection, Environment, HangupNotice, ProtocolError, Reply, State,
)

log = logging.getLogger(__name__)
HEADER_TIMEOUT = 10.0
READ_SIZE = 4096
# A wait that ends by itself within this is not woken: a stop frame sent that late could
# outlive it and cut the next prompt short.
WAKE_MARGIN_S = 0.1


class AgiError(Exception):
    """The AGI session cannot go on (peer gone, protocol broken)."""


class CallerHungUp(AgiError):
    """The caller hung up; only EXEC/GET/SET VARIABLE/VERBOSE/NOOP still work."""


class AgiChannel:
    """One FastAGI session: send a command, await its reply. One command at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 conn: AgiConnection, env: Environment):
        self._reader, self._writer, self._conn = reader, writer, conn
        self.env = env
        self._lock = asyncio.Lock()
        # Ends a WAIT FOR DIGIT without touching the socket (ivr/telephony/wake.py): True if
        # it did. None, or False: the wake sends NOOP (Asterisk then logs a warning).
        self.interrupt: Callable[[], Awaitable[bool]] | None = None

    @property
    def hung_up(self) -> bool:
        """The caller is gone, as the protocol core read it from Asterisk's replies."""
        return self._conn.hung_up

    @property
    def call_id(self) -> str:
        return self.env.get("uniqueid")

    async def command(self, text: str, *, wake: asyncio.Event | None = None) -> Reply:
        """Send one command and return its reply. `wake`, when set while the command runs,
        sends a NOOP: WAIT FOR DIGIT then ends at once with result=1 (checked on Asterisk 22)."""
        async with self._lock:
            if self._conn.state is not State.IDLE:
                raise AgiError(f"AGI session is {self._conn.state.name.lower()}: cannot send {text!r}")
            self._writer.write(self._conn.send_command(text))
            await self._writer.drain()
            if wake is None:
                reply = await self._read_reply(text)
            else:
                reply = await self._read_reply_or_wake(text, wake, _ends_at(text))
            if reply.code == 511:
                raise CallerHungUp(f"{text!r}: channel is gone ({reply.text})")
            return reply

    async def _read_reply_or_wake(self, text: str, wake: asyncio.Event,
                                  ends_at: float | None = None) -> Reply:
        reading = asyncio.ensure_future(self._read_reply(text))
        waking = asyncio.ensure_future(wake.wait())
        try:
            done, _ = await asyncio.wait({reading, waking}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            reading.cancel()
            waking.cancel()
            raise
        waking.cancel()
        if reading in done:
            return reading.result()
        loop = asyncio.get_running_loop()
        if ends_at is not None and ends_at - loop.time() < WAKE_MARGIN_S:
            return await reading        # ends by itself at once: a wake would outlive it
        if self.interrupt is not None and await self.interrupt():
            try:
                return await asyncio.wait_for(asyncio.shield(reading), WAKE_MARGIN_S * 5)
            except TimeoutError:
                log.debug("AGI %s: no reply after the AMI wake; waking through the socket",
                          self.call_id)
            if reading.done():
                return reading.result()
        # Woken: any byte ends the wait; the NOOP's own reply follows the wait's.
        self._writer.write(self._conn.interrupt())
        await self._writer.drain()
        reply = await reading
        await self._read_reply("NOOP")
        return reply

    async def _read_reply(self, text: str) -> Reply:
        while True:
            event = self._conn.next_event()
            if isinstance(event, Reply):
                return event
            if isinstance(event, HangupNotice):
                continue                  # the core noted it (hung_up); the reply follows
            if isinstance(event, ProtocolError):
                raise AgiError(f"{text!r}: {event.message}")
            if event is NEED_DATA:
                data = await self._reader.read(READ_SIZE)
                self._conn.receive_data(data)
                if not data:
                    raise CallerHungUp(f"{text!r}: Asterisk closed the AGI connection")

    # ---- convenience commands -----------------------------------------------------------
    async def get_variable(self, name: str) -> str | None:
        reply = await self.command(f"GET VARIABLE {name}")
        return reply.data if reply.result == 1 else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command(f'SET VARIABLE {name} "{_quote(value)}"')

    async def exec(self, app: str, args: str = "") -> Reply:
        return await self.command(f'EXEC {app} "{_quote(args)}"' if args else f"EXEC {app}")

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


Handler = Callable[[AgiChannel], Awaitable[None]]


class AgiServer:
    """Accepts FastAGI connections from the configured Asterisk hosts and runs `handler`."""

    def __init__(self, host: str, port: int, handler: Handler, allowed_hosts: list[str]):
        self.host, self.port, self.handler = host, port, handler
        self.allowed = set(allowed_hosts)
        self._server: asyncio.Server | None = None
        self.sessions: set[asyncio.Task] = set()
        self.accepting = True

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port)
        log.info("FastAGI listening on %s:%d", self.host, self.port)

    async def stop_accepting(self) -> None:
        """Refuse new calls: Asterisk's AGI() then fails over to its own fallback."""
        self.accepting = False
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        if peer[0] not in self.allowed or not self.accepting:
            log.warning("refused FastAGI connection from %s (allowed: %s)", peer[0],
                        ", ".join(sorted(self.allowed)))
            writer.close()
            return
        task = asyncio.current_task()
        self.sessions.add(task)
        try:
            conn = AgiConnection()
            async with asyncio.timeout(HEADER_TIMEOUT):     # no extra task per call, as wait_for made
                env = await _read_header(reader, conn)
            if env is None:
                return
            await self.handler(AgiChannel(reader, writer, conn, env))
        except TimeoutError:
            log.warning("FastAGI peer %s sent no complete header within %.0f s", peer[0], HEADER_TIMEOUT)
        except (ConnectionError, CallerHungUp):
            pass
        except Exception:   # one session's bug must never take the server down
            log.exception("FastAGI session from %s failed", peer[0])
        finally:
            self.sessions.discard(task)
            writer.close()


async def _read_header(reader: asyncio.StreamReader, conn: AgiConnection) -> Environment | None:
    while True:
        event = conn.next_event()
        if isinstance(event, Environment):
            return event
        if isinstance(event, ProtocolError):
            log.warning("FastAGI header refused: %s", event.message)
            return None
        data = await reader.read(READ_SIZE)
        conn.receive_data(data)
        if not data:    # peer gone: whatever is buffered decides, then stop (no spin on EOF)
            event = conn.next_event()
            return event if isinstance(event, Environment) else None


def _ends_at(text: str) -> float | None:
    """When a WAIT FOR DIGIT ends by itself (loop clock), or None for other commands."""
    if not text.upper().startswith("WAIT FOR DIGIT"):
        return None
    try:
        return asyncio.get_running_loop().time() + int(text.split()[-1]) / 1000
    except ValueError:
        return None
