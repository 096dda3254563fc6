"""Who may open which agent's desk pages, and the engine link they read (shared by the agent's
page and the call documentation)."""
from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from .engine_link import EngineLink
from .policy import may_see_agent
from .web import current_user, deps, error_page, forbidden, require

AgentEndpoint = Callable[[Request, str], Awaitable[Response]]


def agent_page(endpoint: AgentEndpoint) -> Callable[[Request], Awaitable[Response]]:
    """Guard a page of `/agent/{name}/…`: signed in as an agent at least, and allowed to see
    that agent's desk (its own, or any as a supervisor); the endpoint gets the agent's name."""
    @require("agent")
    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        agent, refused = _agent_or_refusal(request)
        return refused if refused is not None else await endpoint(request, agent)
    return guarded


def _agent_or_refusal(request: Request) -> tuple[str, Response | None]:
    user, agent = current_user(request), request.path_params["name"]
    assert user is not None                      # @require ran first
    if not may_see_agent(user, agent):
        return agent, forbidden(request)
    if agent not in deps(request).agents and agent != user.name:
        return agent, error_page(request, 404, "error.404")
    return agent, None


def engine_link(request: Request) -> EngineLink:
    return deps(request).engine
