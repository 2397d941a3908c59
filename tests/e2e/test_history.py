"""A real hass process with its recorder imports two days of a meter's log into its statistics
(and, with a browser, the Energy dashboard shows them: the README's screenshot)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import importlib.util
import shutil
import time
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from demo_assets import energy_prefs, unified_grid_sources

from custom_components.p1_dsmr.p1lib.generator import MeterSimulator, putty_header

from .conftest import HassProcess, free_port
from .test_browser import confirm_http_settings

METER_ZONE = zoneinfo.ZoneInfo("Europe/Amsterdam")
IMPORT_T1 = "sensor.electricity_meter_energy_import_tariff_1"
IMPORT_T2 = "sensor.electricity_meter_energy_import_tariff_2"
EXPORT_T1 = "sensor.electricity_meter_energy_export_tariff_1"
EXPORT_T2 = "sensor.electricity_meter_energy_export_tariff_2"
GAS = "sensor.gas_meter_1_reading"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def meter_logs(folder: Path, days: float) -> tuple[Path, Path]:
    """A Dutch DSMR 4 meter (a telegram every 10 s, solar export, gas) until now: the history
    log (gzip-compressed, up to an hour ago) and a log with only its newest telegram."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=days)
    naive = start.astimezone(METER_ZONE).replace(tzinfo=None)
    sim = MeterSimulator("nl_dsmr4", seed=4, solar=True, start=naive)
    telegrams = list(sim.telegrams(int(days * 86400 / sim.period)))
    keep = len(telegrams) - 360  # the last hour is Home Assistant's
    history = folder / "p1_dsmr" / "kaifa-history.log.gz"
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_bytes(gzip.compress(putty_header(naive) + b"".join(telegrams[:keep]), 1))
    live = folder / "kaifa-live.log"
    live.write_bytes(telegrams[-1])
    return history, live


def wait_for_entity(hass: HassProcess, entity_id: str, timeout: float = 60.0) -> None:
    """Until the entity has a number."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = hass.states().get(entity_id)
        if state is not None and state["state"] not in ("unknown", "unavailable"):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{entity_id} got no value")


def with_recorder(hass: HassProcess, energy: bool = False) -> None:
    extra = ["recorder:", "  commit_interval: 1", "history:"]
    if energy:
        extra.append("energy:")
    with (hass.config_dir / "configuration.yaml").open("a", encoding="utf-8") as handle:
        handle.write("\n".join(extra) + "\n")


@contextlib.contextmanager
def running(tmp_path: Path, frontend: bool) -> Iterator[HassProcess]:
    hass = HassProcess(tmp_path / "config", free_port(), frontend=frontend)
    hass.write_config()
    with_recorder(hass, energy=frontend)
    try:
        hass.start()
        hass.onboard()
        yield hass
    finally:
        hass.stop()


@pytest.fixture
def hass_with_recorder(tmp_path: Path, socket_enabled: None) -> Iterator[HassProcess]:
    """Home Assistant as a process, with its recorder (SQLite)."""
    with running(tmp_path, frontend=False) as hass:
        yield hass


class Socket:
    """Home Assistant's websocket API."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 1
        self.events: list[dict[str, Any]] = []

    async def call(self, message: dict[str, Any]) -> Any:
        message_id = self.next_id
        self.next_id += 1
        await self.ws.send_json({"id": message_id, **message})
        while True:
            reply = await self.ws.receive_json()
            if reply.get("type") == "event":
                self.events.append(reply["event"])
                continue
            if reply.get("id") == message_id:
                assert reply["success"], reply
                return reply["result"]


async def session(hass: HassProcess, work: Any) -> Any:
    async with (
        aiohttp.ClientSession() as client,
        client.ws_connect(f"{hass.url}/api/websocket", max_msg_size=0) as ws,
    ):
        assert (await ws.receive_json())["type"] == "auth_required"
        await ws.send_json({"type": "auth", "access_token": hass.token})
        assert (await ws.receive_json())["type"] == "auth_ok"
        return await work(Socket(ws))


async def import_and_read(hass: HassProcess, entry_id: str, path: Path) -> tuple[Any, ...]:
    async def work(socket: Socket) -> tuple[Any, ...]:
        await socket.call({"type": "subscribe_events", "event_type": "p1_dsmr_import_progress"})
        result = await socket.call(
            {
                "type": "call_service",
                "domain": "p1_dsmr",
                "service": "import_history",
                "service_data": {"config_entry_id": entry_id, "path": str(path)},
                "return_response": True,
            }
        )
        rows = await socket.call(
            {
                "type": "recorder/statistics_during_period",
                "start_time": "2020-01-01T00:00:00Z",
                "statistic_ids": [IMPORT_T1, GAS],
                "period": "hour",
                "types": ["state", "sum", "change"],
            }
        )
        return result["response"], rows, socket.events

    result: tuple[Any, ...] = await session(hass, work)
    return result


def test_a_hass_process_imports_two_days(hass_with_recorder: HassProcess) -> None:
    """The meter was set up a moment ago: the import waits for Home Assistant's first 5-minute
    statistics of it (its next 5-minute job, up to five minutes), then leads up to them."""
    hass = hass_with_recorder
    history, live = meter_logs(hass.config_dir, days=2)
    entry = hass.add_file_meter(live, mode="follow", loop=False)
    wait_for_entity(hass, IMPORT_T1)
    summary, rows, events = asyncio.run(import_and_read(hass, entry["entry_id"], history))
    assert summary["format"] == "gzip log"
    assert summary["rejected"] == 0
    assert summary["statistics"][IMPORT_T1]["written"] >= 46
    assert summary["statistics"][GAS]["written"] >= 46
    for statistic in (IMPORT_T1, GAS):
        hours = rows[statistic]
        assert len(hours) >= 46
        assert 0 <= hours[0]["change"] < 20  # the first hour from 0: its own energy
        for previous, row in pairwise(hours):
            assert row["change"] == pytest.approx(row["state"] - previous["state"], abs=1e-6)
            assert row["sum"] - previous["sum"] == pytest.approx(row["change"], abs=1e-6)
    stages = [event["data"]["stage"] for event in events]
    assert stages[0] == "reading"
    assert stages[-1] == "done"


@pytest.mark.skipif(
    CHROMIUM is None
    or importlib.util.find_spec("playwright") is None
    or importlib.util.find_spec("hass_frontend") is None,
    reason="needs Debian's chromium and playwright (P1_E2E=1 scripts/test installs playwright)",
)
def test_the_energy_dashboard_shows_the_imported_week(tmp_path: Path, socket_enabled: None) -> None:
    """Import a week, set the Energy dashboard up, and take the README's screenshot."""
    from playwright.sync_api import sync_playwright

    with running(tmp_path, frontend=True) as hass:
        history, live = meter_logs(hass.config_dir, days=7)
        entry = hass.add_file_meter(live, mode="follow", loop=False)
        wait_for_entity(hass, IMPORT_T1)

        async def prepare(socket: Socket) -> Any:
            # The format of the release under test (2026.x: unified grid sources)
            counters = {
                "energy_import_t1": IMPORT_T1,
                "energy_import_t2": IMPORT_T2,
                "energy_export_t1": EXPORT_T1,
                "energy_export_t2": EXPORT_T2,
            }
            prefs = energy_prefs(counters, GAS, unified=unified_grid_sources())
            await socket.call({"type": "energy/save_prefs", **prefs})
            return await socket.call(
                {
                    "type": "call_service",
                    "domain": "p1_dsmr",
                    "service": "import_history",
                    "service_data": {"config_entry_id": entry["entry_id"], "path": str(history)},
                    "return_response": True,
                }
            )

        summary = asyncio.run(session(hass, prepare))["response"]
        assert summary["statistics"][IMPORT_T1]["written"] >= 7 * 24 - 2
        shots = Path(__file__).resolve().parents[2] / ".demo" / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{hass.url}/", wait_until="domcontentloaded")
            page.get_by_label("Username").fill(hass.username, timeout=90_000)
            page.get_by_label("Password", exact=True).fill(hass.password)
            page.keyboard.press("Enter")
            # Logged in once the frontend keeps its tokens (it lands on /lovelace/0 in 2025.4,
            # on / in 2026.11)
            page.wait_for_function(
                "() => window.localStorage.getItem('hassTokens') !== null", timeout=90_000
            )
            page.goto(f"{hass.url}/energy")
            confirm_http_settings(page)  # 2026.x's dialog over every page
            page.locator("ha-date-range-picker").first.click(timeout=60_000)
            page.get_by_text("Last 7 days", exact=True).first.click(timeout=10_000)
            page.wait_for_timeout(6000)  # the charts load the statistics
            page.screenshot(path=str(shots / "energy_dashboard.png"))
            browser.close()
        assert (shots / "energy_dashboard.png").stat().st_size > 20_000
