"""Preview dialing on the desk (issue 15): the next record of the agent's preview campaign
(contact, reason, history), then Dial (the agent's phone rings first, then the customer's)
or Skip with a reason. The engine reserves the record for this agent and applies the rules
(ivr/app/preview.py); the desk only shows and asks. The contact's text is autoescaped."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ivr.app.preview import SKIP_REASONS

from .agent_access import agent_page, engine_link
from .engine_link import ControlError
from .pop_data import call_panel_data, caller_facts
from .web import deps, form_fields, render


async def _ask(request: Request, payload: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    try:
        answer = await engine_link(request).command({"cmd": "campaign", **payload})
    except ControlError as exc:
        return {}, str(exc)
    return answer, None if answer.get("ok") else answer.get("error", "refused")


async def _page(request: Request, agent: str, notice: str | None = None,
                problem: str | None = None, status_code: int = 200) -> Response:
    answer, error = await _ask(request, {"action": "preview_next", "agent": agent})
    record = answer.get("record")
    context: dict[str, Any] = {"agent": agent, "record": record, "why": answer.get("why"),
                               "problem": problem or error, "notice": notice,
                               "skip_reasons": SKIP_REASONS, "dialled": False}
    if record:
        facts = await caller_facts(deps(request).store, {"caller": record["number"],
                                                         "call_id": record["attempt"]})
        context |= call_panel_data(facts)
    return render(request, "preview.html", context, status_code=status_code)


@agent_page
async def preview_page(request: Request, agent: str) -> Response:
    return await _page(request, agent)


@agent_page
async def preview_action(request: Request, agent: str) -> Response:
    form = await form_fields(request)
    action, attempt = form.get("action", ""), form.get("attempt", "")
    if action == "dial":
        _, error = await _ask(request, {"action": "preview_dial", "agent": agent, "attempt": attempt})
        notice = None if error else "desk.preview.dialling"
    elif action == "skip":
        _, error = await _ask(request, {"action": "preview_skip", "agent": agent, "attempt": attempt,
                                        "reason": form.get("reason", "")})
        notice = None if error else "desk.preview.skipped"
    else:
        error, notice = "unknown action", None
    if error is None and action == "dial":
        return render(request, "preview.html", {"agent": agent, "record": None, "notice": notice,
                                                "problem": None, "why": None, "dialled": True,
                                                "skip_reasons": SKIP_REASONS})
    return await _page(request, agent, notice, error, 200 if error is None else 409)


routes = [
    Route("/agent/{name}/preview", preview_page, methods=["GET"]),
    Route("/agent/{name}/preview", preview_action, methods=["POST"]),
]
