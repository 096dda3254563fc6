"""Voice messages, never a voice-mail loop: a queue's divert destination with `voicemail: true`
records the caller once (the call session's AGI RECORD FILE, then goodbye); this channel turns
the recording into a callback task (channel "voicemail", due within `due_minutes`), with a
transcript when a speech model is loaded, the recording attached (the desk plays it to agents),
and a safety phrase in the transcript routing it to pharmacovigilance with an AE case.

Calling back is one click on the desk (TaskHub `call_back`): AMI Originate rings the agent's
phone first and, once answered, [hotline-callback] dials the customer."""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
import wave
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .mail_rules import safety_hit
from .settings import VoicemailSettings
from .astdb_spool import read_if_present
from .task_store import Ingested, get_task, record_reply, task_event
from .voicemail_rules import VoiceMessage, due_at, recording_name
from .voicemail_store import ingest_voice_message

log = logging.getLogger(__name__)


class VoicemailChannel:
    def __init__(self, settings: VoicemailSettings, store: Any, ami: Callable[[], Any],
                 speech: Any, agent_endpoint: Mapping[str, str],
                 submit: Callable[[Ingested], None], spawn: Callable[[Any], None]) -> None:
        self.settings = settings
        self.store = store
        self.ami = ami
        self.speech = speech                 # ivr/app/speech.py Speech (.model may be None)
        self.agent_endpoint = agent_endpoint
        self.submit = submit
        self.spawn = spawn
        self.stats = {"messages": 0, "transcribed": 0, "callbacks": 0}

    # ---- in (from the call session) -----------------------------------------------------
    def asterisk_path(self, call_id: str) -> str:
        """Where Asterisk records (no extension: RECORD FILE adds .wav)."""
        return f"{self.settings.asterisk_dir.rstrip('/')}/{recording_name(call_id)}"

    def recorded(self, record: Any, language: str | None, seconds: float) -> None:
        """The session recorded a message for this call (its CRM record): store it."""
        queue = self.settings.queue or record.queue or ""
        self.spawn(self.store_message(record.call_id, record.caller or "", queue,
                                      int(record.priority or 0), language, seconds))

    async def store_message(self, call_id: str, caller: str, queue: str, priority: int,
                            language: str | None, seconds: float) -> Ingested:
        s = self.settings
        path = Path(s.spool_dir) / f"{recording_name(call_id)}.wav"
        audio = await asyncio.to_thread(read_if_present, path)
        refused = None
        if audio is None:
            refused = "the recording is missing (the caller hung up before the beep?)"
        elif len(audio) > s.max_audio_bytes:
            refused = (f"the recording of {len(audio) / 1e6:.1f} MB is above the limit of "
                       f"{s.max_audio_bytes / 1e6:.1f} MB (channels.voicemail.max_audio_bytes)")
        transcript = None
        model = getattr(self.speech, "model", None)
        if audio and s.transcribe and model is not None:
            try:
                transcript = await asyncio.to_thread(transcribe, model, audio) or None
                self.stats["transcribed"] += transcript is not None
            except Exception as exc:  # noqa: BLE001 — the message matters more than its text
                log.warning("voicemail %s: transcription failed (%s); agents listen to it", call_id, exc)
        msg = VoiceMessage(call_id, caller, queue, priority, language, seconds, transcript)
        now = datetime.now(timezone.utc)
        ing = await ingest_voice_message(
            self.store, msg, None if refused and audio else audio, refused,
            safety=safety_hit(transcript or "", s.safety_phrases), pv_queue=s.pv_queue,
            pv_priority=s.pv_priority, due=due_at(now, s.due_minutes), now=now)
        if not ing.duplicate:
            self.stats["messages"] += 1
            log.info("voicemail: call %s stored as callback task %s (due in %d min)%s", call_id,
                     ing.task_id, s.due_minutes, " — safety phrase: PV" if ing.case_id else "")
            self.submit(ing)
        path.unlink(missing_ok=True)      # in the CRM now
        return ing

    # ---- the desk's actions ---------------------------------------------------------------
    async def reply(self, task_id: str, agent: str, text: str) -> None:
        raise ValueError("a voice message is answered by calling back (the desk's Call back)")

    async def call_back(self, task_id: str, agent: str) -> str:
        """Ring the agent's phone; when answered, Asterisk dials the customer."""
        task = await get_task(self.store, task_id)
        if task is None or task["channel"] != "voicemail" or not task["sender"]:
            raise LookupError(f"task {task_id} is not a voice message with a number to call back")
        endpoint = self.agent_endpoint.get(agent)
        if endpoint is None:
            raise LookupError(f"agent {agent} has no phone (endpoint) in agents.yaml")
        ami = self.ami()
        if ami is None or not ami.connected:
            raise LookupError("the engine is not connected to Asterisk (AMI); try again in a moment")
        number = task["sender"]
        try:
            await ami.originate(f"PJSIP/{endpoint}", context="hotline-callback", exten=number,
                                caller_id=f"Callback <{number}>", timeout_s=30,
                                variables={"IVR_CALLBACK_FOR": task_id}, queued_only=True)
        except Exception as exc:  # noqa: BLE001 — AmiError: the agent may try again
            raise LookupError(f"the callback could not be started ({exc})") from exc
        self.stats["callbacks"] += 1
        # The call back is the first response (reports' SL: called back within 2 h).
        await record_reply(self.store, task_id, message_id=f"vm-callback:{uuid.uuid4()}", agent=agent,
                           sender=agent, recipients=number, subject="", text=f"Called back by {agent}",
                           refs="", now=datetime.now(timezone.utc))
        return number


def transcribe(model: Any, wav_bytes: bytes) -> str:
    """Free-form text of a recording (8 kHz 16-bit mono WAV, as Asterisk writes it)."""
    import io

    import vosk

    with wave.open(io.BytesIO(wav_bytes)) as w:
        rate, pcm = w.getframerate(), w.readframes(w.getnframes())
    rec = vosk.KaldiRecognizer(model.model, rate)
    words: list[str] = []
    for i in range(0, len(pcm), 8000):
        if rec.AcceptWaveform(pcm[i:i + 8000]):
            words.append(json.loads(rec.Result()).get("text", ""))
    words.append(json.loads(rec.FinalResult()).get("text", ""))
    return " ".join(w for w in words if w).strip()


def acd_event(ing: Ingested, arrival: float | None = None) -> Any:
    return task_event(ing, "voicemail", arrival)
