"""The current estimate against the truth of meters that send per-phase power (hidden from it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from validate_currents import SAMPLES, measure, sample_telegrams, simulated_telegrams


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is absent")
def test_real_dutch_telegrams_estimate_closer_than_the_whole_amps_or_unknown() -> None:
    result = measure(sample_telegrams())
    assert result.telegrams >= 10
    known = sorted(result.estimate.values)
    assert known, "the fit made no estimate at all"
    # Better than what the meter sends where it estimates, never an invented current far off:
    # the spec examples with made-up numbers (20-40 A from the truth) are refused, not fitted.
    whole = sorted(result.whole.values)
    assert known[len(known) // 2] < whole[len(whole) // 2]
    assert known[-1] < 5.0
    assert result.estimate.unknown > 0


def test_simulated_dsmr5_estimates_beat_the_midpoint() -> None:
    result = measure(simulated_telegrams(hours=0.5))
    estimate, midpoint = sorted(result.estimate.values), sorted(result.midpoint.values)
    assert result.estimate.unknown == 0
    assert estimate[len(estimate) // 2] < midpoint[len(midpoint) // 2]
    assert estimate[-1] < 1.0
