"""p1_dsmr.import_history with a real recorder: a generated week of a meter's log joined to the
statistics Home Assistant recorded itself before and after it."""

from __future__ import annotations

import asyncio
import gzip
import inspect
import io
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import thread as futures_thread
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import persistent_notification
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import StatisticData
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_last_short_term_statistics,
    statistics_during_period,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.p1_dsmr.archive import encode_record
from custom_components.p1_dsmr.const import DOMAIN
from custom_components.p1_dsmr.history_import import _RUNNING as RUNNING
from custom_components.p1_dsmr.history_import import EVENT_IMPORT_PROGRESS
from custom_components.p1_dsmr.history_statistics import make_metadata
from custom_components.p1_dsmr.p1lib.converter import ConvertOptions, convert_stream
from custom_components.p1_dsmr.p1lib.generator import MeterSimulator, putty_header
from custom_components.p1_dsmr.p1lib.history import Cancelled, read_history

from .conftest import HU_ID, file_config_entry

ENERGY = "sensor.electricity_meter_energy_import"
VOLTAGE = "sensor.electricity_meter_voltage_l1"
GAS = "sensor.gas_meter_1_reading"
HOUR_ = timedelta(hours=1)
OPTIONS = {
    "update_interval": 0,
    "voltage_threshold": 253.0,
    "current_threshold": 25.0,
    "repair": True,
    "archive_days": 14,
}
CET = timedelta(hours=1)  # the simulated meter's clock in January


@pytest.fixture
def recorder_threads_on_python_313() -> Iterator[None]:
    """Home Assistant 2026.11's recorder starts its database threads the Python 3.14 way
    (``ThreadPoolExecutor._create_worker_context``); on the 3.13 these machines run it with
    (../shared/ha-current), its threads are started the 3.13 way instead. Nothing changes on
    Home Assistant 2025.4 or on a real 3.14."""
    from homeassistant.components.recorder import executor

    pool = executor.DBInterruptibleThreadPoolExecutor
    if hasattr(ThreadPoolExecutor, "_create_worker_context") or "_create_worker_context" not in (
        inspect.getsource(pool._adjust_thread_count)
    ):
        yield
        return
    original = executor._worker

    def worker(reference: Any, _context: Any, queue: Any) -> None:
        futures_thread._worker(reference, queue, None, ())  # type: ignore[attr-defined]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pool, "_create_worker_context", lambda self: None, raising=False)
        patch.setattr(executor, "_worker", worker)
        yield
    assert executor._worker is original


@pytest.fixture
async def mock_recorder_before_hass(
    recorder_threads_on_python_313: None, async_test_recorder: Any
) -> None:
    """The recorder's database is prepared before Home Assistant starts."""


@pytest.fixture
def notifications(hass: HomeAssistant) -> dict[str, str]:
    """The persistent notifications' messages by id, as they are now."""
    messages: dict[str, str] = {}

    @callback
    def updated(_kind: Any, changed: dict[str, Any]) -> None:
        for notification in changed.values():
            messages[notification["notification_id"]] = notification["message"]

    persistent_notification.async_register_callback(hass, updated)
    return messages


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counters Home Assistant has no statistics of are left out at once (not awaited: time is
    frozen in most of these tests)."""
    monkeypatch.setattr("custom_components.p1_dsmr.history_import.STATISTICS_WAIT", 0.0)


@pytest.fixture(autouse=True)
def quiet_sql() -> Iterator[None]:
    """The test plugin logs every SQL statement; thousands of rows are written here."""
    engine = logging.getLogger("sqlalchemy.engine")
    level = engine.level
    engine.setLevel(logging.WARNING)
    yield
    engine.setLevel(level)


@dataclass
class Meter:
    """A simulated meter over a time line, and what it sent (generated once per arguments)."""

    start: datetime  # UTC
    end: datetime
    style: str = "hu_sanxing"
    seed: int = 7
    replaced: datetime | None = None
    """When the meter is replaced by one whose counters start near zero."""
    telegrams: list[tuple[datetime, bytes]] = field(default_factory=list)
    readings: dict[float, float] = field(default_factory=dict)  # UTC time -> import energy (kWh)

    def __post_init__(self) -> None:
        sim = MeterSimulator(self.style, seed=self.seed, solar=True, start=naive(self.start))
        while (when := (sim.now - CET).replace(tzinfo=UTC)) < self.end:
            if self.replaced is not None and when >= self.replaced:
                sim.state.import_t = [0.5, 0.25, 0.0, 0.0]
                self.replaced = None
            data = sim.telegram()
            self.telegrams.append((when, data))
            self.readings[when.timestamp()] = float(sum(sim.state.import_t))

    def between(self, start: datetime, end: datetime) -> list[tuple[datetime, bytes]]:
        return [(when, data) for when, data in self.telegrams if start <= when < end]

    def log(self, start: datetime, end: datetime) -> bytes:
        """A PuTTY log of the telegrams between two times."""
        return putty_header(naive(start)) + b"".join(d for _, d in self.between(start, end))


def naive(when: datetime) -> datetime:
    """The meter's clock (Central European winter time) of a UTC time."""
    return (when + CET).replace(tzinfo=None)


METERS = {"hu_sanxing": HU_ID, "nl_dsmr4": "E0026000024716516", "nl_dsmr5": "E0044007382246019"}


async def setup_entry(
    hass: HomeAssistant, tmp_path: Path, style: str = "hu_sanxing"
) -> MockConfigEntry:
    """An entry whose source stays silent: the test feeds its telegrams at the frozen times."""
    silent = tmp_path / "silent.log"
    silent.write_bytes(b"")
    entry = file_config_entry(silent, METERS[style], f"meter {METERS[style]}")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def record_live(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    meter: Meter,
    start: datetime,
    end: datetime,
    every_period: bool = False,
) -> None:
    """Home Assistant records the meter itself (a telegram a minute reaches it) and compiles its
    statistics: every 5 minutes as it does, or (faster) only the last 5 minutes of each hour,
    then the hour."""
    coordinator = entry.runtime_data
    step = timedelta(minutes=5 if every_period else 60)
    period = start
    for index, (when, data) in enumerate(meter.between(start, end)):
        while when >= period + step:
            await compile_period(hass, freezer, period + step - timedelta(minutes=5))
            period += step
        if index % 6 == 0:
            freezer.move_to(when)
            coordinator.feed(data)
            await hass.async_block_till_done()
    while period + step <= end:
        await compile_period(hass, freezer, period + step - timedelta(minutes=5))
        period += step


async def compile_period(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start: datetime
) -> None:
    """The recorder's 5-minute job for the period from ``start`` (and the hour, at :55)."""
    freezer.move_to(start + timedelta(minutes=5, seconds=10))
    await async_wait_recording_done(hass)
    do_adhoc_statistics(hass, start=start)
    await async_wait_recording_done(hass)


async def first_statistics(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry, telegram: bytes
) -> None:
    """Home Assistant gets a reading now and compiles its first 5-minute statistics of it."""
    now = dt_util.utcnow()
    entry.runtime_data.feed(telegram)
    await hass.async_block_till_done()
    period = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    await compile_period(hass, freezer, period)


async def meter_with_statistics(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, tmp_path: Path, meter: Meter
) -> MockConfigEntry:
    """An hour after the meter's time line: its entry, whose counters Home Assistant has started
    statistics of with its newest telegram; files in ``tmp_path`` may be imported."""
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    freezer.move_to(meter.end + timedelta(hours=1))
    entry = await setup_entry(hass, tmp_path, meter.style)
    await first_statistics(hass, freezer, entry, meter.telegrams[-1][1])
    return entry


async def hourly(
    hass: HomeAssistant,
    statistic_id: str,
    types: set[Any],
    units: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """A statistic's hourly rows (in the entity's unit, or ``units``)."""
    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        datetime(2020, 1, 1, tzinfo=UTC),
        None,
        {statistic_id},
        "hour",
        units,
        types,
    )
    return list(rows.get(statistic_id, []))


async def import_history(hass: HomeAssistant, **data: Any) -> dict[str, Any]:
    return await hass.services.async_call(  # type: ignore[return-value]
        DOMAIN, "import_history", data, blocking=True, return_response=True
    )


def last_reading_per_hour(readings: dict[float, float]) -> dict[float, float]:
    hours: dict[float, float] = {}
    for when in sorted(readings):
        hours[when // 3600 * 3600] = readings[when]
    return hours


def assert_continuous(rows: list[dict[str, Any]]) -> None:
    """Every hour's change is the counter's increase since the previous row: no spike, no
    negative hour, no double count."""
    assert rows
    for previous, row in pairwise(rows):
        change = row["sum"] - previous["sum"]
        assert change == pytest.approx(row["state"] - previous["state"], abs=1e-6), row
        assert change >= -1e-9


async def test_a_week_joins_what_home_assistant_recorded_before_and_after(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    before_end = start + timedelta(hours=3)
    gap_end = before_end + timedelta(days=7)
    end = gap_end + timedelta(hours=3)
    meter = Meter(start, end)
    freezer.move_to(start)
    entry = await setup_entry(hass, tmp_path)
    await record_live(hass, freezer, entry, meter, start, before_end)
    assert len(await hourly(hass, ENERGY, {"state", "sum"})) == 3
    # Home Assistant was off for a week, then recorded again.
    await record_live(hass, freezer, entry, meter, gap_end, end)
    recorded = await hourly(hass, ENERGY, {"state", "sum"})
    assert len(recorded) == 6
    spike = recorded[3]["sum"] - recorded[2]["sum"]  # it put the week into its first hour back
    assert spike == pytest.approx(recorded[3]["state"] - recorded[2]["state"])
    assert spike > 100
    # The log has the week, and overlaps what Home Assistant recorded on both sides.
    path = tmp_path / "putty.log"
    path.write_bytes(meter.log(start + timedelta(hours=1, minutes=30), end - timedelta(hours=1)))
    freezer.move_to(end + timedelta(hours=1))

    summary = await import_history(hass, config_entry_id=entry.entry_id, path=str(path))

    rows = await hourly(hass, ENERGY, {"state", "sum"})
    assert len(rows) == 7 * 24 + 6
    assert_continuous(rows[1:])  # the first hour is Home Assistant's first (from its zero point)
    truth = last_reading_per_hour(meter.readings)
    for row in rows[3:-3]:
        assert row["state"] == pytest.approx(truth[row["start"]], abs=5e-4)
    # Home Assistant's own rows are untouched, and its spike is gone: the hour after the week
    # has only its own energy.
    assert [r for r in rows if r["start"] in {x["start"] for x in recorded}] == recorded
    back = rows.index(recorded[3])
    assert rows[back]["sum"] - rows[back - 1]["sum"] < spike / 20
    stats = summary["statistics"][ENERGY]
    assert stats == {"written": 7 * 24, "skipped": 4, "moved": 0}
    assert summary["telegrams"] == summary["valid"] == summary["accepted"]
    assert summary["meter"] == HU_ID
    voltages = await hourly(hass, VOLTAGE, {"mean", "min", "max"})
    assert len(voltages) == 7 * 24 + 6
    assert all(r["min"] <= r["mean"] <= r["max"] for r in voltages)

    # The same log again changes nothing.
    again = await import_history(hass, config_entry_id=entry.entry_id, path=str(path))
    assert again["hours_written"] == 0
    assert again["statistics"][ENERGY] == {"written": 0, "skipped": 7 * 24 + 4, "moved": 0}
    assert await hourly(hass, ENERGY, {"state", "sum"}) == rows

    # Overwrite replaces the hours Home Assistant had with the log's, still continuous.
    over = await import_history(
        hass, config_entry_id=entry.entry_id, path=str(path), overwrite=True
    )
    assert over["statistics"][ENERGY]["written"] == 7 * 24 + 4
    rows = await hourly(hass, ENERGY, {"state", "sum"})
    assert len(rows) == 7 * 24 + 6
    assert_continuous(rows[1:])
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_log_before_the_first_recorded_hour(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    """The usual case: installed today, years of logs from before."""
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    live = start + timedelta(days=1, hours=2)
    end = live + timedelta(hours=3)
    meter = Meter(start, end, seed=11)
    freezer.move_to(live)
    entry = await setup_entry(hass, tmp_path)
    await record_live(hass, freezer, entry, meter, live, end)
    recorded = await hourly(hass, ENERGY, {"state", "sum"})
    path = tmp_path / "putty.log.gz"
    path.write_bytes(gzip.compress(meter.log(start, live - timedelta(hours=2))))  # a gap too
    freezer.move_to(end + timedelta(hours=1))

    summary = await import_history(hass, config_entry_id=entry.entry_id, path=str(path))

    assert summary["format"] == "gzip log"
    rows = await hourly(hass, ENERGY, {"state", "sum"})
    # Home Assistant's hours keep their readings and changes; their sums moved up by the log's.
    assert [r["state"] for r in rows[-3:]] == [r["state"] for r in recorded]
    assert [b["sum"] - a["sum"] for a, b in pairwise(rows[-3:])] == pytest.approx(
        [b["sum"] - a["sum"] for a, b in pairwise(recorded)]
    )
    assert len(rows) == 24 + 3
    assert_continuous(rows)  # the two hours without log: their energy is in the first one back
    assert summary["statistics"][ENERGY]["moved"] == 1
    first_reading = meter.readings[start.timestamp()]
    assert rows[0]["sum"] == pytest.approx(rows[0]["state"] - first_reading, abs=1e-3)
    truth = last_reading_per_hour(meter.readings)
    assert rows[-4]["state"] == pytest.approx(truth[rows[-4]["start"]], abs=5e-4)
    assert rows[-3]["sum"] - rows[-4]["sum"] == pytest.approx(
        recorded[0]["state"] - rows[-4]["state"], abs=1e-6
    )  # Home Assistant's first hour now shows what the meter counted in it (and the gap before)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_with_only_5_minute_statistics_home_assistant_continues_from_the_import(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    """Importing right after setting the meter up: Home Assistant has its first 5-minute
    statistics only (no hour yet); it goes on from them, so they move to where the log ends."""
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    live = start + timedelta(hours=12)
    resumed = live + timedelta(minutes=5)
    end = live + timedelta(hours=2)
    meter = Meter(start, end, seed=12)
    freezer.move_to(live)
    entry = await setup_entry(hass, tmp_path)
    await record_live(hass, freezer, entry, meter, live, resumed, every_period=True)
    assert await hourly(hass, ENERGY, {"sum"}) == []
    path = tmp_path / "putty.log"
    path.write_bytes(meter.log(start, live))
    freezer.move_to(resumed + timedelta(seconds=20))
    summary = await import_history(hass, config_entry_id=entry.entry_id, path=str(path))
    # The log's last hour ended minutes ago: Home Assistant may still compile it itself.
    assert summary["statistics"][ENERGY] == {"written": 11, "skipped": 0, "moved": 1}
    assert summary["hours_too_recent"] == 1
    imported = await hourly(hass, ENERGY, {"state", "sum"})
    assert imported[0]["sum"] == pytest.approx(
        imported[0]["state"] - meter.readings[start.timestamp()], abs=1e-3
    )
    # Then Home Assistant records on.
    await record_live(hass, freezer, entry, meter, resumed, end, every_period=True)
    rows = await hourly(hass, ENERGY, {"state", "sum"})
    assert len(rows) == 13
    assert_continuous(rows)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_an_import_waits_for_home_assistants_first_statistics(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Importing the minute the meter was set up: Home Assistant has a reading and no statistics
    yet; the import waits for its first 5-minute statistics (real time here)."""
    monkeypatch.setattr("custom_components.p1_dsmr.history_import.STATISTICS_WAIT", 60.0)
    monkeypatch.setattr("custom_components.p1_dsmr.history_import.STATISTICS_POLL", 0.05)
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    now = dt_util.utcnow()
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=4)
    meter = Meter(start, now, seed=21)
    entry = await setup_entry(hass, tmp_path)
    entry.runtime_data.feed(meter.telegrams[-1][1])
    await hass.async_block_till_done()
    path = tmp_path / "putty.log"
    path.write_bytes(meter.log(start, start + timedelta(hours=3)))
    waiting = asyncio.Event()

    @callback
    def progress(event: Event) -> None:
        if event.data["stage"] == "waiting":
            waiting.set()

    hass.bus.async_listen(EVENT_IMPORT_PROGRESS, progress)
    task = hass.async_create_background_task(  # not awaited by async_block_till_done
        import_history(hass, config_entry_id=entry.entry_id, path=str(path)), "import"
    )
    await waiting.wait()
    await async_wait_recording_done(hass)  # Home Assistant's 5-minute job, a little early
    period = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    do_adhoc_statistics(hass, start=period)
    await async_wait_recording_done(hass)
    summary = await task
    assert summary["statistics"][ENERGY]["written"] == 3
    assert summary["statistics"][ENERGY]["moved"] == 1
    rows = await hourly(hass, ENERGY, {"state", "sum"})
    assert_continuous(rows)
    # Home Assistant goes on from its 5-minute row, now where the log's sums end.
    short = await get_instance(hass).async_add_executor_job(
        get_last_short_term_statistics, hass, 1, ENERGY, False, {"state", "sum"}
    )
    (latest,) = short[ENERGY]
    assert latest["sum"] - rows[-1]["sum"] == pytest.approx(latest["state"] - rows[-1]["state"])
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_replaced_meter_starts_a_new_segment(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    replaced = start + timedelta(hours=5, minutes=30)
    end = start + timedelta(hours=10)
    meter = Meter(start, end, seed=13, replaced=replaced)
    entry = await meter_with_statistics(hass, freezer, tmp_path, meter)
    path = tmp_path / "putty.log"
    path.write_bytes(meter.log(start, end))
    summary = await import_history(hass, config_entry_id=entry.entry_id, path=str(path))
    assert summary["counter_resets"][ENERGY] == 1
    rows = await hourly(hass, ENERGY, {"state", "sum"})
    assert len(rows) == 10
    changes = [b["sum"] - a["sum"] for a, b in pairwise(rows)]
    assert all(change >= 0 for change in changes)
    assert rows[5]["state"] < rows[4]["state"]  # the new meter's reading
    truth = meter.readings
    before = [v for t, v in truth.items() if t < replaced.timestamp()]
    after = [v for t, v in truth.items() if t >= replaced.timestamp()]
    # Both meters' energy is counted once; what the new one had on it at first is not.
    assert rows[-1]["sum"] - rows[0]["sum"] == pytest.approx(
        (before[-1] - rows[0]["state"]) + (after[-1] - after[0]), abs=2e-3
    )
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_measurements_units_progress_and_notification(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
    notifications: dict[str, str],
) -> None:
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    end = start + timedelta(hours=6)
    meter = Meter(start, end, seed=14)
    entry = await meter_with_statistics(hass, freezer, tmp_path, meter)
    path = tmp_path / "putty.log"
    log = meter.log(start, end)
    path.write_bytes(log)
    events: list[dict[str, Any]] = []
    hass.bus.async_listen(EVENT_IMPORT_PROGRESS, callback(lambda event: events.append(event.data)))

    summary = await import_history(hass, config_entry_id=entry.entry_id, path=str(path))
    await hass.async_block_till_done()

    history = read_history(io.BytesIO(log))
    expected = list(history.series["reactive_power_q1"].means())
    rows = await hourly(hass, "sensor.electricity_meter_reactive_power_qi", {"mean", "min", "max"})
    assert [r["mean"] for r in rows] == pytest.approx([1000 * h.mean for h in expected])
    assert [r["max"] for r in rows] == pytest.approx([1000 * h.max for h in expected])
    current = await hourly(hass, "sensor.electricity_meter_current_l1_estimated", {"mean"})
    assert [r["mean"] for r in current] == pytest.approx(
        [h.mean for h in history.series["derived:current_l1"].means()]
    )
    assert summary["statistics"]["sensor.electricity_meter_power_factor_l1"]["written"] == 6
    assert "sensor.electricity_meter_telegrams_received" not in summary["statistics"]
    stages = [e["stage"] for e in events]
    assert stages[0] == "reading"
    assert stages[-1] == "done"
    assert "writing" in stages
    percents = [e["percent"] for e in events]
    assert percents == sorted(percents)
    assert percents[-1] == 100
    assert notifications[f"{DOMAIN}_import_{entry.entry_id}"].startswith(
        f"Imported {path}: {summary['hours_written']} hours written into 42 statistics"
    )
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_records_csv_with_gas_and_an_archive_folder(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    end = start + timedelta(hours=6)
    meter = Meter(start, end, style="nl_dsmr4", seed=15)
    entry = await meter_with_statistics(hass, freezer, tmp_path, meter)
    # The converter's records CSV, in the integration's folder (allowed without configuration).
    folder = Path(hass.config.path(DOMAIN))
    folder.mkdir(parents=True, exist_ok=True)
    records = io.StringIO()
    convert_stream(
        io.BytesIO(meter.log(start, start + timedelta(hours=3))),
        "x",
        records,
        io.StringIO(),
        io.StringIO(),
        None,
        ConvertOptions(delimiter=";", decimal=","),
    )
    csv_path = folder / "old.records.csv"
    csv_path.write_text(records.getvalue())
    summary = await import_history(hass, config_entry_id=entry.entry_id, path=str(csv_path))
    assert summary["format"] == "records csv"
    assert summary["statistics"][GAS]["written"] == 3
    # The archive of a removed entry: records of received bytes, a finished day compressed.
    archive = folder / "archive" / "old_entry"
    archive.mkdir(parents=True)
    later = meter.between(start + timedelta(hours=3), end)
    half = len(later) // 2
    day1 = b"".join(encode_record(when, data) for when, data in later[:half])
    (archive / "2024-01-07.p1a.gz").write_bytes(gzip.compress(day1))
    (archive / "2024-01-08.p1a").write_bytes(
        b"".join(encode_record(when, data) for when, data in later[half:])
    )
    summary = await import_history(hass, config_entry_id=entry.entry_id, path=str(archive))
    assert summary["format"] == "archive"
    assert summary["statistics"][GAS] == {"written": 3, "skipped": 0, "moved": 0}
    rows = await hourly(hass, GAS, {"state", "sum"})
    assert len(rows) == 6
    assert_continuous(rows)
    energy = await hourly(hass, "sensor.electricity_meter_energy_import_tariff_1", {"state", "sum"})
    assert_continuous(energy)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_every_refusal(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
    notifications: dict[str, str],
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    end = start + timedelta(hours=3)
    meter = Meter(start, end + timedelta(hours=3), seed=16)
    freezer.move_to(end + timedelta(hours=4))
    entry = await setup_entry(hass, tmp_path)
    entry.runtime_data.feed(meter.telegrams[-1][1])
    await hass.async_block_till_done()
    good = tmp_path / "good.log"
    good.write_bytes(meter.log(start, end))
    later = tmp_path / "later.log"
    later.write_bytes(meter.log(end, end + timedelta(hours=3)))
    dutch = tmp_path / "dutch.log"
    dutch.write_bytes(Meter(start, start + timedelta(minutes=5), style="nl_dsmr5").log(start, end))
    garbage = tmp_path / "garbage.log"
    garbage.write_bytes(bytes(range(256)) * 100)
    empty_folder = tmp_path / "folder"
    empty_folder.mkdir()
    pipe = tmp_path / "pipe.log"
    os.mkfifo(pipe)  # would hold the import, and a thread, for ever
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "2024-01-08.p1a").write_bytes(encode_record(start, meter.log(start, end)))
    escaping = tmp_path / "archive"  # allowed, but its only entries point out of it or block
    escaping.mkdir()
    (escaping / "2024-01-08.p1a").symlink_to(outside / "2024-01-08.p1a")
    os.mkfifo(escaping / "2024-01-09.p1a")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"path": str(dutch)}, "import_other_meter"),
        ({"path": str(garbage)}, "import_no_telegram"),
        ({"path": str(good), "start": end + timedelta(days=1)}, "import_empty_window"),
        ({"path": str(good), "start": end, "end": start}, "start_after_end"),
        ({"path": "/etc/hostname"}, "import_path_not_allowed"),
        ({"path": "good.log"}, "import_path_not_allowed"),
        ({"path": str(tmp_path / "missing.log")}, "import_unreadable"),
        ({"path": str(empty_folder)}, "import_unreadable"),
        ({"path": str(pipe)}, "import_unreadable"),
        ({"path": str(escaping)}, "import_unreadable"),
        ({"path": str(good), "config_entry_id": "nope"}, "entry_not_loaded"),
    ]
    for data, key in cases:
        with pytest.raises(ServiceValidationError) as raised:
            await import_history(hass, **{"config_entry_id": entry.entry_id, **data})
        assert raised.value.translation_key == key, data
        assert str(raised.value) != key  # translated
    # Home Assistant has these hours from another meter (a records CSV names none): refused, and
    # nothing is written.
    await write_recorded(hass, ENERGY, [(start + timedelta(hours=1), 100.0, 0.0)])
    records = io.StringIO()
    convert_stream(
        io.BytesIO(good.read_bytes()),
        "x",
        records,
        io.StringIO(),
        io.StringIO(),
        None,
        ConvertOptions(),
    )
    other = tmp_path / "other.records.csv"
    other.write_text(records.getvalue())
    with pytest.raises(ServiceValidationError) as raised:
        await import_history(hass, config_entry_id=entry.entry_id, path=str(other))
    assert raised.value.translation_key == "import_mismatch"
    assert len(await hourly(hass, ENERGY, {"state", "sum"})) == 1  # only that row
    assert len(await hourly(hass, VOLTAGE, {"mean"})) == 0  # nothing written
    # One import at a time per meter.
    results = await asyncio.gather(
        import_history(hass, config_entry_id=entry.entry_id, path=str(later)),
        import_history(hass, config_entry_id=entry.entry_id, path=str(later)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1
    assert isinstance(errors[0], ServiceValidationError)
    assert errors[0].translation_key == "import_running"
    assert notifications[f"{DOMAIN}_import_{entry.entry_id}"].startswith(f"Imported {later}")
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_without_a_recorder(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await setup_entry(hass, tmp_path)
    with pytest.raises(ServiceValidationError) as raised:
        await import_history(hass, config_entry_id=entry.entry_id, path=str(tmp_path / "x.log"))
    assert raised.value.translation_key == "recorder_not_loaded"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def write_recorded(
    hass: HomeAssistant, statistic_id: str, rows: list[tuple[datetime, float, float]]
) -> None:
    """Rows as Home Assistant's sensor recorder writes them."""
    metadata = make_metadata(statistic_id, True, "kWh", "energy", None)
    async_import_statistics(
        hass, metadata, [StatisticData(start=s, state=v, sum=t) for s, v, t in rows]
    )
    await async_wait_recording_done(hass)


async def test_the_options_flow_imports_too(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
    notifications: dict[str, str],
) -> None:
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    end = start + timedelta(hours=3)
    meter = Meter(start, end, seed=17)
    entry = await meter_with_statistics(hass, freezer, tmp_path, meter)
    path = tmp_path / "putty.log"
    path.write_bytes(meter.log(start, end))
    options = {
        "update_interval": 0,
        "voltage_threshold": 253.0,
        "current_threshold": 25.0,
        "repair": True,
        "archive_days": 14,
    }
    finished = asyncio.Event()

    @callback
    def progress(event: Event) -> None:
        if event.data["stage"] in ("done", "failed"):
            finished.set()

    hass.bus.async_listen(EVENT_IMPORT_PROGRESS, progress)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**options, "import_history": {"path": "/etc/hostname"}}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "import_path_not_allowed"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            **options,
            "import_history": {
                "path": str(path),
                "start": "2024-01-07 00:00:00",
                "overwrite": False,
            },
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == options
    await finished.wait()  # the import runs in the background
    rows = await hourly(hass, ENERGY, {"state", "sum"})
    assert len(rows) == 3
    assert notifications[f"{DOMAIN}_import_{entry.entry_id}"].startswith(f"Imported {path}")
    assert await hass.config_entries.async_unload(entry.entry_id)


async def write_metadata(
    hass: HomeAssistant, statistic_id: str, counter: bool, unit: str, device_class: str
) -> None:
    """Statistics Home Assistant keeps for an entity, one old hour of them."""
    metadata = make_metadata(statistic_id, counter, unit, device_class, None)
    row = (
        StatisticData(start=datetime(2023, 1, 1, tzinfo=UTC), state=1.0, sum=0.0)
        if counter
        else StatisticData(start=datetime(2023, 1, 1, tzinfo=UTC), mean=1.0, min=1.0, max=1.0)
    )
    async_import_statistics(hass, metadata, [row])
    await async_wait_recording_done(hass)


@pytest.mark.parametrize(
    "recorder_config", [{"exclude": {"entities": ["sensor.electricity_meter_voltage_l2"]}}]
)
async def test_recorded_units_and_what_is_not_imported(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    end = start + timedelta(hours=3)
    meter = Meter(start, end, seed=18)
    freezer.move_to(end + timedelta(hours=1))
    entry = await setup_entry(hass, tmp_path)
    entry.runtime_data.feed(meter.telegrams[-1][1])
    await hass.async_block_till_done()
    # Energy kept in Wh by the user; statistics of another kind or unit; a state in a unit that
    # is not the sensor's.
    await write_metadata(hass, ENERGY, True, "Wh", "energy")
    await write_metadata(hass, VOLTAGE, True, "V", "voltage")
    await write_metadata(hass, "sensor.electricity_meter_power_import", False, "m³", "gas")
    hass.states.async_set(
        "sensor.electricity_meter_current_l1", "3", {"unit_of_measurement": "mA?"}
    )
    path = tmp_path / "putty.log"
    path.write_bytes(meter.log(start, end))

    summary = await import_history(hass, config_entry_id=entry.entry_id, path=str(path))

    skipped = summary["not_imported"]
    assert skipped[VOLTAGE] == "recorded statistics of another kind"
    assert skipped["sensor.electricity_meter_power_import"] == "recorded in m³"
    assert skipped["sensor.electricity_meter_current_l1"] == "unit mA? is not A"
    assert skipped["sensor.electricity_meter_voltage_l2"] == "not recorded"
    assert any(reason == "disabled" for reason in skipped.values())
    rows = await hourly(hass, ENERGY, {"state", "sum"}, {"energy": "Wh"})
    assert len(rows) == 4
    truth = last_reading_per_hour(meter.readings)
    assert rows[-1]["state"] == pytest.approx(1000 * truth[rows[-1]["start"]], abs=0.5)
    assert_continuous(rows[1:])
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_what_cannot_be_placed_yet_or_anchored(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    """Hours too recent for every statistic; counters without statistics; one archive file."""
    start = datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    end = start + timedelta(hours=1, minutes=10)
    meter = Meter(start, end, seed=19)
    freezer.move_to(end)  # the first hour ended ten minutes ago, the second is not over
    entry = await setup_entry(hass, tmp_path)
    entry.runtime_data.feed(meter.telegrams[-1][1])
    await hass.async_block_till_done()
    hass.states.async_set(ENERGY, "unknown", {"unit_of_measurement": "kWh"})
    folder = Path(hass.config.path(DOMAIN))
    folder.mkdir(parents=True, exist_ok=True)
    day = folder / "2024-01-08.p1a"
    day.write_bytes(b"".join(encode_record(when, data) for when, data in meter.telegrams))
    summary = await import_history(hass, config_entry_id=entry.entry_id, path=str(day))
    assert summary["format"] == "archive"
    assert summary["hours_written"] == 0
    assert summary["hours_too_recent"] == 2
    freezer.move_to(end + timedelta(hours=2))
    summary = await import_history(hass, config_entry_id=entry.entry_id, path=str(day))
    # Home Assistant has no statistics of the counters yet (and did not start them in time):
    # their sums would have nothing to lead up to. The measurements have no sums.
    assert summary["not_imported"][ENERGY] == "no statistics of Home Assistant's own yet"
    assert summary["statistics"][VOLTAGE]["written"] == 2
    assert await hourly(hass, ENERGY, {"sum"}) == []
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_an_import_stops_with_its_caller_and_a_failure_is_reported(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    tmp_path: Path,
    notifications: dict[str, str],
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    entry = await setup_entry(hass, tmp_path)
    path = tmp_path / "putty.log"
    path.write_bytes(b"anything")
    reading = threading.Event()
    stopped = threading.Event()

    def slow_read(_path: Path, **options: Any) -> None:
        reading.set()
        while not options["cancel"]():
            time.sleep(0.01)
        stopped.set()
        raise Cancelled

    with patch("custom_components.p1_dsmr.history_import.read_history_file", slow_read):
        task = hass.async_create_task(
            import_history(hass, config_entry_id=entry.entry_id, path=str(path))
        )
        await hass.async_add_executor_job(reading.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await hass.async_add_executor_job(stopped.wait, 5)
    # Not left running: the next import starts, and fails on what it finds (a bug, here).
    with (
        patch(
            "custom_components.p1_dsmr.history_import.targets",
            side_effect=RuntimeError("boom"),
        ),
        pytest.raises(HomeAssistantError) as raised,
    ):
        await import_history(hass, config_entry_id=entry.entry_id, path=str(path))
    assert raised.value.translation_key == "import_no_telegram"
    good = tmp_path / "good.log"
    start = datetime(2024, 1, 8, tzinfo=UTC)
    good.write_bytes(Meter(start, start + timedelta(minutes=2), seed=20).log(start, start + HOUR_))
    with (
        patch(
            "custom_components.p1_dsmr.history_import.targets",
            side_effect=RuntimeError("boom"),
        ),
        pytest.raises(HomeAssistantError) as raised,
    ):
        await import_history(hass, config_entry_id=entry.entry_id, path=str(good))
    assert raised.value.translation_key == "import_failed"
    assert "boom" in notifications[f"{DOMAIN}_import_{entry.entry_id}"]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_options_flow_reports_a_refused_import(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    tmp_path: Path,
    notifications: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    entry = await setup_entry(hass, tmp_path)
    start = datetime(2024, 1, 8, tzinfo=UTC)
    dutch = tmp_path / "dutch.log"
    dutch.write_bytes(
        Meter(start, start + timedelta(minutes=2), style="nl_dsmr5").log(start, start + HOUR_)
    )
    finished = asyncio.Event()

    @callback
    def progress(event: Event) -> None:
        if event.data["stage"] == "failed":
            finished.set()

    hass.bus.async_listen(EVENT_IMPORT_PROGRESS, progress)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OPTIONS, "import_history": {"path": str(dutch)}}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await finished.wait()
    message = notifications[f"{DOMAIN}_import_{entry.entry_id}"]
    assert message.startswith(f"{dutch} holds telegrams of meter E0044007382246019")
    assert "History import" in caplog.text
    await hass.async_block_till_done()  # the new options reload the entry
    # While one runs, the form says so.
    hass.data[RUNNING].add(entry.entry_id)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OPTIONS, "import_history": {"path": str(dutch)}}
    )
    assert result["errors"] == {"base": "import_running"}
    hass.data[RUNNING].discard(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
