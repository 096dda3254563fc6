"""/me/…: what any signed-in user changes for themself (language, password)."""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .policy import LANGUAGES, password_problem, safe_back_path
from .web import current_user, deps, form_fields, render, require

log = logging.getLogger("ivr.desk")


@require("agent")
async def set_language(request: Request) -> Response:
    fields = await form_fields(request)
    user = current_user(request)
    assert user is not None
    if (chosen := fields.get("language")) in LANGUAGES:
        await deps(request).accounts.set_language(user.name, chosen, deps(request).now())
    return RedirectResponse(safe_back_path(fields.get("back")), status_code=303)


@require("agent")
async def password_page(request: Request) -> Response:
    done = request.query_params.get("done") == "1"
    return render(request, "me_password.html", {"errors": {}, "done": done})


@require("agent")
async def change_password(request: Request) -> Response:
    d, user = deps(request), current_user(request)
    assert user is not None
    f = await form_fields(request)
    errors: dict[str, str] = {}
    row = await d.accounts.get_user(user.name)
    if row is None or not await d.passwords.verify(row.password_hash, f.get("current", "")):
        errors["current"] = "me.err_current"
    if password_problem(f.get("password", "")):
        errors["password"] = "users.err_short"
    elif f.get("password") != f.get("password_again"):
        errors["password_again"] = "users.err_mismatch"
    if errors:
        return render(request, "me_password.html", {"errors": errors, "done": False}, 400)
    session = request.scope["state"]["desk_session"]
    await d.accounts.set_password(user.name, await d.passwords.hash(f["password"]), d.now(),
                                  keep_session=session.token_hash)
    log.info("desk: %s changed their password; their other sessions are closed", user.name)
    return RedirectResponse("/me/password?done=1", status_code=303)


routes = [
    Route("/me/language", set_language, methods=["POST"]),
    Route("/me/password", password_page, methods=["GET"]),
    Route("/me/password", change_password, methods=["POST"]),
]
