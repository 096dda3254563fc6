"""The engine's side of the web chat when it runs in the channels worker (ivr/channels/worker.py):
the agents' replies to chat tasks and the news of those tasks (offered, accepted, closed …)
go to the worker's socket, in order. Chat task ids start with "CH-" (chat_store.new_task_id)."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ivr.app.control import ControlError, request_async

log = logging.getLogger(__name__)


class ChatRelay:
    def __init__(self, hub: Any, worker_socket: Path, spawn: Any) -> None:
        self.worker_socket = worker_socket
        self._news: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        hub.senders["chat"] = self
        hub.watchers.append(self.on_task)
        spawn(self._send_news())

    async def reply(self, task_id: str, agent: str, text: str) -> None:
        """TaskHub.reply for a chat task (it checked that the agent holds it)."""
        try:
            await request_async(self.worker_socket, {"cmd": "chat_reply", "task_id": task_id,
                                                     "agent": agent, "text": text})
        except ControlError as exc:       # the chat is over, the line too long, the worker down
            raise LookupError(str(exc)) from None

    def on_task(self, task_id: str, state: str, agent: str) -> None:
        if task_id.startswith("CH-"):
            self._news.put_nowait({"cmd": "task_news", "task_id": task_id, "state": state, "agent": agent})

    async def _send_news(self) -> None:
        while True:
            news = await self._news.get()
            try:
                await request_async(self.worker_socket, news)
            except ControlError as exc:     # a restarting worker: its chats are gone anyway
                log.warning("chat %s: the channels worker did not hear that it was %s (%s)",
                            news["task_id"], news["state"], exc)
