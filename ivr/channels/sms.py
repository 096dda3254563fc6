"""The SMS channel's adapter.

In: Asterisk takes each SIP MESSAGE (res_pjsip_messaging) to the endpoint's message_context,
[hotline-sms] in extensions_hotline.conf. A message context has no channel, so no AGI: the
dialplan stores the message in AstDB (family `hotline_sms`, key = MD5 of the Call-ID, value =
base64 from:to:body) and raises a UserEvent. The engine then reads the family over AMI
(DBGetTree), stores each message in the CRM (one transaction, sms_store.py), hands new tasks to
the ACD and only then deletes the AstDB entry (DBDel). AstDB is the spool: messages that arrive
while the engine is down or the AMI link is broken wait there and are read at the next AMI
login; a crash between the commit and DBDel reads one again and its message id says it is
stored already.

Also in: a provider-neutral webhook for SMS gateways (sms_webhook.py).

Out: an agent's reply goes through AMI MessageSend to `channels.sms.reply_uri`.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .astdb_spool import AstDbSpool
from .mail_rules import safety_hit
from .settings import SmsSettings
from .sms_rules import BadSms, InboundSms, b64, parse_spooled, reply_problem, split_reply
from .sms_store import ingest_sms
from .task_store import Ingested, get_task, record_reply, task_event

log = logging.getLogger(__name__)
FAMILY = "hotline_sms"
USER_EVENT = "HotlineSms"


def _mask(number: str) -> str:
    """Logs never carry a whole phone number."""
    return number[:4] + "…" + number[-2:] if len(number) > 6 else "…"


class SmsChannel:
    def __init__(self, settings: SmsSettings, store: Any, ami: Callable[[], Any],
                 submit: Callable[[Ingested], None], spawn: Callable[[Any], None]) -> None:
        self.settings = settings
        self.store = store
        self.ami = ami                 # the engine's AmiLink (it reconnects: ask each time)
        self.submit = submit
        self.spawn = spawn
        self.spool = AstDbSpool(FAMILY, ami, self._spooled)
        self.webhook: Any = None       # sms_webhook.SmsWebhook when channels.sms.webhook is set
        self.stats = {"received": 0, "tasks": 0, "duplicates": 0, "refused": 0, "replies": 0}

    # ---- in -----------------------------------------------------------------------------
    def on_ami_event(self, event: dict[str, str]) -> None:
        if event.get("Event") == "UserEvent" and event.get("UserEvent") == USER_EVENT:
            self.spawn(self.drain())

    def on_ami_login(self) -> None:
        """What arrived while the link was down waits in AstDB."""
        if self.settings.asterisk:
            self.spawn(self.drain())

    async def drain(self) -> int:
        return await self.spool.drain()

    async def _spooled(self, key: str, value: str) -> None:
        try:
            sms = parse_spooled(key, value, self.settings.max_body_chars)
        except BadSms as exc:
            self.stats["refused"] += 1
            log.error("sms: spooled message %s refused: %s; it is removed from AstDB", key, exc)
            return
        await self.accept(sms)

    async def accept(self, sms: InboundSms) -> Ingested:
        """Store one SMS in the CRM and, once committed, hand it to the ACD."""
        s = self.settings
        self.stats["received"] += 1
        ing = await ingest_sms(self.store, sms, queue=s.queue, priority=s.priority,
                               safety=safety_hit(sms.text, s.safety_phrases), pv_queue=s.pv_queue,
                               pv_priority=s.pv_priority,
                               now=datetime.now(timezone.utc))
        if ing.duplicate:
            self.stats["duplicates"] += 1
            return ing
        self.stats["tasks"] += ing.new_task
        log.info("sms: from %s stored in task %s (%s)%s", _mask(sms.sender), ing.task_id,
                 "new" if ing.new_task else "conversation", " — safety phrase: PV" if ing.case_id else "")
        self.submit(ing)
        return ing

    # ---- out ----------------------------------------------------------------------------
    async def reply(self, task_id: str, agent: str, text: str) -> str:
        s = self.settings
        problem = reply_problem(text, s.max_reply_chars)
        if problem:
            raise ValueError(problem)
        task = await get_task(self.store, task_id)
        if task is None or task["channel"] != "sms" or not task["sender"]:
            raise LookupError(f"task {task_id} is not an SMS task with a number to answer")
        ami = self.ami()
        if ami is None or not ami.connected:
            raise LookupError("the SMS reply cannot go out: the engine is not connected to Asterisk "
                              "(AMI); try again in a moment")
        destination = s.reply_uri.replace("{number}", task["sender"])
        parts = split_reply(text, s.reply_part_chars)
        sent: list[str] = []
        failure = ""
        for part in parts:
            failure = await self._send(ami, destination, part)
            if failure:
                break
            sent.append(part)
        if sent:    # what the customer received is in the CRM, even when a later part failed
            message_id = f"sms-out:{uuid.uuid4()}"
            await record_reply(self.store, task_id, message_id=message_id, agent=agent,
                               sender=s.from_uri, recipients=task["sender"], subject="",
                               text="\n".join(sent), refs="", now=datetime.now(timezone.utc))
        if failure:
            done = f"parts 1-{len(sent)} of {len(parts)} went out and are in the thread; " if sent else ""
            raise LookupError(f"{done}the SMS reply {failure}")
        self.stats["replies"] += 1
        return message_id

    async def _send(self, ami: Any, destination: str, text: str) -> str:
        """One MessageSend; "" when Asterisk took it, else why not (for the agent)."""
        try:
            answer = await ami.action({"Action": "MessageSend", "Destination": destination,
                                       "From": self.settings.from_uri, "Base64Body": b64(text)})
        except Exception as exc:  # noqa: BLE001 — AmiError, a broken link: the agent may retry
            return f"did not go out ({exc}); try again"
        if answer.get("Response") != "Success":
            return (f"was refused by Asterisk ({answer.get('Message', 'no reason')}); "
                    "check channels.sms.reply_uri")
        return ""


def acd_event(ing: Ingested, arrival: float | None = None) -> Any:
    return task_event(ing, "sms", arrival)
