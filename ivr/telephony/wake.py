"""Waking a caller who waits in WAIT FOR DIGIT (music on hold) the instant the ACD has news.

Asterisk ends WAIT FOR DIGIT early in two ways (main/channel.c, ast_waitfordigit_full):
- bytes on the AGI socket (the engine sends NOOP): it logs, at WARNING level, "The FD we were
  waiting for has something waiting. Waitfordigit returning numeric 1" for every wake, and
  logger.conf cannot filter one message out of the warnings;
- a stream-control frame queued on the channel: it returns that frame's code (result=1000
  for AST_CONTROL_STREAM_STOP) without a word. The AMI action `ControlPlayback` with
  `Control: stop` queues exactly that frame (apps/app_controlplayback.c), on any channel,
  playing or not; AMI write permission `call` is enough.
So the engine wakes through AMI and falls back to the NOOP when the link is down or slow.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# WAIT FOR DIGIT's result when woken by ControlPlayback stop (AST_CONTROL_STREAM_STOP): not a key.
WOKEN_BY_CONTROL = 1000


def ami_wake(ami, channel: str, timeout_s: float = 0.5) -> Callable[[], Awaitable[bool]]:
    """A wake for one caller's channel: True once Asterisk accepted the stop frame."""
    async def wake() -> bool:
        if ami is None or not ami.connected or not channel:
            return False
        try:
            reply = await ami.action({"Action": "ControlPlayback", "Channel": channel,
                                      "Control": "stop"}, timeout=timeout_s)
        except Exception as exc:           # the NOOP wake still works: said at debug only
            log.debug("AMI wake of %s failed (%s): waking through the AGI socket", channel, exc)
            return False
        ok = getattr(reply, "success", None)
        return bool(ok if ok is not None else reply.get("Response") == "Success")
    return wake
