"""The coordinator: update policy, link statistics, repair issues, sources' behaviour."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from time import monotonic
from unittest.mock import patch

import pytest
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.p1_dsmr.const import (
    CONF_FILE_MODE,
    CONF_FILE_PATH,
    CONF_LOOP,
    CONF_SOURCE,
    CONF_UPDATE_INTERVAL,
    DOMAIN,
    FILE_MODE_REPLAY,
    SOURCE_FILE,
    SOURCE_NETWORK,
)
from custom_components.p1_dsmr.coordinator import _aggregate
from custom_components.p1_dsmr.p1lib.faults import inject
from custom_components.p1_dsmr.p1lib.obis import Kind
from custom_components.p1_dsmr.source import FileSource, P1Source, SourceMissing

from .conftest import HU_ID, TcpMeter, telegrams
from .test_init import state, wait_for
from .test_sensor import setup_file


async def test_repaired_telegrams_are_counted(hass: HomeAssistant, tmp_path: Path) -> None:
    data = telegrams("hu_sanxing", 6)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, HU_ID)
    coordinator = entry.runtime_data
    import random

    coordinator.feed(inject(data[1], "slash_garbage", random.Random(1)))
    coordinator.feed(b"\x00garbage!1234\r\n" + data[2][:200] + b"\r\n")
    # The damaged telegram waits for the next good one; the meter falls silent instead.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=60))
    await hass.async_block_till_done()
    assert state(hass, "sensor.electricity_meter_repaired_telegrams") == "1"
    assert state(hass, "sensor.electricity_meter_last_repair") not in (None, "unknown")
    assert coordinator.data.link.last_repair_method == "header"
    assert float(state(hass, "sensor.electricity_meter_error_rate") or 0) > 0
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_high_error_rate_issue(hass: HomeAssistant, tmp_path: Path) -> None:
    data = telegrams("nl_dsmr5", 700)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, "E0044007382246019")
    coordinator = entry.runtime_data
    issues = ir.async_get(hass)
    issue_id = f"high_error_rate_{entry.entry_id}"
    for telegram in data[1:150]:
        coordinator.feed(telegram[:-8] + b"FFFF\r\n")  # CRC never matches, cannot be repaired
    assert issues.async_get_issue(DOMAIN, issue_id) is not None
    for telegram in data[150:]:
        coordinator.feed(telegram)
    assert coordinator.data.link.error_rate is not None
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_update_interval_averages_and_never_drops(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    data = telegrams("nl_dsmr5", 12)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, "E0044007382246019")
    hass.config_entries.async_update_entry(entry, options={CONF_UPDATE_INTERVAL: 5})
    await hass.async_block_till_done()
    await wait_for(hass, lambda: entry.runtime_data.data is not None)
    coordinator = entry.runtime_data
    updates: list[float] = []
    coordinator.async_add_listener(lambda: updates.append(coordinator.data.values["power_import"]))
    powers = []
    clock = monotonic()
    with patch("custom_components.p1_dsmr.coordinator.monotonic", side_effect=lambda: clock):
        for telegram in data[1:]:
            clock += 1.0
            coordinator.feed(telegram)
            powers.append(float(telegram.split(b"1-0:1.7.0(")[1][:6]))
    # 11 telegrams at 1 s, at most one update per 5 s: 2 updates, each the mean of its window.
    assert len(updates) == 2
    assert updates[0] == pytest.approx(sum(powers[:5]) / 5)
    assert updates[1] == pytest.approx(sum(powers[5:10]) / 5)
    assert await hass.config_entries.async_unload(entry.entry_id)


def test_aggregate() -> None:
    window = [
        {"voltage_l1": 230.0, "energy_import": 1.0, "overvoltage_l1": False, "max_voltage": 230.0},
        {"voltage_l1": 240.0, "energy_import": 2.0, "overvoltage_l1": True, "max_voltage": 240.0},
        {"voltage_l1": 250.0, "energy_import": 3.0, "overvoltage_l1": False, "max_voltage": 235.0},
    ]
    result = _aggregate(window, {"voltage_l1": Kind.VOLTAGE, "energy_import": Kind.ENERGY})  # type: ignore[arg-type]
    assert result == {
        "voltage_l1": 240.0,
        "energy_import": 3.0,
        "overvoltage_l1": True,
        "max_voltage": 240.0,
    }


async def test_replay_loops_at_the_meters_pace(hass: HomeAssistant, tmp_path: Path) -> None:
    path = tmp_path / "meter.log"
    path.write_bytes(b"junk\r\n" + b"".join(telegrams("nl_dsmr5", 3)))
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="E0044007382246019",
        data={
            CONF_SOURCE: SOURCE_FILE,
            CONF_FILE_PATH: str(path),
            CONF_FILE_MODE: FILE_MODE_REPLAY,
            CONF_LOOP: True,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    coordinator = entry.runtime_data
    await wait_for(hass, lambda: coordinator.decoder.stats.valid >= 5, timeout=10)
    assert coordinator.decoder.stats.invalid == 0
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_replay_without_loop_finishes(hass: HomeAssistant, tmp_path: Path) -> None:
    path = tmp_path / "meter.log"
    path.write_bytes(b"".join(telegrams("nl_dsmr5", 2)))
    source = FileSource(hass, str(path), replay=True, loop=False)
    await source.open()
    first = await source.read()
    second = await source.read()
    assert first.startswith(b"/ISK5")
    assert second.startswith(b"/ISK5")
    assert await source.read() == b""
    assert source.finished
    await source.close()


async def test_followed_file_truncated_and_removed(hass: HomeAssistant, tmp_path: Path) -> None:
    data = telegrams("nl_dsmr5", 4)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0] + data[1])
    source = FileSource(hass, str(path), poll_interval=0.01)
    await source.open()
    assert await source.read() == data[1]  # the newest complete telegram first
    path.write_bytes(data[2])  # truncated and rewritten
    assert await source.read() == data[2]
    path.unlink()
    with pytest.raises(SourceMissing):
        await source.read()
    await source.close()
    with pytest.raises(SourceMissing):
        await FileSource(hass, str(path)).open()


async def test_watchdog_reconnects_a_silent_source(
    hass: HomeAssistant, socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    meter = await TcpMeter(telegrams("nl_dsmr5", 1), interval=1000).start()  # then silence
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="E0044007382246019",
        data={CONF_SOURCE: SOURCE_NETWORK, CONF_HOST: "127.0.0.1", CONF_PORT: meter.port},
    )
    entry.add_to_hass(hass)
    try:
        with patch.object(P1Source, "watchdog", 0.2):
            assert await hass.config_entries.async_setup(entry.entry_id)
            coordinator = entry.runtime_data
            await wait_for(hass, lambda: "no data from 127.0.0.1" in caplog.text)
            await wait_for(hass, lambda: len(meter.clients) >= 2)  # it connected again
            assert coordinator.decoder.stats.valid >= 1
            assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await meter.stop()


async def test_an_unexpected_error_does_not_stop_the_reader(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = telegrams("nl_dsmr5", 3)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, "E0044007382246019")
    coordinator = entry.runtime_data
    original = coordinator.feed
    calls = []

    def failing(chunk: bytes) -> None:
        calls.append(chunk)
        if len(calls) == 1:
            raise RuntimeError("boom")
        original(chunk)

    coordinator.feed = failing  # type: ignore[method-assign]
    with path.open("ab") as handle:
        handle.write(data[1])
    await wait_for(hass, lambda: "Unexpected error reading" in caplog.text)
    with path.open("ab") as handle:
        handle.write(data[2])
    await wait_for(hass, lambda: coordinator.connected and len(calls) >= 2)
    assert await hass.config_entries.async_unload(entry.entry_id)
