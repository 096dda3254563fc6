"""The desk's app factory: `create_app(deps) -> Starlette`. Routes come in groups, one per
module (auth, account, admin, pages, case_pages, contact_pages, kb_pages; the lead adds the agent's call pages); every answer goes through
the security headers and the session + CSRF check (middleware.py)."""
from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from . import account, admin, agent_desk, auth, case_pages, contact_pages, kb_pages, pages, task_desk
from . import attachment_desk, preview_desk, voicemail_desk
from .deps import DeskDeps
from .i18n import LANGUAGE_NAMES, translate
from .middleware import SecurityHeaders, SessionAndCsrf
from .web import error_page

__all__ = ["DeskDeps", "create_app", "make_templates"]

HERE = Path(__file__).resolve().parent


@jinja2.pass_context
def _t(context: jinja2.runtime.Context, key: str, **values: object) -> str:
    """`t('key', name=…)` in templates: the text in the page's language (`lang`)."""
    return translate(context.get("lang", "fr"), key, **values)


def make_templates() -> Jinja2Templates:
    """The desk's templates, always autoescaped (callers' and users' text is untrusted)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.globals.update(t=_t, language_names=LANGUAGE_NAMES)
    return Jinja2Templates(env=env)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return error_page(request, status, f"error.{status}" if status in (403, 404) else "error.500")


def create_app(deps: DeskDeps, extra_routes: list[Route | Mount] | None = None) -> Starlette:
    """The desk app on `deps`. `extra_routes`: more route groups (the agent's call pages)."""
    app = Starlette(
        routes=[*auth.routes, *account.routes, *pages.routes, *agent_desk.routes, *task_desk.routes,
                *voicemail_desk.routes, *attachment_desk.routes, *preview_desk.routes, *admin.routes,
                *case_pages.routes, *contact_pages.routes, *kb_pages.routes,
                *(extra_routes or []),
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static")],
        middleware=[Middleware(SecurityHeaders, tls=deps.tls), Middleware(SessionAndCsrf, deps=deps)],
        exception_handlers={HTTPException: _http_error},   # other errors: middleware.py
    )
    app.state.deps = deps
    return app
