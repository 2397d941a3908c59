"""Joining imported hours to recorded ones (pure functions), units and metadata."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest
from homeassistant.components.recorder.models import StatisticMeanType
from hypothesis import given
from hypothesis import strategies as st

from custom_components.p1_dsmr.history_statistics import (
    HAS_UNIT_CLASS,
    Anchor,
    Move,
    Step,
    converter_for,
    cutoff,
    make_metadata,
    mismatch,
    plan_counter,
    unit_class,
)
from custom_components.p1_dsmr.p1lib.hourly import HOUR, HourlyCounter

T0 = 1_704_672_000  # 2024-01-08 00:00 UTC


def hours(
    readings: list[float], first_hour: int = 0, first: float | None = None
) -> list[HourlyCounter]:
    """Hours whose last readings are ``readings`` (the sum counts from the first reading)."""
    start = readings[0] if first is None else first
    out = []
    previous = start
    for index, last in enumerate(readings):
        out.append(
            HourlyCounter(
                T0 + (first_hour + index) * HOUR, previous, last, previous - start, last - start
            )
        )
        previous = last
    return out


def play(
    steps: list[Step], anchors: list[Anchor]
) -> tuple[list[tuple[int, float, float]], list[Anchor]]:
    """What the recorder has after the steps: the written rows and the recorded ones."""
    written: list[tuple[int, float, float]] = []
    recorded = list(anchors)
    for step in steps:
        if isinstance(step, Move):
            recorded = [
                Anchor(a.start, a.state, a.sum + step.by) if a.start >= step.start else a
                for a in recorded
            ]
            written = [(s, v, t + step.by) if s >= step.start else (s, v, t) for s, v, t in written]
        else:
            written.extend(step)
    return written, recorded


def timeline(steps: list[Step], anchors: list[Anchor]) -> list[tuple[float, float, float]]:
    """Every row after the steps, in time order: (start, state, sum)."""
    written, recorded = play(steps, anchors)
    rows = [(float(s), v, t) for s, v, t in written] + [(a.start, a.state, a.sum) for a in recorded]
    return sorted(rows)


def changes(rows: list[tuple[float, float, float]]) -> list[float]:
    """What the Energy dashboard shows per row: the first from 0."""
    sums = [0.0] + [total for *_, total in rows]
    return [b - a for a, b in pairwise(sums)]


def test_after_a_recorded_hour_the_counter_continues() -> None:
    before = Anchor(T0 - HOUR, state=100.0, sum=40.0)
    steps = plan_counter(hours([101.0, 103.0, 104.5], first=100.5), [before], set())
    rows = timeline(steps, [before])
    assert [state for _, state, _ in rows] == [100.0, 101.0, 103.0, 104.5]
    assert changes(rows)[1:] == pytest.approx([1.0, 2.0, 1.5])


def test_before_the_first_recorded_hour_the_sums_start_at_zero() -> None:
    """Home Assistant's first hour (from its zero point, sum 2) and what follows move up."""
    first = Anchor(T0 + 3 * HOUR, state=110.0, sum=2.0)
    second = Anchor(T0 + 4 * HOUR, state=111.0, sum=3.0)
    steps = plan_counter(hours([101.0, 103.0, 104.5], first=100.0), [first, second], set())
    assert steps[-1] == Move(first.start, pytest.approx(104.5 - 100.0 + 110.0 - 104.5 - 2.0))
    rows = timeline(steps, [first, second])
    assert changes(rows) == pytest.approx([1.0, 2.0, 1.5, 5.5, 1.0])
    assert [state for _, state, _ in rows][-2:] == [110.0, 111.0]  # readings kept


def test_a_gap_filled_between_consistent_rows_moves_nothing() -> None:
    before = Anchor(T0 - HOUR, state=100.0, sum=40.0)
    after = Anchor(T0 + 3 * HOUR, state=110.0, sum=50.0)  # Home Assistant counted the gap once
    steps = plan_counter(hours([101.0, 103.0, 104.5], first=100.5), [before, after], set())
    assert not any(isinstance(step, Move) for step in steps)
    assert changes(timeline(steps, [before, after]))[1:] == pytest.approx([1.0, 2.0, 1.5, 5.5])


@pytest.mark.parametrize("recorded_sum", [70.0, 46.0, 41.0, 0.0])
def test_recorded_sums_that_disagree_with_the_counter_are_moved(recorded_sum: float) -> None:
    """Home Assistant put the gap into its first hour back (more), lost part of it (less), or
    started again from 0: the hour after the gap shows what the meter counted in it."""
    before = Anchor(T0 - HOUR, state=100.0, sum=40.0)
    after = Anchor(T0 + 3 * HOUR, state=110.0, sum=recorded_sum)
    later = Anchor(T0 + 4 * HOUR, state=112.0, sum=recorded_sum + 2.0)
    anchors = [before, after, later]
    steps = plan_counter(hours([101.0, 103.0, 104.5], first=100.5), anchors, set())
    assert changes(timeline(steps, anchors))[1:] == pytest.approx([1.0, 2.0, 1.5, 5.5, 2.0])


def test_recorded_hours_split_the_runs_and_are_skipped() -> None:
    imported = hours([101.0, 102.0, 103.0, 104.0, 105.0], first=100.0)
    recorded = Anchor(T0 + 2 * HOUR, state=103.0, sum=500.0)
    steps = plan_counter(imported, [recorded], {T0 + 2 * HOUR})
    rows = timeline(steps, [recorded])
    assert [start for start, *_ in rows] == [T0 + i * HOUR for i in range(5)]
    assert changes(rows) == pytest.approx([1.0, 1.0, 1.0, 1.0, 1.0])


def test_a_new_meter_after_the_log() -> None:
    after = Anchor(T0 + 2 * HOUR, state=3.0, sum=50.0)
    steps = plan_counter(hours([101.0, 103.0], first=100.0), [after], set())
    assert changes(timeline(steps, [after])) == pytest.approx([1.0, 2.0, 0.0])


@given(
    steps=st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=1, max_size=30),
    recorded=st.sets(st.integers(min_value=0, max_value=30)),
    level=st.floats(min_value=-1e4, max_value=1e4),
    extra=st.floats(min_value=-30.0, max_value=30.0),
)
def test_every_hour_shows_what_the_meter_counted(
    steps: list[float], recorded: set[int], level: float, extra: float
) -> None:
    """Whatever level Home Assistant's sums were at and however they disagreed with the counter
    between its segments, after the import every row's change is the counter's increase since
    the row before (the first row: within its hour), and nothing is negative."""
    readings = [1000.0]
    for step in steps:
        readings.append(readings[-1] + step)
    imported = hours(readings[1:], first=readings[0])
    anchors = []
    for index, hour in enumerate(imported):
        if index in recorded:
            disagreement = extra if index > len(steps) // 2 else 0.0
            anchors.append(Anchor(hour.start, hour.last, hour.sum_last + level + disagreement))
    planned = plan_counter(imported, anchors, {a.start for a in anchors})
    rows = timeline(planned, anchors)
    assert len(rows) == len(imported)
    shown = changes(rows)
    truth = [imported[0].last - imported[0].first] + [
        b.last - a.last for a, b in pairwise(imported)
    ]
    kept = {a.start for a in anchors}
    for index, (row, got, want) in enumerate(zip(rows, shown, truth, strict=True)):
        if row[0] in kept and (index == 0 or rows[index - 1][0] in kept):
            continue  # between two of Home Assistant's rows (or its first): its own change
        assert got == pytest.approx(want, abs=1e-6), index


def test_mismatch_finds_another_meters_readings() -> None:
    imported = hours([101.0, 103.0, 104.5], first=100.5)
    assert mismatch(imported, {T0 + HOUR: Anchor(T0 + HOUR, 103.0004, 0.0)}) is None
    assert mismatch(imported, {T0 + HOUR: Anchor(T0 + HOUR, 2500.0, 0.0)}) == (
        T0 + HOUR,
        103.0,
        2500.0,
    )


def test_cutoff_leaves_the_hours_home_assistant_may_still_compile() -> None:
    assert cutoff(datetime(2024, 1, 8, 14, 20, tzinfo=UTC)) == T0 + 14 * HOUR
    assert cutoff(datetime(2024, 1, 8, 14, 10, tzinfo=UTC)) == T0 + 13 * HOUR


def test_units() -> None:
    kwh_to_wh = converter_for("energy", "kWh", "Wh")
    assert kwh_to_wh is not None
    assert kwh_to_wh(1.5) == 1500.0
    assert converter_for(None, "kvarh", "kvarh") is float
    assert converter_for("energy", "kWh", "m³") is None
    assert converter_for(None, None, "V") is None
    assert unit_class("energy", "kWh") == "energy"
    assert unit_class("gas", "m³") == "volume"
    assert unit_class(None, None) == "unitless"  # power factors, as the sensor recorder has it
    assert unit_class(None, "apples") is None


def test_metadata_as_the_sensor_recorder_writes_it() -> None:
    metadata = make_metadata("sensor.x", True, "kWh", "energy", None)
    assert metadata["mean_type"] is StatisticMeanType.NONE
    assert metadata["has_sum"] is True
    assert metadata["source"] == "recorder"
    assert ("unit_class" in metadata) is HAS_UNIT_CLASS
    measurement = make_metadata("sensor.v", False, "V", "voltage", None)
    assert measurement["mean_type"] is StatisticMeanType.ARITHMETIC
    existing = dict(metadata, name="kept", unit_of_measurement="Wh")
    assert make_metadata("sensor.x", True, "kWh", "energy", existing)["name"] == "kept"  # type: ignore[arg-type]
