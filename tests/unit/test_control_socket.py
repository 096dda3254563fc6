"""The control socket (ivr/app/control.py) is one engine's: a second engine on the same path
(a standby on the same box with the default `control.socket`) is refused instead of taking
the socket over and receiving the first engine's `ivr agent login`; a socket file left by a
crash is replaced."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ivr.app.control import ControlServer, request


async def test_a_second_engine_on_a_live_control_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ivr-control.sock"
    first = ControlServer(path, lambda req: {"ok": True, "engine": "first"})
    await first.start()
    try:
        second = ControlServer(path, lambda req: {"ok": True, "engine": "second"})
        with pytest.raises(OSError, match="another engine serves the control socket .*control: socket:"):
            await second.start()
        answer = await _ask(path)
        assert answer["engine"] == "first"           # still reaches the first engine
    finally:
        await first.stop()


async def test_a_socket_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "ivr-control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))                         # bound, never listening: a crashed engine's
    assert path.exists()
    server = ControlServer(path, lambda req: {"ok": True, "engine": "new"})
    await server.start()
    try:
        assert (await _ask(path))["engine"] == "new"
    finally:
        await server.stop()


async def _ask(path: Path) -> dict:
    import asyncio
    return await asyncio.to_thread(request, path, {"cmd": "ping"})
