"""A real hass process: onboarding, the config flow over HTTP, states, the export action."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import aiohttp

from .conftest import HassProcess


async def call_export(hass: HassProcess, entry_id: str) -> dict:  # type: ignore[type-arg]
    """p1_dsmr.export with a response, over the websocket API."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{hass.url}/api/websocket") as ws,
    ):
        assert (await ws.receive_json())["type"] == "auth_required"
        await ws.send_json({"type": "auth", "access_token": hass.token})
        assert (await ws.receive_json())["type"] == "auth_ok"
        await ws.send_json(
            {
                "id": 1,
                "type": "call_service",
                "domain": "p1_dsmr",
                "service": "export",
                "service_data": {"config_entry_id": entry_id, "include_repaired_log": True},
                "return_response": True,
            }
        )
        reply = await ws.receive_json()
    assert reply["success"], reply
    return reply["result"]["response"]  # type: ignore[no-any-return]


def test_hass_end_to_end(hass_process: HassProcess, meter_log: Path) -> None:
    entry = hass_process.add_file_meter(meter_log, mode="replay", loop=False)
    assert entry["title"] == "Iskra E0044007382246019"
    states = hass_process.wait_for_values(timeout=60)
    voltage = states["sensor.electricity_meter_voltage_l1"]
    assert voltage["attributes"]["unit_of_measurement"] == "V"
    assert 200 < float(voltage["state"]) < 260
    assert states["sensor.gas_meter_1_reading"]["attributes"]["device_class"] == "gas"
    received = int(states["sensor.electricity_meter_telegrams_received"]["state"])
    assert received >= 1
    response = asyncio.run(call_export(hass_process, entry["entry_id"]))
    assert response["telegrams"] >= received
    assert response["invalid"] == 0
    records = Path(response["files"]["records"])
    with records.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == response["valid"]
    assert rows[0]["voltage_l1_v"]
    assert Path(response["files"]["repaired"]).stat().st_size > 0
