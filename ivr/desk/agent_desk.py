"""The agent's desk page: state controls, the live screen-pop and the call's documentation.

Live parts are server-rendered fragments: the page opens one event stream (SSE) that only
says *what* changed (state, call, engine link); the page then fetches that panel's fragment.
A pop is therefore the same HTML whether it arrives live, after a reconnect or on reload.
Caller-controlled text (caller-ID name, transcript) reaches the page only through autoescaped
templates. Nothing personal goes into URLs: calls are named by their Asterisk id.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .agent_access import agent_page, engine_link
from .call_documentation import doc_context, documented_call
from .call_documentation import routes as documentation_routes
from .call_view import Phase, call_phase, wrapup_left
from .engine_link import ControlError, EngineLink
from .policy import needs_touch
from .pop_data import CallerFacts, call_panel_data, caller_facts
from .task_desk import task_list_context
from .web import SESSION_COOKIE, deps, form_fields, render

log = logging.getLogger("ivr.desk")
KEEPALIVE_S = 15.0             # a comment line this often: proxies and the browser see it alive
MORE_TIME_S = 60.0             # one press of "more time"
STATE_ACTIONS = ("ready", "pause", "logout", "login")


def _state_context(request: Request, agent: str, problem: str | None = None) -> dict[str, Any]:
    link = engine_link(request)
    view = link.agents.get(agent) if link.connected else None
    return {"agent": agent, "view": view, "connected": link.connected, "problem": problem,
            "wrapup_left": wrapup_left(view, time.time()),
            "pause_reasons": deps(request).desk.pause_reasons, "more_time_s": int(MORE_TIME_S)}


async def _call_context(request: Request, agent: str) -> tuple[dict[str, Any], CallerFacts | None]:
    """The call panel's context, and the caller's facts read for it (None when there is no
    call to show them for) so the documentation panel need not read them again."""
    link = engine_link(request)
    offer = link.offers.get(agent)
    lifecycle = link.calls.get(offer["call_id"]) if offer else None
    view = link.agents.get(agent) or {}
    phase = call_phase(agent, offer, lifecycle, view.get("state"))
    context: dict[str, Any] = {"agent": agent, "phase": phase.value, "offer": offer}
    if offer is None or phase is Phase.MISSED:
        return context, None
    facts = await caller_facts(deps(request).store, offer)
    return context | call_panel_data(facts), facts


@agent_page
async def desk_page(request: Request, agent: str) -> Response:
    call, facts = await _call_context(request, agent)
    # one context for both panels (their names do not overlap): the page includes them
    return render(request, "agent.html", _state_context(request, agent) | call
                  | await doc_context(request, agent, documented_call(request, agent), facts=facts)
                  | {"configured": agent in deps(request).agents}
                  | task_list_context(request, agent))


@agent_page
async def state_panel(request: Request, agent: str) -> Response:
    return render(request, "_agent_state.html", _state_context(request, agent))


@agent_page
async def call_panel(request: Request, agent: str) -> Response:
    return render(request, "_agent_call.html", (await _call_context(request, agent))[0])


@agent_page
async def change_state(request: Request, agent: str) -> Response:
    """Ready / pause (with a configured reason) / logout, as the phone codes and `ivr agent` do."""
    form = await form_fields(request)
    action, reason = form.get("action", ""), form.get("reason", "")
    reasons = {r.code for r in deps(request).desk.pause_reasons}
    problem = None
    if action not in STATE_ACTIONS:
        problem = "desk.state.unknown_action"
    elif action == "pause" and reason not in reasons:
        problem = "desk.state.pick_reason"
    else:
        problem = await _engine_command(engine_link(request).agent_action(
            agent, action, reason if action == "pause" else ""))
    return render(request, "_agent_state.html", _state_context(request, agent, problem),
                  status_code=200 if problem is None else 409)


@agent_page
async def wrapup(request: Request, agent: str) -> Response:
    """End the wrap-up now (ready) or ask for more time."""
    form = await form_fields(request)
    link = engine_link(request)
    if form.get("action") == "more":
        problem = await _engine_command(link.more_time(agent, MORE_TIME_S))
    else:
        problem = await _engine_command(link.agent_action(agent, "ready"))
    return render(request, "_agent_state.html", _state_context(request, agent, problem),
                  status_code=200 if problem is None else 409)


async def _engine_command(command: Any) -> str | None:
    """None when the engine did it; else a message key (the engine's reason is logged)."""
    try:
        await command
        return None
    except ControlError as exc:
        log.warning("desk: the engine refused or could not be reached: %s", exc)
        return "desk.engine.refused"


@agent_page
async def events(request: Request, agent: str) -> Response:
    """This agent's live changes as server-sent events: `state`, `call`, `engine`."""
    link = engine_link(request)
    token = request.cookies.get(deps(request).cookie_name(SESSION_COOKIE), "")
    return StreamingResponse(_agent_events(deps(request), link, agent, token),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _still_signed_in(desk: Any, token: str) -> bool:
    """An open desk page counts as in use (an agent waits for calls without clicking), so it
    keeps the session from idling out; a sign-out, a disabled user or the absolute end of the
    session close the stream."""
    row = await desk.accounts.find_session(token)
    now = desk.now()
    if row is None or now >= row.times.expires_at:
        return False
    if needs_touch(row.times, now):
        await desk.accounts.touch_session(row.token_hash, now)
    return True


async def _agent_events(desk: Any, link: EngineLink, agent: str, token: str) -> AsyncIterator[str]:
    async with link.listening(agent) as changes:
        yield "retry: 1000\n\n"
        while True:
            try:
                event = await asyncio.wait_for(changes.get(), KEEPALIVE_S)
            except TimeoutError:
                if not await _still_signed_in(desk, token):
                    yield "event: signed-out\ndata: {}\n\n"
                    return
                yield ": alive\n\n"
                continue
            yield f"event: {event['panel']}\ndata: {json.dumps(_brief(event))}\n\n"


def _brief(event: dict[str, Any]) -> dict[str, Any]:
    """What the page needs to know to refetch a panel; nothing personal on the wire twice."""
    payload = event["payload"]
    return {"topic": event["topic"], "call_id": payload.get("call_id"),
            "state": payload.get("state"), "connected": payload.get("connected")}


routes = [
    *documentation_routes,
    Route("/agent/{name}", desk_page, methods=["GET"]),
    Route("/agent/{name}/events", events, methods=["GET"]),
    Route("/agent/{name}/panel/state", state_panel, methods=["GET"]),
    Route("/agent/{name}/panel/call", call_panel, methods=["GET"]),
    Route("/agent/{name}/state", change_state, methods=["POST"]),
    Route("/agent/{name}/wrapup", wrapup, methods=["POST"]),
]
