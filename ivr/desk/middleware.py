"""Two ASGI middlewares around every desk route: security headers on every answer, and the
session + CSRF check (who is signed in; every POST/PUT/PATCH/DELETE must carry the
session's CSRF token, or the sign-in form's double-submit token, in the form field
`csrf_token` or the X-CSRF-Token header)."""
from __future__ import annotations

import hmac
import logging
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .deps import DeskDeps
from .policy import needs_touch, session_alive
from .web import LOGIN_CSRF_COOKIE, SESSION_COOKIE, error_page, wants_page

log = logging.getLogger("ivr.desk")

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
MAX_BODY = 1_000_000                          # desk forms are small; refuse floods early
CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, tls: bool) -> None:
        self.app, self.tls = app, tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer"), (b"x-content-type-options", b"nosniff")]
                if not static:       # pages carry personal data: no copy in caches
                    headers.append((b"cache-control", b"no-store"))
                if self.tls:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


class SessionAndCsrf:
    def __init__(self, app: ASGIApp, deps: DeskDeps) -> None:
        self.app, self.deps = app, deps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        cookies = _cookies(scope)
        try:
            expired = await self._load_session(state, cookies.get(self.deps.cookie_name(SESSION_COOKIE)))
        except Exception as exc:       # the CRM database is down or locked: say so, not a 500
            log.warning("desk: cannot read sessions from %s: %s", self.deps.store.backend.where, exc)
            return await error_page(Request(scope), 503, "error.503")(scope, receive, send)
        state["desk_session_expired"] = expired
        if scope["method"] not in UNSAFE:
            return await self._guarded(scope, receive, send)
        if "desk_session" not in state and scope["path"] != "/login":
            # Nothing to protect without a session; the form's page asks to sign in again.
            if not wants_page(Request(scope)):
                answer: Response = JSONResponse({"error": "not signed in", "login": "/login"}, 401)
            else:
                answer = RedirectResponse("/login?expired=1" if expired else "/login", status_code=303)
            return await answer(scope, receive, send)
        body = await _read_body(receive)
        if body is None:
            return await error_page(Request(scope), 413, "error.413")(scope, receive, send)
        expected = (state["desk_session"].csrf_token if "desk_session" in state
                    else cookies.get(self.deps.cookie_name(LOGIN_CSRF_COOKIE), ""))
        sent = _sent_token(scope, body)
        if not expected or not sent or not hmac.compare_digest(expected, sent):
            log.warning("desk: %s %s refused: missing or wrong CSRF token", scope["method"], scope["path"])
            return await error_page(Request(scope), 403, "error.csrf")(scope, receive, send)
        await self._guarded(scope, _replay(body, receive), send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The route; if it fails before answering, the error page (inside the security
        headers, unlike Starlette's outermost error handler)."""
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("desk: %s %s failed", scope["method"], scope["path"])
            if started:
                raise
            await error_page(Request(scope), 500, "error.500")(scope, receive, send)

    async def _load_session(self, state: dict, token: str | None) -> bool:
        """Put the session and its user in the request state. Returns True if the cookie
        named a session that has expired (its row is deleted)."""
        if not token:
            return False
        row = await self.deps.accounts.find_session(token)
        if row is None:
            return False
        now = self.deps.now()
        if not session_alive(row.times, self.deps.idle, now):
            await self.deps.accounts.delete_session(row.token_hash)
            return True
        if needs_touch(row.times, now):
            await self.deps.accounts.touch_session(row.token_hash, now)
        state.update(desk_session=row, desk_user=row.user, desk_csrf=row.csrf_token)
        return False


def _cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:          # a malformed cookie header: as if none
                return {}
    return {k: m.value for k, m in jar.items()}


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if larger than MAX_BODY."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _sent_token(scope: Scope, body: bytes) -> str:
    headers = {k.lower(): v for k, v in scope.get("headers", [])}
    if header := headers.get(b"x-csrf-token"):
        return header.decode("latin-1")
    if headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("utf-8", "replace")).get("csrf_token", [])
        return values[0] if values else ""
    return ""                    # multipart or JSON: send the header


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read above, then the real channel (which tells of a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
