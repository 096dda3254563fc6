"""The engine's control socket: the CLI (`ivr agent …`, `ivr queues`, `ivr agents`) and the
desk talk to the running engine over a Unix socket (mode 0600), one JSON request and one JSON
answer a line; `{"cmd": "subscribe"}` instead keeps the connection as a live event stream
(ivr/app/feed.py).
"""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], dict[str, Any]]
Stream = Callable[[asyncio.StreamWriter], Awaitable[None]]


class ControlError(Exception):
    """The engine could not be reached or refused the request; the message says why, and
    `problems` lists what to fix when the engine gave them (a refused reload)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


class ControlServer:
    def __init__(self, path: Path, handler: Handler, stream: Stream | None = None):
        self.path, self.handler, self.stream = path, handler, stream
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A socket left by a crash is replaced; one that answers belongs to a live engine
        # (a standby on the same box): taking it over would send its commands to us.
        if _answers(self.path):
            raise OSError(f"another engine serves the control socket {self.path}: give this "
                          "engine its own `control: socket:` path in its engine.yaml")
        self.path.unlink(missing_ok=True)
        old_umask = os.umask(0o177)            # the socket is born 0600: only its owner
        try:
            self._server = await asyncio.start_unix_server(self._serve, str(self.path))
        finally:
            os.umask(old_umask)

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            try:
                request = json.loads(line)
                if self.stream is not None and request.get("cmd") == "subscribe":
                    await self.stream(writer)
                    return
                answer = self.handler(request)
                if inspect.isawaitable(answer):   # commands that write the CRM or send mail
                    answer = await answer
            except (ValueError, KeyError, TypeError) as exc:
                answer = {"ok": False, "error": f"bad request: {exc}"}
            except Exception as exc:
                log.exception("control request failed: %r", line[:200])
                answer = {"ok": False, "error": f"engine error: {exc}"}
            writer.write(json.dumps(answer, default=str).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


def request(path: Path, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one request to the running engine (used by the CLI)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps(payload).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        raise ControlError(f"the engine is not running (no control socket at {path}): "
                           "start it with `ivr serve`") from None
    except OSError as exc:
        raise ControlError(f"could not talk to the engine at {path}: {exc}") from None
    answer = json.loads(data or b"{}")
    if not answer.get("ok"):
        raise ControlError(answer.get("error", "the engine refused the request"),
                           answer.get("problems"))
    return answer


async def request_async(path: Path, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """`request` for asyncio code (the desk): never blocks its event loop."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), timeout)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ControlError(f"the engine is not running (no control socket at {path})") from None
    except (OSError, TimeoutError) as exc:
        raise ControlError(f"could not talk to the engine at {path}: {exc}") from None
    try:
        writer.write(json.dumps(payload).encode() + b"\n")
        data = await asyncio.wait_for(reader.readline(), timeout)
    except (OSError, TimeoutError) as exc:
        raise ControlError(f"the engine did not answer at {path}: {exc or 'timed out'}") from None
    finally:
        writer.close()
    answer = json.loads(data or b"{}")
    if not answer.get("ok"):
        raise ControlError(answer.get("error", "the engine refused the request"),
                           answer.get("problems"))
    return answer


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:                 # absent, stale (ECONNREFUSED) or not a socket
            return False
    return True
