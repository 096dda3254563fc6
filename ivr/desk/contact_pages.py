"""/contacts: search (POST: names and numbers are personal data, never in a URL), a contact's
card with its calls from all its numbers and its cases, the edit form (consent flags too:
a changed flag needs its source) and the card's audit trail. Every signed-in user may: the
agents answer these people's calls."""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ivr.cases.consent import CONSENT_FLAGS
from ivr.channels.contact_tasks import contact_tasks
from ivr.crm.errors import CrmError
from ivr.crm.records import CONTACT_TYPES

from .case_forms import (CONSENT_TEXT, CONTACT_TEXT, PAGE_SIZE, contact_changes, page_number, problems_by_field,
                         shown)
from .web import current_user, deps, error_page, form_fields, language, render, require

log = logging.getLogger("ivr.desk")
EDITABLE = (*CONTACT_TEXT, *CONSENT_FLAGS, *CONSENT_TEXT)


@require("agent")
async def search_page(request: Request) -> Response:
    return render(request, "contacts.html", {"query": "", "results": None})


@require("agent")
async def search(request: Request) -> Response:
    form = await form_fields(request)
    query, page = form.get("q", "").strip(), page_number(form.get("page"))
    results = await deps(request).store.search_contacts(query, limit=PAGE_SIZE + 1,
                                                        offset=(page - 1) * PAGE_SIZE) if query else []
    return render(request, "contacts.html", {"query": query, "results": results[:PAGE_SIZE], "page": page,
                                             "more": len(results) > PAGE_SIZE})


@require("agent")
async def contact_page(request: Request) -> Response:
    return await _card(request)


async def _card(request: Request, *, values: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status_code: int = 200) -> Response:
    d = deps(request)
    contact_id = _id(request)
    contact = await d.store.get_contact(contact_id) if contact_id is not None else None
    if contact is None:
        return error_page(request, 404, "error.404")
    calls = await d.store.contact_history(contact["numbers"][0], limit=50) if contact["numbers"] else []
    return render(request, "contact.html", {
        "contact": contact, "calls": calls, "types": CONTACT_TYPES, "flags": CONSENT_FLAGS,
        "cases": await d.store.list_cases(contact_id=contact_id, overdue_first=False, today=d.now().date()),
        "audit": await d.store.contact_audit(contact_id), "shown": shown,
        "tasks": await contact_tasks(d.store, contact_id),
        "values": values if values is not None else {k: shown(contact.get(k)) for k in EDITABLE},
        "errors": errors or {}}, status_code)


@require("agent")
async def edit_contact(request: Request) -> Response:
    d = deps(request)
    contact_id = _id(request)
    contact = await d.store.get_contact(contact_id) if contact_id is not None else None
    if contact is None or contact_id is None:
        return error_page(request, 404, "error.404")
    form = await form_fields(request)
    typed = {k: form.get(k, "").strip() for k in EDITABLE}
    changes = contact_changes(contact, typed)
    if changes:
        user = current_user(request)
        try:
            await d.store.update_contact(contact_id, changes, user.name if user else "?", now=d.now())
        except CrmError as exc:
            errors = problems_by_field(getattr(exc, "problems", []), language(request)) or {"_form": str(exc)}
            return await _card(request, values=typed, errors=errors, status_code=400)
        log.info("desk: contact %s edited (%s)", contact_id, ", ".join(sorted(changes)))   # field names only
    return RedirectResponse(f"/contacts/{contact_id}?done=saved", status_code=303)


def _id(request: Request) -> int | None:
    raw = request.path_params["contact_id"]
    return int(raw) if raw.isdigit() else None


routes = [
    Route("/contacts", search_page, methods=["GET"]),
    Route("/contacts", search, methods=["POST"]),
    Route("/contacts/{contact_id}", contact_page, methods=["GET"]),
    Route("/contacts/{contact_id}", edit_contact, methods=["POST"]),
]
