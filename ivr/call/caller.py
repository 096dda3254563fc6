"""What the engine can do to a caller, over one FastAGI session.

The dialplan walker and the queue only speak through this small interface; the AGI commands
(STREAM FILE, WAIT FOR DIGIT, EXEC …) stay here.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ivr.telephony.agi.server import AgiChannel, CallerHungUp
from ivr.telephony.wake import WOKEN_BY_CONTROL

log = logging.getLogger(__name__)
ALL_KEYS = "0123456789*#"
MAX_DIGITS_HEARD = 64        # a collect with a terminator stops here even without it


class AgiCaller:
    def __init__(self, agi: AgiChannel, sounds_prefix: str):
        self.agi = agi
        self.sounds_prefix = sounds_prefix

    @property
    def hung_up(self) -> bool:
        return self.agi.hung_up

    def sound(self, prompt_id: str) -> str:
        """Walker prompts are '<lang>/<id>' under sounds/<prefix>/; a bare name is one of
        Asterisk's own sounds, found in the channel's language."""
        if "/" not in prompt_id or prompt_id.startswith("/"):
            return prompt_id
        return f"{self.sounds_prefix}/{prompt_id}"

    async def play(self, prompts: tuple[str, ...], keys: str = "",
                   cut: asyncio.Event | None = None) -> str | None:
        """Play prompts in order; a key in `keys` interrupts and is returned. `cut`, when set,
        ends the playing at once (STREAM FILE returns when we send anything): something more
        urgent for the caller, e.g. an agent is free."""
        for prompt in prompts:
            if cut is not None and cut.is_set():
                return None
            reply = await self.agi.command(f'STREAM FILE {self.sound(prompt)} "{keys}"', wake=cut)
            if cut is not None and cut.is_set():
                return None      # its result=1 is the wake-up, not a key
            if reply.result is not None and reply.result > 0:
                return chr(reply.result)
            if reply.result == -1:
                await self._hung_up_or_missing(prompt)
        return None

    async def _hung_up_or_missing(self, prompt: str) -> None:
        """STREAM FILE answers -1 both when the caller hung up and when the file is missing:
        a dead channel refuses CHANNEL STATUS (511 → CallerHungUp); otherwise say which
        sound is missing and carry on rather than drop the caller."""
        await self.agi.command("CHANNEL STATUS")
        log.error("sound %s is missing in Asterisk's sounds directory: run `ivr sounds build` "
                  "and copy them under Asterisk's sounds directory, or install Asterisk's sound packages",
                  self.sound(prompt))

    async def wait_digit(self, timeout_s: float, wake: asyncio.Event | None = None) -> str | None:
        """One key within the timeout, or None. With `wake`, returns None early when woken."""
        reply = await self.agi.command(f"WAIT FOR DIGIT {int(timeout_s * 1000)}", wake=wake)
        if reply.result == -1:   # only a hang-up gives -1: the channel noted it (agi.hung_up)
            raise_hangup("WAIT FOR DIGIT")
        if reply.result and 1 < reply.result < WOKEN_BY_CONTROL:
            return chr(reply.result)
        return None                     # timeout, or woken (NOOP: 1, AMI stop frame: 1000)

    async def ask_digit(self, prompts: tuple[str, ...], timeout_s: float) -> str | None:
        key = await self.play(prompts, ALL_KEYS)
        return key if key is not None else await self.wait_digit(timeout_s)

    async def ask_digits(self, prompts: tuple[str, ...], timeout_s: float, min_length: int,
                         max_length: int, terminator: str = "#", escape: str = "") -> str | None:
        """Digits until the terminator, max_length or a timeout; `escape` pressed at any
        point ends the entry at once and is returned alone (a survey's safety key)."""
        digits = ""
        key = await self.play(prompts, ALL_KEYS)
        while True:
            if key is None:
                key = await self.wait_digit(timeout_s)
            if key is None:
                return digits if len(digits) >= min_length else None
            if escape and key == escape:
                return key
            if key == terminator:
                return digits
            digits += key
            # With a terminator the caller says when the entry ends: keep listening, so a too
            # long entry is refused whole instead of cut at max_length with the rest of the
            # keys spilling into the next menu. Without one, max_length is the only end.
            if len(digits) >= (MAX_DIGITS_HEARD if terminator else max_length):
                return digits
            key = None

    async def start_music(self) -> None:
        await self.agi.exec("StartMusicOnHold", "default")

    async def stop_music(self) -> None:
        await self.agi.exec("StopMusicOnHold")

    async def dial(self, target: str, ring_timeout_s: float,
                   answered: Callable[[], bool] | None = None, caller_stays: bool = False) -> str:
        """Ring `target` (e.g. PJSIP/alice) and bridge; returns Dial's DIALSTATUS (ANSWER,
        NOANSWER, BUSY, CHANUNAVAIL, CONGESTION, CANCEL) when the call ends. Answer and talk
        times come from AMI events: Dial's ANSWEREDTIME did not match the call on Asterisk 22.
        `answered()` true once Dial returns (AMI saw this call's DialEnd ANSWER) means
        DIALSTATUS is ANSWER: one AGI round trip less per answered call. Otherwise (no AMI,
        or its event not in yet) DIALSTATUS is read from Asterisk as before. `caller_stays`:
        the caller's channel goes on when the agent hangs up."""
        # `g`: when the agent hangs up, the caller's channel goes on (the post-call survey)
        await self.agi.exec("Dial", f"{target},{int(ring_timeout_s)}" + (",g" if caller_stays else ""))
        if answered is not None and answered():
            return "ANSWER"
        return await self.agi.get_variable("DIALSTATUS") or "FAILED"

    async def finish(self, done: bool = True) -> None:
        """Tell the Asterisk dialplan whether the engine finished the call (IVR_DONE=1) or
        hands it back to the operator fallback (IVR_DONE stays 0)."""
        if done:
            await self.agi.set_variable("IVR_DONE", "1")


def raise_hangup(what: str) -> None:
    raise CallerHungUp(f"caller hung up during {what}")
