"""The web chat inside the engine: visitors' sessions, their live streams, and the link to
TaskHub (the ACD's offers, the agent's replies, accept/close/transfer).

A visitor's line: stored in the CRM (chat_store) → published on the engine's live feed as
`chat/<agent>/<task id>` (no text: the desk re-reads the thread from the CRM, escaped there)
→ the agent's desk refreshes its chat view. An agent's reply comes back through the control
socket (`task reply`) → stored → pushed to the visitor's stream. A visitor sees only its own
session's lines and the agent's display name (channels.chat.display_names)."""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from acd import events as ev

from . import chat_store
from .chat_rules import FormInput, Gate, Limits, gone, normalised_phone, unanswered
from .chat_store import Visitor
from .mail_rules import safety_hit

log = logging.getLogger(__name__)
STREAM_BUFFER = 100


@dataclass
class ChatSession:
    token: str
    address: str
    created: float
    visitor: Visitor | None = None
    task_id: str | None = None
    seq: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)   # replayed when the stream reconnects
    streams: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)
    last_seen: float = 0.0
    waiting_since: float = 0.0
    agent: str | None = None          # who accepted it
    state: str = "new"                # new, waiting, joined, unanswered, emailed, closed, left

    @property
    def open(self) -> bool:
        return self.task_id is not None and self.state in ("waiting", "joined", "unanswered")


class ChatChannel:
    def __init__(self, settings: Any, hub: Any, clock: Any = time.monotonic) -> None:
        self.s = settings
        self.hub = hub
        self.clock = clock
        self.gate = Gate(Limits(settings.max_message_chars, settings.max_form_chars,
                                settings.per_address_per_minute, settings.per_session_per_minute,
                                settings.open_chats_per_address))
        self.sessions: dict[str, ChatSession] = {}
        self.by_task: dict[str, ChatSession] = {}
        hub.senders["chat"] = self
        hub.watchers.append(self.on_task)

    # ---- sessions ------------------------------------------------------------------------
    def session(self, token: str | None, address: str) -> ChatSession:
        """The visitor's session (cookie), or a new one with a fresh unguessable token."""
        found = self.sessions.get(token or "")
        if found is not None:
            return found
        new = ChatSession(secrets.token_urlsafe(32), address, self.clock())
        self.sessions[new.token] = new
        return new

    def open_for(self, address: str) -> int:
        return sum(1 for s in self.sessions.values() if s.address == address and s.open)

    # ---- visitor → agent -----------------------------------------------------------------
    async def start(self, chat: ChatSession, name: str, email: str, text: str) -> str | None:
        """The visitor's first line opens the chat: a task in the CRM, then the ACD."""
        if chat.open:
            return await self.say(chat, text)
        now = self.clock()
        reason = (self.gate.check_new_chat(self.open_for(chat.address), chat.address, now)
                  or self._size(text))
        if reason:
            return reason
        chat.visitor = Visitor(name.strip()[:100] or "Visitor", email.strip()[:320].lower())
        task_id = chat_store.new_task_id("CH", _utc())
        safety = safety_hit(text, self.s.safety_phrases)
        stored = await chat_store.open_contact(
            self.hub.store, task_id=task_id, channel="chat", visitor=chat.visitor,
            subject=f"Chat: {text[:80]}", text=text, queue=self.s.queue, priority=self.s.priority,
            safety=safety, pv_queue=self.s.pv_queue, pv_priority=self.s.pv_priority, now=_utc())
        chat.task_id, chat.state, chat.waiting_since, chat.seq = task_id, "waiting", now, 1
        chat.last_seen = max(chat.last_seen, now)    # its stream may connect a moment later
        self.by_task[task_id] = chat
        self._push(chat, {"kind": "line", "from": "visitor", "name": chat.visitor.name, "text": text})
        self._push(chat, {"kind": "state", "state": "waiting"})
        self.hub.submit(ev.TaskArrived(task_id, stored.queue, "chat", stored.priority, arrival=now))
        log.info("chat %s opened (queue %s%s)", task_id, stored.queue, ", safety phrase" if safety else "")
        return None

    async def say(self, chat: ChatSession, text: str) -> str | None:
        if not chat.open or chat.task_id is None or chat.visitor is None:
            return "not_open"
        reason = self.gate.check_message(text, chat.address, chat.token, self.clock())
        if reason:
            return reason
        chat.seq += 1
        await chat_store.add_line(self.hub.store, chat.task_id, chat.seq, direction="in",
                                  sender=chat.visitor.address, text=text, agent=None, now=_utc())
        self._push(chat, {"kind": "line", "from": "visitor", "name": chat.visitor.name, "text": text})
        safety = safety_hit(text, self.s.safety_phrases)
        if safety:     # an AE case always; the queue changes only while no agent has the chat
            move = chat.state != "joined"
            await chat_store.escalate_to_safety(self.hub.store, chat.task_id, chat.visitor, text, safety,
                                                self.s.pv_queue, self.s.pv_priority, _utc(), move)
            if move:
                self.hub.submit(ev.TaskTransferred(chat.task_id, self.s.pv_queue))
        self._tell_agent(chat, "line")
        return None

    def _size(self, text: str) -> str | None:
        if not text.strip():
            return "empty"
        return "too_long" if len(text) > self.s.max_message_chars else None

    async def leave_email(self, chat: ChatSession, address: str) -> str | None:
        """No agent in time: the visitor leaves an e-mail address; the task becomes an e-mail."""
        if chat.task_id is None or chat.state not in ("waiting", "unanswered"):
            return "not_open"
        await chat_store.to_email(self.hub.store, chat.task_id, address.lower())
        chat.state = "emailed"
        self.hub.submit(ev.TaskEnded(chat.task_id))     # out of the chat line …
        self.hub.submit(ev.TaskArrived(chat.task_id, self.s.form_queue or self.s.queue, "email",
                                       self.s.priority, arrival=chat.waiting_since))  # … into e-mail's
        self.by_task.pop(chat.task_id, None)
        self._push(chat, {"kind": "state", "state": "emailed", "hours": self.s.email_answer_hours})
        return None

    async def form(self, form: FormInput, address: str) -> str:
        """A web form: an e-mail-style task (answered by e-mail or a call back)."""
        email, phone = form.email.strip().lower(), normalised_phone(form.phone) if form.phone.strip() else ""
        visitor = Visitor(form.name.strip()[:100], email, phone)
        text = form.message if not phone else f"{form.message}\n\n(phone: {form.phone.strip()})"
        task_id = chat_store.new_task_id("WF", _utc())
        safety = safety_hit(f"{form.topic}\n{form.message}", self.s.safety_phrases)
        stored = await chat_store.open_contact(
            self.hub.store, task_id=task_id, channel="email", visitor=visitor,
            subject=f"Web form: {form.topic}", text=text, queue=self.s.form_queue or self.s.queue,
            priority=self.s.priority, safety=safety, pv_queue=self.s.pv_queue,
            pv_priority=self.s.pv_priority, now=_utc())
        self.hub.submit(ev.TaskArrived(task_id, stored.queue, "email", stored.priority, arrival=self.clock()))
        log.info("web form %s stored (queue %s)", task_id, stored.queue)
        return task_id

    # ---- agent → visitor (TaskHub) ---------------------------------------------------------
    def display_name(self, agent: str) -> str:
        return self.s.display_names.get(agent, self.s.default_display_name)

    async def reply(self, task_id: str, agent: str, text: str) -> None:
        chat = self.by_task.get(task_id)
        if chat is None or not chat.open:
            raise LookupError(f"chat {task_id} is over (the visitor left or it was closed)")
        if len(text) > self.s.max_message_chars:
            raise ValueError(f"the reply is longer than {self.s.max_message_chars} characters")
        chat.seq += 1
        await chat_store.add_line(self.hub.store, task_id, chat.seq, direction="out",
                                  sender=self.display_name(agent), text=text, agent=agent, now=_utc())
        self._push(chat, {"kind": "line", "from": "agent", "name": self.display_name(agent), "text": text})
        self._tell_agent(chat, "reply")      # other desks of this agent show it; "line" = the visitor's

    def on_task(self, task_id: str, state: str, agent: str) -> None:
        """TaskHub's news about a task: accepted, closed, transferred."""
        chat = self.by_task.get(task_id)
        if chat is None:
            return
        if state == "accepted":
            chat.state, chat.agent = "joined", agent
            self._push(chat, {"kind": "state", "state": "joined", "name": self.display_name(agent)})
        elif state == "transferred":
            chat.state, chat.agent = "waiting", None
            self._push(chat, {"kind": "state", "state": "waiting"})
        elif state == "closed":
            if chat.state != "left":
                chat.state = "closed"
                self._push(chat, {"kind": "state", "state": "closed"})
            self.by_task.pop(task_id, None)

    # ---- time: unanswered chats and visitors who left --------------------------------------
    async def run(self, every_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.tick(self.clock())
            except Exception:                          # noqa: BLE001 - the clock must go on
                log.exception("chat: the housekeeping tick failed; trying again")

    async def tick(self, now: float) -> None:
        for chat in list(self.by_task.values()):
            if chat.state == "waiting" and unanswered(chat.waiting_since, False, self.s.answer_within_s, now):
                chat.state = "unanswered"
                self._push(chat, {"kind": "state", "state": "unanswered", "hours": self.s.email_answer_hours})
            elif chat.open and gone(chat.last_seen, bool(chat.streams), self.s.leave_grace_s, now):
                await self._left(chat)
        self.gate.by_address.forget_idle(now)
        self.gate.by_session.forget_idle(now)
        for token in [t for t, c in self.sessions.items()
                      if not c.open and not c.streams and now - max(c.last_seen, c.created) > 3600]:
            del self.sessions[token]

    async def _left(self, chat: ChatSession) -> None:
        """The visitor closed the page: the agent sees it; a chat nobody took closes itself."""
        assert chat.task_id is not None
        chat.state = "left"
        chat.seq += 1
        await chat_store.add_line(self.hub.store, chat.task_id, chat.seq, direction="in", sender="",
                                  text="(the visitor left the chat)", agent="", now=_utc())
        self._tell_agent(chat, "left")
        holder = self.hub.offered.get(chat.task_id)
        if chat.agent is None:
            await self.hub.close(chat.task_id, holder or "", "visitor_left")
        log.info("chat %s: the visitor left", chat.task_id)

    # ---- streams -------------------------------------------------------------------------
    def listen(self, chat: ChatSession) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(STREAM_BUFFER)
        for line in chat.lines[-(STREAM_BUFFER - 1):]:
            queue.put_nowait(line)
        chat.streams.add(queue)
        chat.last_seen = self.clock()
        return queue

    def unlisten(self, chat: ChatSession, queue: asyncio.Queue[dict[str, Any]]) -> None:
        chat.streams.discard(queue)
        chat.last_seen = self.clock()

    def _push(self, chat: ChatSession, event: dict[str, Any]) -> None:
        chat.lines.append(event)
        del chat.lines[:-STREAM_BUFFER // 2]
        for queue in chat.streams:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def _tell_agent(self, chat: ChatSession, what: str) -> None:
        agent = self.hub.offered.get(chat.task_id or "")
        if agent:
            self.hub.outbox.publish(f"chat/{agent}/{chat.task_id}", {"task_id": chat.task_id, "state": what})


def _utc() -> datetime:
    return datetime.now(timezone.utc)
