"""The integration in a real browser: log in, open its page and its config flow, screenshot."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .conftest import HassProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None
    or importlib.util.find_spec("playwright") is None
    or importlib.util.find_spec("hass_frontend") is None,
    reason="needs Debian's chromium and playwright (P1_E2E=1 scripts/test installs playwright)",
)


def confirm_http_settings(page: Page) -> None:
    """Home Assistant 2026.x asks to confirm HTTP settings new to it (ours come from
    configuration.yaml) in a dialog over every page; 2025.4 does not."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    dialog = page.get_by_text("Confirm new HTTP server configuration")
    try:
        dialog.wait_for(timeout=5_000)
    except PlaywrightTimeoutError:
        return
    page.get_by_role("button", name="Confirm", exact=True).click()
    dialog.wait_for(state="hidden", timeout=10_000)


def test_integration_page_and_config_flow(
    hass_with_frontend: HassProcess, meter_log: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    hass = hass_with_frontend
    hass.add_file_meter(meter_log, mode="replay", loop=True)
    hass.wait_for_values(timeout=60)
    shots = Path(__file__).resolve().parents[2] / ".demo" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{hass.url}/", wait_until="domcontentloaded")
        page.get_by_label("Username").fill(hass.username)
        page.get_by_label("Password", exact=True).fill(hass.password)
        page.keyboard.press("Enter")
        # Logged in once the frontend keeps its tokens (the page it lands on differs by release:
        # /lovelace/0 in 2025.4, / in 2026.11).
        page.wait_for_function(
            "() => window.localStorage.getItem('hassTokens') !== null", timeout=60_000
        )
        page.goto(f"{hass.url}/config/integrations/integration/p1_dsmr")
        page.get_by_text("Iskra E0044007382246019").first.wait_for(timeout=60_000)
        confirm_http_settings(page)
        page.screenshot(path=str(shots / "integration.png"))
        page.get_by_text("Add device", exact=False).first.click()
        page.get_by_text("USB or serial cable").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1000)  # let the dialog finish opening
        page.screenshot(path=str(shots / "config_flow.png"))
        browser.close()
    assert (shots / "integration.png").stat().st_size > 10_000
    assert (shots / "config_flow.png").stat().st_size > 10_000
