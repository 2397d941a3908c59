"""Setting up and unloading entries with real sources."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import MagicMock, patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.p1_dsmr.const import (
    CONF_BAUDRATE,
    CONF_DEVICE,
    CONF_FILE_PATH,
    CONF_SOURCE,
    CONF_VOLTAGE_THRESHOLD,
    DOMAIN,
    SOURCE_NETWORK,
    SOURCE_SERIAL,
)

from .conftest import HU_ID, PtyMeter, TcpMeter, telegrams


async def wait_for(hass: HomeAssistant, condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Let the event loop run until ``condition()`` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)
            await hass.async_block_till_done()


def state(hass: HomeAssistant, entity_id: str) -> str | None:
    current = hass.states.get(entity_id)
    return None if current is None else current.state


async def test_file_follow_setup_update_unload(
    hass: HomeAssistant, file_entry: MockConfigEntry, log_file: Path
) -> None:
    file_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(file_entry.entry_id)
    await hass.async_block_till_done()
    assert file_entry.state is ConfigEntryState.LOADED
    voltage = "sensor.electricity_meter_voltage_l1"
    await wait_for(hass, lambda: state(hass, voltage) not in (None, STATE_UNAVAILABLE))
    state(hass, voltage)
    coordinator = file_entry.runtime_data
    assert coordinator.data.telegram is not None
    before = coordinator.decoder.stats.telegrams
    # Telegrams appended to the file are read as they arrive.
    extra = telegrams("hu_sanxing", 8, seed=1)[5:]
    with log_file.open("ab") as handle:
        handle.write(b"".join(extra))
    newest = extra[-1].split(b"0-0:1.0.0(")[1][:12].decode()
    await wait_for(
        hass, lambda: coordinator.data.telegram.timestamp.strftime("%y%m%d%H%M%S") == newest
    )
    assert coordinator.decoder.stats.telegrams >= before + 3
    assert state(hass, voltage) == str(coordinator.data.values["voltage_l1"])
    assert await hass.config_entries.async_unload(file_entry.entry_id)
    await hass.async_block_till_done()
    assert file_entry.state is ConfigEntryState.NOT_LOADED


async def test_setup_retries_when_the_source_is_missing(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=HU_ID,
        data={
            CONF_SOURCE: SOURCE_SERIAL,
            CONF_DEVICE: str(tmp_path / "ttyUSB0"),
            CONF_BAUDRATE: 115200,
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_network_source_reconnects(hass: HomeAssistant, tcp_meter: TcpMeter, caplog) -> None:  # type: ignore[no-untyped-def]
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=HU_ID,
        data={CONF_SOURCE: SOURCE_NETWORK, CONF_HOST: "127.0.0.1", CONF_PORT: tcp_meter.port},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    voltage = "sensor.electricity_meter_voltage_l1"
    await wait_for(hass, lambda: state(hass, voltage) not in (None, STATE_UNAVAILABLE))
    port = tcp_meter.port
    await tcp_meter.stop()
    await wait_for(hass, lambda: state(hass, voltage) == STATE_UNAVAILABLE)
    assert caplog.text.count("Lost 127.0.0.1") == 1
    await tcp_meter.start(port)
    await wait_for(hass, lambda: state(hass, voltage) not in (None, STATE_UNAVAILABLE))
    assert "is back" in caplog.text
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_serial_source_and_missing_port_issue(hass: HomeAssistant) -> None:
    meter = PtyMeter(telegrams("hu_sanxing", 10)).start()
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=HU_ID,
        data={CONF_SOURCE: SOURCE_SERIAL, CONF_DEVICE: meter.path, CONF_BAUDRATE: 115200},
    )
    entry.add_to_hass(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        frequency = "sensor.electricity_meter_frequency"
        await wait_for(hass, lambda: state(hass, frequency) not in (None, STATE_UNAVAILABLE))
        meter.stop()
        issues = ir.async_get(hass)
        await wait_for(
            hass,
            lambda: (
                issues.async_get_issue(DOMAIN, f"serial_port_missing_{entry.entry_id}") is not None
            ),
        )
        assert state(hass, frequency) == STATE_UNAVAILABLE
    finally:
        meter.stop()
        assert await hass.config_entries.async_unload(entry.entry_id)


@contextmanager
def counting_setups() -> Iterator[tuple[MagicMock, MagicMock]]:
    """Count the entry's setups and unloads (each runs the real function)."""
    import custom_components.p1_dsmr as integration

    with (
        patch.object(
            integration, "async_setup_entry", wraps=integration.async_setup_entry
        ) as setup,
        patch.object(
            integration, "async_unload_entry", wraps=integration.async_unload_entry
        ) as unload,
    ):
        yield setup, unload


@pytest.mark.parametrize("moved", [True, False], ids=["new_path", "same_path"])
async def test_reconfigure_reloads_a_loaded_entry_once(
    hass: HomeAssistant,
    file_entry: MockConfigEntry,
    log_file: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    moved: bool,
) -> None:
    file_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(file_entry.entry_id)
    voltage = "sensor.electricity_meter_voltage_l1"
    await wait_for(hass, lambda: state(hass, voltage) not in (None, STATE_UNAVAILABLE))
    before = file_entry.runtime_data
    path = tmp_path / "moved.log" if moved else log_file
    path.write_bytes(log_file.read_bytes())
    with counting_setups() as (setup, unload):
        result = await file_entry.start_reconfigure_flow(hass)
        assert result["step_id"] == "file"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_FILE_PATH: str(path)}
        )
        await hass.async_block_till_done()
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        await wait_for(hass, lambda: state(hass, voltage) not in (None, STATE_UNAVAILABLE))
    # Exactly one reload (Home Assistant 2026.12 refuses a second one by an update listener).
    assert (unload.call_count, setup.call_count) == (1, 1)
    assert "has an update listener" not in caplog.text  # 2026.11: "and should use it for ..."
    assert file_entry.state is ConfigEntryState.LOADED
    assert file_entry.data[CONF_FILE_PATH] == str(path)
    assert file_entry.runtime_data is not before
    assert str(path) in file_entry.runtime_data.source.description
    assert await hass.config_entries.async_unload(file_entry.entry_id)


async def test_reconfigure_sets_up_a_retrying_entry_at_once(hass: HomeAssistant) -> None:
    """The reconfigure flow is how a user repairs a vanished port: no waiting for the retry."""
    meter = PtyMeter(telegrams("hu_sanxing", 10)).start()
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=HU_ID,
        data={CONF_SOURCE: SOURCE_SERIAL, CONF_DEVICE: "/dev/ttyUSB-gone", CONF_BAUDRATE: 115200},
    )
    entry.add_to_hass(hass)
    try:
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.SETUP_RETRY
        with counting_setups() as (setup, unload):
            result = await entry.start_reconfigure_flow(hass)
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: meter.path}
            )
            await hass.async_block_till_done()
        assert result["reason"] == "reconfigure_successful"
        assert (unload.call_count, setup.call_count) == (0, 1)  # nothing was loaded to unload
        assert entry.state is ConfigEntryState.LOADED
        assert entry.data[CONF_DEVICE] == meter.path
    finally:
        meter.stop()
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_options_flow_reloads_once(hass: HomeAssistant, file_entry: MockConfigEntry) -> None:
    file_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(file_entry.entry_id)
    await hass.async_block_till_done()
    with counting_setups() as (setup, unload):
        result = await hass.config_entries.options.async_init(file_entry.entry_id)
        options = {**result["data_schema"]({}), CONF_VOLTAGE_THRESHOLD: 250.0}
        result = await hass.config_entries.options.async_configure(result["flow_id"], options)
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert (unload.call_count, setup.call_count) == (1, 1)
    assert file_entry.state is ConfigEntryState.LOADED
    assert file_entry.runtime_data.config_entry.options[CONF_VOLTAGE_THRESHOLD] == 250.0
    assert await hass.config_entries.async_unload(file_entry.entry_id)
