"""/admin/users in a real browser: add (inline errors keep what was typed), untrusted text
shown as text, disable and reset end sessions; keyboard focus; screenshots at 1280×720."""
from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from .conftest import PASSWORDS, VIEWPORT, sign_in, screenshot
from .desk_server import DeskServer

# Screenshots for a person to look at (kept after the run): $IVR_DESK_SHOTS or the test's tmp.
SHOTS = os.environ.get("IVR_DESK_SHOTS")


def shot_path(tmp_path: Path, name: str) -> Path:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def add_user_form(page: Page, name: str, full_name: str, role: str, password: str, again: str) -> None:
    page.fill("#new-name", name)
    page.fill("#new-full-name", full_name)
    page.select_option("#new-role", role)
    page.fill("#new-password", password)
    page.fill("#new-password-again", again)
    page.click("#add-user button[type=submit]")


def test_a_form_with_errors_says_what_is_wrong_and_keeps_what_was_typed(page: Page, desk: DeskServer):
    sign_in(page, desk, "root")
    page.goto(desk.url + "/admin/users")
    add_user_form(page, "Bad Name", "Dr. Who", "supervisor", "short", "short")
    expect(page.locator("#name-error")).to_contain_text("User name: 1 to 64")
    expect(page.locator("#password-error")).to_contain_text("at least 10 characters")
    expect(page.locator("#new-name")).to_have_value("bad name")
    expect(page.locator("#new-full-name")).to_have_value("Dr. Who")
    expect(page.locator("#new-role")).to_have_value("supervisor")
    expect(page.locator("#new-password")).to_have_value("")           # never sent back
    add_user_form(page, "alice", "", "agent", "long enough 1", "long enough 2")
    expect(page.locator("#name-error")).to_contain_text("exists already")
    expect(page.locator("#password_again-error")).to_contain_text("differ")


def test_a_display_name_with_a_script_tag_shows_as_text(page: Page, desk: DeskServer):
    sign_in(page, desk, "root")
    page.goto(desk.url + "/admin/users")
    hostile = '<script>document.title="owned"</script><img src=x onerror="document.title=1">'
    add_user_form(page, "eve", hostile, "agent", "eve-secret-12", "eve-secret-12")
    expect(page.locator("#notice")).to_contain_text("User eve created")
    expect(page.locator(".warning")).to_contain_text("eve is not in agents.yaml")
    cell = page.locator("tr[data-user=eve] .full-name")
    expect(cell).to_have_text(hostile)
    assert cell.locator("script, img").count() == 0
    assert page.title() != "owned" and page.title() != "1"


def test_disabling_a_user_signs_them_out_at_once(browser: Browser, page: Page, desk: DeskServer):
    desk.add_user("dave", "agent", "dave-secret-12")
    agent = browser.new_context(viewport=VIEWPORT).new_page()
    sign_in(agent, desk, "dave", "dave-secret-12")
    expect(agent).to_have_url(desk.url + "/agent/dave")
    sign_in(page, desk, "root")
    page.goto(desk.url + "/admin/users")
    page.click("form[action='/admin/users/dave/disable'] button")
    expect(page.locator("#notice")).to_contain_text("dave is disabled")
    agent.reload()
    expect(agent).to_have_url(desk.url + "/login")
    sign_in(agent, desk, "dave", "dave-secret-12")
    expect(agent.locator("#login-error")).to_contain_text("disabled")
    page.click("form[action='/admin/users/dave/enable'] button")
    sign_in(agent, desk, "dave", "dave-secret-12")
    expect(agent).to_have_url(desk.url + "/agent/dave")
    agent.context.close()


def test_an_admin_resets_a_password_and_cannot_disable_themself(page: Page, desk: DeskServer):
    desk.add_user("carol", "agent", "carol-secret-1")
    sign_in(page, desk, "root")
    page.goto(desk.url + "/admin/users")
    page.fill("#pw-carol", "carol-new-secret")
    page.click("form[action='/admin/users/carol/password'] button")
    expect(page.locator("#notice")).to_contain_text("carol's password changed")
    page.click("form[action='/admin/users/root/disable'] button")
    expect(page.locator("tr[data-user=root] .field-error")).to_contain_text("your own account")
    page.click("#logout")
    sign_in(page, desk, "carol", "carol-new-secret")
    expect(page).to_have_url(desk.url + "/agent/carol")


def test_every_control_is_reached_with_the_tab_key_and_visibly_focused(page: Page, desk: DeskServer):
    sign_in(page, desk, "root")
    page.goto(desk.url + "/admin/users")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).left") != "-999px"   # shown
    seen = []
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const e = document.activeElement;
            return e === document.body ? null : [e.id || e.closest('form')?.getAttribute('action') || e.tagName,
                                                 getComputedStyle(e).outlineStyle]; }""")
        if focused is None:                  # past the last control: the browser's own UI next
            break
        seen.append(focused[0])
        assert focused[1] != "none", f"no visible focus on {focused[0]}"
    seen = set(seen)
    assert {"language", "logout", "new-name", "new-password-again", "/admin/users/alice/disable"} <= seen


def test_screenshots_of_the_agent_page_and_the_admin_page(page: Page, desk: DeskServer, tmp_path: Path):
    sign_in(page, desk, "alice", "not-her-password")
    expect(page.locator("#login-error")).to_be_visible()
    screenshot(page, shot_path(tmp_path, "desk-login.png"))
    sign_in(page, desk, "alice")
    screenshot(page, shot_path(tmp_path, "desk-agent.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]   # no sideways scroll
    page.click("#logout")
    sign_in(page, desk, "root")
    page.goto(desk.url + "/admin/users")
    screenshot(page, shot_path(tmp_path, "desk-admin-users.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    assert PASSWORDS["root"] not in page.content()
