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
    converter_for,
    cutoff,
    make_metadata,
    mismatch,
    plan_counter,
    plan_run,
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


def changes(rows: list[tuple[int, float, float]], before: Anchor | None = None) -> list[float]:
    sums = ([before.sum] if before else []) + [total for _, _, total in rows]
    return [b - a for a, b in pairwise(sums)]


def test_after_a_recorded_hour_the_counter_continues() -> None:
    before = Anchor(T0 - HOUR, state=100.0, sum=40.0)
    planned = plan_counter(hours([101.0, 103.0, 104.5], first=100.5), [before], set())
    assert [state for _, state, _ in planned.rows] == [101.0, 103.0, 104.5]
    assert changes(planned.rows, before) == pytest.approx([1.0, 2.0, 1.5])


def test_before_a_recorded_hour_the_counter_leads_up_to_it() -> None:
    after = Anchor(T0 + 3 * HOUR, state=110.0, sum=5.0)
    planned = plan_counter(hours([101.0, 103.0, 104.5]), [after], set())
    sums = [total for *_, total in planned.rows]
    assert after.sum - sums[-1] == pytest.approx(110.0 - 104.5)
    assert changes(planned.rows) == pytest.approx([2.0, 1.5])


def test_a_gap_filled_between_consistent_rows_joins_both() -> None:
    before = Anchor(T0 - HOUR, state=100.0, sum=40.0)
    after = Anchor(T0 + 3 * HOUR, state=110.0, sum=50.0)  # Home Assistant counted the gap once
    planned = plan_counter(hours([101.0, 103.0, 104.5], first=100.5), [before, after], set())
    assert changes(planned.rows, before) == pytest.approx([1.0, 2.0, 1.5])
    assert after.sum - planned.rows[-1][2] == pytest.approx(110.0 - 104.5)


def test_when_recorded_sums_count_more_the_extra_stays_where_home_assistant_put_it() -> None:
    before = Anchor(T0 - HOUR, state=100.0, sum=40.0)
    after = Anchor(T0 + 3 * HOUR, state=110.0, sum=70.0)  # 20 more than the counter
    planned = plan_counter(hours([101.0, 103.0, 104.5], first=100.5), [before, after], set())
    assert changes(planned.rows, before) == pytest.approx([1.0, 2.0, 1.5])
    assert after.sum - planned.rows[-1][2] == pytest.approx(5.5 + 20)


def test_when_recorded_sums_count_less_no_hour_goes_negative() -> None:
    before = Anchor(T0 - HOUR, state=100.0, sum=40.0)
    after = Anchor(T0 + 3 * HOUR, state=110.0, sum=46.0)  # 4 less than the counter
    planned = plan_counter(hours([101.0, 103.0, 104.5], first=100.5), [before, after], set())
    boundary = after.sum - planned.rows[-1][2]
    assert boundary == pytest.approx(1.5)  # 5.5 minus the 4 missing
    assert min(changes(planned.rows, before)) >= 0
    # Recorded sums that leave no room for the log's own hours: the run is not written.
    squeezed = Anchor(T0 + 3 * HOUR, state=110.0, sum=41.0)
    planned = plan_counter(hours([101.0, 103.0, 104.5], first=100.5), [before, squeezed], set())
    assert planned.rows == []
    assert planned.refused == 3


def test_recorded_hours_split_the_runs_and_are_skipped() -> None:
    imported = hours([101.0, 102.0, 103.0, 104.0, 105.0], first=100.0)
    recorded = Anchor(T0 + 2 * HOUR, state=103.0, sum=500.0)
    planned = plan_counter(imported, [recorded], {T0 + 2 * HOUR})
    assert [start for start, *_ in planned.rows] == [T0, T0 + HOUR, T0 + 3 * HOUR, T0 + 4 * HOUR]
    by_start = {start: total for start, _, total in planned.rows}
    assert recorded.sum - by_start[T0 + HOUR] == pytest.approx(1.0)
    assert by_start[T0 + 3 * HOUR] - recorded.sum == pytest.approx(1.0)


def test_without_anchors_the_sums_end_at_zero() -> None:
    planned = plan_counter(hours([101.0, 103.0]), [], set())
    assert planned.rows[-1][2] == 0.0
    assert changes(planned.rows) == pytest.approx([2.0])


def test_a_reset_between_the_log_and_the_rows_after_it() -> None:
    after = Anchor(T0 + 2 * HOUR, state=3.0, sum=50.0)  # a new meter after the log
    assert plan_run(hours([101.0, 103.0]), None, after) == pytest.approx(50.0 - 2.0)


@given(
    steps=st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=1, max_size=30),
    recorded=st.sets(st.integers(min_value=0, max_value=30)),
    extra=st.floats(min_value=-30.0, max_value=30.0),
)
def test_never_a_negative_hour(steps: list[float], recorded: set[int], extra: float) -> None:
    """Whatever Home Assistant recorded around the log (consistent or not), no written hour and
    no recorded hour next to one shows a negative change."""
    readings = [1000.0]
    for step in steps:
        readings.append(readings[-1] + step)
    imported = hours(readings[1:], first=readings[0])
    anchors = []
    total = 0.0
    for index, hour in enumerate(imported):
        total += hour.last - hour.first
        if index in recorded:
            anchors.append(Anchor(hour.start, hour.last, total + extra * (index > len(steps) / 2)))
    planned = plan_counter(imported, anchors, {a.start for a in anchors})
    merged = sorted([(a.start, a.sum) for a in anchors] + [(s, t) for s, _, t in planned.rows])
    for (start_a, sum_a), (start_b, sum_b) in pairwise(merged):
        if start_a in {a.start for a in anchors} and start_b in {a.start for a in anchors}:
            continue  # two recorded hours: Home Assistant's own change
        assert sum_b - sum_a >= -1e-9


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
