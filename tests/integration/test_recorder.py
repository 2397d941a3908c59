"""Home Assistant's database: what a 1-second meter writes with the default pace, what it writes
following every telegram, and what automations on voltage still see (issue 16).

The recorder is real (SQLite, Home Assistant's test recorder); the clock of the update windows is
a fake one advanced a second per telegram, so a simulated minute takes no minute.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.components.recorder import Recorder, history
from homeassistant.components.recorder.db_schema import States, StatesMeta
from homeassistant.components.recorder.util import session_scope
from homeassistant.core import Event, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy import func, select

from custom_components.p1_dsmr.const import CONF_UPDATE_INTERVAL
from custom_components.p1_dsmr.link import LINK_PACE
from custom_components.p1_dsmr.p1lib.crc import crc16

from .conftest import EVERY_TELEGRAM, HU_ID, telegrams
from .test_init import state
from .test_sensor import setup_file

NL_ID = "E0044007382246019"
VOLTAGE_L1 = "sensor.electricity_meter_voltage_l1"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """A real recorder (set up before Home Assistant, as its fixture requires) and P1 DSMR."""


@pytest.fixture
def clock() -> Iterator[list[float]]:
    """The monotonic clock of the update windows, advanced by the test."""
    now = [1000.0]
    with patch("custom_components.p1_dsmr.coordinator.monotonic", side_effect=lambda: now[0]):
        yield now


def with_voltage(telegram: bytes, volts: float) -> bytes:
    """The telegram with phase 1's voltage replaced (and its CRC made right)."""
    body = telegram[: telegram.rindex(b"!") + 1]
    body = re.sub(rb"1-0:32\.7\.0\(\d+\.\d\*V\)", b"1-0:32.7.0(%05.1f*V)" % volts, body)
    return body + b"%04X\r\n" % crc16(body)


async def state_rows(hass: HomeAssistant, recorder: Recorder) -> int:
    """Rows of the ``states`` table written for the meter's entities so far."""
    await async_wait_recording_done(hass)

    def count() -> int:
        with session_scope(hass=hass, read_only=True) as session:
            query = (
                select(func.count(States.state_id))
                .join(StatesMeta, States.metadata_id == StatesMeta.metadata_id)
                .where(StatesMeta.entity_id.like("%electricity_meter%"))
            )
            return int(session.execute(query).scalar_one())

    return await recorder.async_add_executor_job(count)


async def rows_in_a_minute(
    hass: HomeAssistant,
    recorder: Recorder,
    tmp_path: Path,
    clock: list[float],
    options: dict[str, Any] | None,
    style: str = "nl_dsmr5",
    unique_id: str = NL_ID,
    period: float = 1.0,
) -> int:
    """State rows one simulated minute of a meter adds (after its first telegrams set it up)."""
    data = telegrams(style, 2 + int(60 / period) + 3)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, unique_id, options)
    coordinator = entry.runtime_data
    for telegram in data[1:3]:  # the meter's period is learned from its clock
        clock[0] += period
        coordinator.feed(telegram)
    await hass.async_block_till_done()
    before = await state_rows(hass, recorder)
    for telegram in data[3:]:
        clock[0] += period
        coordinator.feed(telegram)
        await hass.async_block_till_done()
    rows = await state_rows(hass, recorder) - before
    assert await hass.config_entries.async_unload(entry.entry_id)
    return rows


@pytest.mark.parametrize("every_telegram", [False, True])
async def test_a_1_second_meter_writes_what_the_issue_allows(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    tmp_path: Path,
    clock: list[float],
    every_telegram: bool,
) -> None:
    rows = await rows_in_a_minute(
        hass, recorder_mock, tmp_path, clock, EVERY_TELEGRAM if every_telegram else None
    )
    if every_telegram:  # what the default was: a row per telegram for each changing value
        assert rows > 600
    else:  # at most 150 rows a minute (issue 16); 6 windows of the enabled sensors and the link's
        assert 0 < rows <= 150
    entry = hass.config_entries.async_entries("p1_dsmr")[0]
    assert entry.options.get(CONF_UPDATE_INTERVAL) == (0 if every_telegram else None)


async def test_a_10_second_meter_keeps_every_telegram_by_default(
    recorder_mock: Recorder, hass: HomeAssistant, tmp_path: Path, clock: list[float]
) -> None:
    data = telegrams("hu_sanxing", 8)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, HU_ID)
    coordinator = entry.runtime_data
    updates: list[object] = []
    coordinator.async_add_listener(lambda: updates.append(coordinator.data))
    for telegram in data[1:]:
        clock[0] += 10.0
        coordinator.feed(telegram)
    await hass.async_block_till_done()
    assert coordinator.mapper.period.seconds == 10.0
    assert coordinator.mapper.interval == 0
    assert len(updates) == 7  # one per telegram
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_window_attributes_are_not_recorded(
    recorder_mock: Recorder, hass: HomeAssistant, tmp_path: Path, clock: list[float]
) -> None:
    data = telegrams("nl_dsmr5", 16)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    start = dt_util.utcnow()
    entry = await setup_file(hass, path, NL_ID)
    coordinator = entry.runtime_data
    for telegram in data[1:]:
        clock[0] += 1.0
        coordinator.feed(telegram)
    await hass.async_block_till_done()
    shown = hass.states.get(VOLTAGE_L1)
    assert shown is not None
    assert shown.attributes["telegrams"] >= 10
    assert shown.attributes["minimum"] <= float(shown.state) <= shown.attributes["maximum"]
    await async_wait_recording_done(hass)
    recorded = await recorder_mock.async_add_executor_job(
        lambda: history.state_changes_during_period(hass, start, entity_id=VOLTAGE_L1)
    )
    assert recorded[VOLTAGE_L1]
    for row in recorded[VOLTAGE_L1]:
        assert not {"minimum", "maximum", "telegrams"} & row.attributes.keys()
        assert row.attributes["unit_of_measurement"] == "V"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def automations_on_voltage(
    hass: HomeAssistant, *triggers: dict[str, Any]
) -> list[list[Event]]:
    """Automations on phase 1's voltage; the events each one fired."""
    fired: list[list[Event]] = []
    for index in range(len(triggers)):
        fired.append([])
        hass.bus.async_listen(f"voltage_automation_{index}", fired[-1].append)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "trigger": {"platform": "numeric_state", "entity_id": VOLTAGE_L1, **trigger},
                    "action": {"event": f"voltage_automation_{index}"},
                }
                for index, trigger in enumerate(triggers)
            ]
        },
    )
    return fired


async def test_an_overvoltage_spike_fires_the_automation_at_once(
    hass: HomeAssistant, tmp_path: Path, clock: list[float]
) -> None:
    data = [with_voltage(t, 231.0) for t in telegrams("nl_dsmr5", 30)]
    data[14] = with_voltage(data[14], 256.0)  # one second above the 253 V threshold
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, NL_ID)
    coordinator = entry.runtime_data
    (fired,) = await automations_on_voltage(hass, {"above": 253})
    for index, telegram in enumerate(data[1:], 1):
        clock[0] += 1.0
        coordinator.feed(telegram)
        await hass.async_block_till_done()
        if index == 14:  # inside a 10 s window: shown with this telegram, not at the window's end
            assert coordinator.mapper.interval == 10.0
            assert state(hass, VOLTAGE_L1) == "256.0"
            assert len(fired) == 1
            assert state(hass, "binary_sensor.electricity_meter_overvoltage_l1") == "on"
    assert len(fired) == 1
    assert state(hass, VOLTAGE_L1) == "231.0"  # the windows after it: averages again
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_spike_below_the_threshold_is_in_the_windows_maximum(
    hass: HomeAssistant, tmp_path: Path, clock: list[float]
) -> None:
    data = [with_voltage(t, 240.0) for t in telegrams("nl_dsmr5", 30)]
    data[14] = with_voltage(data[14], 251.0)  # above an automation's 250 V, below the threshold
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, NL_ID)
    coordinator = entry.runtime_data
    on_state, on_maximum = await automations_on_voltage(
        hass, {"above": 250}, {"above": 250, "attribute": "maximum"}
    )
    seen_at: int | None = None
    for index, telegram in enumerate(data[1:], 1):
        clock[0] += 1.0
        coordinator.feed(telegram)
        await hass.async_block_till_done()
        if seen_at is None and on_maximum:
            seen_at = index
    # On the state, the average hides it; on the window's maximum, it fires within the window.
    assert not on_state
    assert seen_at is not None
    assert 14 <= seen_at < 14 + 10
    state_now = hass.states.get(VOLTAGE_L1)
    assert state_now is not None
    assert float(state_now.state) < 250
    assert await hass.config_entries.async_unload(entry.entry_id)


def suggested_interval(result: Any) -> Any:
    """The update interval the options form suggests (None: empty, the automatic choice)."""
    for key in result["data_schema"].schema:
        if key == CONF_UPDATE_INTERVAL:
            return (key.description or {}).get("suggested_value")
    raise AssertionError("no update interval in the form")


async def test_the_pace_option_round_trips_and_says_what_it_means(
    hass: HomeAssistant, tmp_path: Path, clock: list[float]
) -> None:
    data = telegrams("nl_dsmr5", 40)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, NL_ID)

    async def run(count: int) -> None:
        coordinator = entry.runtime_data
        for telegram in data[1 : 1 + count]:
            clock[0] += 1.0
            coordinator.feed(telegram)
        await hass.async_block_till_done()

    async def options(interval: float | None) -> dict[str, str]:
        result = await hass.config_entries.options.async_init(entry.entry_id)
        placeholders = dict(result["description_placeholders"])
        user_input: dict[str, Any] = {
            "voltage_threshold": 253.0,
            "current_threshold": 25.0,
            "repair": True,
            "archive_days": 14,
        }
        if interval is not None:
            user_input[CONF_UPDATE_INTERVAL] = interval
        result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
        assert result["type"] == "create_entry"
        await hass.async_block_till_done()  # the entry reloads with its new options
        return placeholders

    await run(3)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested_interval(result) is None  # empty: automatic
    hass.config_entries.options.async_abort(result["flow_id"])
    # A 1-second meter on the automatic choice: 10 s windows, 6 updates a minute per sensor.
    assert await options(30) == {"period": "1", "window": "10", "per_minute": "6"}
    assert entry.options[CONF_UPDATE_INTERVAL] == 30
    assert entry.runtime_data.update_interval_s == 30
    await run(3)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested_interval(result) == 30
    hass.config_entries.options.async_abort(result["flow_id"])
    assert await options(0) == {"period": "1", "window": "30", "per_minute": "2"}
    assert entry.options[CONF_UPDATE_INTERVAL] == 0
    await run(3)
    assert await options(None) == {"period": "1", "window": "0", "per_minute": "60"}
    assert CONF_UPDATE_INTERVAL not in entry.options  # back to automatic
    assert entry.runtime_data.update_interval_s is None
    await run(3)
    assert entry.runtime_data.mapper.interval == 10.0
    assert await hass.config_entries.async_unload(entry.entry_id)
    # Not running: what the setting means without the meter's period.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["description_placeholders"] == {"period": "?", "window": "0", "per_minute": "?"}


async def test_link_counters_are_written_at_a_pace_a_person_reads(
    hass: HomeAssistant, tmp_path: Path, clock: list[float]
) -> None:
    data = telegrams("nl_dsmr5", 40)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, NL_ID, EVERY_TELEGRAM)
    coordinator = entry.runtime_data
    received = "sensor.electricity_meter_telegrams_received"
    written: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            written.append(event.data["new_state"].state)
            if event.data["entity_id"] == received
            else None
        ),
    )
    for telegram in data[1:]:
        clock[0] += 1.0
        coordinator.feed(telegram)
        await hass.async_block_till_done()
    assert len(written) <= 1  # 39 telegrams, one write at most within the pace
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=LINK_PACE + 1))
    await hass.async_block_till_done()
    assert written[-1] == str(coordinator.decoder.stats.telegrams)  # the newest, at the pace's end
    assert len(written) <= 2
    assert await hass.config_entries.async_unload(entry.entry_id)
