"""The agent's non-voice tasks (e-mail first): the list panel on the desk page (offers and
tasks held, live through the engine's feed), and one task's page: its thread, a reply from a
knowledge-base template sent by the engine over SMTP, and closing with an outcome.

A mail's HTML was sanitised when it arrived (ivr/channels/mime.py); it is shown inside a
sandboxed iframe (no scripts, no same-origin) under the desk's CSP (default-src 'self'), so
nothing remote is ever loaded. An agent sees only the tasks the engine gave it."""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ivr.channels import task_store
from ivr.knowledge.store import KnowledgeBase

from .agent_access import agent_page, engine_link
from .engine_link import ControlError
from .web import deps, error_page, form_fields, render

MAX_REPLY = 100_000
OUTCOMES = ("answered", "forwarded", "no_reply_needed", "spam")
CHAT_OUTCOMES = ("answered", "visitor_left", "forwarded", "spam")   # a live chat's


def task_list_context(request: Request, agent: str) -> dict[str, Any]:
    link = engine_link(request)
    held = link.tasks.get(agent, {}) if link.connected else {}
    return {"agent": agent, "tasks": sorted(held.values(), key=lambda t: (-(t.get("priority") or 0),
                                                                         t["task_id"]))}


@agent_page
async def tasks_panel(request: Request, agent: str) -> Response:
    return render(request, "_agent_tasks.html", task_list_context(request, agent))


def _held(request: Request, agent: str) -> dict[str, Any] | None:
    return engine_link(request).tasks.get(agent, {}).get(request.path_params["task_id"])


@agent_page
async def task_page(request: Request, agent: str) -> Response:
    held = _held(request, agent)
    if held is None:
        return error_page(request, 404, "error.404")
    return await _render_task(request, agent, held)


async def _render_task(request: Request, agent: str, held: dict[str, Any], problem: str | None = None,
                       draft: str | None = None, status_code: int = 200) -> Response:
    store = deps(request).store
    task = await task_store.get_task(store, held["task_id"])
    if task is None:
        return error_page(request, 404, "error.404")
    messages = await task_store.thread_messages(store, task["thread_id"])
    for m in messages:
        m["attachments"] = await task_store.attachments(store, m["message_id"]) if m["direction"] == "in" else []
    kb = KnowledgeBase(store)
    last_in = next((m for m in reversed(messages) if m["direction"] == "in"), None)
    templates = await kb.suggest(None, f"{task['subject'] or ''} {last_in['body_text'] if last_in else ''}"[:2000],
                                 None, limit=5)
    chosen = request.query_params.get("template")
    if draft is None and chosen:
        article = await kb.article(chosen)
        draft = article["text"] if article else ""
    chat = task["channel"] == "chat"
    return render(request, "task.html", {
        "agent": agent, "held": held, "task": task, "messages": messages, "templates": templates,
        "draft": draft or "", "problem": problem, "outcomes": CHAT_OUTCOMES if chat else OUTCOMES,
        "chat": chat, "queues": sorted((deps(request).settings.queues().get("queues") or {})),
        "sent": request.query_params.get("sent") == "1"}, status_code=status_code)


async def _engine(request: Request, agent: str, action: str, **fields: str) -> str | None:
    try:
        answer = await engine_link(request).task_action(agent, request.path_params["task_id"], action, **fields)
    except ControlError:
        return "desk.engine.refused"
    return None if answer.get("ok") else str(answer.get("error") or "desk.engine.refused")


@agent_page
async def accept(request: Request, agent: str) -> Response:
    if _held(request, agent) is None:
        return error_page(request, 404, "error.404")
    await form_fields(request)
    problem = await _engine(request, agent, "accept")
    if problem:
        return await _render_task(request, agent, _held(request, agent) or {}, problem, status_code=409)
    return RedirectResponse(f"/agent/{agent}/task/{request.path_params['task_id']}", status_code=303)


@agent_page
async def reply(request: Request, agent: str) -> Response:
    held = _held(request, agent)
    if held is None:
        return error_page(request, 404, "error.404")
    text = (await form_fields(request)).get("text", "")
    if not text.strip() or len(text) > MAX_REPLY:
        return await _render_task(request, agent, held, "desk.tasks.reply_empty", text[:MAX_REPLY], 422)
    problem = await _engine(request, agent, "reply", text=text)
    if problem:
        return await _render_task(request, agent, held, problem, text, 409)
    return RedirectResponse(f"/agent/{agent}/task/{held['task_id']}?sent=1", status_code=303)


@agent_page
async def close(request: Request, agent: str) -> Response:
    held = _held(request, agent)
    if held is None:
        return error_page(request, 404, "error.404")
    outcome = (await form_fields(request)).get("outcome", "")
    if outcome not in OUTCOMES + CHAT_OUTCOMES:
        return await _render_task(request, agent, held, "desk.tasks.pick_outcome", status_code=422)
    problem = await _engine(request, agent, "close", outcome=outcome)
    if problem:
        return await _render_task(request, agent, held, problem, status_code=409)
    return RedirectResponse(f"/agent/{agent}", status_code=303)


@agent_page
async def transfer(request: Request, agent: str) -> Response:
    """Back into the line of another queue (chat or e-mail): the engine offers it again."""
    held = _held(request, agent)
    if held is None:
        return error_page(request, 404, "error.404")
    queue = (await form_fields(request)).get("queue", "")
    problem = await _engine(request, agent, "transfer", queue=queue)
    if problem:
        return await _render_task(request, agent, held, problem, status_code=409)
    return RedirectResponse(f"/agent/{agent}", status_code=303)


routes = [
    Route("/agent/{name}/task/{task_id}/transfer", transfer, methods=["POST"]),
    Route("/agent/{name}/panel/tasks", tasks_panel, methods=["GET"]),
    Route("/agent/{name}/task/{task_id}", task_page, methods=["GET"]),
    Route("/agent/{name}/task/{task_id}/accept", accept, methods=["POST"]),
    Route("/agent/{name}/task/{task_id}/reply", reply, methods=["POST"]),
    Route("/agent/{name}/task/{task_id}/close", close, methods=["POST"]),
]
