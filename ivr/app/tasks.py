"""Non-voice tasks in the engine: the channels' adapters (ivr/channels) submit what they
stored in the CRM; the ACD (AcdDriver.center) decides; offers go to the agents' displays on
the live feed (topic `tasks/<agent>/<task id>`, retained while the task is open); the desk's commands (accept,
decline, close) come back here and are recorded in the CRM.

A new channel plugs in by storing its contact as a CRM task (ivr/channels/task_store.py
columns) and calling `TaskHub.submit(TaskArrived(...))`; the desk shows any task by channel.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any

from acd import actions as act
from acd import events as ev
from ivr.channels import task_store

log = logging.getLogger(__name__)


class TaskHub:
    def __init__(self, acd: Any, store: Any, outbox: Any, spawn: Any) -> None:
        self.acd = acd
        self.store = store
        self.outbox = outbox
        self._spawn = spawn
        self.offered: dict[str, str] = {}   # task id -> agent it is offered to / held by
        self.email: Any = None              # the EmailChannel, for replies (start_email)
        # channel -> what sends an agent's reply: `await sender.reply(task_id, agent, text)`
        self.senders: dict[str, Any] = {}
        self.views: dict[str, dict[str, Any]] = {}   # task id -> what the desk shows of it
        # f(task id, offered | withdrawn | declined | accepted | closed | transferred, agent)
        self.watchers: list[Any] = []
        acd.task_sink = self.on_action

    def submit(self, event: Any) -> None:
        if event is not None:
            self.acd.handle(event)

    def arrived(self, notes: list[dict[str, Any]]) -> dict[str, Any]:
        """The channels worker's `tasks_arrived`: what it committed to the CRM (a task already
        in the ACD after a reload or a catch-up: the ACD ignores a known id)."""
        now = time.monotonic()
        for note in notes:
            task_id, event = str(note["task_id"]), note.get("event")
            if event == "arrived":
                self.submit(ev.TaskArrived(task_id, str(note["queue"]), str(note["channel"]),
                                           int(note["priority"]), arrival=now - float(note.get("age_s", 0.0))))
            elif event == "transferred":
                self.submit(ev.TaskTransferred(task_id, str(note["queue"])))
            elif event == "ended":
                self.submit(ev.TaskEnded(task_id))
            else:
                raise ValueError(f"unknown task note {event!r} (task {task_id})")
        return {"ok": True, "tasks": len(notes)}

    async def catch_up(self, channels: tuple[str, ...] = ("email", "chat")) -> int:
        """After the channels worker was restarted: its notes still queued when it died are
        lost, their tasks are not; every open task of its channels the ACD does not know enters
        it now (with its age). Its live chats died with it: as at the engine's start, each
        comes back as an e-mail (one an agent holds stays with the agent, answered by e-mail).
        Returns how many tasks entered the ACD."""
        now_m, now_w = time.monotonic(), datetime.now(timezone.utc)
        entered = 0
        for row in await task_store.open_tasks(self.store):
            if row["channel"] not in channels:
                continue
            state = self.acd.center.tasks.task_state(row["task_id"])
            if row["channel"] == "chat":
                await task_store.set_task(self.store, row["task_id"], channel="email")
                row["channel"] = "email"
                if row["task_id"] in self.views:
                    self.views[row["task_id"]]["channel"] = "email"
                if state == "connected":
                    continue
                if state is not None:
                    self.acd.handle(ev.TaskEnded(row["task_id"]))    # out of the chat line
                state = None
            if state is None:
                self._arrive_stored(row, now_m, now_w)
                entered += 1
        if entered:
            log.info("tasks: %d task(s) stored by the last channels worker entered the ACD now "
                     "(its live chats as e-mails)", entered)
        return entered

    async def reload(self) -> int:
        """At start: the CRM's open tasks go back into the ACD with their age."""
        now_m, now_w = time.monotonic(), datetime.now(timezone.utc)
        rows = await task_store.open_tasks(self.store)
        for row in rows:
            if row["channel"] == "chat":
                # A live chat lives in the engine's memory with its visitor's stream: after a
                # restart nobody is on the other end. Back as a chat it would hold an agent's
                # calls back for a visitor who is gone; as an e-mail it is answered by mail.
                await task_store.set_task(self.store, row["task_id"], channel="email")
                row["channel"] = "email"
                log.info("task %s: a chat cut by the engine's restart comes back as an e-mail "
                         "(its visitor's live page ended with the last engine)", row["task_id"])
            self._arrive_stored(row, now_m, now_w)
        return len(rows)

    def _arrive_stored(self, row: dict[str, Any], now_m: float, now_w: datetime) -> None:
        """A task read from the CRM into the ACD, its age kept (fairness by age)."""
        created = row["created_at"]
        age = (now_w - created).total_seconds() if isinstance(created, datetime) else 0.0
        self.acd.handle(ev.TaskArrived(row["task_id"], row["queue"], row["channel"],
                                       int(row["priority"]), arrival=now_m - max(0.0, age)))

    # ---- ACD → agents -------------------------------------------------------------------
    def on_action(self, action: Any) -> None:
        if isinstance(action, act.OfferTask):
            self.offered[action.task_id] = action.agent
            self._spawn(self._publish_offer(action))
            self._tell(action.task_id, "offered", action.agent)
        elif isinstance(action, act.CancelTaskOffer):
            self.offered.pop(action.task_id, None)
            self._over(action.agent, action.task_id, "withdrawn")
            self._tell(action.task_id, "withdrawn", action.agent)
        elif isinstance(action, act.TaskRejected):
            log.error("task %s not routed: %s (it stays open in the CRM)", action.task_id, action.reason)

    async def _publish_offer(self, offer: act.OfferTask) -> None:
        task = await task_store.get_task(self.store, offer.task_id) or {}
        await task_store.set_task(self.store, offer.task_id, agent=offer.agent)
        if self.offered.get(offer.task_id) != offer.agent:
            return                         # withdrawn or closed while the CRM answered
        view = self.views[offer.task_id] = {
            "task_id": offer.task_id, "state": "offered", "channel": offer.channel,
            "queue": offer.queue, "subject": task.get("subject"), "sender": task.get("sender"),
            "case_id": task.get("case_id"), "priority": task.get("priority")}
        self.outbox.publish(f"tasks/{offer.agent}/{offer.task_id}", view, retain=True)

    # ---- agents → ACD (the desk's commands) --------------------------------------------
    async def accept(self, task_id: str, agent: str) -> dict[str, Any]:
        if self.offered.get(task_id) != agent:
            raise LookupError(f"task {task_id} is not offered to {agent}")
        self.acd.handle(ev.TaskAccepted(task_id, agent))
        await task_store.set_task(self.store, task_id, agent=agent, accepted_at=datetime.now(timezone.utc))
        # the whole view again: a desk that connects later gets only the retained line
        view = self.views[task_id] = {**self.views.get(task_id, {"task_id": task_id}), "state": "accepted"}
        self.outbox.publish(f"tasks/{agent}/{task_id}", view, retain=True)
        self._tell(task_id, "accepted", agent)
        return {"task_id": task_id, "state": "accepted"}

    def _tell(self, task_id: str, state: str, agent: str) -> None:
        for watcher in self.watchers:
            watcher(task_id, state, agent)

    async def command(self, request: dict[str, Any]) -> dict[str, Any]:
        """The control socket's `task` command: {action, task_id, agent, text | outcome | reason}."""
        action, task_id, agent = request.get("action"), str(request["task_id"]), str(request["agent"])
        try:
            if action == "accept":
                await self.accept(task_id, agent)
            elif action == "decline":
                await self.decline(task_id, agent, str(request.get("reason", "")))
            elif action == "reply":
                await self.reply(task_id, agent, str(request.get("text", "")))
            elif action == "close":
                await self.close(task_id, agent, str(request.get("outcome", "")))
            elif action == "call_back":       # voice messages: the agent's phone rings first
                await self.call_back(task_id, agent)
            elif action == "transfer":
                await self.transfer(task_id, agent, str(request.get("queue", "")))
            else:
                return {"ok": False, "error": f"unknown task action {action!r}; use accept, decline, "
                                              "reply, call_back, transfer or close"}
        except (LookupError, ValueError) as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "task_id": task_id, "action": action}

    async def reply(self, task_id: str, agent: str, text: str) -> None:
        """The agent's answer through the task's channel (e-mail: SMTP, in the thread; SMS:
        AMI MessageSend)."""
        if self.offered.get(task_id) != agent:
            raise LookupError(f"task {task_id} is not with {agent}")
        if not text.strip():
            raise ValueError("the reply is empty")
        channel = self.views.get(task_id, {}).get("channel")
        if channel is None:
            channel = (await task_store.get_task(self.store, task_id) or {}).get("channel")
        sender = self.senders.get(channel) or (self.email if channel == "email" else None)
        if sender is None:
            raise LookupError(f"no {channel or 'e-mail'} channel to send the reply with")
        await sender.reply(task_id, agent, text)

    async def call_back(self, task_id: str, agent: str) -> None:
        """Call the customer of a voice message back: AMI rings the agent, then the number."""
        if self.offered.get(task_id) != agent:
            raise LookupError(f"task {task_id} is not with {agent}")
        sender = self.senders.get("voicemail")
        if sender is None:
            raise LookupError("no voice-message channel (channels.voicemail) to call back with")
        await sender.call_back(task_id, agent)

    async def decline(self, task_id: str, agent: str, reason: str = "") -> None:
        if self.offered.get(task_id) == agent:
            self.offered.pop(task_id, None)
            self.acd.handle(ev.TaskDeclined(task_id, agent, reason))
            self._over(agent, task_id, "declined")
            self._tell(task_id, "declined", agent)

    async def close(self, task_id: str, agent: str, outcome: str) -> None:
        if not outcome.strip():
            raise ValueError("closing a task needs an outcome")
        self.offered.pop(task_id, None)
        self.acd.handle(ev.TaskEnded(task_id))
        await task_store.set_task(self.store, task_id, status="closed", outcome=outcome.strip(),
                                  closed_at=datetime.now(timezone.utc))
        self._over(agent, task_id, "closed")
        self._tell(task_id, "closed", agent)

    async def transfer(self, task_id: str, agent: str, queue: str) -> None:
        """Back into the line of another queue (its age kept); the agent lets go of it."""
        if self.offered.get(task_id) != agent:
            raise LookupError(f"task {task_id} is not with {agent}")
        if queue not in self.acd.queues:
            raise ValueError(f"no queue {queue!r}; use one of {', '.join(sorted(self.acd.queues))}")
        self.offered.pop(task_id, None)
        await task_store.set_task(self.store, task_id, queue=queue, agent=None)
        self._over(agent, task_id, "transferred")
        self._tell(task_id, "transferred", agent)
        self.acd.handle(ev.TaskTransferred(task_id, queue))

    def _over(self, agent: str, task_id: str, state: str) -> None:
        self.views.pop(task_id, None)
        topic = f"tasks/{agent}/{task_id}"
        self.outbox.publish(topic, {"task_id": task_id, "state": state})
        self.outbox.feed.forget(topic)


def start_chat(settings: Any, hub: TaskHub, spawn: Any) -> Any:
    """The public chat/form page, when `channels.chat` is configured: its own port."""
    from ivr.channels.chat_live import ChatChannel
    from ivr.channels.chat_web import serve

    channel = ChatChannel(settings, hub)
    spawn(channel.run())
    spawn(serve(channel, settings))
    return channel


def start_email(settings: Any, hub: TaskHub, spawn: Any) -> Any:
    """The e-mail channel, when `channels.email` is configured: a task source."""
    from ivr.channels.email_in import EmailChannel, acd_event

    arrival = time.monotonic
    channel = EmailChannel(settings, hub.store, lambda ing, mail: hub.submit(acd_event(ing, arrival())))
    hub.email = channel
    spawn(channel.run())
    return channel


def start_email_replies(settings: Any, store: Any) -> Any:
    """The e-mail channel for the desk's replies only (SMTP): its mailbox is read by the
    channels worker process (ivr/channels/worker.py)."""
    from ivr.channels.email_in import EmailChannel

    return EmailChannel(settings, store, lambda ing, mail: None)





def start_sms(settings: Any, hub: TaskHub, ami: Any, spawn: Any) -> Any:
    """The SMS channel, when `channels.sms` is configured: Asterisk's SIP MESSAGEs (drained
    from AstDB at the first AMI login and on each UserEvent) and the gateways' webhook."""
    from ivr.channels.sms import SmsChannel, acd_event

    channel = SmsChannel(settings, hub.store, ami, lambda ing: hub.submit(acd_event(ing, time.monotonic())),
                         spawn)
    hub.senders["sms"] = channel
    if settings.asterisk and ami() is not None and ami().connected:
        channel.on_ami_login()
    if settings.webhook is not None:
        from ivr.channels.sms_webhook import SmsWebhook

        channel.webhook = SmsWebhook(settings.webhook, channel)
        spawn(channel.webhook.serve())
    return channel


def start_fax(settings: Any, hub: TaskHub, ami: Any, spawn: Any) -> Any:
    """The fax channel, when `channels.fax` is configured: ReceiveFAX outcomes spooled by
    Asterisk in AstDB, read at the first AMI login and on each UserEvent."""
    from pathlib import Path

    from ivr.channels.fax import FaxChannel, acd_event

    Path(settings.spool_dir).mkdir(parents=True, exist_ok=True)
    channel = FaxChannel(settings, hub.store, ami, lambda ing: hub.submit(acd_event(ing, time.monotonic())),
                         spawn)
    if ami() is not None and ami().connected:
        channel.on_ami_login()
    return channel


def start_voicemail(settings: Any, hub: TaskHub, ami: Any, speech: Any, agent_endpoint: Any,
                    spawn: Any) -> Any:
    """Voice messages, when `channels.voicemail` is configured: the call sessions record,
    this channel makes the callback tasks."""
    from pathlib import Path

    from ivr.channels.voicemail import VoicemailChannel, acd_event

    Path(settings.spool_dir).mkdir(parents=True, exist_ok=True)
    channel = VoicemailChannel(settings, hub.store, ami, speech, agent_endpoint,
                               lambda ing: hub.submit(acd_event(ing, time.monotonic())), spawn)
    hub.senders["voicemail"] = channel
    return channel
