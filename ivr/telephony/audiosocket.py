"""Asterisk AudioSocket: sans-IO framing plus a small asyncio server.

Frame = 1 type byte, 2-byte big-endian payload length, payload.
Asterisk opens the TCP connection for ``AudioSocket(<uuid>,host:port)``; the
first frame carries the 16-byte UUID, then 8 kHz s16le audio (320 bytes =
20 ms) and, on 22.4+, DTMF. Asterisk gives up after 2 s with no frames in
either direction, so while we listen we send paced 20 ms silence frames.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

log = logging.getLogger(__name__)

FRAME_MS = 20
FRAME_BYTES = 320  # 20 ms of 8 kHz s16le mono
SILENCE = bytes(FRAME_BYTES)
MAX_PAYLOAD = 8192  # far above any real frame; bounds memory per connection


class Kind(IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


@dataclass(frozen=True, slots=True)
class Frame:
    kind: Kind
    payload: bytes = b""

    @property
    def uuid(self) -> str:
        return str(uuidlib.UUID(bytes=self.payload))

    @property
    def digit(self) -> str:
        return self.payload.decode("ascii", "replace")


class FrameError(ValueError):
    """The byte stream is not valid AudioSocket; the connection must be dropped."""


# ---------------------------------------------------------------- encoding
def encode(kind: Kind | int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise FrameError(f"payload of {len(payload)} bytes does not fit a frame")
    return bytes((int(kind),)) + len(payload).to_bytes(2, "big") + payload


def encode_hangup() -> bytes:
    return encode(Kind.HANGUP)


def encode_uuid(value: str | uuidlib.UUID) -> bytes:
    return encode(Kind.UUID, uuidlib.UUID(str(value)).bytes)


def encode_audio(pcm: bytes) -> bytes:
    return encode(Kind.AUDIO, pcm)


def encode_dtmf(digit: str) -> bytes:
    return encode(Kind.DTMF, digit.encode("ascii"))


def encode_error(code: int = 0) -> bytes:
    return encode(Kind.ERROR, bytes((code,)))


# ---------------------------------------------------------------- parsing
_FIXED_LEN = {Kind.UUID: 16, Kind.DTMF: 1, Kind.HANGUP: 0}


class FrameParser:
    """Incremental parser. ``feed`` never raises: a protocol error is stored
    in ``error``, the frames before it are still returned, and everything
    after it is ignored (the stream cannot be resynchronised)."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.error: FrameError | None = None
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame waiting for more input."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        if self.error is not None:
            return []
        self._buf += data
        frames: list[Frame] = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= 3:
            kind_byte = buf[pos]
            size = int.from_bytes(buf[pos + 1 : pos + 3], "big")
            problem = self._check(kind_byte, size)
            if problem:
                self.error = FrameError(f"{problem} at stream offset +{pos}")
                self._buf = bytearray()
                return frames
            if len(buf) - pos - 3 < size:
                break  # truncated: wait for the rest
            frames.append(Frame(Kind(kind_byte), bytes(buf[pos + 3 : pos + 3 + size])))
            pos += 3 + size
        del buf[:pos]
        return frames

    def close(self) -> FrameError | None:
        """At EOF: the stored error, or one for a truncated trailing frame."""
        if self.error is None and self._buf:
            self.error = FrameError(f"connection closed inside a frame ({len(self._buf)} bytes pending)")
        return self.error

    def _check(self, kind_byte: int, size: int) -> str | None:
        try:
            kind = Kind(kind_byte)
        except ValueError:
            return f"unknown frame type 0x{kind_byte:02x}"
        if size > self.max_payload:
            return f"{kind.name} frame of {size} bytes exceeds limit {self.max_payload}"
        want = _FIXED_LEN.get(kind)
        if want is not None and size != want:
            return f"{kind.name} frame must be {want} bytes, got {size}"
        if kind is Kind.AUDIO and size % 2:
            return f"AUDIO frame of odd length {size}"
        return None


# ---------------------------------------------------------------- server
class Listener:
    """One expected call. ``await listener`` waits for Asterisk to connect;
    ``frames`` then receives AUDIO (unless ``sink`` is set) and DTMF frames,
    and finally one HANGUP frame (sent by Asterisk, or synthesised on
    EOF/error/our own hangup)."""

    def __init__(self, uuid: str) -> None:
        self.uuid = uuid
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.done = asyncio.Event()
        self.error: FrameError | None = None
        self.silence_sent = 0
        # If set, audio goes straight here (e.g. Recognition.push) instead of
        # through ``frames``: saves a queue hop and a task wake-up per 20 ms.
        self.sink: Callable[[bytes], None] | None = None
        self._out = bytearray()
        self._writer: asyncio.StreamWriter | None = None
        self._unregister: Callable[[], None] = lambda: None

    def __await__(self):  # type: ignore[no-untyped-def]
        yield from asyncio.shield(self.connected).__await__()
        return self

    def play(self, pcm: bytes) -> None:
        """Queue 8 kHz s16le audio; it replaces silence at the paced rate."""
        self._out += pcm

    def hangup(self, linger: float = 2.0) -> None:
        """Recognition is decided: send 0x00 so AudioSocket() returns 0 and the
        dialplan continues. We only half-close and keep reading (discarding)
        until Asterisk closes: closing with its audio unread would make the
        kernel send RST, which can destroy the 0x00 frame in flight."""
        w = self._writer
        if w is not None and not w.is_closing() and not self.done.is_set():
            with contextlib.suppress(Exception):
                w.write(encode_hangup())
                if w.can_write_eof():
                    w.write_eof()
            asyncio.get_running_loop().call_later(linger, w.close)
        self._finish()

    def _finish(self) -> None:
        self._unregister()  # a listener that ends unconnected must not leak
        if not self.done.is_set():
            self.done.set()
            self.frames.put_nowait(Frame(Kind.HANGUP))
        if not self.connected.done():
            self.connected.cancel()

    async def audio(self):  # type: ignore[no-untyped-def]
        """Async iterator over audio payloads until hangup; DTMF is skipped."""
        while True:
            f = await self.frames.get()
            if f.kind is Kind.HANGUP:
                return
            if f.kind is Kind.AUDIO:
                yield f.payload


class AudioSocketServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, uuid_timeout: float = 5.0,
                 frame_ms: float = FRAME_MS, allowed_hosts: Iterable[str] = ("127.0.0.1",)) -> None:
        self.host, self.port = host, port
        self.allowed = set(allowed_hosts)          # callers' audio: only from our Asterisk
        self.uuid_timeout = uuid_timeout
        self.interval = frame_ms / 1000
        self._listeners: dict[str, Listener] = {}
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._active: dict[Listener, asyncio.StreamWriter] = {}  # calls being paced
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> AudioSocketServer:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        for lst in list(self._listeners.values()):
            lst.hangup()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for t in [*self._tasks, *([self._ticker] if self._ticker else [])]:
            t.cancel()
        await asyncio.gather(*self._tasks, *([self._ticker] if self._ticker else []),
                             return_exceptions=True)

    async def __aenter__(self) -> AudioSocketServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def expect(self, uuid: str | uuidlib.UUID) -> Listener:
        key = str(uuidlib.UUID(str(uuid)))  # canonical form; raises on non-UUIDs
        lst = Listener(key)
        self._listeners[key] = lst

        def unregister() -> None:
            if self._listeners.get(key) is lst:
                del self._listeners[key]
        lst._unregister = unregister
        return lst

    def forget(self, uuid: str) -> None:
        lst = self._listeners.pop(str(uuidlib.UUID(str(uuid))), None)
        if lst is not None:
            lst.hangup()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = (writer.get_extra_info("peername") or ("?",))[0]
        if peer not in self.allowed:
            log.warning("refused AudioSocket connection from %s (allowed: %s)", peer,
                        ", ".join(sorted(self.allowed)))
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError) as e:
            log.info("audiosocket connection ended: %r", e)
        except Exception:  # never let one call kill the server
            log.exception("audiosocket connection failed")
        finally:
            self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = FrameParser()
        first: list[Frame] = []
        async with asyncio.timeout(self.uuid_timeout):
            while not first and parser.error is None:
                data = await reader.read(4096)
                if not data:
                    return
                first = parser.feed(data)
        if parser.error or first[0].kind is not Kind.UUID:
            log.warning("audiosocket: first frame is not a UUID (%s)", parser.error or first[0].kind.name)
            writer.write(encode_error(0))
            return
        lst = self._listeners.pop(first[0].uuid, None)
        if lst is None or lst.done.is_set():
            log.warning("audiosocket: unexpected call %s, hanging up", first[0].uuid)
            writer.write(encode_hangup())
            return
        lst._writer = writer
        lst.connected.set_result(None)
        self._active[lst] = writer
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._pace())
        try:
            self._dispatch(lst, first[1:])
            while True:
                data = await reader.read(4096)
                if not data:
                    if not lst.done.is_set():
                        lst.error = parser.close()
                    break
                if lst.done.is_set():
                    continue  # we hung up: drain until Asterisk closes (or linger ends)
                self._dispatch(lst, parser.feed(data))
                if parser.error is not None:
                    lst.error = parser.error
                    log.warning("audiosocket %s: %s", lst.uuid, parser.error)
                    break
        finally:
            self._active.pop(lst, None)
            lst._finish()

    @staticmethod
    def _dispatch(lst: Listener, frames: list[Frame]) -> None:
        for f in frames:
            if f.kind is Kind.HANGUP or f.kind is Kind.ERROR:
                lst._finish()
                return
            if f.kind is Kind.AUDIO and lst.sink is not None:
                lst.sink(f.payload)
            elif f.kind is not Kind.UUID:
                lst.frames.put_nowait(f)

    async def _pace(self) -> None:
        # One ticker for every call (not a timer per call): at 50 calls that
        # is 50 wake-ups/s instead of 2,500. Absolute schedule so jitter does
        # not accumulate into drift; after a long stall skip ahead, no burst.
        loop = asyncio.get_running_loop()
        nxt = loop.time()
        while self._active:  # exits when idle; restarted by the next call
            for lst, writer in list(self._active.items()):
                if writer.is_closing() or lst.done.is_set():
                    self._active.pop(lst, None)
                    continue
                if lst._out:
                    chunk = bytes(lst._out[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\0")
                    del lst._out[:FRAME_BYTES]
                else:
                    chunk = SILENCE
                    lst.silence_sent += 1
                writer.write(encode_audio(chunk))
            nxt += self.interval
            delay = nxt - loop.time()
            if delay < -5 * self.interval:
                nxt = loop.time()
                delay = 0
            await asyncio.sleep(max(delay, 0))
