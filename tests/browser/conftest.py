"""Headless Chromium (Debian's `chromium`) driven by Playwright, for the browser tests.

`make test` installs both. Without them the browser tests are skipped, so a developer machine
still runs everything else; nothing is ever downloaded (`playwright install` is not used).
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

CHROMIUM = Path("/usr/bin/chromium")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Offline and quiet: this machine refuses outbound connections."""


@pytest.fixture
async def browser_context(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """A fresh Chromium with a new, empty profile in `tmp_path`; skips if it is not installed."""
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright for Python is not installed (make test installs it)")
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (make test installs it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1000, "height": 860},
            locale="fr-FR",
            timezone_id="Europe/Paris",
        )
        try:
            yield context
        finally:
            await context.close()
