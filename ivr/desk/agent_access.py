"""Who may open which agent's desk pages, and the engine link they read (shared by the agent's
page and the call documentation)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .engine_link import EngineLink
from .policy import may_see_agent
from .web import current_user, deps, error_page, forbidden


def agent_or_refusal(request: Request) -> tuple[str, Response | None]:
    user, agent = current_user(request), request.path_params["name"]
    assert user is not None                      # @require ran first
    if not may_see_agent(user, agent):
        return agent, forbidden(request)
    if agent not in deps(request).agents and agent != user.name:
        return agent, error_page(request, 404, "error.404")
    return agent, None


def engine_link(request: Request) -> EngineLink:
    return deps(request).engine
