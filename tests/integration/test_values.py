"""Update windows (values.py): the pace chosen from the meter's clock, what a window shows, and
threshold crossings shown at once. Telegrams of simulated meters, a fake monotonic clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.p1_dsmr.p1lib.derived import DerivedCalculator, Thresholds
from custom_components.p1_dsmr.p1lib.parsing import Parser
from custom_components.p1_dsmr.values import (
    AUTO_WINDOW,
    MeterPeriod,
    Update,
    ValueMapper,
    automatic_interval,
)

from .conftest import telegrams
from .test_recorder import with_voltage


def run(
    mapper: ValueMapper, data: list[bytes], period: float, threshold: float = 253.0
) -> list[list[Update]]:
    """Feed the telegrams a period apart; the updates after each."""
    parser = Parser()
    calculator = DerivedCalculator(Thresholds(voltage=threshold))
    out = []
    clock = 0.0
    for raw in data:
        telegram = parser.parse(raw[: raw.rindex(b"!") + 1])
        assert telegram is not None
        out.append(mapper.update(telegram, calculator.update(telegram), clock))
        clock += period
    return out


def test_the_period_is_the_median_step_of_the_meters_clock() -> None:
    period = MeterPeriod()
    assert period.seconds is None
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for seconds in (0, 1, 2, 3, 5, 6, 7, 7, 8):  # a lost telegram (4), a repeated clock (7)
        period.add(start + timedelta(seconds=seconds))
    period.add(None)  # a telegram without a clock changes nothing
    assert period.seconds == 1.0


def test_a_meter_without_a_clock_is_timed_by_arrival() -> None:
    period = MeterPeriod()
    for arrived in (100.0, 101.0, 102.1, 103.0, 104.0, 105.0):
        period.add(None, arrived)
    assert period.seconds == 1.0
    period.add(datetime(2026, 1, 1, tzinfo=UTC), 106.0)  # a clock, once seen, decides
    assert period.seconds is None
    period.add(datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC), 107.0)
    assert period.seconds == 10.0


def test_automatic_interval() -> None:
    assert automatic_interval(None) == 0  # until the period is known: every telegram
    assert automatic_interval(1.0) == AUTO_WINDOW
    assert automatic_interval(5.0) == AUTO_WINDOW
    assert automatic_interval(10.0) == 0  # DSMR 4, Hungarian, Luxembourg: one per telegram


def test_a_1_second_meter_gets_10_second_windows_of_exact_counters() -> None:
    data = telegrams("nl_dsmr5", 62)
    mapper = ValueMapper(None)
    updates = run(mapper, data, 1.0)
    assert mapper.period.seconds == 1.0
    assert mapper.interval == AUTO_WINDOW
    shown = [u for step in updates for u in step]
    assert 7 <= len(shown) <= 9  # the first telegrams one by one, then 6 a minute
    # Energy counters: the newest telegram's, exact; the averages between the window's extremes.
    last = next(i for i in range(len(updates) - 1, -1, -1) if updates[i])
    window = updates[last][-1]
    newest = Parser().parse(data[last][: data[last].rindex(b"!") + 1])
    assert newest is not None
    assert window.values["energy_import_t1"] == newest.number("1-0:1.8.1")
    spread = window.spread["voltage_l1"]
    assert spread.telegrams == 10
    voltage = window.values["voltage_l1"]
    assert isinstance(voltage, float)
    assert spread.minimum <= voltage <= spread.maximum


def test_a_chosen_interval_overrides_the_meters_pace() -> None:
    mapper = ValueMapper(0)
    assert sum(len(u) for u in run(mapper, telegrams("nl_dsmr5", 20), 1.0)) == 20
    mapper = ValueMapper(30)
    assert sum(len(u) for u in run(mapper, telegrams("hu_sanxing", 13), 10.0)) == 5


@settings(max_examples=40, deadline=None)
@given(
    spike_at=st.integers(min_value=3, max_value=40),
    volts=st.floats(min_value=253.1, max_value=300.0),
    interval=st.sampled_from([None, 5.0, 10.0, 60.0]),
)
def test_a_threshold_crossing_is_shown_with_its_telegram(
    spike_at: int, volts: float, interval: float | None
) -> None:
    base = [with_voltage(t, 231.0) for t in telegrams("nl_dsmr5", 45)]
    base[spike_at] = with_voltage(base[spike_at], round(volts, 1))
    updates = run(ValueMapper(interval), base, 1.0)
    crossing = updates[spike_at]
    assert crossing, "the crossing telegram is shown at once"
    assert crossing[-1].values["voltage_l1"] == round(volts, 1)  # as the meter sent it
    assert crossing[-1].values["overvoltage_l1"] is True
    assert not crossing[-1].spread
    # Nothing before it is lost: the open window was shown first, averaged.
    shown = [u for step in updates[:spike_at] for u in step]
    assert all(u.values["voltage_l1"] == 231.0 for u in shown)
    # The next windows: the flag clears, the voltage is averaged again.
    later = [u for step in updates[spike_at + 1 :] for u in step]
    if later:
        assert later[-1].values["overvoltage_l1"] is False


def test_a_sustained_overvoltage_is_paced_like_any_value() -> None:
    data = [with_voltage(t, 256.0) for t in telegrams("nl_dsmr5", 62)]
    updates = run(ValueMapper(None), data, 1.0)
    shown = [u for step in updates for u in step]
    assert len(shown) <= 10  # a crossing once, not an update per telegram all afternoon
    assert all(u.values["overvoltage_l1"] is True for u in shown)


def test_a_voltage_hovering_at_the_threshold_adds_one_crossing_a_minute() -> None:
    data = telegrams("nl_dsmr5", 122)
    data = [with_voltage(t, 254.0 if i % 12 == 5 else 250.0) for i, t in enumerate(data)]
    updates = run(ValueMapper(None), data, 1.0)
    shown = [u for step in updates for u in step]
    # 12 windows of 10 s in 2 minutes, and a crossing (with the window before it) once a minute
    assert len(shown) <= 12 + 2 * 2 + 3
    assert sum(1 for u in shown if u.values["voltage_l1"] == 254.0) == 2  # shown as sent
    windows = [u for u in shown if u.spread]
    held = [u for u in windows if u.spread["voltage_l1"].maximum == 254.0]
    assert held  # the crossings held off are in their windows: the maximum, the flag on
    assert all(u.values["overvoltage_l1"] is True for u in held)
    assert all(u.values["overvoltage_l1"] is False for u in windows if u not in held)
