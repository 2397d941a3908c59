"""The integration in a real browser: log in, open its page and its config flow, screenshot."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FLOW_INPUTS = "dialog-data-entry-flow input:visible"
SHOTS = Path(__file__).resolve().parents[2] / ".demo" / "screenshots"

# What shows that a text was not translated: a translation key, a placeholder left unfilled.
UNTRANSLATED = re.compile(
    r"component\.p1_dsmr|entity\.(?:sensor|binary_sensor)\.|\[%key|config\.(?:step|error)\."
    r"|p1_dsmr::|\{(?:error|path|device|config_dir|name|channel)\}"
)

# The text of the whole page, shadow roots included (the frontend is web components).
DEEP_TEXT = """() => {
  const parts = [];
  const walk = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { parts.push(node.textContent); return; }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) walk(child);
  };
  walk(document.body);
  return parts.join(" ").replace(/\\s+/g, " ");
}"""

# Each entity row of a device page: its text (name, then state), shadow roots included.
ENTITY_ROWS = """() => {
  const rows = [];
  const text = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent;
    let out = node.shadowRoot ? text(node.shadowRoot) : "";
    for (const child of node.childNodes) out += " " + text(child);
    return out;
  };
  const walk = (node) => {
    if (node.tagName && node.tagName.toLowerCase().endsWith("-entity-row")) {
      rows.push(text(node).replace(/\\s+/g, " ").trim());
      return;
    }
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.children || []) walk(child);
  };
  walk(document.body);
  return rows;
}"""


def log_in(page: Page, hass: HassProcess) -> None:
    page.goto(f"{hass.url}/", wait_until="domcontentloaded")
    page.get_by_label("Username").fill(hass.username)
    page.get_by_label("Password", exact=True).fill(hass.password)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => window.localStorage.getItem('hassTokens') !== null", timeout=60_000
    )


def deep_text(page: Page) -> str:
    text: str = page.evaluate(DEEP_TEXT)
    return text


def assert_translated(page: Page, where: str) -> None:
    text = deep_text(page)
    found = UNTRANSLATED.findall(text)
    assert not found, f"{where}: untranslated {found}"


def row(rows: list[str], name: str) -> str:
    matches = [r for r in rows if r.startswith(name + " ") or r == name]
    assert matches, f"no row {name!r} among {rows}"
    return matches[0][len(name) :].strip()


def submit(page: Page) -> None:
    page.locator("dialog-data-entry-flow :is(mwc-button, ha-button, ha-progress-button)").filter(
        has_text=re.compile(r"^\s*(Submit|Next)\s*$")
    ).last.click()


def test_device_page_and_flow_texts(
    hass_with_frontend: HassProcess, meter_log: Path, tmp_path: Path
) -> None:
    """The device page names a model, not an identifier; states are translated, with the
    meter's decimals; the flow's choices and errors are translated and the typed input stays."""
    from playwright.sync_api import sync_playwright

    hass = hass_with_frontend
    entry = hass.add_file_meter(meter_log, mode="replay", loop=True)
    hass.wait_for_values(timeout=60)
    device: dict[str, Any] | None = hass.meter_device(entry["entry_id"])
    assert device is not None
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        log_in(page, hass)

        # --- the device page ---
        page.goto(f"{hass.url}/config/devices/device/{device['id']}")
        confirm_http_settings(page)
        page.get_by_text("M550T-1012").first.wait_for(timeout=60_000)
        page.get_by_text("Current L1 (precise)").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "device_page.png"), full_page=True)
        text = deep_text(page)
        assert "Iskra" in text
        assert "DSMR 5.0" in text
        assert "\\2" not in text  # the header's escape
        assert "Hardware" not in text  # no dialect code as hardware
        assert device["model"] == "M550T-1012"  # not the serial number
        assert_translated(page, "device page")
        rows: list[str] = page.evaluate(ENTITY_ROWS)
        assert row(rows, "Active tariff") in ("Low", "Normal")
        assert re.fullmatch(r"L[123]", row(rows, "Phase with the highest voltage"))
        assert re.fullmatch(r"\d+ A", row(rows, "Current L1")), rows  # whole amps as sent
        assert re.fullmatch(r"\d+\.\d\d A", row(rows, "Current L1 (precise)"))
        assert re.fullmatch(r"\d+\.\d V", row(rows, "Voltage L1"))
        assert re.fullmatch(r"-?\d+\.\d{3} kW", row(rows, "Power import"))

        # --- the serial step: a translated manual choice; an error said of the port ---
        page.goto(f"{hass.url}/config/integrations/integration/p1_dsmr")
        confirm_http_settings(page)  # 2026.11 may raise its dialog again on a later page
        page.get_by_text("Add device", exact=False).first.click()
        page.get_by_text("USB or serial cable").first.click()
        manual = page.get_by_text("Enter the path by hand").first
        manual.wait_for(timeout=60_000)
        assert_translated(page, "serial step")
        assert not re.search(r"\bmanual\b", deep_text(page))
        page.screenshot(path=str(SHOTS / "flow_serial.png"))
        manual.click()
        submit(page)
        field = page.locator(FLOW_INPUTS).first
        field.wait_for(timeout=30_000)
        field.fill("/dev/ttyP1MISSING")
        submit(page)
        page.get_by_text("Cannot open the serial port").first.wait_for(timeout=60_000)
        assert "/dev/ttyP1MISSING does not exist" in deep_text(page)
        assert page.locator(FLOW_INPUTS).first.input_value() == "/dev/ttyP1MISSING"
        assert_translated(page, "serial path step")
        page.screenshot(path=str(SHOTS / "flow_serial_error.png"))

        # --- the network step: a port out of range is a visible error ---
        page.goto(f"{hass.url}/config/integrations/integration/p1_dsmr")
        confirm_http_settings(page)  # 2026.11 may raise its dialog again on a later page
        page.get_by_text("Add device", exact=False).first.click()
        page.get_by_text("Network (ser2net, P1 dongle)").first.click()
        inputs = page.locator(FLOW_INPUTS)
        inputs.first.wait_for(timeout=30_000)
        inputs.nth(0).fill("127.0.0.1")
        inputs.nth(1).fill("70000")
        submit(page)
        page.get_by_text("A port is a whole number from 1 to 65535.").first.wait_for(timeout=30_000)
        assert_translated(page, "network step")
        page.screenshot(path=str(SHOTS / "flow_network_error.png"))
        browser.close()


def test_hungarian_device_page(hass_with_frontend: HassProcess, tmp_path: Path) -> None:
    """A Sanxing meter, whose header is a serial number and whose currents are whole amps: no
    model rather than the serial, estimated currents named so, numbered tariffs, the breaker's
    state in words."""
    from playwright.sync_api import sync_playwright

    from custom_components.p1_dsmr.p1lib.generator import MeterSimulator, putty_header

    sim = MeterSimulator("hu_sanxing", seed=3)
    log = tmp_path / "hu.log"
    log.write_bytes(putty_header(sim.now) + b"".join(sim.telegrams(12)))
    hass = hass_with_frontend
    entry = hass.add_file_meter(log, mode="replay", loop=True)
    hass.wait_for_values(timeout=90)
    device: dict[str, Any] | None = hass.meter_device(entry["entry_id"])
    assert device is not None
    assert device["model"] is None  # the header /AUX59902759988 names no model
    assert device["manufacturer"] == "Sanxing"
    assert device["hw_version"] is None  # not "HU"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        log_in(page, hass)
        page.goto(f"{hass.url}/config/devices/device/{device['id']}")
        confirm_http_settings(page)
        page.get_by_text("Current L1 (estimated)").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(SHOTS / "device_page_hu.png"), full_page=True)
        text = deep_text(page)
        assert "Sanxing" in text
        assert "9902759988" not in text  # the header's serial is no model
        assert "Hardware" not in text
        assert "(precise)" not in text
        assert_translated(page, "Hungarian device page")
        rows: list[str] = page.evaluate(ENTITY_ROWS)
        assert re.fullmatch(r"Tariff [1-4]", row(rows, "Active tariff"))
        assert row(rows, "Breaker state") == "Connected"
        for phase in (1, 2, 3):
            value = row(rows, f"Current L{phase} (estimated)")
            assert re.fullmatch(r"\d+\.\d A|Unknown", value), value
            assert re.fullmatch(r"\d+ A", row(rows, f"Current L{phase}"))
        assert re.fullmatch(r"\d+\.\d A|Unknown", row(rows, "Highest phase current"))
        browser.close()
