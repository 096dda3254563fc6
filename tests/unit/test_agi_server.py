"""The asyncio FastAGI adapter over real loopback sockets (a scripted fake Asterisk)."""
from __future__ import annotations

import asyncio

import pytest

from ivr.call.caller import AgiCaller
from ivr.telephony.agi.server import AgiChannel, AgiServer, CallerHungUp

HEADER = b"agi_network: yes\nagi_network_script: hotline\nagi_uniqueid: 42.1\nagi_arg_1: 100\n\n"


async def start(handler, allowed=("127.0.0.1",)) -> tuple[AgiServer, int]:
    server = AgiServer("127.0.0.1", 0, handler, list(allowed))
    await server.start()
    port = server._server.sockets[0].getsockname()[1]
    return server, port


async def test_commands_and_replies_in_order_with_hangup_line():
    seen: list = []

    async def handler(chan: AgiChannel) -> None:
        seen.append(chan.env.args)
        seen.append(await chan.get_variable("CALLERID(num)"))
        try:
            await chan.command("WAIT FOR DIGIT 1000")
            await chan.command("STREAM FILE x \"\"")
        except CallerHungUp:
            seen.append("hung up")

    server, port = await start(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER)
    assert await reader.readline() == b"GET VARIABLE CALLERID(num)\n"
    writer.write(b"200 result=1 (0601020304)\n")
    assert await reader.readline() == b"WAIT FOR DIGIT 1000\n"
    writer.write(b"HANGUP\n200 result=-1\n")
    assert await reader.readline() == b'STREAM FILE x ""\n'
    writer.write(b"511 Command Not Permitted on a dead channel or intercept routine\n")
    await asyncio.sleep(0.1)
    assert seen == [["100"], "0601020304", "hung up"]
    writer.close()
    await server.stop_accepting()


async def test_wait_for_digit_minus_one_is_the_caller_hanging_up():
    seen: list = []

    async def handler(chan: AgiChannel) -> None:
        caller = AgiCaller(chan, "hotline")
        seen.append(chan.hung_up)
        try:
            await caller.wait_digit(3)
        except CallerHungUp:
            seen.append(chan.hung_up)

    server, port = await start(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER)
    assert await reader.readline() == b"WAIT FOR DIGIT 3000\n"
    writer.write(b"200 result=-1\n")               # no HANGUP line (AGISIGHUP=no)
    await asyncio.sleep(0.1)
    assert seen == [False, True]
    writer.close()
    await server.stop_accepting()


async def test_wake_interrupts_wait_for_digit_with_a_noop():
    woke = asyncio.Event()
    result: list = []

    async def handler(chan: AgiChannel) -> None:
        reply = await chan.command("WAIT FOR DIGIT 5000", wake=woke)
        result.append(reply.result)
        result.append((await chan.command("NOOP")).result)

    server, port = await start(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER)
    assert await reader.readline() == b"WAIT FOR DIGIT 5000\n"
    woke.set()
    assert await reader.readline() == b"NOOP\n"       # the wake-up byte(s)
    writer.write(b"200 result=1\n200 result=0\n")       # the wait's reply, then the NOOP's
    assert await reader.readline() == b"NOOP\n"
    writer.write(b"200 result=0\n")
    await asyncio.sleep(0.1)
    assert result == [1, 0]
    writer.close()
    await server.stop_accepting()


async def test_an_interrupt_wakes_without_a_byte_on_the_socket_and_a_failed_one_falls_back():
    """The AMI wake (ivr/telephony/wake.py): Asterisk answers the wait with result=1000 and
    logs nothing; if AMI refuses, the NOOP wake as before."""
    woke = asyncio.Event()
    result: list = []
    interrupts: list[bool] = []

    async def handler(chan: AgiChannel) -> None:
        async def interrupt() -> bool:
            interrupts.append(len(interrupts) == 0)      # the first succeeds, the next fails
            return interrupts[-1]
        chan.interrupt = interrupt
        for _ in range(2):
            woke.clear()
            result.append((await chan.command("WAIT FOR DIGIT 5000", wake=woke)).result)

    server, port = await start(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER)
    assert await reader.readline() == b"WAIT FOR DIGIT 5000\n"
    woke.set()
    await asyncio.sleep(0.05)
    writer.write(b"200 result=1000\n")                 # what the stop frame makes it answer
    assert await reader.readline() == b"WAIT FOR DIGIT 5000\n"   # no NOOP in between
    woke.set()
    assert await reader.readline() == b"NOOP\n"       # AMI refused: the socket wake
    writer.write(b"200 result=1\n200 result=0\n")
    await asyncio.sleep(0.1)
    assert result == [1000, 1] and interrupts == [True, False]
    writer.close()
    await server.stop_accepting()


async def test_a_wait_about_to_end_is_not_woken():
    woke = asyncio.Event()
    result: list = []

    async def handler(chan: AgiChannel) -> None:
        result.append((await chan.command("WAIT FOR DIGIT 50", wake=woke)).result)

    server, port = await start(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER)
    assert await reader.readline() == b"WAIT FOR DIGIT 50\n"
    woke.set()
    await asyncio.sleep(0.05)
    writer.write(b"200 result=0\n")                    # it ended by itself…
    await asyncio.sleep(0.1)
    assert result == [0]
    assert await asyncio.wait_for(reader.read(), 2) == b""   # …no wake-up byte before the end
    writer.close()
    await server.stop_accepting()


async def test_peer_closing_before_header_end_ends_quietly_without_spinning():
    calls = []
    server, port = await start(lambda chan: calls.append(chan))
    for _ in range(20):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"agi_network: yes\nagi_chan")
        writer.close()
    await asyncio.sleep(0.2)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await asyncio.sleep(0.05)                           # the loop is free: no busy session
    assert loop.time() - t0 < 0.5
    assert calls == [] and not server.sessions
    await server.stop_accepting()


async def test_connections_from_unlisted_hosts_are_refused():
    calls = []
    server, port = await start(lambda chan: calls.append(chan), allowed=("10.9.9.9",))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER)
    try:
        assert await reader.read() == b""               # closed on us…
    except ConnectionResetError:                        # …or reset, with our header unread
        pass
    assert calls == []
    await server.stop_accepting()


async def test_a_handler_bug_stays_in_its_session():
    async def handler(chan: AgiChannel) -> None:
        raise RuntimeError("bug")

    server, port = await start(handler)
    for _ in range(2):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEADER)
        assert await reader.read() == b""
    assert server.accepting
    await server.stop_accepting()
