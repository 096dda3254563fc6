"""Browser tests of the desk: Playwright drives Debian's chromium (never `playwright install`).

Fixtures (reuse them for the desk's other pages: put those tests in tests/desk/, sync):
- `browser`: one chromium for all of tests/desk (package scope). Playwright's sync API keeps
  an event loop running while it lives, so it must close before pytest-asyncio tests run
  (in `pytest tests` the other folders come after this one); for the same reason a test in
  this folder cannot be `async`.
- `desk`: one `ivr desk serve` per test module (desk_server.py), with users
  alice and bob (agents), sam (supervisor) and root (admin); passwords in PASSWORDS.
- `page`: a fresh browser context (no cookies) and page at 1280×720 for each test.
- `sign_in(page, desk, name)`: signs in through the login form.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from .desk_server import DeskServer, desk_port, start_desk

PASSWORDS = {"alice": "alice-secret-1", "bob": "bob-secret-12", "sam": "sam-secret-12",
             "root": "root-secret-12"}
ROLES = {"alice": "agent", "bob": "agent", "sam": "supervisor", "root": "admin"}
VIEWPORT = {"width": 1280, "height": 720}


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: run scripts/setup.sh (apt-get install chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def desk(tmp_path_factory) -> Iterator[DeskServer]:
    server = start_desk(tmp_path_factory.mktemp("desk"), desk_port())
    try:
        for name, role in ROLES.items():
            server.add_user(name, role, PASSWORDS[name])
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def sign_in(page: Page, desk: DeskServer, name: str, password: str | None = None) -> None:
    page.goto(desk.url + "/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORDS[name] if password is None else password)
    page.click("form[action='/login'] button[type=submit]")


def screenshot(page: Page, path: object, full_page: bool = False) -> None:
    """A screenshot once the page has loaded; one retry, since a loaded 2-core machine makes
    chromium's capture fail now and then ("Unable to capture screenshot")."""
    page.wait_for_load_state("load")
    try:
        page.screenshot(path=str(path), full_page=full_page)
    except PlaywrightError:
        page.wait_for_timeout(1000)
        page.screenshot(path=str(path), full_page=full_page)
