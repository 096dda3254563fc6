"""The public page a company embeds (web chat + web form): its own Starlette app on its own
port (channels.chat.port), never the agents' routes or cookies.

Visitor identity: an unguessable session token (secrets.token_urlsafe(32)) in an HttpOnly
cookie; every POST carries a CSRF token derived from it (HMAC with a per-process key), and
the cookie is SameSite, so another site can neither read nor forge the visitor's requests.
Live lines reach the visitor over Server-Sent Events (the desk's transport too: one-way push
over plain HTTP, reconnects by itself, proxies pass it); the visitor sends with POST.
Everything shown is autoescaped (Jinja2) or set as text (chat.js uses textContent), under a
CSP that loads nothing remote."""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .chat_i18n import LANGUAGES, pick_language, texts
from .chat_live import ChatChannel, ChatSession
from .chat_rules import FormInput, check_form, valid_email

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
COOKIE = "ivr_chat"
KEEPALIVE_S = 15.0
LANG_COOKIE = "ivr_chat_lang"


class PublicPage:
    def __init__(self, channel: ChatChannel, settings: Any) -> None:
        self.channel = channel
        self.s = settings
        self.key = secrets.token_bytes(32)      # CSRF tokens die with the process; the page reloads
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(default=True, default_for_string=True))

    # ---- helpers -------------------------------------------------------------------------
    def csrf(self, chat: ChatSession) -> str:
        return hmac.new(self.key, chat.token.encode(), hashlib.sha256).hexdigest()

    def _session(self, request: Request) -> ChatSession:
        return self.channel.session(request.cookies.get(COOKIE), _address(request))

    def _known(self, request: Request) -> ChatSession | None:
        return self.channel.sessions.get(request.cookies.get(COOKIE, ""))

    def _secure(self, response: Response, chat: ChatSession | None = None) -> Response:
        ancestors = " ".join(["'self'", *self.s.embed_origins])
        response.headers.update({
            "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                                       "img-src 'self'; connect-src 'self'; form-action 'self'; "
                                       f"base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store"})
        if chat is not None:
            response.set_cookie(COOKIE, chat.token, httponly=True, samesite=self.s.cookie_samesite,
                                secure=self.s.cookie_secure, path="/")
        return response

    def _language(self, request: Request) -> str:
        return pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                             request.headers.get("accept-language"), self.s.language)

    def _refuse(self, request: Request, reason: str, status: int) -> Response:
        text = texts(self._language(request))[f"refused.{reason}"].format(
            max=self.s.max_message_chars, chats=self.s.open_chats_per_address)
        return self._secure(JSONResponse({"ok": False, "reason": reason, "message": text}, status_code=status))

    async def _fields(self, request: Request, chat: ChatSession | None) -> dict[str, str] | Response:
        """The POST's fields once its size and CSRF token are checked (a refusal otherwise).
        A body far above the limit is refused unread."""
        limit = max(self.s.max_message_chars, self.s.max_form_chars) * 4 + 4096
        if int(request.headers.get("content-length") or 0) > limit:
            return self._refuse(request, "too_long", 413)
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if chat is None or not hmac.compare_digest(fields.get("csrf_token", ""), self.csrf(chat)):
            return self._refuse(request, "csrf", 403)
        return fields

    def _page(self, request: Request, chat: ChatSession, status: int = 200, **context: Any) -> Response:
        lang = self._language(request)
        t = texts(lang)
        live = {k: v for k, v in t.items() if k.startswith("state.")}    # what chat.js shows
        values = {"csrf_token": self.csrf(chat), "topics": self.s.topics, "problems": {}, "form": {},
                  "lang": lang, "languages": LANGUAGES, "t": t, "live_texts": json.dumps(live),
                  **context}
        html = self.templates.get_template("chat_page.html").render(values)
        response = self._secure(HTMLResponse(html, status_code=status), chat)
        if request.query_params.get("lang") in LANGUAGES:      # the visitor's choice is kept
            response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite=self.s.cookie_samesite,
                                secure=self.s.cookie_secure, path="/")
        return response

    # ---- routes ------------------------------------------------------------------------
    async def page(self, request: Request) -> Response:
        return self._page(request, self._session(request))

    async def form(self, request: Request) -> Response:
        chat = self._known(request)
        fields = await self._fields(request, chat)
        if isinstance(fields, Response):
            return fields
        assert chat is not None
        form = FormInput(*(fields.get(k, "") for k in ("name", "email", "phone", "topic", "message")))
        problems = check_form(form, tuple(self.s.topics), self.s.max_form_chars)
        if not problems and not self.channel.gate.by_address.allow(chat.address, self.channel.clock()):
            return self._refuse(request, "too_fast", 429)
        if problems:
            return self._page(request, chat, 422, problems=problems, form=fields)
        reference = await self.channel.form(form, chat.address)
        return self._page(request, chat, 200, sent=reference)

    async def start(self, request: Request) -> Response:
        chat = self._known(request)
        fields = await self._fields(request, chat)
        if isinstance(fields, Response):
            return fields
        assert chat is not None
        email = fields.get("email", "").strip()
        if email and not valid_email(email):
            return self._refuse(request, "email", 422)
        reason = await self.channel.start(chat, fields.get("name", ""), email, fields.get("text", ""))
        return self._answer(request, reason)

    async def send(self, request: Request) -> Response:
        chat = self._known(request)
        fields = await self._fields(request, chat)
        if isinstance(fields, Response):
            return fields
        assert chat is not None
        return self._answer(request, await self.channel.say(chat, fields.get("text", "")))

    async def email(self, request: Request) -> Response:
        chat = self._known(request)
        fields = await self._fields(request, chat)
        if isinstance(fields, Response):
            return fields
        assert chat is not None
        address = fields.get("email", "").strip()
        if not valid_email(address):
            return self._refuse(request, "email", 422)
        return self._answer(request, await self.channel.leave_email(chat, address))

    def _answer(self, request: Request, reason: str | None) -> Response:
        if reason is None:
            return self._secure(JSONResponse({"ok": True}))
        status = {"too_long": 413, "too_fast": 429, "too_many_chats": 429, "not_open": 409}.get(reason, 422)
        return self._refuse(request, reason, status)

    async def events(self, request: Request) -> Response:
        chat = self._known(request)
        if chat is None:
            return self._refuse(request, "not_open", 404)
        return self._secure(StreamingResponse(self._stream(chat), media_type="text/event-stream",
                                              headers={"X-Accel-Buffering": "no"}))

    async def _stream(self, chat: ChatSession) -> AsyncIterator[str]:
        queue = self.channel.listen(chat)
        try:
            yield "retry: 1000\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": alive\n\n"
                    continue
                yield f"event: {event['kind']}\ndata: {json.dumps(event)}\n\n"
        finally:
            self.channel.unlisten(chat, queue)

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/", self.page, methods=["GET"]),
            Route("/form", self.form, methods=["POST"]),
            Route("/chat/start", self.start, methods=["POST"]),
            Route("/chat/send", self.send, methods=["POST"]),
            Route("/chat/email", self.email, methods=["POST"]),
            Route("/chat/events", self.events, methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ])


def _address(request: Request) -> str:
    """The visitor's address for the limits (behind a proxy: configure uvicorn's
    forwarded-allow-ips there, so the client is the real one)."""
    return request.client.host if request.client else "unknown"


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the engine's loop: the engine owns the signals, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(channel: ChatChannel, settings: Any) -> None:
    page = PublicPage(channel, settings)
    config = uvicorn.Config(page.app(), host=settings.host, port=settings.port, log_level="warning",
                            access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    server = _EmbeddedServer(config)
    running = asyncio.ensure_future(server.serve())
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:      # the engine stops: close the port before going
        server.should_exit = True
        await running
        raise
