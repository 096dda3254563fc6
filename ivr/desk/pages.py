"""The start page's redirect and the placeholder pages (the agent's desk: agent_desk.py)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .policy import home_path
from .web import current_user, deps, render, require


@require("agent")
async def home(request: Request) -> Response:
    user = current_user(request)
    assert user is not None
    return RedirectResponse(home_path(user), status_code=303)


@require("supervisor")
async def supervisor(request: Request) -> Response:
    return render(request, "supervisor.html", {"agents": sorted(deps(request).agents)})


@require("admin")
async def admin_home(request: Request) -> Response:
    return render(request, "admin.html")


routes = [
    Route("/", home, methods=["GET"]),
    Route("/supervisor", supervisor, methods=["GET"]),
    Route("/admin", admin_home, methods=["GET"]),
]
