"""/admin/users: list, add, disable/enable, reset a password (admins only, CSRF'd forms)."""
from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .policy import LANGUAGES, ROLES, name_problem, password_problem
from .users import DeskError
from .web import current_user, deps, form_fields, render, require

log = logging.getLogger("ivr.desk")


@require("admin")
async def users_page(request: Request) -> Response:
    done = request.query_params.get("done")
    who = request.query_params.get("who", "")
    known = done in _NOTICES and not name_problem(who)
    return await _page(request, notice=(done, who) if known else None)


@require("admin")
async def add_user(request: Request) -> Response:
    d = deps(request)
    f = await form_fields(request)
    values = {k: f.get(k, "").strip() for k in ("name", "full_name", "role", "language")}
    values["name"] = values["name"].lower()
    errors: dict[str, str] = {}
    if name_problem(values["name"]):
        errors["name"] = "users.err_name"
    elif await d.accounts.get_user(values["name"]):
        errors["name"] = "users.err_taken"
    if values["role"] not in ROLES:
        errors["role"] = "users.err_role"
    if values["language"] not in LANGUAGES:
        values["language"] = d.desk.language
    if password_problem(f.get("password", "")):
        errors["password"] = "users.err_short"
    elif f.get("password") != f.get("password_again"):
        errors["password_again"] = "users.err_mismatch"
    if errors:
        return await _page(request, values=values, errors=errors, status_code=400)
    try:
        await d.accounts.add_user(values["name"], values["role"], values["language"],
                                  await d.passwords.hash(f["password"]), d.now(), values["full_name"])
    except DeskError:         # added meanwhile by someone else
        return await _page(request, values=values, errors={"name": "users.err_taken"}, status_code=400)
    _log_change(request, "added", values["name"])
    return _done("added", values["name"])


@require("admin")
async def disable_user(request: Request) -> Response:
    return await _set_disabled(request, True)


@require("admin")
async def enable_user(request: Request) -> Response:
    return await _set_disabled(request, False)


async def _set_disabled(request: Request, disabled: bool) -> Response:
    d, name, me = deps(request), request.path_params["name"], current_user(request)
    if disabled and me is not None and name == me.name:
        return await _page(request, row_errors={name: "users.err_self"}, status_code=400)
    try:
        await d.accounts.set_disabled(name, disabled, d.now())
    except DeskError:
        return await _page(request, row_errors={name: "users.err_unknown"}, status_code=404)
    _log_change(request, "disabled" if disabled else "enabled", name)
    return _done("disabled" if disabled else "enabled", name)


@require("admin")
async def reset_password(request: Request) -> Response:
    d, name = deps(request), request.path_params["name"]
    password = (await form_fields(request)).get("password", "")
    if password_problem(password):
        return await _page(request, row_errors={name: "users.err_short"}, status_code=400)
    try:
        await d.accounts.set_password(name, await d.passwords.hash(password), d.now())
    except DeskError:
        return await _page(request, row_errors={name: "users.err_unknown"}, status_code=404)
    _log_change(request, "password reset", name)
    return _done("password", name)


_NOTICES = {"added": "users.added", "disabled": "users.disabled_done",
            "enabled": "users.enabled_done", "password": "users.password_done"}


async def _page(request: Request, *, values: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, row_errors: dict[str, str] | None = None,
                notice: tuple[str, str] | None = None, status_code: int = 200) -> Response:
    d = deps(request)
    warning = None
    if notice and notice[0] == "added":
        row = await d.accounts.get_user(notice[1])
        if row and row.user.role == "agent" and notice[1] not in d.agents:
            warning = notice[1]
    return render(request, "admin_users.html", {
        "users": await d.accounts.list_users(), "roles": ROLES, "languages": LANGUAGES,
        "values": values or {"language": d.desk.language, "role": "agent"},
        "errors": errors or {}, "row_errors": row_errors or {},
        "notice": (_NOTICES[notice[0]], notice[1]) if notice else None, "not_agent": warning,
    }, status_code)


def _done(what: str, name: str) -> Response:
    """Post/redirect/get: a reload does not send the form again. Staff names only in the URL."""
    return RedirectResponse(f"/admin/users?done={what}&who={name}", status_code=303)


def _log_change(request: Request, what: str, name: str) -> None:
    me = current_user(request)
    log.info("desk: user %s %s by %s", name, what, me.name if me else "?")


routes = [
    Route("/admin/users", users_page, methods=["GET"]),
    Route("/admin/users", add_user, methods=["POST"]),
    Route("/admin/users/{name}/disable", disable_user, methods=["POST"]),
    Route("/admin/users/{name}/enable", enable_user, methods=["POST"]),
    Route("/admin/users/{name}/password", reset_password, methods=["POST"]),
]
