"""Voice messages on the desk: the recording, played to the agent who holds the task (never
to anyone else: it is the caller's voice), and the one-click call back (the engine rings the
agent's phone first, then the customer's)."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ivr.channels.voicemail_store import recording as stored_recording

from .agent_access import agent_page, engine_link
from .engine_link import ControlError
from .task_desk import _held, _render_task
from .web import deps, error_page, form_fields


@agent_page
async def recording(request: Request, agent: str) -> Response:
    if _held(request, agent) is None:            # only the agent the task was given to
        return error_page(request, 404, "error.404")
    audio = await stored_recording(deps(request).store, request.path_params["task_id"])
    if audio is None:
        return error_page(request, 404, "error.404")
    return Response(audio, media_type="audio/wav",
                    headers={"Cache-Control": "no-store", "Content-Disposition": "inline"})


@agent_page
async def call_back(request: Request, agent: str) -> Response:
    held = _held(request, agent)
    if held is None:
        return error_page(request, 404, "error.404")
    await form_fields(request)
    try:
        await engine_link(request).task_action(agent, held["task_id"], "call_back")
    except ControlError as exc:   # the engine's reason is for people (e.g. no link to Asterisk)
        return await _render_task(request, agent, held, str(exc), status_code=409)
    return RedirectResponse(f"/agent/{agent}/task/{held['task_id']}?called=1", status_code=303)


routes = [
    Route("/agent/{name}/task/{task_id}/recording", recording, methods=["GET"]),
    Route("/agent/{name}/task/{task_id}/call_back", call_back, methods=["POST"]),
]
