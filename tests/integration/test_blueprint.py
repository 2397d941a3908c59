"""The automation blueprint, set up and run by Home Assistant's own automation integration."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed, async_mock_service

BLUEPRINT = Path(__file__).resolve().parents[2] / "blueprints" / "automation" / "p1_dsmr"


async def test_shed_load_on_overvoltage(hass: HomeAssistant, config_dir: Path) -> None:
    """Valid on this release (no legacy syntax needed), and it switches the load on and off."""
    target = config_dir / "blueprints" / "automation" / "p1_dsmr"
    target.mkdir(parents=True)
    shutil.copy(BLUEPRINT / "shed_load_on_overvoltage.yaml", target)
    turn_on = async_mock_service(hass, "switch", "turn_on")
    turn_off = async_mock_service(hass, "switch", "turn_off")
    hass.states.async_set(
        "sensor.electricity_meter_voltage_l1", "240", {"unit_of_measurement": "V"}
    )
    config = {
        "automation": [
            {
                "id": "shed",
                "alias": "Shed",
                "use_blueprint": {
                    "path": "p1_dsmr/shed_load_on_overvoltage.yaml",
                    "input": {
                        "voltage_sensor": "sensor.electricity_meter_voltage_l1",
                        "limit": 250,
                        "high_for": "00:01:00",
                        "load": "switch.water_heater",
                        "normal_for": "00:10:00",
                    },
                },
            }
        ]
    }
    assert await async_setup_component(hass, "automation", config)
    await hass.async_block_till_done()
    automation = hass.states.get("automation.shed")
    assert automation is not None
    assert automation.state == "on"

    hass.states.async_set("sensor.electricity_meter_voltage_l1", "254.2")
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await hass.async_block_till_done()
    assert [call.data["entity_id"] for call in turn_on] == [["switch.water_heater"]]
    assert not turn_off

    hass.states.async_set("sensor.electricity_meter_voltage_l1", "236.0")
    await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=12))
    await hass.async_block_till_done()
    assert [call.data["entity_id"] for call in turn_off] == [["switch.water_heater"]]
