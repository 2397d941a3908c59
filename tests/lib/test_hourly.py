"""Hourly aggregation: counters, segments, outliers, means, clock order, windows, gaps."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from p1lib.hourly import (
    CLOCK_JUMP,
    HOUR,
    MAX_HOLD,
    History,
    HourlyAggregator,
    HourlyCounter,
    HourlyMean,
)
from p1lib.obis import Kind

T0 = 1_700_000_000 - 1_700_000_000 % HOUR  # an hour's start


def aggregate(
    samples: list[tuple[float, float | None]],
    counter: bool = True,
    start: float | None = None,
    end: float | None = None,
) -> History:
    """Samples of one key ``v`` (a counter or a measurement)."""
    history = History()
    aggregator = HourlyAggregator(history, start, end)
    keys = aggregator.declare(("v",), (counter,), (True,), (Kind.ENERGY if counter else None,))
    for when, value in samples:
        aggregator.add(when, keys, (value,))
    return aggregator.finish()


def counters(history: History) -> list[HourlyCounter]:
    return list(history.series["v"].counters())


def means(history: History) -> list[HourlyMean]:
    return list(history.series["v"].means())


def hourly_energy(hours: list[HourlyCounter]) -> list[float]:
    """What the Energy dashboard shows: the sum's change from the previous hour with data."""
    energy = [hours[0].sum_last]
    energy += [b.sum_last - a.sum_last for a, b in itertools.pairwise(hours)]
    return energy


def test_a_counter_in_order_gives_its_differences_per_hour() -> None:
    readings = [(T0 + 600 * i, 100.0 + 0.25 * i) for i in range(18)]  # 3 hours, every 10 min
    hours = counters(aggregate(readings))
    assert [h.start for h in hours] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert [h.first for h in hours] == [100.0, 101.5, 103.0]
    assert [h.last for h in hours] == [101.25, 102.75, 104.25]
    # The increase between 00:50 and 01:00 belongs to the hour of the later reading.
    assert hourly_energy(hours) == pytest.approx([1.25, 1.5, 1.5])
    assert [h.sum_first for h in hours] == pytest.approx([0.0, 1.5, 3.0])


def test_a_gap_leaves_no_hours_and_its_energy_lands_in_the_first_hour_after() -> None:
    before = [(T0 + 600 * i, 10.0 + i) for i in range(6)]  # hour 0: 10..15
    after = [(T0 + 5 * HOUR + 600 * i, 40.0 + i) for i in range(6)]  # hour 5: 40..45
    hours = counters(aggregate(before + after))
    assert [h.start for h in hours] == [T0, T0 + 5 * HOUR]
    assert hourly_energy(hours) == pytest.approx([5.0, 30.0])


def test_a_replaced_meter_starts_a_new_segment() -> None:
    old = [(T0 + 600 * i, 5000.0 + i) for i in range(6)]
    new = [(T0 + HOUR + 600 * i, 0.5 + 0.1 * i) for i in range(6)]
    history = aggregate(old + new)
    hours = counters(history)
    assert history.series["v"].resets == 1
    assert [h.last for h in hours] == [5005.0, pytest.approx(1.0)]
    # The sum never goes back; the new meter counts from its first reading.
    assert hourly_energy(hours) == pytest.approx([5.0, 0.5])
    assert hours[1].sum_first == pytest.approx(5.0)


def test_a_replaced_meter_within_an_hour() -> None:
    readings = [(T0 + 300 * i, v) for i, v in enumerate([7.0, 8.0, 9.0, 1.0, 2.0, 3.5])]
    history = aggregate(readings)
    (hour,) = counters(history)
    assert history.series["v"].resets == 1
    assert (hour.first, hour.last) == (7.0, 3.5)
    assert hour.sum_last == pytest.approx(2.0 + 2.5)


@pytest.mark.parametrize("glitch", [55.0, 9999.0])
def test_one_wrong_reading_is_neither_a_reset_nor_a_spike(glitch: float) -> None:
    clean = [(T0 + 60 * i, 100.0 + 0.01 * i) for i in range(180)]
    for index in (5, 59, 60, 119):  # inside an hour and on either side of an hour's boundary
        damaged = list(clean)
        damaged[index] = (damaged[index][0], glitch)
        history = aggregate(damaged)
        assert history.series["v"].resets == 0, index
        # The wrong reading is taken as a neighbour: at most one step moves to the next hour.
        got, want = hourly_energy(counters(history)), hourly_energy(counters(aggregate(clean)))
        assert sum(got) == pytest.approx(sum(want)), index
        assert got == pytest.approx(want, abs=0.0100001), index


def test_measurements_are_time_weighted_means_with_extremes() -> None:
    samples = [(T0, 1.0), (T0 + 10, 3.0), (T0 + 40, 2.0)]  # held 10 s, 30 s, then 30 s (last gap)
    (hour,) = means(aggregate(samples, counter=False))
    assert hour.min == 1.0
    assert hour.max == 3.0
    assert hour.mean == pytest.approx((1.0 * 10 + 3.0 * 30 + 2.0 * 30) / 70)


def test_a_silence_is_not_averaged_over() -> None:
    samples = [(T0, 10.0), (T0 + 3000, 0.0), (T0 + 3010, 0.0)]
    (hour,) = means(aggregate(samples, counter=False))
    assert hour.mean == pytest.approx(10.0 * MAX_HOLD / (MAX_HOLD + 10 + 10))


def test_missing_values_are_left_out() -> None:
    samples = [(T0, None), (T0 + 10, 4.0), (T0 + 20, None), (T0 + 30, 6.0)]
    (hour,) = means(aggregate(samples, counter=False))
    assert (hour.min, hour.max) == (4.0, 6.0)
    assert counters(aggregate(samples))[0].sum_last == 2.0
    assert "v" not in aggregate([(T0, None), (T0 + 10, None)]).series


def test_hours_follow_the_utc_clock_of_the_samples() -> None:
    samples = [(T0 + HOUR - 1, 1.0), (T0 + HOUR, 2.0)]
    assert [h.start for h in means(aggregate(samples, counter=False))] == [T0, T0 + HOUR]


def test_samples_out_of_order_are_dropped() -> None:
    samples = [(T0 + 10, 1.0), (T0 + 20, 2.0), (T0 + 15, 50.0), (T0 + 20, 60.0), (T0 + 30, 3.0)]
    history = aggregate(samples, counter=False)
    assert history.stats.out_of_order == 2
    assert means(history)[0].max == 3.0


def test_a_clock_glitch_ahead_is_dropped() -> None:
    future = T0 + 400 * 24 * HOUR
    samples = [(T0 + 10, 1.0), (future, 99.0), (T0 + 20, 2.0), (T0 + 30, 3.0)]
    history = aggregate(samples, counter=False)
    assert history.stats.clock_outliers == 1
    assert [h.start for h in means(history)] == [T0]


def test_a_log_resumed_after_a_pause_and_a_sparse_log_are_kept() -> None:
    resumed = [(T0, 1.0), (T0 + 10, 1.0), (T0 + 10 * HOUR, 2.0), (T0 + 10 * HOUR + 10, 2.0)]
    history = aggregate(resumed)
    assert len(counters(history)) == 2
    assert history.stats.clock_outliers == 0
    sparse = [(T0 + i * 2 * CLOCK_JUMP, float(i)) for i in range(10)]
    history = aggregate(sparse)
    assert history.stats.aggregated == 10
    assert counters(history)[-1].sum_last == 9.0


def test_a_clock_jump_at_the_end_is_kept() -> None:
    history = aggregate([(T0, 1.0), (T0 + 5 * HOUR, 2.0)])
    assert history.stats.aggregated == 2


def test_the_window_keeps_the_hours_it_overlaps() -> None:
    samples = [(T0 + 600 * i, float(i)) for i in range(30)]  # 5 hours
    history = aggregate(samples, start=T0 + HOUR + 1800, end=T0 + 3 * HOUR + 1)
    hours = counters(history)
    assert [h.start for h in hours] == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert history.stats.outside_window == 12
    assert hours[0].first == 6.0


def test_keys_of_several_blocks_within_an_hour() -> None:
    history = History()
    aggregator = HourlyAggregator(history)
    both = aggregator.declare(("a", "b"), (True, False), (False, False), (None, None))
    alone = aggregator.declare(("a",), (True,), (False,), (None,))
    assert aggregator.declare(("a",), (True,), (False,), (None,)) is alone
    aggregator.add(T0, both, (1.0, 5.0))
    aggregator.add(T0 + 10, alone, (2.0,))
    aggregator.add(T0 + 20, both, (3.0, 7.0))
    aggregator.finish()
    assert next(iter(history.series["a"].counters())).sum_last == 2.0
    (b,) = history.series["b"].means()
    assert (b.min, b.max) == (5.0, 7.0)


@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.5, max_value=2 * HOUR),  # seconds to the next reading
            st.floats(min_value=0.0, max_value=5.0),  # kWh added
            st.booleans(),  # the meter is replaced before this reading
        ),
        min_size=1,
        max_size=200,
    )
)
def test_sums_count_every_increase_once_and_never_go_back(
    steps: list[tuple[float, float, bool]],
) -> None:
    when, value = float(T0), 1000.0
    readings = [(when, value)]
    expected = 0.0
    for delta_t, delta_e, replaced in steps:
        when += delta_t
        if replaced:
            value = value / 10 - 50  # well below: a new meter
        else:
            value += delta_e
            expected += delta_e
        readings.append((when, value))
    # A median of three may round a replacement by one reading: compare with a clean series' sums
    # only where no replacement happened.
    history = aggregate(readings)
    hours = counters(history)
    sums = [s for h in hours for s in (h.sum_first, h.sum_last)]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(sums))
    assert all(e >= -1e-9 for e in hourly_energy(hours))
    if not any(replaced for *_, replaced in steps):
        assert history.series["v"].resets == 0
        assert hours[-1].sum_last == pytest.approx(expected, abs=1e-6)
        assert hours[-1].last == pytest.approx(value)
    assert math.isclose(hours[0].sum_first, 0.0, abs_tol=1e-9)
