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

from .call_view import Phase, call_phase, wrapup_left
from ivr.crm.errors import CaseRefused, CrmError
from ivr.knowledge.store import KnowledgeBase

from .engine_link import ControlError, EngineLink
from .policy import may_see_agent
from .pop_data import call_panel_data, documentation
from .web import current_user, deps, error_page, forbidden, form_fields, render, require

log = logging.getLogger("ivr.desk")
KEEPALIVE_S = 15.0             # a comment line this often: proxies and the browser see it alive
MORE_TIME_S = 60.0             # one press of "more time"
STATE_ACTIONS = ("ready", "pause", "logout", "login")


def _agent_or_refusal(request: Request) -> tuple[str, Response | None]:
    user, agent = current_user(request), request.path_params["name"]
    assert user is not None                      # @require ran first
    if not may_see_agent(user, agent):
        return agent, forbidden(request)
    if agent not in deps(request).agents and agent != user.name:
        return agent, error_page(request, 404, "error.404")
    return agent, None


def _link(request: Request) -> EngineLink:
    return deps(request).engine


def _state_context(request: Request, agent: str, problem: str | None = None) -> dict[str, Any]:
    link = _link(request)
    view = link.agents.get(agent) if link.connected else None
    return {"agent": agent, "view": view, "connected": link.connected, "problem": problem,
            "wrapup_left": wrapup_left(view, time.time()),
            "pause_reasons": deps(request).desk.pause_reasons, "more_time_s": int(MORE_TIME_S)}


async def _call_context(request: Request, agent: str) -> dict[str, Any]:
    link = _link(request)
    offer = link.offers.get(agent)
    lifecycle = link.calls.get(offer["call_id"]) if offer else None
    view = link.agents.get(agent) or {}
    phase = call_phase(agent, offer, lifecycle, view.get("state"))
    context: dict[str, Any] = {"agent": agent, "phase": phase.value, "offer": offer}
    if offer is not None and phase is not Phase.MISSED:
        context |= await call_panel_data(deps(request), offer, agent)
    return context


def _documented_call(request: Request, agent: str) -> str | None:
    """The call the documentation panel is for: the agent's latest call it took (ringing calls
    are documented once answered; a missed one is not theirs to document)."""
    link = _link(request)
    offer = link.offers.get(agent)
    if offer is None:
        return None
    phase = call_phase(agent, offer, link.calls.get(offer["call_id"]), (link.agents.get(agent) or {}).get("state"))
    return offer["call_id"] if phase in (Phase.TALKING, Phase.AFTER) else None


async def _doc_context(request: Request, agent: str, call_id: str | None,
                       values: dict[str, Any] | None = None, problems: dict[str, str] | None = None,
                       saved_at: Any = None) -> dict[str, Any]:
    settings = deps(request).settings.documentation
    context: dict[str, Any] = {"agent": agent, "call_id": call_id, "reasons": settings.contact_reasons,
                               "outcomes": settings.outcomes, "problems": problems or {},
                               "saved_at": saved_at, "articles": [], "ae_case": None,
                               "contact_id": None,
                               "values": {"reason": "", "outcome": "", "notes": "", "articles": []}}
    if call_id is None:
        return context
    store = deps(request).store
    offer = _link(request).offers.get(agent) or {}
    saved = await store.live_read(documentation(store, call_id, agent), None, "the call's documentation")
    if values is None and saved is not None:
        values, context["saved_at"] = saved, saved_at or saved["at"]
    context["values"] |= {k: v for k, v in (values or {}).items() if k in context["values"]}
    suggested = await store.live_read(KnowledgeBase(store).suggest(
        offer.get("intent"), offer.get("transcript"), offer.get("language")), [], "the articles to suggest")
    chosen = set(context["values"]["articles"])
    context["articles"] = suggested + [a for a in await _articles(store, chosen - {h.id for h in suggested})]
    cases = await store.live_read(store.list_cases(kind="adverse_event", call_id=call_id), [], "the call's cases")
    context["ae_case"] = cases[0]["case_id"] if cases else None
    if offer.get("caller"):
        contact = await store.live_read(store.find_contact(offer["caller"]), None, "the caller's contact")
        context["contact_id"] = contact["id"] if contact else None
    return context


async def _articles(store: Any, ids: set[str]) -> list[dict[str, Any]]:
    """Articles chosen earlier that are no longer among the suggestions: still listed, ticked."""
    kb = KnowledgeBase(store)
    found = [await kb.article(i) for i in sorted(ids)]
    return [a for a in found if a is not None]


@require("agent")
async def doc_panel(request: Request) -> Response:
    agent, refused = _agent_or_refusal(request)
    if refused:
        return refused
    return render(request, "_agent_doc.html", await _doc_context(request, agent, _documented_call(request, agent)))


@require("agent")
async def save_documentation(request: Request) -> Response:
    """Save (again: every save is a version) the agent's documentation of one of its calls."""
    agent, refused = _agent_or_refusal(request)
    if refused:
        return refused
    call_id = request.path_params["call_id"]
    store = deps(request).store
    if call_id != _documented_call(request, agent):
        record = await store.get_call(call_id)
        if record is None or record.agent != agent:
            return error_page(request, 404, "error.404")
    form = await request.form()
    values = {"reason": str(form.get("reason", "")), "outcome": str(form.get("outcome", "")),
              "notes": str(form.get("notes", "")),
              "articles": [str(a) for a in form.getlist("articles")]}
    try:
        saved = await store.save_call_documentation(call_id, agent, values["reason"], values["outcome"],
                                                    values["notes"], values["articles"], now=deps(request).now())
    except CaseRefused as exc:
        problems = {field: message for field, message in exc.problems}
        return render(request, "_agent_doc.html",
                      await _doc_context(request, agent, call_id, values, problems), status_code=422)
    except CrmError as exc:
        log.warning("desk: documentation of call %s not saved: %s", call_id, exc)
        return render(request, "_agent_doc.html",
                      await _doc_context(request, agent, call_id, values, {"form": "crm"}), status_code=503)
    return render(request, "_agent_doc.html",
                  await _doc_context(request, agent, call_id, values, saved_at=saved["at"]))


@require("agent")
async def desk_page(request: Request) -> Response:
    agent, refused = _agent_or_refusal(request)
    if refused:
        return refused
    # one context for both panels (their names do not overlap): the page includes them
    return render(request, "agent.html", _state_context(request, agent)
                  | await _call_context(request, agent)
                  | await _doc_context(request, agent, _documented_call(request, agent))
                  | {"configured": agent in deps(request).agents})


@require("agent")
async def state_panel(request: Request) -> Response:
    agent, refused = _agent_or_refusal(request)
    if refused:
        return refused
    return render(request, "_agent_state.html", _state_context(request, agent))


@require("agent")
async def call_panel(request: Request) -> Response:
    agent, refused = _agent_or_refusal(request)
    if refused:
        return refused
    return render(request, "_agent_call.html", await _call_context(request, agent))


@require("agent")
async def change_state(request: Request) -> Response:
    """Ready / pause (with a configured reason) / logout, as the phone codes and `ivr agent` do."""
    agent, refused = _agent_or_refusal(request)
    if refused:
        return refused
    form = await form_fields(request)
    action, reason = form.get("action", ""), form.get("reason", "")
    reasons = {r.code for r in deps(request).desk.pause_reasons}
    problem = None
    if action not in STATE_ACTIONS:
        problem = "desk.state.unknown_action"
    elif action == "pause" and reason not in reasons:
        problem = "desk.state.pick_reason"
    else:
        problem = await _engine_command(_link(request).agent_action(
            agent, action, reason if action == "pause" else ""))
    return render(request, "_agent_state.html", _state_context(request, agent, problem),
                  status_code=200 if problem is None else 409)


@require("agent")
async def wrapup(request: Request) -> Response:
    """End the wrap-up now (ready) or ask for more time."""
    agent, refused = _agent_or_refusal(request)
    if refused:
        return refused
    form = await form_fields(request)
    link = _link(request)
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


@require("agent")
async def events(request: Request) -> Response:
    """This agent's live changes as server-sent events: `state`, `call`, `engine`."""
    agent, refused = _agent_or_refusal(request)
    if refused:
        return refused
    link = _link(request)
    return StreamingResponse(_agent_events(link, agent), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _agent_events(link: EngineLink, agent: str) -> AsyncIterator[str]:
    async with link.listening() as changes:
        yield "retry: 1000\n\n"
        while True:
            try:
                event = await asyncio.wait_for(changes.get(), KEEPALIVE_S)
            except TimeoutError:
                yield ": alive\n\n"
                continue
            kind = _relevance(event, agent, link)
            if kind is not None:
                yield f"event: {kind}\ndata: {json.dumps(_brief(event))}\n\n"


def _relevance(event: dict[str, Any], agent: str, link: EngineLink) -> str | None:
    topic = event["topic"]
    if topic == f"agents/{agent}":
        return "state"
    if topic == f"offers/{agent}":
        return "call"
    if topic.startswith("calls/"):
        offer = link.offers.get(agent)
        return "call" if offer and topic.startswith(f"calls/{offer['call_id']}/") else None
    if topic in ("engine", "resync"):
        return "engine"
    return None


def _brief(event: dict[str, Any]) -> dict[str, Any]:
    """What the page needs to know to refetch a panel; nothing personal on the wire twice."""
    payload = event["payload"]
    return {"topic": event["topic"], "call_id": payload.get("call_id"),
            "state": payload.get("state"), "connected": payload.get("connected")}


routes = [
    Route("/agent/{name}", desk_page, methods=["GET"]),
    Route("/agent/{name}/events", events, methods=["GET"]),
    Route("/agent/{name}/panel/state", state_panel, methods=["GET"]),
    Route("/agent/{name}/panel/call", call_panel, methods=["GET"]),
    Route("/agent/{name}/panel/doc", doc_panel, methods=["GET"]),
    Route("/agent/{name}/calls/{call_id}/documentation", save_documentation, methods=["POST"]),
    Route("/agent/{name}/state", change_state, methods=["POST"]),
    Route("/agent/{name}/wrapup", wrapup, methods=["POST"]),
]
