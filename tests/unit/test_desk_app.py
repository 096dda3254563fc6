"""The desk app called in-process through ASGI (no network), on a real SQLite CRM file:
security headers on every answer (error pages included), the sign-in CSRF cookie, and the
session check, with the app's clock set by the test."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ivr.config import Settings
from ivr.crm.store import open_store
from ivr.desk.app import create_app, make_templates
from ivr.desk.deps import DeskDeps
from ivr.desk.engine_link import EngineLink
from ivr.desk.users import DeskAccounts

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


async def boom(request: Request) -> Response:
    raise RuntimeError("a bug in a page")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def app_and_clock(tmp_path: Path):
    store = await open_store(f"sqlite:///{tmp_path}/crm.db")
    clock = Clock()
    deps = DeskDeps(settings=Settings(), store=store, templates=make_templates(),
                    agents=frozenset({"alice"}), now=clock,
                    engine=EngineLink(tmp_path / "no-engine.sock"))     # never started: engine away
    hashed = await deps.passwords.hash("alice-secret-1")
    await DeskAccounts(store).add_user("alice", "agent", "en", hashed, T0)
    try:
        yield create_app(deps, extra_routes=[Route("/boom", boom)]), clock
    finally:
        await store.close()


async def call(app, method: str, path: str, *, cookies: dict[str, str] | None = None,
               form: dict[str, str] | None = None) -> tuple[int, dict[str, str], list[str], str]:
    """One request through the ASGI app: (status, headers, set-cookie lines, body)."""
    body = urlencode(form).encode() if form is not None else b""
    headers = [(b"host", b"desk.test"), (b"accept", b"text/html")]
    if cookies:
        headers.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    if form is not None:
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8480)}
    messages: list[dict[str, Any]] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    start = messages[0]
    all_headers = [(k.decode(), v.decode()) for k, v in start["headers"]]
    text = b"".join(m.get("body", b"") for m in messages[1:]).decode()
    return start["status"], dict(all_headers), [v for k, v in all_headers if k == "set-cookie"], text


def cookie_value(set_cookies: list[str], name: str) -> str:
    (line,) = [c for c in set_cookies if c.startswith(name + "=")]
    return line.split(";")[0].split("=", 1)[1]


async def sign_in(app) -> str:
    _, _, set_cookies, page = await call(app, "GET", "/login")
    token = cookie_value(set_cookies, "desk_login_csrf")
    assert f'value="{token}"' in page                       # the same token in the form
    status, headers, set_cookies, _ = await call(
        app, "POST", "/login", cookies={"desk_login_csrf": token},
        form={"csrf_token": token, "name": "alice", "password": "alice-secret-1"})
    assert status == 303 and headers["location"] == "/"
    return cookie_value(set_cookies, "desk_session")


async def test_an_error_page_carries_the_security_headers_too(app_and_clock):
    app, _ = app_and_clock
    session = await sign_in(app)
    status, headers, _, page = await call(app, "GET", "/boom", cookies={"desk_session": session})
    assert status == 500 and "Internal error" in page and "a bug in a page" not in page
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert headers["x-frame-options"] == "DENY"
    status, headers, _, _ = await call(app, "GET", "/no-such-page", cookies={"desk_session": session})
    assert status == 404 and headers["referrer-policy"] == "no-referrer"


async def test_the_idle_timeout_is_counted_on_the_apps_clock(app_and_clock):
    app, clock = app_and_clock
    session = await sign_in(app)
    clock.now = T0 + timedelta(minutes=59)
    status, _, _, _ = await call(app, "GET", "/agent/alice", cookies={"desk_session": session})
    assert status == 200                                    # and last_seen moves to 09:59
    clock.now = T0 + timedelta(minutes=59 + 59)
    assert (await call(app, "GET", "/agent/alice", cookies={"desk_session": session}))[0] == 200
    clock.now += timedelta(minutes=60)
    status, headers, _, _ = await call(app, "GET", "/agent/alice", cookies={"desk_session": session})
    assert status == 303 and headers["location"] == "/login?expired=1"


async def test_the_absolute_lifetime_ends_a_session_in_use(app_and_clock):
    app, clock = app_and_clock
    session = await sign_in(app)
    for minutes in range(30, 12 * 60, 30):                  # used every half hour all day
        clock.now = T0 + timedelta(minutes=minutes)
        assert (await call(app, "GET", "/agent/alice", cookies={"desk_session": session}))[0] == 200
    clock.now = T0 + timedelta(hours=12)
    assert (await call(app, "GET", "/agent/alice", cookies={"desk_session": session}))[0] == 303
