"""Browser journeys: Playwright driving Debian's Chromium against a live server."""

import os
import shutil

import pytest

from tests.groups.conftest import group_of, guarantor_step, loan_for, shop  # noqa: F401 - fixtures for the group journeys

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI", "").lower() in ("1", "true"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the live server's ORM
    # calls happen in its own thread, the test's fixtures in this one.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    contexts = []

    def open_page():
        context = browser.new_context(base_url=live_server.url)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
