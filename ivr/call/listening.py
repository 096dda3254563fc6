"""A speech node on a live call: the prompt (a key interrupts it), then the caller's voice
through AudioSocket into the shared vosk model, or a key. Without a model, or while the speech
breaker holds, keys only. The recognizer's own logic is in ivr/speech/recognizer.py.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

from ivr.call.caller import AgiCaller
from ivr.call.context import SpeechPort
from ivr.dialplan import instructions as ins
from ivr.speech.recognizer import Heard, listen_or_key
from ivr.telephony.agi.server import AgiChannel, CallerHungUp

log = logging.getLogger(__name__)


class SpeechFailed(Exception):
    """The recognizer broke during a speech node: the call goes on with keys only."""


class CallListener:
    """Speech for one call. `unavailable` says why speech nodes took keys only (the CRM's
    speech_outcome): no_model, recognizer_error (it broke mid-call) or recognizer_suspended
    (it broke in the last calls: ivr/speech/breaker.py); None if speech ran."""

    def __init__(self, speech: SpeechPort, agi: AgiChannel, caller: AgiCaller, call_id: str):
        self.speech, self.agi, self.caller, self.call_id = speech, agi, caller, call_id
        self.unavailable: str | None = None

    async def listen(self, listen: ins.Listen) -> ins.SpeechInput | Heard:
        breaker = self.speech.breaker
        if self.speech.model is None:
            self.unavailable = self.unavailable or "no_model"
        elif self.unavailable is None and not breaker.allows(time.monotonic()):
            self.unavailable = "recognizer_suspended"
        key = await self.caller.play(listen.prompts, "".join(sorted(listen.keys)))
        keys_only = self.unavailable is not None
        if key is None and keys_only:
            key = await self.caller.wait_digit(listen.no_speech_timeout)
        if key is not None or keys_only:
            return ins.SpeechInput(key=key)
        try:
            heard = await self._recognise(listen)
        except SpeechFailed as exc:
            self._failed(listen, exc)
            return ins.SpeechInput(key=await self.caller.wait_digit(listen.no_speech_timeout))
        breaker.succeeded()
        if isinstance(heard, str):
            return ins.SpeechInput(key=heard)
        return heard

    def _failed(self, listen: ins.Listen, exc: Exception) -> None:
        self.unavailable = "recognizer_error"
        log.error("call %s: speech recognition failed in node %s (%s); the call goes on with "
                  "keys only (the plan's re-ask, then a person). If this repeats, the speech "
                  "model (speech.model) is broken: reinstall it and restart the engine",
                  self.call_id, listen.node, exc)
        breaker = self.speech.breaker
        if breaker.failed(time.monotonic()):
            log.error("speech recognition failed in %d calls in a row: speech nodes take keys "
                      "only for the next %.0f s (speech.suspend_for_s), then calls try it "
                      "again. Check the speech model (speech.model) and the engine log",
                      breaker.failures, breaker.cool_off_s)

    async def _recognise(self, listen: ins.Listen) -> Heard | str:
        speech, uid = self.speech, str(uuid.uuid4())
        try:
            recognition = speech.model.recognition(
                listen.grammar, no_speech_timeout=listen.no_speech_timeout,
                max_utterance=listen.max_utterance)
        except Exception as exc:
            raise SpeechFailed(f"no recognizer for this node's grammar: {exc}") from exc
        listener = speech.audiosocket.expect(uid)
        capture = asyncio.ensure_future(
            self.agi.exec("AudioSocket", f"{uid},{speech.host}:{speech.port}"))
        try:
            heard = await self._decode(listen, listener, recognition, capture)
        except SpeechFailed:
            speech.audiosocket.forget(uid)
            raise
        except BaseException:
            speech.audiosocket.forget(uid)
            capture.cancel()
            raise
        if capture.done() and not capture.cancelled() and capture.result().result == -1:
            raise CallerHungUp("caller hung up while speaking")
        return heard

    async def _decode(self, listen: ins.Listen, listener, recognition, capture) -> Heard | str:
        # Recognition limits count audio time; this wall-clock guard covers a line that sends
        # no audio at all (no RTP from the caller: AudioSocket then has nothing to forward).
        limit = listen.no_speech_timeout + listen.max_utterance + 3
        try:
            try:
                heard = await asyncio.wait_for(
                    listen_or_key(listener, recognition, listen.keys), limit)
            except TimeoutError:
                listener.hangup()
                heard = await recognition.finish()
            if isinstance(heard, str):
                await recognition.finish()
        except Exception as exc:
            if isinstance(exc, CallerHungUp):
                raise
            # The decoder broke. End the AudioSocket leg as if decided, and let the EXEC
            # AudioSocket reply arrive: cancelling it would leave the AGI session waiting for
            # that reply, and every later command (keys, queue) would fail.
            listener.hangup()
            await asyncio.wait_for(capture, 5)
            raise SpeechFailed(f"{type(exc).__name__}: {exc}") from exc
        await asyncio.wait_for(capture, 5)      # AudioSocket() returns once we hang up
        return heard
