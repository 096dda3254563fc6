"""The start page's redirect and the placeholder pages (the agent's desk is the lead's)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .policy import home_path, may_see_agent
from .web import current_user, deps, error_page, forbidden, render, require


@require("agent")
async def home(request: Request) -> Response:
    user = current_user(request)
    assert user is not None
    return RedirectResponse(home_path(user), status_code=303)


@require("agent")
async def agent_desk(request: Request) -> Response:
    user, agent = current_user(request), request.path_params["name"]
    assert user is not None
    if not may_see_agent(user, agent):
        return forbidden(request)
    configured = agent in deps(request).agents
    if not configured and agent != user.name:
        return error_page(request, 404, "error.404")
    return render(request, "agent.html", {"agent": agent, "configured": configured})


@require("supervisor")
async def supervisor(request: Request) -> Response:
    return render(request, "supervisor.html", {"agents": sorted(deps(request).agents)})


@require("admin")
async def admin_home(request: Request) -> Response:
    return render(request, "admin.html")


routes = [
    Route("/", home, methods=["GET"]),
    Route("/agent/{name}", agent_desk, methods=["GET"]),
    Route("/supervisor", supervisor, methods=["GET"]),
    Route("/admin", admin_home, methods=["GET"]),
]
