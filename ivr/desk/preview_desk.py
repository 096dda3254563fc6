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
from ivr.outbound.followup import criterion_field, case_changes

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
                               "skip_reasons": SKIP_REASONS, "case": None, "case_inputs": []}
    if record:
        facts = await caller_facts(deps(request).store, {"caller": record["number"],
                                                         "call_id": record["attempt"]})
        context |= call_panel_data(facts)
        case_id = (record.get("fields") or {}).get("case_id")
        case = await deps(request).store.get_case(case_id) if case_id else None
        context["case"] = case
        context["case_inputs"] = [(c, criterion_field(c)) for c in case["missing_criteria"]] if case else []
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
    elif action == "case":
        error = await _update_case(request, agent, form)
        notice = None if error else "desk.preview.case_updated"
    else:
        error, notice = "unknown action", None
    return await _page(request, agent, notice, error, 200 if error is None else 409)


async def _update_case(request: Request, agent: str, form: dict[str, str]) -> str | None:
    """The follow-up's outcome into its adverse-event case: the criteria learnt, a note."""
    store = deps(request).store
    case = await store.get_case(form.get("case_id", ""))
    if case is None or case["kind"] != "adverse_event" or case["status"] != "open":
        return "this follow-up's case is not an open adverse-event case"
    today = deps(request).now().date()
    changes = case_changes(form, case["missing_criteria"], str(case["fields"].get("narrative") or ""),
                           form.get("note", ""), agent, today)
    if not changes:
        return "nothing to save: fill a missing criterion or write a note"
    try:
        await store.update_case(case["case_id"], changes, agent, now=deps(request).now())
    except Exception as exc:     # the CRM's refusal (a bad field) is for the agent to read
        return str(exc)
    return None


routes = [
    Route("/agent/{name}/preview", preview_page, methods=["GET"]),
    Route("/agent/{name}/preview", preview_action, methods=["POST"]),
]
