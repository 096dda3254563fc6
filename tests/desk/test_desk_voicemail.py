"""Voice messages on the desk, through real parts: a voice-message task stored in the CRM
(SQLite, as the channel stores it) is reloaded by the real engine (`ivr serve`, no Asterisk)
and offered to alice; her desk plays the recording (served only to her), and her call back
reaches the engine, which says why it cannot ring now (no AMI link to Asterisk). The call
back's ringing through Asterisk is tests/integration/test_voicemail_calls.py."""
from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
from playwright.sync_api import Page, expect

from ivr.channels.voicemail_rules import VoiceMessage
from ivr.channels.voicemail_store import ingest_voice_message
from ivr.crm.store import open_store

from .conftest import PASSWORDS, sign_in
from .channel_center import channel_config, engine_and_desk
from .desk_server import BASE_PORT, DeskServer

pytestmark = pytest.mark.timeout(240)


def tone_wav(seconds: float = 1.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\x00\x10" * int(8000 * seconds))
    return out.getvalue()


async def store_message(url: str, audio: bytes) -> str:
    store = await open_store(url)
    try:
        await store.save_contact("Paul Martin", ["+33611000099"], "patient")
        now = datetime.now(timezone.utc)
        ing = await ingest_voice_message(
            store, VoiceMessage("1796400000.7", "+33611000099", "medinfo", 0, "fr", 12.0, None),
            audio, None, safety=None, pv_queue="pharmacovigilance", pv_priority=10, due=now, now=now)
        return ing.task_id
    finally:
        await store.close()


@pytest.fixture(scope="module")
def center(tmp_path_factory) -> Iterator[tuple[DeskServer, str, bytes]]:
    work = tmp_path_factory.mktemp("desk-voicemail")
    config = channel_config(work, BASE_PORT + 620, {"voicemail": {"spool_dir": str(work / "vm")}},
                            agents={"alice": {"skills": {"medinfo": 5}}, "bob": {"skills": {"orders": 5}}})
    audio = tone_wav()
    # a thread of its own: Playwright's sync API may already run a loop in this one
    with ThreadPoolExecutor(1) as pool:
        task_id = pool.submit(asyncio.run, store_message(f"sqlite:///{work / 'crm.db'}", audio)).result()
    with engine_and_desk(work, config, b"voice messages started",
                         {"alice": PASSWORDS["alice"], "bob": PASSWORDS["bob"]}) as desk:
        yield desk, task_id, audio


def test_the_agent_listens_to_the_message_and_calls_back(center, page: Page) -> None:
    desk, task_id, audio = center
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/agent/alice")
    link = page.locator("#tasks .task-subject")
    expect(link).to_have_text("Voice message from +33611000099 (12 s)", timeout=20_000)
    link.click()
    player = page.locator("#vm-audio")
    expect(player).to_be_visible()
    answer = page.request.get(desk.url + player.get_attribute("src"))
    assert answer.status == 200 and answer.headers["content-type"] == "audio/wav"
    assert answer.body() == audio
    page.click("#task-accept")
    page.click("#task-call-back")
    expect(page.locator("#task-problem")).to_contain_text("not connected to Asterisk")


def test_another_agent_never_gets_the_recording(center, page: Page) -> None:
    desk, task_id, _ = center
    sign_in(page, desk, "bob")
    answer = page.request.get(f"{desk.url}/agent/bob/task/{task_id}/recording")
    assert answer.status == 404
    answer = page.request.get(f"{desk.url}/agent/alice/task/{task_id}/recording")
    assert answer.status in (403, 404) and answer.body()[:4] != b"RIFF"


def test_the_contacts_timeline_shows_the_voice_message(center, page: Page) -> None:
    desk, task_id, _ = center
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/contacts/1")
    row = page.locator(f'#contact-timeline tr[data-kind="task"][data-ref="{task_id}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("Voice message")                   # the channel's label
    expect(row).to_contain_text("Voice message from +33611000099")
