"""A provider-neutral webhook for SMS gateways: POST JSON {from, to, text, id} with the header
`X-Signature: sha256=<hex HMAC-SHA256 of the raw body>` (key: $IVR_SMS_WEBHOOK_SECRET).

It is served by the engine, not the desk: the engine holds the TaskHub the SMS must reach
(the desk would need one more hop over the control socket), only the active engine of a
cluster starts its channels (a standby refuses the connection, the gateway retries), and the
agents' server stays closed to the gateways. Answers: 200 only after the CRM commit (a
gateway that saw no 200 sends again, and the `id` makes that a duplicate, answered 200
too), 401 bad signature, 400 bad JSON, 413 too large, 429 a flood from one number (retry
later), 503 CRM unavailable (retry later).
"""
from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .settings import SmsWebhookSettings
from .mail_rules import Throttle
from .sms_rules import BadSms, parse_webhook, signature_ok

log = logging.getLogger(__name__)


class SmsWebhook:
    def __init__(self, settings: SmsWebhookSettings, channel: Any) -> None:
        self.settings = settings
        self.channel = channel
        self.secret = settings.secret()      # fails at start, with the variable's name
        self.app = Starlette(routes=[Route(settings.path, self.inbound, methods=["POST"])])
        self.server: uvicorn.Server | None = None
        self.throttle = Throttle(settings.max_per_sender, settings.window_seconds)

    async def inbound(self, request: Request) -> JSONResponse:
        limit = self.settings.max_request_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _error(413, f"the request is larger than {limit} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _error(413, f"the request is larger than {limit} bytes")
        if not signature_ok(self.secret, body, request.headers.get("x-signature")):
            return _error(401, "missing or wrong X-Signature (sha256=<hex HMAC-SHA256 of the body>)")
        try:
            # surrogateescape: invalid UTF-8 in a text is repaired with a note, not refused
            payload = json.loads(body.decode("utf-8", errors="surrogateescape"))
            sms = parse_webhook(payload, self.channel.settings.max_body_chars)
        except (ValueError, BadSms) as exc:   # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return _error(400, str(exc) if isinstance(exc, BadSms) else "the body is not JSON")
        if not self.throttle.allow(sms.sender, time.monotonic()):
            return JSONResponse({"ok": False, "error": f"more than {self.settings.max_per_sender} messages "
                                 f"from this number in {self.settings.window_seconds:g} s; send again later"},
                                status_code=429, headers={"Retry-After": str(int(self.settings.window_seconds))})
        try:
            ing = await self.channel.accept(sms)
        except Exception as exc:  # noqa: BLE001 — the gateway must retry, not lose the SMS
            log.error("sms webhook: could not store a message (%s); answered 503 so the gateway "
                      "sends it again", exc)
            return _error(503, "the message could not be stored; send it again later")
        return JSONResponse({"ok": True, "task_id": ing.task_id, "duplicate": ing.duplicate})

    async def serve(self) -> None:
        config = uvicorn.Config(self.app, host=self.settings.host, port=self.settings.port,
                                log_level="warning", access_log=False, lifespan="off")
        self.server = _EngineServer(config)
        await self.server.serve()

    @property
    def port(self) -> int | None:
        """The bound port (port 0 in the settings: the one the system chose)."""
        if self.server is None or not self.server.started:
            return None
        return self.server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True


class _EngineServer(uvicorn.Server):
    """uvicorn inside the engine's loop: the engine owns SIGTERM/SIGINT (its graceful stop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)
