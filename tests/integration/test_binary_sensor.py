"""Threshold flags."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import snapshot_platform
from syrupy.assertion import SnapshotAssertion

from .conftest import telegrams
from .test_sensor import setup_file


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_binary_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    tmp_path: Path,
) -> None:
    path = tmp_path / "meter.log"
    path.write_bytes(b"".join(telegrams("nl_dsmr5", 2)))
    with patch("custom_components.p1_dsmr.PLATFORMS", [Platform.BINARY_SENSOR]):
        entry = await setup_file(hass, path, "E0044007382246019")
        await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_overvoltage_follows_the_option(hass: HomeAssistant, tmp_path: Path) -> None:
    path = tmp_path / "meter.log"
    path.write_bytes(b"".join(telegrams("hu_sanxing", 2)))
    entry = await setup_file(hass, path, "AUX1030302759988")
    assert hass.states.get("binary_sensor.electricity_meter_overvoltage_l1").state == "off"
    hass.config_entries.async_update_entry(entry, options={"voltage_threshold": 200.0})
    await hass.async_block_till_done()
    from .test_init import state, wait_for

    await wait_for(
        hass, lambda: state(hass, "binary_sensor.electricity_meter_overvoltage_l1") == "on"
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
