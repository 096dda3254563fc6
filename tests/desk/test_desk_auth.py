"""Sign-in, sessions, roles, CSRF and the language switch, in a real browser against a
real `ivr desk serve` on a SQLite CRM file."""
from __future__ import annotations

import re
import urllib.error
import urllib.request

from playwright.sync_api import Page, expect

from .conftest import VIEWPORT, sign_in
from .desk_server import DeskServer


def test_an_agent_signs_in_to_their_own_desk_and_out_again(page: Page, desk: DeskServer):
    sign_in(page, desk, "alice")
    expect(page).to_have_url(desk.url + "/agent/alice")
    expect(page.locator("main#desk h1")).to_contain_text("alice")
    assert desk.sql("SELECT COUNT(*) FROM desk_sessions WHERE user_name = 'alice'") == [(1,)]
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.locator(".notice")).to_contain_text("signed out")
    assert desk.sql("SELECT COUNT(*) FROM desk_sessions WHERE user_name = 'alice'") == [(0,)]
    page.goto(desk.url + "/agent/alice")          # the old cookie opens nothing
    expect(page).to_have_url(desk.url + "/login")


def test_a_wrong_password_says_so_without_telling_which_part_was_wrong(page: Page, desk: DeskServer):
    sign_in(page, desk, "sam", "not-the-password")
    wrong_password = page.locator("#login-error").inner_text()
    expect(page.locator("#name")).to_have_value("sam")          # what was typed stays
    sign_in(page, desk, "nobody-here", "not-the-password")
    assert page.locator("#login-error").inner_text() == wrong_password
    assert "wrong" in wrong_password


def test_sign_in_locks_after_five_failures_and_says_when_to_retry(page: Page, desk: DeskServer):
    for _ in range(4):
        sign_in(page, desk, "bob", "guessing-wrong")
        expect(page.locator("#login-error")).to_contain_text("wrong")
    sign_in(page, desk, "bob", "guessing-wrong")
    expect(page.locator("#login-error")).to_contain_text(re.compile(r"Try again in 15 min \(at \d\d:\d\d UTC\)"))
    sign_in(page, desk, "bob")                                  # even the right password now
    expect(page.locator("#login-error")).to_contain_text("locked")
    expect(page).to_have_url(desk.url + "/login")
    # kept in the database: a restart of the desk would not reopen it
    assert desk.sql("SELECT COUNT(*) FROM desk_login_failures WHERE user_name = 'bob'") == [(5,)]
    desk.sql("DELETE FROM desk_login_failures WHERE user_name = 'bob'")     # for the next tests


def test_an_expired_session_goes_back_to_the_sign_in_page(page: Page, desk: DeskServer):
    sign_in(page, desk, "alice")
    expect(page).to_have_url(desk.url + "/agent/alice")
    page.goto("about:blank")        # the live desk page would keep its session in use
    # unused for longer than the idle timeout (60 min by default)
    desk.sql("UPDATE desk_sessions SET last_seen = '2000-01-01T00:00:00.000000Z' WHERE user_name = 'alice'")
    page.goto(desk.url + "/agent/alice")
    expect(page).to_have_url(desk.url + "/login?expired=1")
    expect(page.locator(".notice")).to_contain_text("session expired")
    assert desk.sql("SELECT COUNT(*) FROM desk_sessions WHERE user_name = 'alice'") == [(0,)]
    sign_in(page, desk, "alice")
    # from a page without a live stream: the desk page's own stream would also notice the
    # expiry and race the form to the sign-in page
    page.goto(desk.url + "/kb")
    desk.sql("UPDATE desk_sessions SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE user_name = 'alice'")
    page.click("#logout")                                       # a form posted after expiry
    expect(page).to_have_url(desk.url + "/login?expired=1")
    expect(page.locator(".notice")).to_contain_text("expired")


def test_an_agent_cannot_open_another_agents_desk_nor_admin_pages(page: Page, desk: DeskServer):
    sign_in(page, desk, "bob")
    expect(page).to_have_url(desk.url + "/agent/bob")
    for path in ("/agent/alice", "/admin/users", "/admin", "/supervisor"):
        answer = page.goto(desk.url + path)
        assert answer is not None and answer.status == 403, path
        expect(page.locator("#error-message")).to_contain_text("Access denied")


def test_a_supervisor_sees_every_agents_desk(page: Page, desk: DeskServer):
    sign_in(page, desk, "sam")
    expect(page).to_have_url(desk.url + "/supervisor")
    page.click("a[href='/agent/alice']")
    expect(page.locator("main#desk h1")).to_contain_text("alice")
    assert page.goto(desk.url + "/admin/users").status == 403


def test_a_post_without_the_csrf_token_is_refused(page: Page, desk: DeskServer):
    sign_in(page, desk, "alice")
    # the browser's own cookie, but no token: what a forged cross-site form would send
    refused = page.request.post(desk.url + "/me/language", form={"language": "fr"})
    assert refused.status == 403 and "Form refused" in refused.text()
    wrong = page.request.post(desk.url + "/me/language", form={"language": "fr", "csrf_token": "x" * 43})
    assert wrong.status == 403
    assert desk.sql("SELECT language FROM desk_users WHERE name = 'alice'") == [("en",)]
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    accepted = page.request.post(desk.url + "/me/language", form={"language": "en", "csrf_token": token},
                                 max_redirects=0)
    assert accepted.status == 303
    by_header = page.request.post(desk.url + "/me/language", form={"language": "en"},
                                  headers={"X-CSRF-Token": token}, max_redirects=0)
    assert by_header.status == 303


def test_the_sign_in_form_itself_needs_its_token(desk: DeskServer):
    request = urllib.request.Request(desk.url + "/login", data=b"name=alice&password=alice-secret-1",
                                     method="POST")
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("a sign-in without the form's token was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403


def test_cookies_are_httponly_and_samesite_strict_without_tls(page: Page, desk: DeskServer):
    sign_in(page, desk, "alice")
    expect(page).to_have_url(desk.url + "/agent/alice")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "desk_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    answer = page.goto(desk.url + "/agent/alice")
    headers = answer.headers
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"


def test_the_language_switch_changes_the_pages_and_is_kept(page: Page, desk: DeskServer):
    sign_in(page, desk, "sam")
    expect(page.locator("#logout")).to_have_text("Sign out")
    page.select_option("#language", "fr")
    page.click("form[action='/me/language'] button")
    expect(page.locator("#logout")).to_have_text("Se déconnecter")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page).to_have_url(desk.url + "/supervisor")          # back where it was
    assert desk.sql("SELECT language FROM desk_users WHERE name = 'sam'") == [("fr",)]
    page.select_option("#language", "en")
    page.click("form[action='/me/language'] button")
    expect(page.locator("#logout")).to_have_text("Sign out")


def test_changing_ones_own_password_closes_the_other_sessions_only(browser, page: Page, desk: DeskServer):
    desk.add_user("erin", "agent", "erin-secret-12")
    other = browser.new_context(viewport=VIEWPORT).new_page()
    sign_in(other, desk, "erin", "erin-secret-12")
    sign_in(page, desk, "erin", "erin-secret-12")
    page.click("a[href='/me/password']")
    page.fill("#current", "not-my-password")
    page.fill("#password", "erin-new-secret")
    page.fill("#password_again", "erin-new-secret")
    page.click("form[action='/me/password'] button")
    expect(page.locator("#current-error")).to_contain_text("Current password wrong")
    page.fill("#current", "erin-secret-12")
    page.fill("#password", "erin-new-secret")
    page.fill("#password_again", "erin-new-secret")
    page.click("form[action='/me/password'] button")
    expect(page.locator("#notice")).to_contain_text("other sessions are closed")
    page.goto(desk.url + "/")
    expect(page).to_have_url(desk.url + "/agent/erin")              # this one stays
    other.reload()
    expect(other).to_have_url(desk.url + "/login")                 # the other one is closed
    sign_in(other, desk, "erin", "erin-new-secret")
    expect(other).to_have_url(desk.url + "/agent/erin")
    other.context.close()


def test_scripts_get_json_errors_instead_of_the_sign_in_page(page: Page, desk: DeskServer):
    anonymous = page.request.get(desk.url + "/agent/alice", headers={"Accept": "application/json"},
                                 max_redirects=0)
    assert anonymous.status == 401 and anonymous.json()["login"] == "/login"
    posted = page.request.post(desk.url + "/me/language", headers={"Accept": "application/json"},
                               form={"language": "fr"}, max_redirects=0)
    assert posted.status == 401
    sign_in(page, desk, "bob")
    expect(page).to_have_url(desk.url + "/agent/bob")
    other = page.request.get(desk.url + "/agent/alice", headers={"Accept": "text/event-stream"})
    assert other.status == 403 and other.json()["error"].startswith("Access denied")


def test_a_database_that_cannot_be_read_gives_a_clear_page_not_a_crash(page: Page, desk: DeskServer):
    sign_in(page, desk, "sam")
    expect(page).to_have_url(desk.url + "/supervisor")
    desk.sql("ALTER TABLE desk_sessions RENAME TO desk_sessions_away")
    try:
        answer = page.reload()
        assert answer.status == 503
        expect(page.locator("#error-message")).to_contain_text("CRM database does not answer")
    finally:
        desk.sql("ALTER TABLE desk_sessions_away RENAME TO desk_sessions")
    page.reload()
    expect(page).to_have_url(desk.url + "/supervisor")


def test_every_unsafe_method_needs_the_token_and_floods_are_cut_short(page: Page, desk: DeskServer):
    sign_in(page, desk, "alice")
    expect(page).to_have_url(desk.url + "/agent/alice")
    for method in ("PUT", "PATCH", "DELETE"):
        answer = page.request.fetch(desk.url + "/agent/alice", method=method, data="x")
        assert answer.status == 403, method          # refused before any route is chosen
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    flood = page.request.post(desk.url + "/me/language", headers={"X-CSRF-Token": token},
                              data="x" * 2_000_000)
    assert flood.status == 413


def test_an_open_desk_signs_out_when_its_user_is_disabled(page: Page, desk: DeskServer):
    # The live stream re-checks its session between events: no desk stays open on a dead one.
    sign_in(page, desk, "bob")
    expect(page.locator("main#desk[data-live]")).to_have_count(1)
    desk.ivr("desk", "user", "disable", "bob")
    try:
        expect(page).to_have_url(desk.url + "/login?expired=1", timeout=25_000)
    finally:
        desk.ivr("desk", "user", "enable", "bob")
