"""The standby's door: a FastAGI call reaching an engine that does not route (standby, or a
leader that just stepped down) is handed straight back to Asterisk, marked IVR_STANDBY=1, so
the dialplan tries the other engine (asterisk/extensions_hotline.conf). Nothing of the call
is recorded here: the engine that takes it records it."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from ivr.telephony.agi.server import AgiChannel

log = logging.getLogger(__name__)
Route = Callable[[AgiChannel], Awaitable[None]]


def standby_gate(route: Route, may_route: Callable[[], bool]) -> Route:
    async def gated(chan: AgiChannel) -> None:
        if may_route():
            await route(chan)
            return
        log.info("call %s reached this engine while it is not active: handed back", chan.call_id)
        await chan.set_variable("IVR_STANDBY", "1")
    return gated
