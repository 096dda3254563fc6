"""Where a FastAGI connection goes: `agi://…/hotline` is a caller, `agi://…/agent-feature` an
agent's feature code, `agi://…/outbound` a person who answered a campaign's call (issue
15), `agi://…/unseen-hangup` a caller who hung up before the engine took
the call (Asterisk's hangup handler)."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from ivr.app.agents import AgentCommands
from ivr.call.context import CallContext
from ivr.call.flow import unseen_hangup
from ivr.call.session import CallSession
from ivr.crm.records import CallEvent
from ivr.privacy import mask_number
from ivr.telephony.agi.server import AgiChannel
from ivr.telephony.ami import AmiLink
from ivr.telephony.wake import ami_wake

log = logging.getLogger(__name__)


def agi_router(ctx: CallContext, agents: AgentCommands,
               ami: Callable[[], AmiLink | None],
               outbound: Callable[[CallContext, AgiChannel], Awaitable[None]] | None = None,
               ) -> Callable[[AgiChannel], Awaitable[None]]:
    async def route(chan: AgiChannel) -> None:
        script = chan.env.get("network_script").split("?")[0].strip("/")
        if script == "outbound" and outbound is not None:     # a campaign's answered call
            chan.interrupt = ami_wake(ami(), chan.env.get("channel"))
            await outbound(ctx, chan)
        elif script == "agent-feature":
            await agents.feature_code(chan)
        elif script == "unseen-hangup":
            record_unseen_hangup(ctx, chan)
        else:
            chan.interrupt = ami_wake(ami(), chan.env.get("channel"))   # no log line per wake
            await CallSession(ctx, chan).run()
    return route


def record_unseen_hangup(ctx: CallContext, chan: AgiChannel) -> None:
    dialed, epoch = (chan.env.args + ["", ""])[:2]
    now = datetime.now(timezone.utc)
    try:
        started = datetime.fromtimestamp(int(epoch), timezone.utc)
    except ValueError:
        started = now
    record, timeline = unseen_hangup(chan.env.get("uniqueid"), chan.env.get("callerid"),
                                     dialed, started, now)
    ctx.store.save_call(record)
    for step, at in zip(timeline, (started, now)):
        ctx.store.add_event(CallEvent(record.call_id, at, step.kind, step.data))
    log.info("call %s from %s hung up before reaching the engine: recorded abandoned",
             record.call_id, mask_number(record.caller))
