"""Browser helpers for the dashboard tests: chromium's path and flags, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# no outside connections: no component updates, no sync, no background fetches
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"


def screenshot(page: Any, name: str) -> None:
    """Save the whole page as test-artifacts/dashboard/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def answer_confirmation(page: Any, agree: bool) -> str:
    """Answer the dashboard's confirmation dialog (static/confirm.js) that a click just opened:
    its confirm button when ``agree``, else "Keep it". Returns what it asked."""
    from playwright.sync_api import expect

    dialog = page.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    asked = f"{dialog.locator('h2').inner_text()}\n{dialog.locator('p').inner_text()}"
    buttons = dialog.locator(".confirm-buttons button")
    (buttons.last if agree else buttons.first).click()
    expect(dialog).to_have_count(0)
    return asked
