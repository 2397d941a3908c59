"""The impedance estimator: known truth, noise, drift, outliers, and no estimate from thin data."""

from __future__ import annotations

import math
import random
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib.decoder import Decoder
from p1lib.feeder import Feeder
from p1lib.generator import MeterSimulator
from p1lib.impedance import Estimate, ImpedanceEstimator, RatioHistogram, Reading
from p1lib.insight import PhaseInsight

TRUTH = ((0.2, -0.05, -0.05), (-0.05, 0.35, -0.05), (-0.05, -0.05, 0.5))


def synthetic(
    seconds: int,
    *,
    matrix: tuple[tuple[float, ...], ...] = TRUTH,
    per_phase: bool = True,
    noise: float = 0.05,
    drift: float = 0.02,
    outliers: float = 0.0,
    steps_per_hour: float = 30.0,
    seed: int = 1,
    period: int = 1,
    confounded: float = 0.0,
) -> list[Reading]:
    """Readings of a house whose loads switch, behind a known impedance matrix."""
    rng = random.Random(seed)
    load = [0.5, 1.0, 0.3]  # A of active current
    source = [233.0, 231.0, 236.0]
    readings = []
    for t in range(0, seconds, period):
        if rng.random() < steps_per_hour * period / 3600:
            phase = rng.randrange(3)
            step = rng.uniform(3.0, 12.0)
            change = step if load[phase] + step <= 25.0 else -min(step, load[phase])
            load[phase] += change
            if phase == 0 and rng.random() < confounded:
                # The source moves with the step (the neighbours' solar under the same cloud).
                source = [s - 0.4 * change for s in source]
        common = rng.gauss(0.0, drift * math.sqrt(period))
        source = [s + common for s in source]
        volts = [
            source[k] - sum(matrix[k][j] * load[j] for j in range(3)) + rng.gauss(0.0, noise)
            for k in range(3)
        ]
        if outliers and rng.random() < outliers:
            volts[rng.randrange(3)] += rng.choice((-1, 1)) * rng.uniform(3.0, 10.0)
        volts = [round(v, 1) for v in volts]
        active = tuple(load) if per_phase else None
        net = sum(a * v for a, v in zip(load, volts, strict=True)) / 1000.0
        amps = tuple(float(int(a)) for a in load)
        readings.append(
            Reading(float(t), (volts[0], volts[1], volts[2]), active, round(net, 3), amps)  # type: ignore[arg-type]
        )
    return readings


def feed(
    readings: list[Reading], estimator: ImpedanceEstimator | None = None
) -> ImpedanceEstimator:
    estimator = estimator or ImpedanceEstimator()
    for reading in readings:
        estimator.add(reading)
    return estimator


def assert_close(estimate: Estimate | None, truth: float, share: float = 0.1) -> None:
    assert estimate is not None
    assert estimate.value == pytest.approx(truth, rel=share)
    assert estimate.low <= truth <= estimate.high


@pytest.mark.parametrize("per_phase", [True, False])
def test_known_truth_within_ten_percent(per_phase: bool) -> None:
    snapshot = feed(synthetic(8 * 3600, per_phase=per_phase, seed=3)).snapshot()
    assert snapshot.method == ("per_phase_power" if per_phase else "total_power")
    for k in range(3):
        assert_close(snapshot.impedance[k], TRUTH[k][k])
    assert snapshot.neutral is not None
    assert snapshot.neutral.value == pytest.approx(0.1, abs=0.03)


def test_drift_and_noise_widen_the_interval_but_keep_the_truth() -> None:
    quiet = feed(synthetic(8 * 3600, seed=5)).snapshot()
    noisy = feed(synthetic(8 * 3600, seed=5, noise=0.3, drift=0.15)).snapshot()
    for k in range(3):
        assert_close(noisy.impedance[k], TRUTH[k][k], 0.15)
        q, n = quiet.impedance[k], noisy.impedance[k]
        assert q is not None
        assert n is not None
        assert n.half_width > q.half_width


def test_outliers_do_not_drag_the_median() -> None:
    snapshot = feed(synthetic(8 * 3600, seed=7, outliers=0.02)).snapshot()
    for k in range(3):
        assert_close(snapshot.impedance[k], TRUTH[k][k])


def test_a_grid_step_without_a_load_step_is_no_event() -> None:
    readings = synthetic(600, steps_per_hour=0)
    jumped = [
        r._replace(voltage=tuple(v + 2.0 for v in r.voltage)) if i >= 300 else r  # type: ignore[operator]
        for i, r in enumerate(readings)
    ]
    estimator = feed(jumped)
    assert estimator.snapshot().events == (0, 0, 0)


def test_too_little_data_gives_no_estimate() -> None:
    # Three load steps: an estimate from them would be a guess.
    estimator = feed(synthetic(900, steps_per_hour=12, seed=2))
    snapshot = estimator.snapshot()
    assert sum(snapshot.events) < 6
    assert snapshot.impedance == (None, None, None)
    assert all("needed" in reason for reason in snapshot.reasons)
    assert snapshot.neutral is None


def test_scattered_events_give_no_estimate() -> None:
    # Voltages unrelated to the currents: the events disagree, so no estimate is given.
    rng = random.Random(4)
    readings = [
        r._replace(voltage=tuple(round(230 + rng.gauss(0, 3), 1) for _ in range(3)))
        for r in synthetic(6 * 3600, seed=4)
    ]
    snapshot = feed(readings, ImpedanceEstimator(quiet_a=100.0)).snapshot()
    assert snapshot.impedance == (None, None, None)


def test_ramps_are_not_events() -> None:
    # A current rising by 1 A per telegram for 10 telegrams (a charger ramping up) is no event.
    estimator = ImpedanceEstimator()
    for t in range(40):
        current = min(max(t - 10, 0), 10) * 1.0
        volts = 230.0 - 0.3 * current
        estimator.add(
            Reading(float(t), (volts, 230.0, 230.0), (current, 0.0, 0.0), None, (0, 0, 0))
        )  # type: ignore[arg-type]
    assert estimator.snapshot().events == (0, 0, 0)


def test_a_load_on_for_one_interval_gives_two_events() -> None:
    estimator = ImpedanceEstimator()
    currents = [0.0] * 5 + [10.0] + [0.0] * 5  # on for one 10 s interval
    events = []
    for t, current in enumerate(currents):
        volts = round(230.0 - 0.3 * current, 1)
        reading = Reading(
            10.0 * t, (volts, 230.0, 230.0), None, current * volts / 1000, (current, 0, 0)
        )  # type: ignore[arg-type]
        event = estimator.add(reading)
        if event is not None:
            events.append(event)
    assert [(e.phase, round(e.current, 1)) for e in events] == [(1, 10.0), (1, -10.0)]
    assert all(-e.voltage[0] / e.current == pytest.approx(0.3, rel=0.05) for e in events)  # type: ignore[operator]


def test_gaps_and_readings_without_currents_restart() -> None:
    estimator = ImpedanceEstimator()
    plain = Reading(0.0, (230.0, 230.0, 230.0), None, None, (None, None, None))
    assert estimator.add(plain) is None
    assert estimator.add(plain._replace(seconds=1.0)) is None  # no currents at all
    on = Reading(100.0, (228.0, 230.0, 230.0), (10.0, 0.0, 0.0), None, (10, 0, 0))  # type: ignore[arg-type]
    assert estimator.add(on) is None  # after a gap
    assert estimator.add(on._replace(seconds=99.0)) is None  # the clock went back


def test_attribution_needs_one_phase_whose_amps_moved() -> None:
    estimator = ImpedanceEstimator()
    base = Reading(0.0, (230.0, 230.0, 230.0), None, 0.5, (1.0, 0.0, 0.0))
    estimator.add(base)
    estimator.add(base._replace(seconds=10.0))
    # 2.3 kW more, but the whole amps moved on two phases: which one is unknown.
    both = Reading(20.0, (228.0, 228.0, 230.0), None, 2.8, (6.0, 5.0, 0.0))
    estimator.add(both)
    assert estimator.add(both._replace(seconds=30.0)) is None
    # Amps that moved the wrong way are no evidence either.
    wrong = Reading(40.0, (226.0, 228.0, 230.0), None, 5.1, (1.0, 5.0, 0.0))
    estimator.add(wrong)
    assert estimator.add(wrong._replace(seconds=50.0)) is None
    assert estimator.snapshot().events == (0, 0, 0)


def test_single_phase_meter() -> None:
    estimator = ImpedanceEstimator()
    rng = random.Random(1)
    load = 0.0
    for t in range(0, 6 * 3600, 10):
        if rng.random() < 0.05:
            load = 0.0 if load else rng.uniform(4, 12)
        volts = round(231.0 - 0.4 * load + rng.gauss(0, 0.05), 1)
        estimator.add(
            Reading(
                float(t),
                (volts, None, None),
                None,
                round(load * volts / 1000, 3),
                (int(load), None, None),
            )
        )
    snapshot = estimator.snapshot()
    assert_close(snapshot.impedance[0], 0.4)
    assert snapshot.impedance[1:] == (None, None)


def test_evidence_survives_a_restart() -> None:
    estimator = feed(synthetic(4 * 3600, seed=9))
    insight = PhaseInsight(estimator=estimator)
    state = insight.as_dict()
    again = PhaseInsight()
    again.restore(state)
    assert again.estimator.snapshot() == estimator.snapshot()
    again.restore({"version": 99})  # an unknown version is ignored
    assert again.estimator.snapshot() == estimator.snapshot()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-0.9, 1.9, allow_nan=False), min_size=1, max_size=60))
def test_weighted_median_against_a_sorted_reference(ratios: list[float]) -> None:
    histogram = RatioHistogram()
    for ratio in ratios:
        histogram.add(ratio, 1.0)
    ordered = sorted(ratios)
    n = len(ordered)
    median = histogram.quantile(0.5)
    # Half the weight lies at or below the median, within one bin of the sorted reference.
    assert ordered[math.ceil(n / 2) - 1] - 0.0011 <= median <= ordered[n // 2] + 0.0011
    estimate = histogram.estimate()
    assert estimate is not None
    assert estimate.low <= estimate.value <= estimate.high
    assert ordered[0] - 0.0011 <= estimate.low
    assert estimate.high <= ordered[-1] + 0.0011


def test_histogram_edges() -> None:
    histogram = RatioHistogram()
    assert histogram.estimate() is None
    histogram.add(-5.0, 1.0)
    histogram.add(5.0, 1.0)
    histogram.add(5.0, 1.0)
    assert histogram.quantile(0.2) == -math.inf
    assert histogram.quantile(0.9) == math.inf
    empty_low = RatioHistogram()
    empty_low.add(0.5, 1.0)
    assert empty_low.quantile(0.0) == pytest.approx(0.5)  # the lowest occupied bin
    only_high = RatioHistogram()
    only_high.add(7.0, 1.0)
    assert only_high.quantile(0.0) == math.inf
    restored = RatioHistogram.from_dict(histogram.as_dict())
    assert restored.quantile(0.9) == math.inf
    assert restored.count == 3
    estimate = Estimate(0.0, -0.1, 0.1, 6)
    assert estimate.relative == math.inf
    assert estimate.confidence == "low"
    assert Estimate(0.2, 0.19, 0.21, 6).confidence == "high"
    assert Estimate(0.2, 0.17, 0.23, 6).confidence == "medium"


# --- on the meter simulator's telegrams, with the feeder's physics -------------------------------


def simulated(style: str, hours: float, feeder: Feeder, seed: int = 2) -> PhaseInsight:
    sim = MeterSimulator(
        style, seed=seed, start=datetime(2023, 6, 1, 6, 0, 0), solar=True, feeder=feeder
    )
    insight = PhaseInsight()
    decoder = Decoder()
    for data in sim.telegrams(int(hours * 3600 / sim.period)):
        for result in decoder.feed(data):
            assert result.telegram is not None
            insight.update(result.telegram)
    return insight


@pytest.mark.parametrize(("style", "hours"), [("be_fluvius", 16), ("hu_sanxing", 48)])
def test_simulated_meters_within_ten_percent(style: str, hours: float) -> None:
    feeder = Feeder()
    truth = feeder.truth()
    snapshot = simulated(style, hours, feeder).estimator.snapshot()
    assert snapshot.method == ("per_phase_power" if style == "be_fluvius" else "total_power")
    for k in range(3):
        assert_close(snapshot.impedance[k], truth[k][k])


def test_feeder_truth_and_checks() -> None:
    resistive = Feeder().truth()
    assert resistive[0] == pytest.approx((0.2, -0.05, -0.05), abs=1e-4)
    reactive = Feeder(x_over_r=0.4).truth()
    assert reactive[1][1] == pytest.approx(0.35, abs=1e-3)
    assert reactive[0][1] != pytest.approx(reactive[0][2], abs=1e-3)  # the neutral's reactance
    with pytest.raises(ValueError, match="neutral"):
        Feeder(impedance=(0.05, 0.3, 0.3), neutral=0.1)


def test_the_default_simulator_is_unchanged_without_a_feeder() -> None:
    plain = b"".join(MeterSimulator("hu_sanxing", seed=4).telegrams(3))
    assert plain == b"".join(MeterSimulator("hu_sanxing", seed=4, feeder=None).telegrams(3))
    with_feeder = b"".join(MeterSimulator("hu_sanxing", seed=4, feeder=Feeder()).telegrams(3))
    assert with_feeder != plain


optional = st.one_of(st.none(), st.floats(-1e5, 1e5, allow_nan=False))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.1, 60.0),
            st.tuples(optional, optional, optional),
            st.one_of(st.none(), st.tuples(optional, optional, optional)),
            optional,
            st.tuples(optional, optional, optional),
        ),
        max_size=80,
    )
)
def test_any_readings_give_estimates_or_none_never_an_error(rows: list[Any]) -> None:
    insight = PhaseInsight()
    seconds = 0.0
    for step, voltage, active, net, amps in rows:
        seconds += step
        insight.add(Reading(seconds, voltage, active, net, amps))
    snapshot = insight.snapshot()
    for estimate in snapshot.impedance.impedance:
        assert estimate is None or (
            estimate.value > 0 and math.isfinite(estimate.value) and estimate.low <= estimate.high
        )
    what_if = insight.what_if(2.0)
    assert what_if.best_phase in (None, 1, 2, 3)


def test_a_change_of_the_meters_kind_of_currents_restarts() -> None:
    estimator = ImpedanceEstimator()
    exact = Reading(0.0, (230.0, 230.0, 230.0), (0.0, 0.0, 0.0), 0.0, (0, 0, 0))  # type: ignore[arg-type]
    estimator.add(exact)
    estimator.add(exact._replace(seconds=1.0, active=(5.0, 0.0, 0.0)))  # a change under way
    total = Reading(2.0, (228.0, 230.0, 230.0), None, 2.3, (10, 0, 0))  # type: ignore[arg-type]
    assert estimator.add(total) is None
    assert estimator.add(total._replace(seconds=3.0, net_power=4.6)) is None
    assert estimator.snapshot().events == (0, 0, 0)


def test_events_during_which_the_source_moved_with_the_current_are_left_out() -> None:
    readings = synthetic(12 * 3600, seed=8, confounded=0.3)
    trusting = feed(readings, ImpedanceEstimator(common_sigmas=math.inf))
    careful = feed(readings)
    biased = trusting.snapshot().impedance[0]
    assert biased is not None
    assert biased.low > 0.2  # the source's move lent the events its drop: a wrong interval
    assert careful.common_rejected > 0
    assert_close(careful.snapshot().impedance[0], 0.2)
    assert_close(careful.snapshot().impedance[1], 0.35)
