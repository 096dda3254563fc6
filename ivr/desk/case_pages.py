"""/cases: the worklist, a case (fields, AE criteria, day 0, due date, calls, audit trail),
its edit / close / reopen forms, and /cases/new (opened from a call when `call` is given).

Who sees what: every signed-in user (agent, supervisor as PV officer, admin) sees every case
of the hotline. Cases are the team's shared work: the agent who takes a follow-up call is
rarely the one who opened the case, and an AE must never wait for its opener to be on
shift. There is no delete, by rule (ivr/cases/case.py) and so no button."""
from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ivr.cases.kinds import SERIOUSNESS
from ivr.crm.cases import case_id_for
from ivr.crm.errors import CrmError
from ivr.knowledge.store import KnowledgeBase

from .case_forms import (CASE_KINDS, PAGE_SIZE, page_number, CASE_STATUSES, case_filters, case_inputs, criteria_held, form_values,
                         changed_fields, obvious_product, prefill_from_call, problems_by_field, shown)
from .i18n import translate
from .submissions import new_submission_id
from .web import current_user, deps, error_page, language, render, require

log = logging.getLogger("ivr.desk")


@require("agent")
async def worklist(request: Request) -> Response:
    d = deps(request)
    kind, status = case_filters(request.query_params.get("kind"), request.query_params.get("status"))
    page = page_number(request.query_params.get("page"))
    cases = await d.store.list_cases(status, kind=kind, today=d.now().date(),
                                     offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
    return render(request, "cases.html", {"cases": cases[:PAGE_SIZE], "kinds": CASE_KINDS,
                                          "statuses": CASE_STATUSES, "kind": kind or "",
                                          "status": status or "all", "page": page,
                                          "more": len(cases) > PAGE_SIZE})


@require("agent")
async def case_page(request: Request) -> Response:
    return await _case_view(request)


async def _case_view(request: Request, *, values: dict[str, str] | None = None,
                     errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    d = deps(request)
    case = await d.store.get_case(request.path_params["case_id"], today=d.now().date())
    if case is None:
        return error_page(request, 404, "error.404")
    contact = await d.store.get_contact(case["contact_id"]) if case["contact_id"] is not None else None
    return render(request, "case.html", {
        "case": case, "contact": contact, "inputs": case_inputs(case["kind"]),
        "values": values if values is not None else {k: shown(v) for k, v in case["fields"].items()},
        "errors": errors or {}, "criteria": criteria_held(case["fields"]), "seriousness": SERIOUSNESS,
        "audit": await d.store.case_audit(case["case_id"]), "shown": shown,
    }, status_code)


@require("agent")
async def edit_case(request: Request) -> Response:
    d, case_id = deps(request), request.path_params["case_id"]
    case = await d.store.get_case(case_id)
    if case is None:
        return error_page(request, 404, "error.404")
    typed = form_values(case["kind"], await _multi_form(request))
    changes = changed_fields(case["fields"], typed)
    if changes:
        try:
            await d.store.update_case(case_id, changes, _me(request), now=d.now())
        except CrmError as exc:
            return await _case_view(request, values=typed, errors=_errors(exc, language(request)), status_code=400)
    return RedirectResponse(f"/cases/{case_id}?done=saved", status_code=303)


@require("agent")
async def close_case(request: Request) -> Response:
    return await _close_or_reopen(request, "close")


@require("agent")
async def reopen_case(request: Request) -> Response:
    return await _close_or_reopen(request, "reopen")


async def _close_or_reopen(request: Request, what: str) -> Response:
    d, case_id = deps(request), request.path_params["case_id"]
    reason = (await _multi_form(request)).get("reason", [""])[-1].strip()
    if not reason:
        return await _case_view(request, errors={f"{what}_reason": translate(language(request), "cases.err_reason")}, status_code=400)
    try:
        if what == "close":
            await d.store.close_case(case_id, _me(request), reason, now=d.now())
        else:
            await d.store.reopen_case(case_id, _me(request), reason, now=d.now())
    except CrmError as exc:
        if await d.store.get_case(case_id) is None:
            return error_page(request, 404, "error.404")
        return await _case_view(request, errors={f"{what}_reason": str(exc)}, status_code=400)
    log.info("desk: case %s %s by %s", case_id, "closed" if what == "close" else "reopened", _me(request))
    return RedirectResponse(f"/cases/{case_id}?done={what}d", status_code=303)


@require("agent")
async def new_case_form(request: Request) -> Response:
    d = deps(request)
    kind = request.query_params.get("kind", "")
    call_id = request.query_params.get("call") or None
    if kind not in CASE_KINDS:
        return render(request, "case_new.html", {"kind": "", "kinds": CASE_KINDS, "call": call_id,
                                                 "contact_id": request.query_params.get("contact", "")})
    call: dict[str, Any] | None = None
    values: dict[str, str] = {}
    contact = None
    contact_id = _int(request.query_params.get("contact", ""))   # an id, never a name: fine in a URL
    if contact_id is not None and not call_id:
        contact = await d.store.get_contact(contact_id)
        if contact is None:
            return error_page(request, 404, "error.404")
        values = prefill_from_call(kind, {}, contact, None)
    if call_id:
        record = await d.store.get_call(call_id)
        if record is None:
            return error_page(request, 404, "error.404")
        if kind == "adverse_event" and await d.store.get_case(case_id_for(call_id)) is not None:
            # the IVR opened this call's AE case already: one report per call, not two
            return RedirectResponse(f"/cases/{case_id_for(call_id)}", status_code=303)
        call = vars(record)
        contact = await d.store.find_contact(record.caller) if record.caller else None
        products = await KnowledgeBase(d.store).products()
        values = prefill_from_call(kind, call, contact,
                                   obvious_product(products, record.intent, record.speech_text))
    return _new_form(request, kind, call_id, contact, values, {})


def _new_form(request: Request, kind: str, call_id: str | None, contact: dict[str, Any] | None,
              values: dict[str, str], errors: dict[str, str], status_code: int = 200,
              submission: str = "") -> Response:
    return render(request, "case_new.html", {
        "kind": kind, "kinds": CASE_KINDS, "call": call_id, "contact": contact, "inputs": case_inputs(kind),
        "values": values, "errors": errors, "seriousness": SERIOUSNESS,
        "submission": submission or new_submission_id()}, status_code)


@require("agent")
async def open_case(request: Request) -> Response:
    d = deps(request)
    form = await _multi_form(request)
    kind = form.get("kind", [""])[-1]
    call_id = form.get("call", [""])[-1] or None
    if kind not in CASE_KINDS:
        return error_page(request, 404, "error.404")
    contact_id = _int(form.get("contact_id", [""])[-1])
    contact = await d.store.get_contact(contact_id) if contact_id is not None else None
    typed = form_values(kind, form)
    if call_id and await d.store.get_call(call_id) is None:
        return error_page(request, 404, "error.404")
    submission = form.get("submission", [""])[-1]
    if (done := d.submissions.result(submission)) is not None:      # sent again: opened already
        return RedirectResponse(f"/cases/{done}?done=opened", status_code=303)
    try:
        case = await d.store.open_case(kind, {k: v for k, v in typed.items() if v}, _me(request),
                                       contact_id=contact["id"] if contact else None, call_id=call_id,
                                       now=d.now())
    except CrmError as exc:
        return _new_form(request, kind, call_id, contact, typed, _errors(exc, language(request)), 400, submission)
    d.submissions.remember(submission, case["case_id"])
    log.info("desk: case %s opened by %s", case["case_id"], _me(request))
    return RedirectResponse(f"/cases/{case['case_id']}?done=opened", status_code=303)


async def _multi_form(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


def _errors(exc: CrmError, lang: str) -> dict[str, str]:
    return problems_by_field(getattr(exc, "problems", []), lang) or {"_form": str(exc)}


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _me(request: Request) -> str:
    user = current_user(request)
    assert user is not None        # the guard let only signed-in users in
    return user.name


routes = [
    Route("/cases", worklist, methods=["GET"]),
    Route("/cases/new", new_case_form, methods=["GET"]),
    Route("/cases/new", open_case, methods=["POST"]),
    Route("/cases/{case_id}", case_page, methods=["GET"]),
    Route("/cases/{case_id}", edit_case, methods=["POST"]),
    Route("/cases/{case_id}/close", close_case, methods=["POST"]),
    Route("/cases/{case_id}/reopen", reopen_case, methods=["POST"]),
]
