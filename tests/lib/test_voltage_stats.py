"""Voltage statistics: percentiles against a sorted reference, time above, 10-minute means, days."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib.telegram import CEST
from p1lib.voltage_stats import EN50160_HIGH, VoltageStatistics

START = datetime(2023, 6, 1, 12, 0, 0, tzinfo=CEST)


def fill(
    values: list[float], period: float = 10.0, threshold: float = EN50160_HIGH
) -> VoltageStatistics:
    stats = VoltageStatistics(threshold)
    for i, volts in enumerate(values):
        stats.add(START + timedelta(seconds=i * period), (volts, volts - 5.0, None))
    return stats


def nearest_rank(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(percent / 100 * len(ordered)) - 1, 0)]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(2000, 2700), min_size=2, max_size=300),
    st.sampled_from([1.0, 10.0]),
)
def test_percentiles_match_a_sorted_reference(tenths: list[int], period: float) -> None:
    values = [t / 10 for t in tenths]  # what a meter sends: 0.1 V steps
    stats = fill(values, period)
    phase = stats.phase(1)
    assert phase is not None
    for percent, got in ((95, phase.p95), (99, phase.p99)):
        assert got == nearest_rank(values, percent)
    assert stats.histograms[0].percentile(0) == min(values)
    assert stats.histograms[0].percentile(100) == max(values)
    assert phase.mean == pytest.approx(sum(values) / len(values))
    assert (phase.minimum, phase.maximum) == (min(values), max(values))
    assert phase.samples == len(values)
    assert phase.hours == pytest.approx(len(values) * period / 3600)
    above = sum(1 for v in values if v > EN50160_HIGH)
    assert phase.minutes_above == pytest.approx(above * period / 60)
    assert stats.minutes_above_if(1, 0.0) == pytest.approx(phase.minutes_above)
    # Shifted by -1 V, a reading counts when it was above 254 V.
    assert stats.minutes_above_if(1, -1.0) == pytest.approx(
        sum(1 for v in values if v - 1.0 > EN50160_HIGH) * period / 60
    )


def test_finer_readings_stay_within_half_a_step() -> None:
    values = [230.0 + 0.037 * i for i in range(500)]
    phase = fill(values).phase(1)
    assert phase is not None
    assert abs(phase.p95 - nearest_rank(values, 95)) <= 0.05 + 1e-9


def test_time_weights_gaps_and_repeated_clocks() -> None:
    stats = VoltageStatistics(240.0, gap_s=30.0)
    stats.add(START, (250.0, None, None))
    stats.add(START + timedelta(seconds=10), (230.0, None, None))
    stats.add(START + timedelta(seconds=10), (260.0, None, None))  # the same clock again: ignored
    stats.add(START + timedelta(seconds=3610), (250.0, None, None))  # after an hour's gap: 10 s
    stats.add(START + timedelta(seconds=3630), (0.0, None, None))  # no voltage: nothing counted
    phase = stats.phase(1)
    assert phase is not None
    assert phase.hours == pytest.approx(30 / 3600)
    assert phase.minutes_above == pytest.approx(20 / 60)
    assert phase.maximum == 250.0
    assert stats.period == 10.0
    assert stats.phase(2) is None
    assert VoltageStatistics().phase(1) is None


def test_ten_minute_means_against_en50160() -> None:
    # A reading stands for the interval before it: the one stamped 12:10:00 ends the window
    # 12:00-12:10. 20 minutes at 250 V, then 10 at 256 V (a window above 253 V), then 10 at 205 V.
    values = [250.0] * 121 + [256.0] * 60 + [205.0] * 60
    stats = fill(values)
    stats.flush()
    phase = stats.phase(1)
    assert phase is not None
    assert phase.windows == 4
    assert phase.windows_above == 1
    assert phase.windows_outside == 2
    assert phase.max_window == pytest.approx(256.0)
    assert phase.en50160 is False
    assert [round(means[0] or 0, 1) for _, means in stats.windows] == [250.0, 250.0, 256.0, 205.0]
    day = stats.today()
    assert day is not None
    assert day.windows_above == [1, 0, 0]
    calm = fill([231.0] * 120)
    calm.flush()
    calm_phase = calm.phase(1)
    assert calm_phase is not None
    assert calm_phase.en50160 is True
    short = fill([231.0] * 10)  # under five minutes: no window
    short.flush()
    short_phase = short.phase(1)
    assert short_phase is not None
    assert short_phase.windows == 0
    assert short_phase.en50160 is None


def test_days_and_their_limit() -> None:
    stats = VoltageStatistics(250.0, max_days=2)
    for day in range(3):
        base = START + timedelta(days=day)
        for i in range(6):
            stats.add(
                base + timedelta(seconds=10 * i), (255.0 if i < 2 + day else 240.0, None, None)
            )
    assert [d.day.day for d in stats.days.values()] == [2, 3]
    today = stats.today()
    assert today is not None
    assert today.share_above(1) == pytest.approx(4 / 6)
    assert today.maximum[0] == 255.0
    assert VoltageStatistics().today() is None


def test_one_clock_ahead_hides_nothing_after_it() -> None:
    # F9: a telegram dated a day ahead among 10-second telegrams is left out, not the rest.
    stats = VoltageStatistics(250.0)
    for i in range(30):
        when = START + timedelta(seconds=10 * i)
        if i == 10:
            stats.add(START + timedelta(days=1), (240.0, None, None))
        stats.add(when, (255.0, None, None))
    stats.flush()
    phase = stats.phase(1)
    assert phase is not None
    assert phase.maximum == 255.0
    assert phase.hours == pytest.approx(30 * 10 / 3600)  # as without the outlier
    assert stats.clock_outliers == 1
    assert stats.last == START + timedelta(seconds=290)
    # A real gap (the next telegram is after the jump) counts.
    gap = VoltageStatistics(250.0)
    gap.add(START, (240.0, None, None))
    gap.add(START + timedelta(seconds=10), (240.0, None, None))
    gap.add(START + timedelta(hours=1), (255.0, None, None))
    assert gap.add(START + timedelta(hours=1, seconds=10), (255.0, None, None)) != ()
    assert gap.clock_outliers == 0
    assert gap.last == START + timedelta(hours=1, seconds=10)


def test_earlier_clocks_are_counted_not_mixed_in_and_rebase_when_asked() -> None:
    stats = VoltageStatistics(250.0)
    for i in range(10):
        stats.add(START + timedelta(seconds=10 * i), (240.0, None, None))
    for i in range(10):  # an overlapping log: left out
        assert stats.add(START + timedelta(seconds=10 * i), (260.0, None, None)) == ()
    assert stats.out_of_order == 10
    phase = stats.phase(1)
    assert phase is not None
    assert phase.maximum == 240.0
    live = VoltageStatistics(250.0, rebase_after=3)
    for i in range(10):
        live.add(START + timedelta(seconds=10 * i), (240.0, None, None))
    back = START - timedelta(hours=1)  # the meter's clock set back an hour
    accepted = [live.add(back + timedelta(seconds=10 * i), (260.0, None, None)) for i in range(6)]
    assert [len(a) for a in accepted] == [0, 0, 1, 1, 1, 1]
    assert live.rebased == 1
    assert live.last == back + timedelta(seconds=50)


def test_days_round_trip_and_refuse_what_was_never_saved() -> None:
    from p1lib.voltage_stats import days_from_list

    stats = VoltageStatistics(250.0)
    for i in range(6):
        stats.add(START + timedelta(seconds=10 * i), (255.0 if i < 3 else 240.0, None, None))
    saved = stats.days_as_list(2)
    again = VoltageStatistics(250.0)
    again.restore_days(days_from_list(saved))
    assert again.days_as_list(2) == saved
    assert stats.days_as_list(0) == []
    for broken in (
        [{**saved[0], "above": [1.0, 2.0]}],
        [{**saved[0], "seconds": float("nan")}],
        [{**saved[0], "seconds": -1}],
        [{**saved[0], "day": "yesterday"}],
        [{"day": "2023-06-01"}],
    ):
        with pytest.raises((ValueError, KeyError, TypeError)):
            days_from_list(broken)
