"""Web chat and web form end to end in two browsers: the visitor on the public page (served by
a real `ivr serve` engine on channels.chat.port, no Asterisk needed) and the agent on the desk
(`ivr desk serve`), each in its own browser context (own cookies)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import PASSWORDS, VIEWPORT, screenshot, sign_in
from .channel_center import channel_config, engine_and_desk
from .desk_server import BASE_PORT, DeskServer

pytestmark = pytest.mark.timeout(240)
CHAT_PORT = BASE_PORT + 701


@pytest.fixture(scope="module")
def center(tmp_path_factory) -> Iterator[tuple[DeskServer, Path, str]]:
    work = tmp_path_factory.mktemp("desk-chat")
    config = channel_config(work, BASE_PORT + 612, {"chat": {
        "port": CHAT_PORT, "queue": "medinfo", "display_names": {"alice": "Alice"}, "per_session_per_minute": 8}})
    with engine_and_desk(work, config, b"web chat and form on", {"alice": PASSWORDS["alice"]}) as desk:
        yield desk, work, f"http://127.0.0.1:{CHAT_PORT}"


@pytest.fixture
def visitor(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 900, "height": 720})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_form_becomes_a_task_on_the_desk(center, page: Page, visitor: Page) -> None:
    desk, work, public = center
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/agent/alice")
    visitor.goto(public + "/")
    visitor.fill("#form-name", "Carl Weber")
    visitor.fill("#form-email", "carl@example.org")
    visitor.select_option("#form-topic", "order")
    visitor.fill("#form-message", "Where is my order 4711?")
    visitor.click("#form-submit")
    reference = visitor.locator("#form-ref").inner_text()
    assert reference.startswith("WF-")
    offer = page.locator(f"#tasks .task[data-task='{reference}'] .task-subject")
    expect(offer).to_have_text("Web form: order", timeout=15_000)      # live on the desk
    offer.click()
    expect(page.locator("#thread .mail-text")).to_have_text("Where is my order 4711?")
    page.click("#task-accept")
    page.select_option("#outcome", "answered")
    page.click("#task-close")
    assert desk.sql("SELECT channel, status FROM tasks WHERE task_id = ?", (reference,)) == [("email", "closed")]


def test_chat_live_both_ways(center, page: Page, visitor: Page, browser: Browser, tmp_path: Path) -> None:
    desk, work, public = center
    sign_in(page, desk, "alice")
    page.goto(desk.url + "/agent/alice")
    visitor.goto(public + "/")
    visitor.fill("#chat-name", "Anna")
    visitor.fill("#chat-text", "Hello <script>document.title='owned'</script> can I take Dolorex with food?")
    visitor.click("#chat-submit")
    expect(visitor.locator("#chat-status")).to_have_text("Waiting for an agent…")
    offer = page.locator("#tasks .task-subject", has_text="Chat:")
    expect(offer).to_be_visible(timeout=15_000)
    offer.click()
    page.click("#task-accept")
    expect(visitor.locator("#chat-status")).to_have_text("Alice has joined the chat.")
    # the script tag is text on the desk, never run
    expect(page.locator("#thread .mail-text").first).to_contain_text("<script>document.title='owned'</script>")
    assert page.title() != "owned" and visitor.title() != "owned"
    page.wait_for_function("document.body.dataset.chatLive === '1'")
    # agent → visitor, live
    page.fill("#reply-text", "Yes, with or without food.")
    page.click("#reply-send")
    expect(visitor.locator("#chat-lines li.agent")).to_contain_text("Yes, with or without food.")
    expect(visitor.locator("#chat-lines li.agent .who")).to_have_text("Alice")
    # visitor → agent, live (no reload on the desk)
    visitor.fill("#chat-text", "Thank you, and for children?")
    visitor.click("#chat-submit")
    expect(page.locator("#thread .mail-text").last).to_have_text("Thank you, and for children?")
    # a 1 MB message is refused with its reason; the chat goes on
    visitor.evaluate("document.getElementById('chat-text').value = 'x'.repeat(1000000)")
    visitor.click("#chat-submit")
    expect(visitor.locator("#chat-problem")).to_contain_text("too long")
    visitor.fill("#chat-text", "Sorry, pasted too much.")
    visitor.click("#chat-submit")
    expect(page.locator("#thread .mail-text").last).to_have_text("Sorry, pasted too much.")
    expect(visitor.locator("#chat-problem")).to_be_hidden()
    # a knowledge-base template into the reply
    templates = page.locator("a.kb-template")
    if templates.count():
        templates.first.click()
        assert len(page.locator("#reply-text").input_value()) > 20
    screenshot(visitor, tmp_path / "visitor.png", full_page=True)
    screenshot(page, tmp_path / "agent-chat.png", full_page=True)
    keep = Path(os.environ.get("IVR_TEST_SCREENSHOTS", tmp_path))
    keep.mkdir(parents=True, exist_ok=True)
    screenshot(visitor, keep / "chat-visitor.png", full_page=True)
    screenshot(page, keep / "chat-agent.png", full_page=True)
    # another visitor sees none of it
    other = browser.new_context(viewport=VIEWPORT)
    try:
        stranger = other.new_page()
        stranger.goto(public + "/")
        stranger.wait_for_timeout(500)
        assert stranger.locator("#chat-lines li").count() == 0
        status = stranger.evaluate("""async () => (await fetch('/chat/send', {method: 'POST',
            body: new URLSearchParams({text: 'hi', csrf_token: document.getElementById('public').dataset.csrf})})).status""")
        assert status == 409                                 # no chat of its own to write into
    finally:
        other.close()
    # rate limit: 8 a minute per session (settings); the next is refused with its reason
    for i in range(8):
        visitor.fill("#chat-text", f"line {i}")
        visitor.click("#chat-submit")
    expect(visitor.locator("#chat-problem")).to_contain_text("too quickly")
    # the agent closes with an outcome; the visitor is told
    page.goto(page.url)
    expect(page.locator("#transfer-queue option")).to_have_text(["medinfo", "operator", "orders",
                                                                 "pharmacovigilance"])
    page.select_option("#outcome", "answered")
    page.click("#task-close")
    expect(visitor.locator("#chat-status")).to_have_text("The agent has ended the chat. Thank you!")
    rows = desk.sql("SELECT channel, status, outcome, agent FROM tasks WHERE channel = 'chat'")
    assert rows == [("chat", "closed", "answered", "alice")]


def test_a_french_browser_gets_the_french_page(center, browser: Browser, tmp_path: Path) -> None:
    _desk, _work, public = center
    context = browser.new_context(viewport={"width": 900, "height": 720}, locale="fr-FR")
    try:
        visitor = context.new_page()
        visitor.set_default_timeout(10_000)
        visitor.goto(public + "/")
        expect(visitor.locator("#chat-title")).to_have_text("Discutez avec nous")
        assert visitor.locator("html").get_attribute("lang") == "fr"
        visitor.fill("#chat-name", "Zoé")
        visitor.fill("#chat-text", "Bonjour, le Dolorex se prend-il pendant le repas ?")
        visitor.click("#chat-submit")
        expect(visitor.locator("#chat-status")).to_have_text("En attente d'un conseiller…")   # chat.js, from the page
        visitor.evaluate("document.getElementById('chat-text').value = 'x'.repeat(1000000)")
        visitor.click("#chat-submit")
        expect(visitor.locator("#chat-problem")).to_contain_text("trop long")
        keep = Path(os.environ.get("IVR_TEST_SCREENSHOTS", tmp_path))
        keep.mkdir(parents=True, exist_ok=True)
        screenshot(visitor, keep / "chat-visitor-fr.png", full_page=True)
        visitor.click("#lang-en")                                   # the visitor's own choice wins
        expect(visitor.locator("#chat-title")).to_have_text("Chat with us")
    finally:
        context.close()
