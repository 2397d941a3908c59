"""Sensor entities: snapshots for a Hungarian and a Dutch meter, dynamic M-Bus devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.p1_dsmr.const import (
    DOMAIN,
)
from tests.lib.builders import telegram

from .conftest import EVERY_TELEGRAM, device_by_identifier, file_config_entry, telegrams
from .test_init import state, wait_for


async def setup_file(
    hass: HomeAssistant, path: Path, unique_id: str, options: dict[str, Any] | None = None
) -> MockConfigEntry:
    entry = file_config_entry(path, unique_id, options=options)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_for(
        hass,
        lambda: (
            entry.runtime_data.data is not None and entry.runtime_data.data.telegram is not None
        ),
    )
    await hass.async_block_till_done()
    return entry


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("style", "unique_id"),
    [
        ("hu_sanxing", "AUX1030302759988"),
        ("nl_dsmr5", "E0044007382246019"),
        ("be_fluvius", "1SAG1100000292"),
    ],
)
async def test_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    tmp_path: Path,
    style: str,
    unique_id: str,
) -> None:
    path = tmp_path / "meter.log"
    path.write_bytes(b"".join(telegrams(style, 3)))
    with patch("custom_components.p1_dsmr.PLATFORMS", [Platform.SENSOR]):
        entry = await setup_file(hass, path, unique_id)
        await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_defaults_and_energy_dashboard(hass: HomeAssistant, tmp_path: Path) -> None:
    path = tmp_path / "meter.log"
    path.write_bytes(b"".join(telegrams("hu_sanxing", 2)))
    entry = await setup_file(hass, path, "AUX1030302759988")
    energy = hass.states.get("sensor.electricity_meter_energy_import")
    assert energy is not None
    assert energy.attributes["device_class"] == "energy"
    assert energy.attributes["state_class"] == "total_increasing"
    assert energy.attributes["unit_of_measurement"] == "kWh"
    # Rare values are created disabled.
    registry = er.async_get(hass)
    q3 = registry.async_get("sensor.electricity_meter_reactive_energy_qiii")
    assert q3 is not None
    assert q3.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    # Link quality is there from the start.
    assert state(hass, "sensor.electricity_meter_telegrams_received") == "1"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_mbus_meter_appearing_later(hass: HomeAssistant, tmp_path: Path) -> None:
    nl = telegrams("nl_dsmr5", 4)
    without_gas = [t.split(b"0-1:24.1.0")[0] for t in nl]
    from custom_components.p1_dsmr.p1lib.crc import crc16

    without_gas = [
        body + b"!" + f"{crc16(body + b'!'):04X}".encode() + b"\r\n" for body in without_gas
    ]
    path = tmp_path / "meter.log"
    path.write_bytes(without_gas[0])
    entry = await setup_file(hass, path, "E0044007382246019", EVERY_TELEGRAM)
    devices = dr.async_get(hass)
    assert len(dr.async_entries_for_config_entry(devices, entry.entry_id)) == 1
    with path.open("ab") as handle:
        handle.write(nl[1])
    gas = "sensor.gas_meter_1_reading"
    await wait_for(hass, lambda: state(hass, gas) not in (None, "unavailable"))
    gas_devices = [
        d for d in dr.async_entries_for_config_entry(devices, entry.entry_id) if d.via_device_id
    ]
    assert len(gas_devices) == 1
    assert hass.states.get(gas).attributes["device_class"] == "gas"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_water_heat_and_unknown_codes(hass: HomeAssistant, tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    path.write_bytes(
        telegram(
            "0-0:96.1.1(4530303434303037333832323436303139)",
            "0-0:1.0.0(230502215000S)",
            "0-0:1.0.0(230502215000S)",
            "1-0:1.7.0(00.100*kW)",
            "1-0:99.99.9(42)",
            "0-1:24.1.0(007)",
            "0-1:24.2.1(230502215000S)(00012.345*m3)",
            "0-2:24.1.0(004)",
            "0-2:24.2.1(230502215000S)(00001.234*GJ)",
            header="/XYZ5 test",
        )
    )
    entry = await setup_file(hass, path, "E0044007382246019")
    water = hass.states.get("sensor.water_meter_1_reading")
    heat = hass.states.get("sensor.heat_meter_2_reading")
    assert water is not None
    assert water.attributes["device_class"] == "water"
    assert heat is not None
    assert heat.attributes["unit_of_measurement"] == "GJ"
    registry = er.async_get(hass)
    unknown = registry.async_get("sensor.electricity_meter_obis_1_0_99_99_9")
    assert unknown is not None
    assert unknown.disabled_by is not None
    raw: list[bytes] = []
    remove = entry.runtime_data.add_raw_listener(lambda chunk, when: raw.append(chunk))
    entry.runtime_data.feed(path.read_bytes())
    remove()
    assert raw == [path.read_bytes()]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_stale_mbus_device_can_be_removed(hass: HomeAssistant, tmp_path: Path) -> None:
    from custom_components.p1_dsmr import async_remove_config_entry_device

    path = tmp_path / "meter.log"
    path.write_bytes(b"".join(telegrams("nl_dsmr5", 2)))
    entry = await setup_file(hass, path, "E0044007382246019")
    devices = dr.async_get(hass)
    meter = device_by_identifier(hass, entry, "E0044007382246019")
    gas = device_by_identifier(hass, entry, "E0044007382246019_mbus1")
    assert meter is not None
    assert gas is not None
    assert gas.via_device_id == meter.id  # connected through the electricity meter
    assert not await async_remove_config_entry_device(hass, entry, meter)
    assert not await async_remove_config_entry_device(hass, entry, gas)  # still sending
    stale = devices.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "E0044007382246019_mbus2")}
    )
    assert await async_remove_config_entry_device(hass, entry, stale)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_dsmr22_gas_reading(hass: HomeAssistant, tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    path.write_bytes(
        telegram(
            "0-0:96.1.1(4B384547303034303436333935353037)",
            "1-0:1.8.1(12345.678*kWh)",
            "1-0:1.7.0(0001.01*kW)",
            "0-1:24.1.0(3)",
            "0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)",
            "(00001.001)",
            header="/ISk5\\2MT382-1004",
            crc=False,
        )
    )
    entry = await setup_file(hass, path, "K8EG004046395507")
    gas = hass.states.get("sensor.gas_meter_1_reading")
    assert gas is not None
    assert gas.state == "1.001"
    assert gas.attributes["device_class"] == "gas"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_reactive_energy_uses_the_device_class_where_there_is_one(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """Home Assistant 2026.11 has a reactive energy device class (and its units); 2025.4 does not,
    and shows the same kvarh total without one."""
    path = tmp_path / "meter.log"
    path.write_bytes(b"".join(telegrams("hu_sanxing", 2)))
    entry = await setup_file(hass, path, "AUX1030302759988")
    entity = er.async_get(hass).async_get("sensor.electricity_meter_reactive_energy_import")
    assert entity is not None  # created disabled: a rare value
    assert entity.unit_of_measurement == "kvarh"
    assert entity.capabilities == {"state_class": "total_increasing"}
    expected = "reactive_energy" if hasattr(SensorDeviceClass, "REACTIVE_ENERGY") else None
    assert entity.original_device_class == expected
    assert await hass.config_entries.async_unload(entry.entry_id)
