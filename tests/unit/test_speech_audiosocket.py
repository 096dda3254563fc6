"""AudioSocket framing (sans-IO) and the asyncio server over real loopback."""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.telephony.audiosocket import (
    FRAME_BYTES, MAX_PAYLOAD, SILENCE, AudioSocketServer, Frame, FrameParser, Kind,
    encode, encode_audio, encode_dtmf, encode_hangup, encode_uuid,
)

U = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def test_roundtrip_all_kinds() -> None:
    data = encode_uuid(U) + encode_audio(b"\x01\x02" * 160) + encode_dtmf("5") + encode_hangup()
    frames = FrameParser().feed(data)
    assert [f.kind for f in frames] == [Kind.UUID, Kind.AUDIO, Kind.DTMF, Kind.HANGUP]
    assert frames[0].uuid == U and frames[2].digit == "5" and len(frames[1].payload) == 320


def test_header_layout() -> None:
    assert encode_audio(SILENCE)[:3] == b"\x10\x01\x40"  # type, big-endian 320
    assert encode_hangup() == b"\x00\x00\x00"


def test_truncated_frame_waits_then_completes() -> None:
    p = FrameParser()
    data = encode_audio(bytes(range(200)) + bytes(120))
    assert p.feed(data[:2]) == [] and p.feed(data[2:100]) == []
    assert p.pending == 100 and p.error is None
    (f,) = p.feed(data[100:])
    assert f == Frame(Kind.AUDIO, data[3:]) and p.pending == 0


def test_truncated_at_eof_is_reported() -> None:
    p = FrameParser()
    p.feed(encode_audio(SILENCE)[:50])
    assert p.close() is not None


@pytest.mark.parametrize("bad, why", [
    (b"\x42\x00\x00", "unknown frame type 0x42"),
    (b"\x10" + (MAX_PAYLOAD + 2).to_bytes(2, "big"), "exceeds limit"),
    (b"\x01\x00\x03abc", "UUID frame must be 16"),
    (b"\x10\x00\x03abc", "odd length"),
])
def test_bad_input_sets_error_keeps_earlier_frames(bad: bytes, why: str) -> None:
    p = FrameParser()
    frames = p.feed(encode_dtmf("1") + bad + encode_dtmf("2"))
    assert frames == [Frame(Kind.DTMF, b"1")]
    assert p.error is not None and why in str(p.error)
    assert p.feed(encode_dtmf("3")) == []  # stream is dead after an error


def test_oversized_rejected_before_payload_arrives() -> None:
    # The header alone is enough: we must not buffer 64 KB to find out.
    p = FrameParser()
    assert p.feed(b"\x10\xff\xff") == [] and p.error is not None and p.pending == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(1, 64), max_size=30))
def test_arbitrary_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    p = FrameParser()
    pos = 0
    for n in cuts + [len(data)]:
        out = p.feed(data[pos : pos + n])
        assert all(isinstance(f, Frame) for f in out)
        pos += n
    p.close()
    assert p.pending <= 3 + MAX_PAYLOAD


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([Kind.AUDIO, Kind.DTMF]), st.binary(max_size=400)), max_size=20),
       st.integers(1, 50))
def test_valid_stream_any_split_parses_identically(frames: list[tuple[Kind, bytes]], step: int) -> None:
    want = [Frame(k, (p[:1] or b"1") if k is Kind.DTMF else p[: len(p) // 2 * 2]) for k, p in frames]
    data = b"".join(encode(f.kind, f.payload) for f in want)
    p = FrameParser()
    got = [f for i in range(0, len(data), step) for f in p.feed(data[i : i + step])]
    assert got == want and p.error is None and p.close() is None


# ---------------------------------------------------------------- server
class FakeAsterisk:
    """Behaves like app_audiosocket: UUID first, then 20 ms audio frames."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.parser = FrameParser()
        self.received: list[tuple[float, Frame]] = []

    async def connect(self, uid: str = U) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(encode_uuid(uid))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_until_closed(self, limit: float = 5.0) -> None:
        async with asyncio.timeout(limit):
            while data := await self.reader.read(4096):
                now = time.monotonic()
                self.received += [(now, f) for f in self.parser.feed(data)]


async def test_server_routes_audio_and_dtmf_to_listener_and_paces_silence() -> None:
    async with AudioSocketServer() as server:
        lst = server.expect(uuid.UUID(U))
        ast = FakeAsterisk(server.port)
        await ast.connect()
        assert (await asyncio.wait_for(lst, 2)) is lst
        reading = asyncio.create_task(ast.read_until_closed())
        for i in range(5):
            await ast.send(encode_audio(bytes([i]) * FRAME_BYTES))
        await ast.send(encode_dtmf("#"))
        got = [await asyncio.wait_for(lst.frames.get(), 2) for _ in range(6)]
        assert [f.kind for f in got] == [Kind.AUDIO] * 5 + [Kind.DTMF]
        assert got[3].payload == b"\x03" * FRAME_BYTES and got[5].digit == "#"
        await asyncio.sleep(0.5)
        lst.hangup()
        await reading
    audio = [(t, f) for t, f in ast.received if f.kind is Kind.AUDIO]
    assert ast.received[-1][1].kind is Kind.HANGUP
    assert all(f.payload == SILENCE for _, f in audio)
    # ~25 frames in 0.5 s; Asterisk needs traffic at least every 2 s.
    assert 18 <= len(audio) <= 32, len(audio)
    gaps = [b[0] - a[0] for a, b in zip(audio, audio[1:])]
    assert max(gaps) < 0.2 and 0.015 < sum(gaps) / len(gaps) < 0.03


async def test_asterisk_hangup_ends_listener() -> None:
    async with AudioSocketServer() as server:
        lst = server.expect(U)
        ast = FakeAsterisk(server.port)
        await ast.connect()
        await lst
        await ast.send(encode_audio(SILENCE) + encode_hangup())
        chunks = [c async for c in lst.audio()]
        assert chunks == [SILENCE] and lst.done.is_set()


async def test_unknown_uuid_is_hung_up_and_server_survives_garbage() -> None:
    async with AudioSocketServer() as server:
        ast = FakeAsterisk(server.port)
        await ast.connect(str(uuid.uuid4()))
        await ast.read_until_closed(2)
        assert [f.kind for _, f in ast.received] == [Kind.HANGUP]

        bad = FakeAsterisk(server.port)
        bad.reader, bad.writer = await asyncio.open_connection("127.0.0.1", server.port)
        await bad.send(b"\x77\x00\x00garbage")
        await bad.read_until_closed(2)
        assert [f.kind for _, f in bad.received] == [Kind.ERROR]

        lst = server.expect(U)  # still serving
        ok = FakeAsterisk(server.port)
        await ok.connect()
        await asyncio.wait_for(lst, 2)
        await ok.send(b"\x10\xff\xff")  # oversized mid-call: listener ends, no exception
        f = await asyncio.wait_for(lst.frames.get(), 2)
        assert f.kind is Kind.HANGUP and lst.error is not None


async def test_expect_rejects_non_uuid() -> None:
    async with AudioSocketServer() as server:
        with pytest.raises(ValueError):
            server.expect("not-a-uuid")


async def test_connections_from_hosts_not_allowed_are_refused():
    from ivr.telephony.audiosocket import AudioSocketServer
    server = await AudioSocketServer("127.0.0.1", 0, allowed_hosts=["10.1.2.3"]).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\x01\x00\x10" + bytes(16))
        try:
            assert await asyncio.wait_for(reader.read(), 2) == b""
        except ConnectionResetError:
            pass
    finally:
        await server.close()
