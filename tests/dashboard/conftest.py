"""A headless Chromium (Debian's `chromium` package, driven by Playwright) for the dashboard's
browser tests. Under CI=true a missing browser fails the tests instead of skipping them."""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import AccountInfo

CHROMIUM = os.environ.get("VEO_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: the dashboard's browser tests need it under CI")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one module. Not for the session: Playwright's sync API keeps an event loop
    running in this thread while it is open, and every later in-process `asyncio.run` (task
    bodies, the upstream adapters) would then fail with "another loop is running"."""
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page_for(browser: object, gateway_url: str) -> Iterator[Callable[..., object]]:
    """Factory: a fresh browser context (its own cookies), signed in with the account's key."""
    contexts: list[object] = []

    def open_page(user: AccountInfo | None, width: int = 1000) -> object:
        context = browser.new_context(
            base_url=gateway_url, viewport={"width": width, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        if user is not None:
            sign_in(page, user.api_key)
        return page

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page: object, api_key: str) -> None:
    page.goto("/dashboard/sign-in")
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard/videos")
