"""A task's attachments (an e-mail's files, a fax's PDF), downloaded by the agent who holds the
task. They come from the public, so they are never shown inside the desk's origin: always a
download (Content-Disposition: attachment), the browser told not to guess the type, and a
sandbox CSP in case a browser opens one anyway."""
from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ivr.channels.task_store import attachment_file

from .agent_access import agent_page
from .task_desk import _held
from .web import deps, error_page

# Types a browser may name as they are; anything else (HTML, SVG, scripts, ...) is bytes.
_NAMED_TYPES = {"application/pdf", "image/png", "image/jpeg", "image/tiff", "text/plain", "audio/wav"}


def download_headers(filename: str) -> dict[str, str]:
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename)
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name or 'attachment'}\"; "
                                   f"filename*=UTF-8''{quote(filename, safe='')}",
            "Cache-Control": "no-store", "Content-Security-Policy": "sandbox"}


@agent_page
async def attachment(request: Request, agent: str) -> Response:
    if _held(request, agent) is None:            # only the agent the task was given to
        return error_page(request, 404, "error.404")
    try:
        attachment_id = int(request.path_params["attachment_id"])
    except ValueError:
        return error_page(request, 404, "error.404")
    found = await attachment_file(deps(request).store, request.path_params["task_id"], attachment_id)
    if found is None:
        return error_page(request, 404, "error.404")
    filename, content_type, data = found
    media = content_type if content_type in _NAMED_TYPES else "application/octet-stream"
    return Response(data, media_type=media, headers=download_headers(filename))


routes = [Route("/agent/{name}/task/{task_id}/attachment/{attachment_id}", attachment, methods=["GET"])]
