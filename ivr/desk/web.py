"""Helpers every desk route uses: who is signed in, role guards, pages and errors."""
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from .deps import DeskDeps
from .i18n import pick_language, translate
from .policy import DeskUser, may_see_agent, role_at_least  # noqa: F401  (may_see_agent: API)

SESSION_COOKIE = "desk_session"
LOGIN_CSRF_COOKIE = "desk_login_csrf"     # double-submit token of the sign-in form
Endpoint = Callable[[Request], Awaitable[Response]]


def deps(request: Request) -> DeskDeps:
    return request.app.state.deps


def current_user(request: Request) -> DeskUser | None:
    """The signed-in user (set by the session middleware), or None."""
    return request.scope.get("state", {}).get("desk_user")


def csrf_token(request: Request) -> str:
    """The token forms must send back (field `csrf_token` or header X-CSRF-Token)."""
    return request.scope.get("state", {}).get("desk_csrf", "")


def language(request: Request) -> str:
    """The signed-in user's choice; before sign-in, the browser's (else desk.language)."""
    user = current_user(request)
    if user:
        return user.language
    return pick_language(request.headers.get("accept-language"), deps(request).desk.language)


def render(request: Request, template: str, context: dict[str, Any] | None = None,
           status_code: int = 200) -> Response:
    base = {"user": current_user(request), "lang": language(request), "csrf_token": csrf_token(request),
            "path": request.url.path}
    return deps(request).templates.TemplateResponse(request, template, base | (context or {}),
                                                    status_code=status_code)


def error_page(request: Request, status_code: int, message_key: str) -> Response:
    """The error as a page for people, as JSON {"error": text} for scripts."""
    if not wants_page(request):
        return JSONResponse({"error": translate("en", message_key)}, status_code=status_code)
    return render(request, "error.html", {"status": status_code, "message_key": message_key}, status_code)


def forbidden(request: Request) -> Response:
    return error_page(request, 403, "error.403")


def wants_page(request: Request) -> bool:
    """A person's page load, not a script's fetch or EventSource (those get JSON errors)."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept or not ("json" in accept or "event-stream" in accept)


def require(role: str) -> Callable[[Endpoint], Endpoint]:
    """Guard an endpoint: signed in (else to /login; 401 JSON for scripts) with at least
    `role` (else 403)."""
    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            user = current_user(request)
            if user is None:
                if not wants_page(request):
                    return JSONResponse({"error": "not signed in", "login": "/login"}, status_code=401)
                expired = request.scope.get("state", {}).get("desk_session_expired")
                return RedirectResponse("/login?expired=1" if expired else "/login", status_code=303)
            if not role_at_least(user, role):
                return forbidden(request)
            return await endpoint(request)
        return guarded
    return wrap


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def form_fields(request: Request) -> dict[str, str]:
    """A form's text fields (files ignored), stripped of nothing: callers decide."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}
