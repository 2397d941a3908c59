"""Phase insight in Home Assistant: the sensors on a generated meter behind known impedances, the
evidence kept across a restart, the repair issue for a phase near overvoltage."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.p1_dsmr.const import (
    CONF_OVERVOLTAGE_SHARE,
    CONF_UPDATE_INTERVAL,
    CONF_VOLTAGE_THRESHOLD,
    DOMAIN,
)
from custom_components.p1_dsmr.insight import issue_id
from custom_components.p1_dsmr.insight_sensor import INSIGHT_SENSORS
from custom_components.p1_dsmr.p1lib.decoder import Decoder
from custom_components.p1_dsmr.p1lib.feeder import Feeder
from custom_components.p1_dsmr.p1lib.generator import MeterSimulator, putty_header
from custom_components.p1_dsmr.p1lib.insight import PhaseInsight

from .conftest import HU_ID, file_config_entry
from .test_init import state, wait_for

HOURS = 30
TRUTH = [Feeder().truth()[k][k] for k in range(3)]  # 0.2, 0.35, 0.5 ohm
IMPEDANCE = "sensor.electricity_meter_grid_impedance_l{}"
HEADROOM = "sensor.electricity_meter_voltage_headroom_l{}"
# The voltage headroom sensors are off by default (a row per voltage row); these tests use them.
pytestmark = pytest.mark.usefixtures("entity_registry_enabled_by_default")
BEST = "sensor.electricity_meter_best_phase_for_a_new_load"
COMPONENT = Path(__file__).parents[2] / "custom_components" / "p1_dsmr"


def load_english(name: str = "translations/en.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((COMPONENT / name).read_text(encoding="utf-8"))
    return data


ENGLISH = load_english()
ICONS = load_english("icons.json")


@pytest.fixture(scope="module")
def stream() -> list[bytes]:
    """30 hours of a Hungarian meter (10 s telegrams) behind a feeder of known impedances, whose
    neighbours' solar lifts the voltage above 253 V at midday."""
    sim = MeterSimulator(
        "hu_sanxing",
        seed=5,
        start=datetime(2023, 6, 1, 8, 0, 0),
        solar=True,
        feeder=Feeder(solar_rise=26.0),
    )
    return [putty_header(sim.now), *sim.telegrams(HOURS * 360)]


async def setup(
    hass: HomeAssistant, path: Path, first: bytes, options: dict[str, Any] | None = None
) -> MockConfigEntry:
    """An entry following a log that holds one telegram (with an update interval: the telegram's
    values are held back, the insight still sees each one)."""
    await hass.async_add_executor_job(path.write_bytes, first)
    entry = file_config_entry(path, HU_ID)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={CONF_UPDATE_INTERVAL: 60, **(options or {})}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await shown(hass)
    return entry


async def shown(hass: HomeAssistant) -> None:
    """Wait for the first telegram's headroom."""

    def number() -> bool:
        try:
            float(state(hass, HEADROOM.format(1)) or "")
        except ValueError:
            return False
        return True

    await wait_for(hass, number)


def feed(hass: HomeAssistant, entry: MockConfigEntry, telegrams: list[bytes]) -> None:
    """Hours of telegrams in seconds, then what a minute later brings: the estimates refreshed
    (they are recomputed once a minute, not per telegram)."""
    coordinator = entry.runtime_data
    for start in range(0, len(telegrams), 200):
        coordinator.feed(b"".join(telegrams[start : start + 200]))
    assert coordinator.insight is not None
    coordinator.insight.refresh()


def impedance(hass: HomeAssistant, phase: int) -> tuple[float | None, dict[str, Any]]:
    current = hass.states.get(IMPEDANCE.format(phase))
    assert current is not None
    value = None if current.state == "unknown" else float(current.state)
    return value, dict(current.attributes)


async def test_no_estimate_until_confident_then_the_known_impedances(
    hass: HomeAssistant, tmp_path: Path, stream: list[bytes]
) -> None:
    entry = await setup(hass, tmp_path / "meter.log", stream[0] + stream[1])
    for phase in (1, 2, 3):
        value, attributes = impedance(hass, phase)
        assert value is None
        assert attributes["confidence"] is None
        assert attributes["load_events"] == 0
        voltage = float(state(hass, f"sensor.electricity_meter_voltage_l{phase}") or 0)
        assert float(state(hass, HEADROOM.format(phase)) or 0) == pytest.approx(253.0 - voltage)
    assert state(hass, BEST) == "unknown"

    # Two hours: L1 has had no load event of its own yet; whatever is shown is within its bounds.
    feed(hass, entry, stream[2:722])
    await hass.async_block_till_done()
    value, attributes = impedance(hass, 1)
    assert value is None
    assert attributes["load_events"] < 6
    for phase in (2, 3):
        value, attributes = impedance(hass, phase)
        if value is not None:
            assert attributes["interval_low"] <= TRUTH[phase - 1] <= attributes["interval_high"]

    feed(hass, entry, stream[722:])
    await hass.async_block_till_done()
    reference = PhaseInsight(253.0)
    for result in Decoder().feed(b"".join(stream)):
        if result.accepted and result.telegram is not None:
            reference.update(result.telegram)
    for phase in (1, 2, 3):
        value, attributes = impedance(hass, phase)
        truth = TRUTH[phase - 1]
        assert value == pytest.approx(truth, rel=0.10), phase
        assert attributes["interval_low"] <= truth <= attributes["interval_high"], phase
        assert attributes["confidence"] in ("high", "medium")
        assert attributes["load_events"] >= 6
        expected = reference.snapshot().impedance.impedance[phase - 1]
        assert expected is not None
        assert value == round(expected.value, 4)
    assert state(hass, BEST) == f"l{reference.best_phase(2.0)}"
    assert entry.runtime_data.insight is not None
    assert entry.runtime_data.insight.insight.telegrams == len(stream) - 1
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_evidence_survives_a_restart(
    hass: HomeAssistant, tmp_path: Path, stream: list[bytes], hass_storage: dict[str, Any]
) -> None:
    entry = await setup(hass, tmp_path / "meter.log", stream[0] + stream[1])
    feed(hass, entry, stream[2:])
    await hass.async_block_till_done()
    before = [impedance(hass, phase) for phase in (1, 2, 3)]
    assert all(value is not None for value, _ in before)
    assert await hass.config_entries.async_unload(entry.entry_id)
    key = f"{DOMAIN}.insight.{entry.entry_id}"
    assert hass_storage[key]["data"]["version"] == 1

    # Restarted on a log that holds one telegram: the impedances are back at once.
    await hass.async_add_executor_job((tmp_path / "meter.log").write_bytes, stream[-1])
    assert await hass.config_entries.async_setup(entry.entry_id)
    await shown(hass)
    assert [impedance(hass, phase) for phase in (1, 2, 3)] == before
    # The days' time above the threshold came back too: the repair issue stands.
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(entry.entry_id)) is not None

    # Removed: the evidence and the issue go.
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(entry.entry_id)) is None


@pytest.mark.parametrize(
    "saved",
    [
        {"version": 1, "impedance": {"histograms": [[{"bins": {"99999": 1}}]]}},
        {"version": 1, "impedance": "nonsense", "days": {"threshold": 253.0, "records": [1]}},
        ["not", "a", "dict"],
    ],
)
async def test_damaged_evidence_starts_afresh(
    hass: HomeAssistant,
    tmp_path: Path,
    stream: list[bytes],
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    saved: Any,
) -> None:
    entry = file_config_entry(tmp_path / "meter.log", HU_ID)
    hass_storage[f"{DOMAIN}.insight.{entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.insight.{entry.entry_id}",
        "data": saved,
    }
    await hass.async_add_executor_job((tmp_path / "meter.log").write_bytes, stream[0] + stream[1])
    entry.add_to_hass(hass)
    with caplog.at_level(logging.WARNING):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await shown(hass)
    for phase in (1, 2, 3):
        assert impedance(hass, phase)[0] is None
    if isinstance(saved, dict):
        assert "Phase insight starts afresh" in caplog.text
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_repair_issue_names_the_phase_and_clears(
    hass: HomeAssistant, tmp_path: Path, stream: list[bytes]
) -> None:
    entry = await setup(hass, tmp_path / "meter.log", stream[0] + stream[1])
    registry = ir.async_get(hass)
    # Not before an hour of the day was observed.
    feed(hass, entry, stream[2:300])
    assert registry.async_get_issue(DOMAIN, issue_id(entry.entry_id)) is None
    feed(hass, entry, stream[300:])
    await hass.async_block_till_done()
    issue = registry.async_get_issue(DOMAIN, issue_id(entry.entry_id))
    assert issue is not None
    assert issue.translation_key == "overvoltage"
    placeholders = issue.translation_placeholders or {}
    feed_state = entry.runtime_data.insight
    assert feed_state is not None
    days = list(feed_state.insight.voltage.days.values())
    shares = [max(d.share_above(k) or 0.0 for d in days) for k in (1, 2, 3)]
    assert placeholders["phases"] == ", ".join(f"L{k + 1}" for k in range(3) if shares[k] > 0.01)
    assert placeholders["best"] == str(state(hass, BEST)).upper()
    assert placeholders["share"] == f"{100 * max(shares):.1f}"
    for key in ("overvoltage", "overvoltage_no_advice"):
        text = ENGLISH["issues"][key]["description"] + ENGLISH["issues"][key]["title"]
        assert set(re.findall(r"{(\w+)}", text)) <= set(placeholders), key
    assert await hass.config_entries.async_unload(entry.entry_id)

    # A limit no day reached: the issue clears at the next start.
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_OVERVOLTAGE_SHARE: 50.0}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, issue_id(entry.entry_id)) is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_no_issue_below_the_limit_or_when_turned_off(
    hass: HomeAssistant, tmp_path: Path, stream: list[bytes]
) -> None:
    entry = await setup(
        hass,
        tmp_path / "meter.log",
        stream[0] + stream[1],
        {CONF_VOLTAGE_THRESHOLD: 253.0, CONF_OVERVOLTAGE_SHARE: 0},
    )
    feed(hass, entry, stream[2:])
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id(entry.entry_id)) is None
    assert await hass.config_entries.async_unload(entry.entry_id)


def test_every_insight_sensor_has_a_name_and_an_icon() -> None:
    english = ENGLISH
    from custom_components.p1_dsmr.insight_sensor import P1InsightSensorEntityDescription

    icons = ICONS
    for description in INSIGHT_SENSORS:
        assert isinstance(description, P1InsightSensorEntityDescription)
        assert description.translation_key in english["entity"]["sensor"]
        assert description.translation_key in icons["entity"]["sensor"]


async def test_issue_without_advice_while_the_impedances_are_unknown(
    hass: HomeAssistant, tmp_path: Path, stream: list[bytes]
) -> None:
    # 245 V: L1 and L3 above it for a third of the morning; no phase has its impedance yet.
    entry = await setup(
        hass, tmp_path / "meter.log", stream[0] + stream[1], {CONF_VOLTAGE_THRESHOLD: 245.0}
    )
    feed(hass, entry, stream[2:600])
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id(entry.entry_id))
    assert issue is not None
    assert issue.translation_key == "overvoltage_no_advice"
    placeholders = issue.translation_placeholders or {}
    assert placeholders["phases"] == "L1, L3"
    assert placeholders["threshold"] == "245"
    assert state(hass, BEST) == "unknown"
    # The headroom is the newest telegram's (the voltage sensor averages the update interval).
    newest = entry.runtime_data.insight.insight.voltage.latest[0]  # type: ignore[union-attr]
    assert newest is not None
    assert float(state(hass, HEADROOM.format(1)) or 0) == pytest.approx(245.0 - newest)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_unreadable_evidence_file_starts_afresh(
    hass: HomeAssistant, tmp_path: Path, stream: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    from unittest.mock import patch

    from homeassistant.exceptions import HomeAssistantError

    with (
        patch(
            "custom_components.p1_dsmr.insight.Store.async_load",
            side_effect=HomeAssistantError("bad JSON"),
        ),
        caplog.at_level(logging.WARNING),
    ):
        entry = await setup(hass, tmp_path / "meter.log", stream[0] + stream[1])
    assert "its saved state is unreadable" in caplog.text
    assert impedance(hass, 1)[0] is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_failing_insight_never_stops_the_values(
    hass: HomeAssistant, tmp_path: Path, stream: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    entry = await setup(
        hass, tmp_path / "meter.log", stream[0] + stream[1], {CONF_UPDATE_INTERVAL: 0}
    )
    feed_state = entry.runtime_data.insight
    assert feed_state is not None

    def broken(telegram: Any) -> None:
        raise RuntimeError("a bug")

    feed_state.insight.update = broken  # type: ignore[method-assign]
    coordinator = entry.runtime_data
    before = coordinator.decoder.stats.valid
    coordinator.feed(b"".join(stream[2:5]))
    await hass.async_block_till_done()
    assert coordinator.decoder.stats.valid == before + 3
    assert coordinator.data is not None
    assert coordinator.data.telegram is not None
    assert caplog.text.count("Phase insight could not take a telegram") == 1
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_estimates_are_refreshed_once_a_minute_in_a_turn_of_their_own(
    hass: HomeAssistant, tmp_path: Path, stream: list[bytes]
) -> None:
    from unittest.mock import patch

    entry = await setup(hass, tmp_path / "meter.log", stream[0] + stream[1])
    coordinator = entry.runtime_data
    insight = coordinator.insight
    assert insight is not None
    refreshes: list[int] = []
    original = insight.refresh

    def counted(now: float | None = None) -> None:
        refreshes.append(insight.insight.telegrams)
        original(now)

    with patch.object(insight, "refresh", counted):
        coordinator.feed(b"".join(stream[2:12]))  # within the minute of the first refresh
        await hass.async_block_till_done()
        assert refreshes == []
        with patch("custom_components.p1_dsmr.insight.REFRESH_INTERVAL", 0.0):
            coordinator.feed(b"".join(stream[12:15]))
            assert refreshes == []  # not while the telegrams are handled
            await hass.async_block_till_done()
            assert refreshes  # after them, with every telegram taken
            assert refreshes[-1] == insight.insight.telegrams
            count = len(refreshes)
            coordinator.feed(stream[15])
            await insight.async_unload()  # what the entry's unload does, before any other await
            await hass.async_block_till_done()
        assert len(refreshes) == count  # the refresh on its way is dropped
    assert await hass.config_entries.async_unload(entry.entry_id)
