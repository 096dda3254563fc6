"""Voice messages on the desk, through real parts: a voice-message task stored in the CRM
(SQLite, as the channel stores it) is reloaded by the real engine (`ivr serve`, no Asterisk)
and offered to alice; her desk plays the recording (served only to her), and her call back
reaches the engine, which says why it cannot ring now (no AMI link to Asterisk). The call
back's ringing through Asterisk is tests/integration/test_voicemail_calls.py."""
from __future__ import annotations

import asyncio
import io
import os
import subprocess
import time
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from ivr.channels.voicemail_rules import VoiceMessage
from ivr.channels.voicemail_store import ingest_voice_message
from ivr.crm.store import open_store

from .conftest import PASSWORDS, sign_in
from .desk_server import BASE_PORT, IVR, PROJECT, DeskServer, desk_port, serve_desk

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
    config = work / "config"
    config.mkdir()
    (config / "agents.yaml").write_text(yaml.safe_dump({"agents": {
        "alice": {"skills": {"medinfo": 5}}, "bob": {"skills": {"orders": 5}}}}))
    (config / "queues.yaml").write_text(yaml.safe_dump({"queues": {
        q: {"requirement": "medinfo"} for q in ("medinfo", "pharmacovigilance", "orders", "operator")}}))
    (config / "engine.yaml").write_text(yaml.safe_dump({
        "crm": {"url": f"sqlite:///{work / 'crm.db'}", "spool_dir": str(work / "spool")},
        "dialplan": str(PROJECT / "dialplans/minimal.yaml"), "sounds": {"dir": str(work / "sounds")},
        "agi": {"port": BASE_PORT + 620}, "ami": {"port": BASE_PORT + 621},   # no Asterisk
        "control": {"socket": str(work / "control.sock")},
        "knowledge": {"dir": str(PROJECT / "knowledge")},
        "channels": {"voicemail": {"spool_dir": str(work / "vm")}}}))
    audio = tone_wav()
    # a thread of its own: Playwright's sync API may already run a loop in this one
    with ThreadPoolExecutor(1) as pool:
        task_id = pool.submit(asyncio.run, store_message(f"sqlite:///{work / 'crm.db'}", audio)).result()
    env = {**os.environ, "IVR_AMI_SECRET": "unused"}
    subprocess.run([*IVR, "--config", str(config / "engine.yaml"), "sounds", "build",
                    str(PROJECT / "dialplans/minimal.yaml")], check=True, capture_output=True,
                   cwd=PROJECT, timeout=120)
    log = open(work / "engine.log", "wb")
    engine = subprocess.Popen([*IVR, "--config", str(config / "engine.yaml"), "serve"], stdout=log,
                              stderr=subprocess.STDOUT, cwd=PROJECT, env=env)
    desk = None
    try:
        deadline = time.monotonic() + 60
        while b"voice messages started" not in (work / "engine.log").read_bytes():
            assert engine.poll() is None, (work / "engine.log").read_text()
            assert time.monotonic() < deadline, (work / "engine.log").read_text()
            time.sleep(0.2)
        desk = serve_desk(config / "engine.yaml", desk_port(), work / "desk.log")
        desk.add_user("alice", "agent", PASSWORDS["alice"])
        desk.add_user("bob", "agent", PASSWORDS["bob"])
        yield desk, task_id, audio
    finally:
        if desk:
            desk.stop()
        engine.terminate()
        engine.wait(30)
        log.close()


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
