"""The call's documentation on the agent's desk: contact reason, outcome, notes and the
knowledge-base articles used, saved (each save a version) with per-field errors; the links to
the call's cases and the caller's contact card."""
from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ivr.crm.errors import CaseRefused, CrmError
from ivr.knowledge.store import KnowledgeBase

from .agent_access import agent_page, engine_link
from .call_view import Phase, call_phase
from .pop_data import CallerFacts, caller_facts, documentation
from .case_forms import problems_by_field
from .web import deps, error_page, language, render

log = logging.getLogger("ivr.desk")


def documented_call(request: Request, agent: str) -> str | None:
    """The call the documentation panel is for: the agent's latest call it took (ringing calls
    are documented once answered; a missed one is not theirs to document)."""
    link = engine_link(request)
    offer = link.offers.get(agent)
    if offer is None:
        return None
    phase = call_phase(agent, offer, link.calls.get(offer["call_id"]), (link.agents.get(agent) or {}).get("state"))
    return offer["call_id"] if phase in (Phase.TALKING, Phase.AFTER) else None


async def doc_context(request: Request, agent: str, call_id: str | None,
                      values: dict[str, Any] | None = None, problems: dict[str, str] | None = None,
                      saved_at: Any = None, facts: CallerFacts | None = None) -> dict[str, Any]:
    """The documentation panel's context; `facts`: the caller's, when the page read them already."""
    settings = deps(request).settings.documentation
    context: dict[str, Any] = {"agent": agent, "call_id": call_id, "reasons": settings.contact_reasons,
                               "outcomes": settings.outcomes, "problems": problems or {},
                               "saved_at": saved_at, "articles": [], "ae_case": None,
                               "contact_id": None, "linked": [], "linkable": [],
                               "values": {"reason": "", "outcome": "", "notes": "", "articles": []}}
    if call_id is None:
        return context
    store = deps(request).store
    if facts is None:
        facts = await caller_facts(store, engine_link(request).offers.get(agent) or {"call_id": call_id})
    saved = await store.live_read(documentation(store, call_id, agent), None, "the call's documentation")
    if values is None and saved is not None:
        values, context["saved_at"] = saved, saved_at or saved["at"]
    context["values"] |= {k: v for k, v in (values or {}).items() if k in context["values"]}
    chosen = set(context["values"]["articles"])
    context["articles"] = facts.suggestions + await _articles(store, chosen - {h.id for h in facts.suggestions})
    linked = await store.live_read(store.list_cases(call_id=call_id), [], "the call's cases")
    context["linked"] = linked
    context["ae_case"] = next((c["case_id"] for c in linked if c["kind"] == "adverse_event"), None)
    context["contact_id"] = facts.contact["id"] if facts.contact else None
    # the caller's other open cases: this call may follow one up
    ids = {c["case_id"] for c in linked}
    context["linkable"] = [c for c in facts.open_cases if c["case_id"] not in ids]
    return context


async def _articles(store: Any, ids: set[str]) -> list[dict[str, Any]]:
    """Articles chosen earlier that are no longer among the suggestions: still listed, ticked."""
    kb = KnowledgeBase(store)
    found = [await kb.article(i) for i in sorted(ids)]
    return [a for a in found if a is not None]


@agent_page
async def doc_panel(request: Request, agent: str) -> Response:
    return render(request, "_agent_doc.html", await doc_context(request, agent, documented_call(request, agent)))


@agent_page
async def link_case(request: Request, agent: str) -> Response:
    """Link the agent's current call to one of the caller's open cases (a follow-up call)."""
    call_id = request.path_params["call_id"]
    if call_id != documented_call(request, agent):
        return error_page(request, 404, "error.404")
    form = await request.form()
    problems: dict[str, str] = {}
    try:
        await deps(request).store.link_call(str(form.get("case_id", "")), call_id, agent, now=deps(request).now())
    except CrmError as exc:
        log.warning("desk: call %s not linked to a case: %s", call_id, exc)
        problems["case"] = "desk.doc.not_linked"
    return render(request, "_agent_doc.html", await doc_context(request, agent, call_id, problems=problems),
                  status_code=200 if not problems else 409)


@agent_page
async def save_documentation(request: Request, agent: str) -> Response:
    """Save (again: every save is a version) the agent's documentation of one of its calls."""
    call_id = request.path_params["call_id"]
    store = deps(request).store
    if call_id != documented_call(request, agent):
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
        problems = problems_by_field(exc.problems, language(request))
        return render(request, "_agent_doc.html",
                      await doc_context(request, agent, call_id, values, problems), status_code=422)
    except CrmError as exc:
        log.warning("desk: documentation of call %s not saved: %s", call_id, exc)
        return render(request, "_agent_doc.html",
                      await doc_context(request, agent, call_id, values, {"form": "crm"}), status_code=503)
    return render(request, "_agent_doc.html",
                  await doc_context(request, agent, call_id, values, saved_at=saved["at"]))


routes = [
    Route("/agent/{name}/panel/doc", doc_panel, methods=["GET"]),
    Route("/agent/{name}/calls/{call_id}/documentation", save_documentation, methods=["POST"]),
    Route("/agent/{name}/calls/{call_id}/case", link_case, methods=["POST"]),
]
