"""The coordinator: update policy, link statistics, repair issues, sources' behaviour."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from time import monotonic
from unittest.mock import patch

import pytest
from homeassistant.const import CONF_HOST, CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
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
from custom_components.p1_dsmr.coordinator import P1Coordinator
from custom_components.p1_dsmr.p1lib.crc import crc16
from custom_components.p1_dsmr.p1lib.faults import inject
from custom_components.p1_dsmr.p1lib.obis import Kind
from custom_components.p1_dsmr.source import FileSource, P1Source, SourceMissing
from custom_components.p1_dsmr.values import MAX_MBUS_CHANNEL, MAX_UNKNOWN_CODES, aggregate

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
    result = aggregate(window, {"voltage_l1": Kind.VOLTAGE, "energy_import": Kind.ENERGY})  # type: ignore[arg-type]
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
    assert source.take_history() == data[1]  # the newest complete telegram first
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
            await wait_for(hass, lambda: "no valid telegram from 127.0.0.1" in caplog.text)
            await wait_for(hass, lambda: len(meter.clients) >= 2)  # it connected again
            assert coordinator.decoder.stats.valid >= 1
            assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await meter.stop()


async def test_watchdog_watches_accepted_telegrams_not_bytes(
    hass: HomeAssistant, socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    # A valid telegram, then a stream of noise that never stops: the values must not stay
    # "available" for ever.
    noise = b"x/ABC garbage\r\n!12\r\n\xff\x00"
    meter = await TcpMeter([*telegrams("nl_dsmr5", 1), *[noise] * 10_000], interval=0.02).start()
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="E0044007382246019",
        data={CONF_SOURCE: SOURCE_NETWORK, CONF_HOST: "127.0.0.1", CONF_PORT: meter.port},
    )
    entry.add_to_hass(hass)
    voltage = "sensor.electricity_meter_voltage_l1"
    try:
        with patch.object(P1Source, "watchdog", 0.4):
            assert await hass.config_entries.async_setup(entry.entry_id)
            await wait_for(hass, lambda: state(hass, voltage) not in (None, STATE_UNAVAILABLE))
            await wait_for(hass, lambda: state(hass, voltage) == STATE_UNAVAILABLE)
            assert f"no valid telegram from 127.0.0.1:{meter.port} for 0.4 s" in caplog.text
            # Reconnected, the meter starts again with a valid telegram: available again.
            await wait_for(hass, lambda: state(hass, voltage) not in (None, STATE_UNAVAILABLE))
            assert "is back" in caplog.text
            assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await meter.stop()


async def test_an_unexpected_error_does_not_stop_the_reader_nor_feed_twice(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = telegrams("nl_dsmr5", 3)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, "E0044007382246019")
    coordinator = entry.runtime_data
    original = coordinator.source.read
    calls = []

    async def failing() -> bytes:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return await original()

    coordinator.source.read = failing  # type: ignore[method-assign]
    with path.open("ab") as handle:
        handle.write(data[1])  # read by the read in progress; the next one fails
    await wait_for(hass, lambda: "Unexpected error reading" in caplog.text)
    await wait_for(hass, lambda: coordinator.connected and len(calls) >= 2)
    with path.open("ab") as handle:
        handle.write(data[2])
    newest = data[2].split(b"0-0:1.0.0(")[1][:12].decode()
    await wait_for(
        hass, lambda: coordinator.data.telegram.timestamp.strftime("%y%m%d%H%M%S") == newest
    )
    await hass.async_block_till_done()
    # After reopening, reading went on where it stopped: nothing was fed (or archived) twice.
    assert coordinator.decoder.stats.telegrams == 3
    assert await hass.config_entries.async_unload(entry.entry_id)


# --- hostile input ------------------------------------------------------------------------------


async def shown(hass: HomeAssistant, coordinator: P1Coordinator, telegram: bytes) -> None:
    """Wait until ``telegram`` is the one the entities show (decoded in the executor, handled in
    the event loop: the decoder's counters run ahead of the loop)."""
    stamp = telegram.split(b"0-0:1.0.0(")[1][:12].decode()
    await wait_for(
        hass,
        lambda: (
            coordinator.data is not None
            and coordinator.data.telegram is not None
            and coordinator.data.telegram.timestamp.strftime("%y%m%d%H%M%S") == stamp
        ),
        timeout=60,
    )


def with_lines(
    telegram: bytes, replace: dict[bytes, bytes] | None = None, add: bytes = b""
) -> bytes:
    """A telegram with the values of codes replaced and lines added, with a valid CRC again."""
    body = telegram[: telegram.rindex(b"!") + 1]
    for code, value in (replace or {}).items():
        body, count = re.subn(re.escape(code) + rb"\([^)]*\)", code + b"(" + value + b")", body)
        assert count == 1
    if add:
        body = body.replace(b"\r\n!", b"\r\n" + add + b"\r\n!")
    return body + f"{crc16(body):04X}\r\n".encode()


async def test_rejected_telegrams_update_the_link_at_most_once_a_second(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    data = telegrams("nl_dsmr5", 2)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, "E0044007382246019")
    coordinator = entry.runtime_data
    updates: list[int] = []
    coordinator.async_add_listener(lambda: updates.append(1))
    for _ in range(300):
        coordinator.feed(b"/XYZ5 noise\r\n\r\n1-0:1.7.0(00.100*kW)\r\n!0000\r\n")
    assert len(updates) <= 1  # not one entity update per rejected telegram
    rejected = "sensor.electricity_meter_rejected_telegrams"
    # The last damaged ones wait for a next good telegram; the meter falls silent instead.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=30))
    await wait_for(hass, lambda: state(hass, rejected) == "300")  # within a second
    assert len(updates) <= 2
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_link_sensors_move_before_the_first_telegram(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    path = tmp_path / "meter.log"
    path.write_bytes(b"")
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="E0044007382246019",
        data={CONF_SOURCE: SOURCE_FILE, CONF_FILE_PATH: str(path), CONF_FILE_MODE: "follow"},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    with path.open("ab") as handle:
        handle.write(b"/XYZ5 noise\r\n!0000\r\n" * 5)
    rejected = "sensor.electricity_meter_rejected_telegrams"
    await wait_for(hass, lambda: entry.runtime_data.decoder.pending == 5)
    # They wait for a good telegram to be repaired against; the meter stays silent.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=30))
    await wait_for(hass, lambda: state(hass, rejected) == "5")
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_reader_hands_the_loop_back_however_much_is_buffered(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    data = telegrams("nl_dsmr5", 2)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, "E0044007382246019")
    coordinator = entry.runtime_data
    ticks = 0
    seen: set[int] = set()
    handle = coordinator._handle

    def counting(*args: object) -> None:
        seen.add(ticks)  # how often the loop ran something else while the results were handled
        handle(*args)  # type: ignore[arg-type]

    coordinator._handle = counting  # type: ignore[method-assign]

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = hass.async_create_background_task(ticker(), "ticker")
    try:
        with path.open("ab") as log:
            # 256 KiB of noise: rich in '/', and headers that never end
            log.write(b"x/ABC" * (128 * 1024 // 5) + b"/ABC5\r\n" * (128 * 1024 // 7) + data[1])
        await shown(hass, coordinator, data[1])
    finally:
        task.cancel()
    # Tens of thousands of rejected frames, handled a slice at a time.
    assert coordinator.decoder.stats.invalid > 10_000
    assert len(seen) >= 8
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_value_no_meter_can_send_is_dropped_alone(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = telegrams("nl_dsmr5", 5)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, "E0044007382246019")
    coordinator = entry.runtime_data
    hostile = [
        with_lines(data[1], {b"1-0:32.7.0": b"9" * 400 + b".0*V"}),  # inf
        with_lines(data[2], {b"1-0:52.7.0": b"5230.0*V"}),
        with_lines(data[3], {b"1-0:32.7.0": b"9" * 400 + b"*V"}),  # inf again
    ]
    for telegram in hostile:
        with path.open("ab") as handle:
            handle.write(telegram)
        valid = coordinator.decoder.stats.valid
        await wait_for(hass, lambda valid=valid: coordinator.decoder.stats.valid > valid)
    # Decoded in the executor, handled in the event loop: wait for the loop's side.
    await wait_for(hass, lambda: sum(coordinator.mapper.dropped_values.values()) == 3)
    await hass.async_block_till_done()
    assert state(hass, "sensor.electricity_meter_voltage_l1") == "unknown"  # that value only
    assert state(hass, "sensor.electricity_meter_voltage_l3") not in (
        None,
        "unknown",
        "unavailable",
    )
    power = data[3].split(b"1-0:1.7.0(")[1][:6].decode()
    assert state(hass, "sensor.electricity_meter_power_import") == str(float(power))
    assert coordinator.connected
    assert "Unexpected error" not in caplog.text
    assert "Lost" not in caplog.text
    assert coordinator.mapper.dropped_values == {"voltage_l1": 2, "voltage_l2": 1}
    # What was derived from those telegrams is not shown either (an infinite voltage is no
    # overvoltage, and no current of 0 A).
    assert state(hass, "sensor.electricity_meter_highest_phase_voltage") == "unknown"
    assert state(hass, "binary_sensor.electricity_meter_overvoltage_l1") != "on"
    assert caplog.text.count("Dropped voltage_l1") == 1  # reported once
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_hostile_codes_and_channels_do_not_grow_the_registries(
    hass: HomeAssistant,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    data = telegrams("nl_dsmr5", 5)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, "E0044007382246019")
    coordinator = entry.runtime_data
    with path.open("ab") as handle:
        handle.write(data[1])  # the values derived from two telegrams appear
    await shown(hass, coordinator, data[1])
    await hass.async_block_till_done()
    before = len(er.async_entries_for_config_entry(entity_registry, entry.entry_id))
    for index, telegram in enumerate(data[2:]):
        codes = b"\r\n".join(b"1-0:199.%d.%d(123)" % (index, n) for n in range(300))
        channels = b"\r\n".join(
            b"0-%d:24.2.1(230502215000S)(00012.345*m3)" % channel for channel in range(1, 120)
        )
        with path.open("ab") as handle:
            handle.write(with_lines(telegram, add=codes + b"\r\n" + channels))
    # Decoded in the executor, handled in the event loop: wait for the loop's side.
    await wait_for(hass, lambda: len(coordinator.mapper.ignored_codes) == 900 - MAX_UNKNOWN_CODES)
    await hass.async_block_till_done()
    entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    unknown = [e for e in entities if "obis_" in e.unique_id]
    assert len(unknown) == MAX_UNKNOWN_CODES
    assert len(devices) == 1 + MAX_MBUS_CHANNEL
    # The codes up to the limit, and channels 2 to 4 (a reading and its time each).
    assert len(entities) == before + MAX_UNKNOWN_CODES + 2 * (MAX_MBUS_CHANNEL - 1)
    assert caplog.text.count("codes this integration does not know") == 1
    assert caplog.text.count("channels above") == 1
    link = coordinator.diagnostics()
    assert link["unknown_codes"] == {"with_entity": MAX_UNKNOWN_CODES, "ignored": 900 - 40}
    assert link["mbus_channels_ignored"][:3] == [5, 6, 7]
    assert await hass.config_entries.async_unload(entry.entry_id)
