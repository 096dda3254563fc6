"""Sign-in and sign-out."""
from __future__ import annotations

import logging
import math
import secrets
from datetime import datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .policy import locked_until, session_expiry
from .web import LOGIN_CSRF_COOKIE, SESSION_COOKIE, client_address, current_user, deps, form_fields, render

log = logging.getLogger("ivr.desk")


async def login_page(request: Request) -> Response:
    if current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    notice = ("login.expired" if request.query_params.get("expired")
              else "login.logged_out" if request.query_params.get("out") else None)
    return _login_form(request, notice=notice)


async def login(request: Request) -> Response:
    d = deps(request)
    fields = await form_fields(request)
    name, password = fields.get("name", "").strip().lower(), fields.get("password", "")
    if not name or not password:
        return _login_form(request, name, error="login.missing", status_code=400)
    now, address = d.now(), client_address(request)
    failures = await d.accounts.failures(name, address, now - d.throttle.window)
    if until := locked_until(failures, d.throttle, now):
        return _locked(request, name, until, now)
    row = await d.accounts.get_user(name)
    if not await d.passwords.verify(row.password_hash if row else None, password):
        await d.accounts.record_failure(name, address, now, forget_before=now - d.throttle.window)
        # An unknown name is not logged: it is often a password typed in the wrong field.
        log.info("desk: failed sign-in for %s", name if row else "an unknown name")
        if until := locked_until([*failures, now], d.throttle, now):
            return _locked(request, name, until, now)
        return _login_form(request, name, error="login.wrong", status_code=401)
    assert row is not None
    if row.user.disabled:
        return _login_form(request, name, error="login.disabled", status_code=403)
    await d.accounts.clear_failures(name, address)
    if d.passwords.needs_rehash(row.password_hash):     # hash parameters changed since
        await d.accounts.rehash_password(name, await d.passwords.hash(password), now)
    new = await d.accounts.create_session(name, now, session_expiry(now, d.max_age))
    log.info("desk: %s signed in", name)
    response = RedirectResponse("/", status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, new.token)
    response.delete_cookie(d.cookie_name(LOGIN_CSRF_COOKIE), secure=d.tls, httponly=True, samesite="strict")
    return response


async def logout(request: Request) -> Response:
    d = deps(request)
    session = request.scope["state"].get("desk_session")
    if session is not None:
        await d.accounts.delete_session(session.token_hash)
        log.info("desk: %s signed out", session.user.name)
    response = RedirectResponse("/login?out=1", status_code=303)
    response.delete_cookie(d.cookie_name(SESSION_COOKIE), secure=d.tls, httponly=True, samesite="strict")
    return response


def _login_form(request: Request, name: str = "", error: str | None = None,
                notice: str | None = None, status_code: int = 200, **values: object) -> Response:
    """The sign-in page with a fresh double-submit CSRF token in a cookie and in the form."""
    token = secrets.token_urlsafe(32)
    request.scope.setdefault("state", {})["desk_csrf"] = token
    response = render(request, "login.html", {"name": name, "error": error, "notice": notice,
                                              "values": values}, status_code)
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


def _locked(request: Request, name: str, until: datetime, now: datetime) -> Response:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    log.warning("desk: sign-in locked for a name from one address until %s", until.isoformat())
    return _login_form(request, name, error="login.locked", status_code=429,
                       minutes=minutes, time=until.strftime("%H:%M"))


def _set_cookie(request: Request, response: Response, base: str, value: str) -> None:
    d = deps(request)
    response.set_cookie(d.cookie_name(base), value, path="/", secure=d.tls, httponly=True,
                        samesite="strict")


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
