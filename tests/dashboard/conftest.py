"""A real browser (Debian's chromium, driven by playwright) for the dashboard tests.

Without /usr/bin/chromium the browser tests are skipped on a developer machine and fail in
CI (CI=true), where .ci/run installs it. Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.dashboard.browser import CHROMIUM, CHROMIUM_ARGS


def _missing_browser(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(f"{reason}: browser tests not run (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium per test module."""
    if not CHROMIUM.exists():
        _missing_browser(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page at 1280 px that refreshes every second and records dialogs (dismissed unless
    ``page.accept_dialogs``) and errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.add_init_script("localStorage.setItem('pycluster-interval', '1')")
    page = context.new_page()
    page.dialogs = []
    page.accept_dialogs = False  # a test that confirms an action sets it (window.confirm answers OK)
    page.errors = []
    outside: list[str] = []
    page.on("dialog", lambda dialog: _answer(page, dialog))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: _record_console_error(message, page.errors))
    page.on("request", lambda request: _record_outside(request.url, outside))
    yield page
    context.close()
    assert not page.errors, f"JavaScript errors on the page: {page.errors}"
    assert not outside, f"the page fetched from outside 127.0.0.0/8: {outside}"


def _answer(page: Any, dialog: Any) -> None:
    page.dialogs.append(dialog.message)
    if page.accept_dialogs:
        dialog.accept()
    else:
        dialog.dismiss()


def _record_console_error(message: Any, errors: list[str]) -> None:
    # HTTP errors the tests cause on purpose (401, 404, 422) are logged as "Failed to load
    # resource"; anything else (a Content-Security-Policy refusal, a script error) is a bug
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)


def _record_outside(url: str, outside: list[str]) -> None:
    host = urlsplit(url).hostname or ""
    if url.startswith(("http:", "https:", "ws:", "wss:")) and not host.startswith("127."):
        outside.append(url)
