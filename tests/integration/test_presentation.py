"""What a user sees: the device page, names, display precision, enum states, the Energy picker."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.p1_dsmr.const import DOMAIN
from tests.lib.builders import HU_LINES, telegram

from .conftest import device_by_identifier, file_config_entry, telegrams
from .test_init import wait_for

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "custom_components" / DOMAIN / "translations"

NL_LINES = (
    "1-3:0.2.8(50)",
    "0-0:1.0.0(230601120000S)",
    "0-0:96.1.1(4530303434303037333832323436303139)",
    "1-0:1.8.1(001581.123*kWh)",
    "1-0:1.8.2(001435.706*kWh)",
    "1-0:2.8.1(000000.000*kWh)",
    "1-0:2.8.2(000000.000*kWh)",
    "0-0:96.14.0(0002)",
    "1-0:1.7.0(02.193*kW)",
    "1-0:2.7.0(00.000*kW)",
    "1-0:32.7.0(229.0*V)",
    "1-0:52.7.0(230.0*V)",
    "1-0:72.7.0(229.0*V)",
    "1-0:31.7.0(003*A)",
    "1-0:51.7.0(002*A)",
    "1-0:71.7.0(004*A)",
    "1-0:21.7.0(00.703*kW)",
    "1-0:41.7.0(00.524*kW)",
    "1-0:61.7.0(00.966*kW)",
    "1-0:22.7.0(00.000*kW)",
    "1-0:42.7.0(00.000*kW)",
    "1-0:62.7.0(00.000*kW)",
)


async def set_up(
    hass: HomeAssistant, tmp_path: Path, data: bytes, unique_id: str, title: str = "meter"
) -> MockConfigEntry:
    path = tmp_path / f"{unique_id}.log"
    path.write_bytes(data)
    entry = file_config_entry(path, unique_id, title)
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


def entity_id(hass: HomeAssistant, entry: MockConfigEntry, key: str) -> str:
    found = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{entry.unique_id}_{key}"
    ) or er.async_get(hass).async_get_entity_id("binary_sensor", DOMAIN, f"{entry.unique_id}_{key}")
    assert found is not None, key
    return found


def translations(language: str) -> dict[str, Any]:
    return json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("header", "lines", "unique_id", "manufacturer", "model", "software"),
    [
        # Hungarian Sanxing: the header is a serial number, the meter sends no version.
        ("/AUX59902759988", HU_LINES, "AUX1030302759988", "Sanxing", None, None),
        # Iskra: the header's enhanced-identification escape is not part of the model.
        ("/ISk5\\2MT382-1000", NL_LINES, "E0044007382246019", "Iskra", "MT382-1000", "DSMR 5.0"),
        # Landis+Gyr: a model code with the serial number in it: no model rather than a serial.
        ("/XMX5LGBBFG1009050373", NL_LINES, "E0044007382246019", "Landis+Gyr", None, "DSMR 5.0"),
        # Fluvius: the escape and a serial; the e-MUCS version.
        (
            "/FLU5\\253769484_A",
            ("0-0:96.1.4(50217)", *NL_LINES[1:]),
            "E0044007382246019",
            "Fluvius",
            None,
            "e-MUCS 50217",
        ),
        # An unknown flag: no manufacturer rather than a three-letter code.
        ("/QQQ5 PowerMeter-7", NL_LINES, "E0044007382246019", None, "PowerMeter-7", "DSMR 5.0"),
    ],
)
async def test_device_page_names_a_model_never_an_identifier(
    hass: HomeAssistant,
    tmp_path: Path,
    header: str,
    lines: tuple[str, ...],
    unique_id: str,
    manufacturer: str | None,
    model: str | None,
    software: str | None,
) -> None:
    entry = await set_up(hass, tmp_path, telegram(*lines, header=header), unique_id)
    device = device_by_identifier(hass, entry, unique_id)
    assert device is not None
    assert (device.manufacturer, device.model, device.sw_version) == (
        manufacturer,
        model,
        software,
    )
    assert device.hw_version is None  # not the dialect code ("HU")
    assert device.serial_number == unique_id
    assert device.name == "Electricity meter"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_gas_meter_has_no_made_up_model(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await set_up(hass, tmp_path, b"".join(telegrams("nl_dsmr5", 1)), "E0044007382246019")
    gas = device_by_identifier(hass, entry, "E0044007382246019_mbus1")
    assert gas is not None
    assert gas.model is None
    assert gas.name == "Gas meter 1"
    assert gas.serial_number
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_two_meters_are_told_apart(hass: HomeAssistant, tmp_path: Path) -> None:
    first = await set_up(
        hass, tmp_path, telegram(*HU_LINES, header="/AUX59902759988"), "AUX1", "Sanxing 1"
    )
    second = await set_up(
        hass,
        tmp_path,
        b"".join(telegrams("nl_dsmr5", 1)),
        "E0044007382246019",
        "Iskra E0044007382246019",
    )
    devices = dr.async_get(hass)
    names = sorted(
        d.name or ""
        for entry in (first, second)
        for d in dr.async_entries_for_config_entry(devices, entry.entry_id)
    )
    assert names == [
        "Electricity meter",
        "Electricity meter Iskra E0044007382246019",
        "Gas meter 1 (Iskra E0044007382246019)",
    ]
    one, two = (entity_id(hass, e, "voltage_l1") for e in (first, second))
    assert one == "sensor.electricity_meter_voltage_l1"
    assert two == "sensor.electricity_meter_iskra_e0044007382246019_voltage_l1"
    labels = {hass.states.get(e).attributes["friendly_name"] for e in (one, two)}
    assert len(labels) == 2
    for entry in (first, second):
        assert await hass.config_entries.async_unload(entry.entry_id)


def precision(hass: HomeAssistant, entity: str) -> int | None:
    options = er.async_get(hass).async_get(entity).options  # type: ignore[union-attr]
    value: int | None = options.get("sensor", {}).get("suggested_display_precision")
    return value


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_estimated_currents_are_named_estimates(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await set_up(
        hass, tmp_path, telegram(*HU_LINES, header="/AUX59902759988"), "AUX1030302759988"
    )
    for phase in (1, 2, 3):
        current = entity_id(hass, entry, f"current_l{phase}_calculated")
        state = hass.states.get(current)
        assert (
            state.attributes["friendly_name"] == f"Electricity meter Current L{phase} (estimated)"
        )
        assert precision(hass, current) == 1
    assert precision(hass, entity_id(hass, entry, "max_current")) == 1  # the highest estimate
    # The meter's whole amps show as whole amps, its voltages with their one decimal.
    assert precision(hass, entity_id(hass, entry, "current_l2")) == 0
    assert precision(hass, entity_id(hass, entry, "voltage_l1")) == 1
    assert precision(hass, entity_id(hass, entry, "power_import")) == 3
    assert precision(hass, entity_id(hass, entry, "energy_import")) == 3
    assert precision(hass, entity_id(hass, entry, "power_factor_l1")) == 3
    assert precision(hass, entity_id(hass, entry, "frequency")) == 2
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_currents_from_per_phase_power_are_precise(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    entry = await set_up(
        hass, tmp_path, telegram(*NL_LINES, header="/ISk5\\2MT382-1000"), "E0044007382246019"
    )
    current = entity_id(hass, entry, "current_l1_calculated")
    assert hass.states.get(current).attributes["friendly_name"] == (
        "Electricity meter Current L1 (precise)"
    )
    assert float(hass.states.get(current).state) == pytest.approx(703 / 229.0, abs=1e-3)
    assert precision(hass, current) == 2
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_an_estimate_the_inputs_contradict_is_unknown(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    lines = [line for line in HU_LINES if not line.startswith("1-0:1.7.0")]
    data = telegram(*lines, "1-0:1.7.0(50.000*kW)", header="/AUX59902759988")
    entry = await set_up(hass, tmp_path, data, "AUX1030302759988")
    current = entity_id(hass, entry, "current_l2_calculated")
    assert hass.states.get(current).state == "unknown"  # not 9.999 A pinned to the clamp
    assert hass.states.get(entity_id(hass, entry, "current_l2")).state == "9.0"
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    ("header", "lines", "unique_id", "expected"),
    [
        (
            "/AUX59902759988",
            HU_LINES,
            "AUX1030302759988",
            {
                "tariff": "tariff_1",
                "breaker_state_sanxing": "connected",
                "max_voltage_phase": "l3",
                "max_current_phase": "l2",
            },
        ),
        ("/ISk5\\2MT382-1000", NL_LINES, "E0044007382246019", {"tariff": "normal"}),
        (
            "/FLU5\\253769484_A",
            ("0-0:96.1.4(50217)", "0-0:96.3.10(1)", *NL_LINES[1:]),
            "E0044007382246019",
            {"tariff": "night", "breaker_state": "connected"},
        ),
    ],
)
async def test_enums_are_translated_states(
    hass: HomeAssistant,
    tmp_path: Path,
    header: str,
    lines: tuple[str, ...],
    unique_id: str,
    expected: dict[str, str],
) -> None:
    entry = await set_up(hass, tmp_path, telegram(*lines, header=header), unique_id)
    for key, value in expected.items():
        state = hass.states.get(entity_id(hass, entry, key))
        assert state.state == value, key
        assert state.attributes["device_class"] == "enum"
        for language in ("en", "hu", "nl"):
            names = translations(language)["entity"]["sensor"][key]["state"]
            assert set(state.attributes["options"]) <= names.keys(), (language, key)
            assert all(names.values())
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_simultaneous_energy_is_no_grid_candidate(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """The Energy configuration's grid pickers offer energy statistics; the simultaneous energy
    is not a grid counter: no energy device class, a name without import or export, and still a
    kWh total (its long-term statistics go on)."""
    from custom_components.p1_dsmr.sensor import DERIVED_SENSORS

    (description,) = (d for d in DERIVED_SENSORS if d.key == "energy_simultaneous")
    assert description.device_class is None
    assert description.state_class == "total_increasing"
    assert description.native_unit_of_measurement == "kWh"
    for language in ("en", "hu", "nl"):
        name = translations(language)["entity"]["sensor"]["energy_simultaneous"]["name"].lower()
        assert not re.search(r"import|export|vételez|visszatápl|importe|exporte", name), name


def test_readme_says_which_flags_are_disabled_by_default() -> None:
    from custom_components.p1_dsmr.binary_sensor import BINARY_SENSORS

    names = translations("en")["entity"]["binary_sensor"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (sentence,) = re.findall(r"Binary sensors:[^\n]*(?:\n[^\n]+)*?\.\n", readme)[:1]
    sentence = " ".join(sentence.split())
    for description in BINARY_SENSORS:
        name = names[description.key]["name"]
        if "L1" in name:
            name = name.replace("L1", "L1-L3")
        elif "L2" in name or "L3" in name:
            continue
        assert name in sentence, name
        disabled = f"{name}** (disabled by default" in sentence
        assert disabled == (description.entity_registry_enabled_default is False), name
