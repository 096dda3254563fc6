"""/contacts: search (POST: names, numbers and addresses are personal data, never in a URL), a
contact's card with its timeline (calls from all its numbers, e-mails, chats, SMS, voice
messages, faxes, cases), its identities (numbers and e-mail addresses: add, remove), the edit
form (consent flags too: a changed flag needs its source), merging a duplicate card into it
(reviewed, then confirmed) and the card's audit trail. Every signed-in user may: the agents
answer these people's calls and mails, and find the duplicates."""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ivr.cases.consent import CONSENT_FLAGS
from ivr.cases.contact_merge import IDENTITY_KINDS, merged_card
from ivr.crm.errors import CrmError
from ivr.crm.records import CONTACT_TYPES

from .case_forms import (CONSENT_TEXT, CONTACT_TEXT, PAGE_SIZE, contact_changes, page_number, problems_by_field,
                         shown)
from .i18n import translate
from .web import current_user, deps, error_page, form_fields, language, render, require

log = logging.getLogger("ivr.desk")
EDITABLE = (*CONTACT_TEXT, *CONSENT_FLAGS, *CONSENT_TEXT)
TIMELINE_SIZE = 100


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
                errors: dict[str, str] | None = None, identity_values: dict[str, str] | None = None,
                status_code: int = 200) -> Response:
    d = deps(request)
    contact_id = _id(request)
    contact = await d.store.get_contact(contact_id) if contact_id is not None else None
    if contact is None:
        return error_page(request, 404, "error.404")
    return render(request, "contact.html", {
        "contact": contact, "timeline": await d.store.contact_timeline(contact_id, limit=TIMELINE_SIZE),
        "identities": await d.store.contact_identities(contact_id), "kinds": IDENTITY_KINDS,
        "types": CONTACT_TYPES, "flags": CONSENT_FLAGS,
        "cases": await d.store.list_cases(contact_id=contact_id, overdue_first=False, today=d.now().date()),
        "audit": await d.store.contact_audit(contact_id), "shown": shown,
        "values": values if values is not None else {k: shown(contact.get(k)) for k in EDITABLE},
        "errors": errors or {}, "identity_values": identity_values or {}}, status_code)


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


@require("agent")
async def add_identity(request: Request) -> Response:
    d, contact_id = deps(request), _id(request)
    form = await form_fields(request)
    kind, value = form.get("kind", ""), form.get("value", "")
    try:
        await d.store.add_identity(contact_id if contact_id is not None else -1, kind, value, _by(request),
                                   now=d.now())
    except CrmError as exc:
        return await _refused(request, exc, {"identity_kind": kind, "identity_value": value})
    return RedirectResponse(f"/contacts/{contact_id}?done=identity_added", status_code=303)


@require("agent")
async def remove_identity(request: Request) -> Response:
    d, contact_id = deps(request), _id(request)
    form = await form_fields(request)
    try:
        await d.store.remove_identity(contact_id if contact_id is not None else -1, form.get("kind", ""),
                                      form.get("value", ""), _by(request), now=d.now())
    except CrmError as exc:
        return await _refused(request, exc)
    return RedirectResponse(f"/contacts/{contact_id}?done=identity_removed", status_code=303)


@require("agent")
async def merge_review(request: Request) -> Response:
    """Both cards side by side and what the kept one will become; nothing changes yet."""
    d, contact_id = deps(request), _id(request)
    raw = request.query_params.get("other", "").strip().lstrip("#")
    kept = await d.store.get_contact(contact_id) if contact_id is not None else None
    if kept is None:
        return error_page(request, 404, "error.404")
    other = await d.store.get_contact(int(raw)) if raw.isdigit() else None
    if other is None or other["id"] == kept["id"]:
        key = "contact.merge.self" if other is not None else "contact.merge.unknown"
        return await _card(request, errors={"merge": translate(language(request), key, card=raw)},
                           status_code=400)
    return render(request, "contact_merge.html", {
        "kept": kept, "other": other, "changes": merged_card(kept, other, d.now().date()),
        "kept_ids": await d.store.contact_identities(kept["id"]),
        "other_ids": await d.store.contact_identities(other["id"]),
        "moving": await d.store.contact_timeline(other["id"], limit=TIMELINE_SIZE), "shown": shown})


@require("agent")
async def merge(request: Request) -> Response:
    d, contact_id = deps(request), _id(request)
    form = await form_fields(request)
    raw = form.get("other", "")
    if contact_id is None or not raw.isdigit():
        return error_page(request, 404, "error.404")
    try:
        await d.store.merge_contacts(contact_id, int(raw), _by(request), now=d.now())
    except CrmError as exc:
        return await _refused(request, exc)
    log.info("desk: contact %s merged into %s by %s", raw, contact_id, _by(request))
    return RedirectResponse(f"/contacts/{contact_id}?done=merged", status_code=303)


async def _refused(request: Request, exc: CrmError, values: dict[str, str] | None = None) -> Response:
    errors = problems_by_field(getattr(exc, "problems", []), language(request)) or {"identity": str(exc)}
    return await _card(request, errors=errors, identity_values=values, status_code=400)


def _by(request: Request) -> str:
    user = current_user(request)
    return user.name if user else "?"


def _id(request: Request) -> int | None:
    raw = request.path_params["contact_id"]
    return int(raw) if raw.isdigit() else None


routes = [
    Route("/contacts", search_page, methods=["GET"]),
    Route("/contacts", search, methods=["POST"]),
    Route("/contacts/{contact_id}", contact_page, methods=["GET"]),
    Route("/contacts/{contact_id}", edit_contact, methods=["POST"]),
    Route("/contacts/{contact_id}/identities", add_identity, methods=["POST"]),
    Route("/contacts/{contact_id}/identities/remove", remove_identity, methods=["POST"]),
    Route("/contacts/{contact_id}/merge", merge_review, methods=["GET"]),
    Route("/contacts/{contact_id}/merge", merge, methods=["POST"]),
]
