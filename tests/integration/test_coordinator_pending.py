"""The coordinator decides damaged telegrams that wait for a next good one when the meter falls
silent (the decoder holds a damaged telegram until the next good one bounds its repair)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.p1_dsmr.p1lib.decoder import Status
from custom_components.p1_dsmr.p1lib.faults import inject

from .conftest import HU_ID, telegrams
from .test_init import state, wait_for
from .test_sensor import setup_file

REPAIRED = "sensor.electricity_meter_repaired_telegrams"


@pytest.fixture(autouse=True)
def link_sensors_at_once() -> Iterator[None]:
    """The link sensors write every change here (they are paced to a minute by default)."""
    with patch("custom_components.p1_dsmr.link.LINK_PACE", 0):
        yield


async def test_silent_meter_decides_what_waits(hass: HomeAssistant, tmp_path: Path) -> None:
    data = telegrams("hu_sanxing", 4)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0] + data[1])
    entry = await setup_file(hass, path, HU_ID)
    coordinator = entry.runtime_data
    coordinator.feed(inject(data[2], "bit_loss", random.Random(3)))
    await hass.async_block_till_done()
    assert coordinator.decoder.pending == 1
    assert state(hass, REPAIRED) == "0"
    # Less than two periods (10 s meter): still waiting for the next telegram.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=15))
    await hass.async_block_till_done()
    assert coordinator.decoder.pending == 1
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=25))
    await hass.async_block_till_done()
    assert coordinator.decoder.pending == 0
    assert state(hass, REPAIRED) == "1"
    assert coordinator.last_result is not None
    assert coordinator.last_result.status is Status.REPAIRED
    assert coordinator.last_result.data == data[2]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_next_good_telegram_decides_and_stops_the_timer(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    data = telegrams("hu_sanxing", 4)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0] + data[1])
    entry = await setup_file(hass, path, HU_ID)
    coordinator = entry.runtime_data
    before = coordinator.decoder.stats.telegrams
    coordinator.feed(inject(data[2], "drop", random.Random(4)))
    assert coordinator.decoder.pending == 1
    coordinator.feed(data[3])
    await hass.async_block_till_done()
    assert coordinator.decoder.pending == 0
    assert state(hass, REPAIRED) == "1"
    assert coordinator.last_result is not None
    assert coordinator.last_result.data == data[3]  # the repaired one came first, in order
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=60))
    await hass.async_block_till_done()
    assert coordinator.decoder.stats.telegrams == before + 2  # nothing decided twice
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_unload_cancels_the_timer(hass: HomeAssistant, tmp_path: Path) -> None:
    data = telegrams("hu_sanxing", 3)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, HU_ID)
    coordinator = entry.runtime_data
    coordinator.feed(inject(data[1], "bit_loss", random.Random(5)))
    assert coordinator.decoder.pending == 1
    assert await hass.config_entries.async_unload(entry.entry_id)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=60))
    await hass.async_block_till_done()
    assert coordinator.decoder.pending == 1  # the timer was cancelled with the entry


async def test_the_reader_decides_what_waits_in_turn_with_its_own_decoding(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    # Through the reader (decoding in the executor), not feed(): a damaged telegram appended to
    # the followed file waits, the silence decides it, and the next telegrams read on after it.
    data = telegrams("hu_sanxing", 5)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0] + data[1])
    entry = await setup_file(hass, path, HU_ID)
    coordinator = entry.runtime_data
    valid = coordinator.decoder.stats.valid
    with path.open("ab") as handle:
        handle.write(inject(data[2], "bit_loss", random.Random(3)))
    # (pending as soon as the executor's job ends; the timer once the reader is back in the loop)
    await wait_for(
        hass,
        lambda: coordinator.decoder.pending == 1 and coordinator._pending_timer is not None,
    )
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=60))
    await wait_for(hass, lambda: state(hass, REPAIRED) == "1")
    assert coordinator.decoder.pending == 0
    with path.open("ab") as handle:
        handle.write(data[3] + data[4])
    await wait_for(
        hass,
        lambda: coordinator.last_result is not None and coordinator.last_result.data == data[4],
    )
    assert coordinator.decoder.stats.valid == valid + 2
    assert coordinator.decoder.stats.repaired == 1
    assert await hass.config_entries.async_unload(entry.entry_id)
