"""PhaseInsight: telegrams in, the snapshot and the what-if out."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from p1lib.decoder import Decoder
from p1lib.impedance import Reading
from p1lib.insight import PhaseInsight, reading
from p1lib.parsing import Parser
from p1lib.telegram import CEST

from .builders import telegram
from .test_impedance import synthetic

START = datetime(2023, 6, 1, 10, 0, 0, tzinfo=CEST)


def insight_with_overvoltage(threshold: float = 250.0) -> tuple[PhaseInsight, list[Reading]]:
    """L1 sits near the threshold: a load there keeps it below; the others are far from it."""
    readings = [
        r._replace(voltage=(r.voltage[0] + 16.5, r.voltage[1], r.voltage[2]))  # type: ignore[operator]
        for r in synthetic(8 * 3600, seed=11)
    ]
    insight = PhaseInsight(threshold)
    for r in readings:
        insight.add(r, START + timedelta(seconds=r.seconds))
    return insight, readings


def test_what_if_shifts_by_the_impedances_and_counts_like_a_reference() -> None:
    insight, readings = insight_with_overvoltage()
    snapshot = insight.estimator.snapshot()
    matrix = snapshot.matrix()
    what_if = insight.what_if(2.0)
    assert [o.phase for o in what_if.options] == [1, 2, 3]
    for option in what_if.options:
        j = option.phase - 1
        stats = insight.voltage.phase(option.phase)
        assert stats is not None
        assert option.current == pytest.approx(2000.0 / stats.mean)
        for k in range(3):
            coefficient = matrix[k][j]
            assert coefficient is not None
            delta = option.delta_v[k]
            assert delta == pytest.approx(-coefficient * option.current)
            # Minutes above: every reading shifted, counted one by one (10 s... here 1 s each).
            reference = sum(1 for r in readings[1:] if (r.voltage[k] or 0) + delta > 250.0) / 60
            first = readings[0].voltage[k] or 0
            reference += (1 / 60) if first + delta > 250.0 else 0  # the first reading counts too
            assert option.minutes_above[k] == pytest.approx(reference)
        assert option.complete
        assert option.total_minutes == pytest.approx(
            math.fsum(m or 0 for m in option.minutes_above)
        )
    on_l1 = what_if.options[0]
    assert on_l1.delta_v[0] == pytest.approx(-0.2 * on_l1.current, rel=0.1)
    assert (on_l1.delta_v[1] or 0) > 0  # the neutral: the other phases rise
    assert on_l1.delta_v_range[0] is not None
    low, high = on_l1.delta_v_range[0]
    assert low <= (on_l1.delta_v[0] or 0) <= high
    baseline = what_if.baseline_minutes[0]
    assert baseline is not None
    assert baseline > (on_l1.minutes_above[0] or 0)
    assert what_if.best_phase == 1
    assert insight.best_phase(2.0) == 1
    assert what_if.reason == ""
    # A generator (negative load) raises its phase: L1 is then the worst place for it.
    assert insight.what_if(-2.0).best_phase != 1


def test_no_best_phase_without_every_impedance() -> None:
    insight = PhaseInsight()
    for r in synthetic(600, steps_per_hour=0):
        insight.add(r)
    what_if = insight.what_if(2.0)
    assert what_if.best_phase is None
    assert "no impedance estimate for L1, L2, L3" in what_if.reason
    assert all(not o.complete and o.total_minutes is None for o in what_if.options)
    single = PhaseInsight()
    for r in synthetic(600, steps_per_hour=0):
        single.add(r._replace(voltage=(r.voltage[0], None, None)))
    assert "fewer than two phases" in single.what_if(1.0).reason


def test_snapshot_headroom_and_today() -> None:
    insight, _ = insight_with_overvoltage(250.0)
    snapshot = insight.snapshot()
    assert snapshot.threshold == 250.0
    assert snapshot.today == START.date()
    for k in range(3):
        latest = snapshot.latest[k]
        assert latest is not None
        assert snapshot.headroom[k] == pytest.approx(250.0 - latest)
    share = snapshot.share_above_today[0]
    stats = snapshot.voltage[0]
    assert share is not None
    assert stats is not None
    assert share == pytest.approx(stats.share_above)
    assert snapshot.share_above_today[1] == 0.0
    empty = PhaseInsight().snapshot()
    assert empty.today is None
    assert empty.headroom == (None, None, None)
    assert empty.impedance.method == ""


PER_PHASE = (
    "1-0:1.7.0(01.000*kW)",
    "1-0:2.7.0(01.500*kW)",
    "1-0:32.7.0(230.0*V)",
    "1-0:52.7.0(250.0*V)",
    "1-0:72.7.0(240.0*V)",
    "1-0:31.7.0(004*A)",
    "1-0:51.7.0(006*A)",
    "1-0:71.7.0(000*A)",
    "1-0:21.7.0(01.000*kW)",
    "1-0:41.7.0(00.000*kW)",
    "1-0:61.7.0(00.000*kW)",
    "1-0:22.7.0(00.000*kW)",
    "1-0:42.7.0(01.500*kW)",
    "1-0:62.7.0(00.000*kW)",
)


def parse(*lines: str):  # type: ignore[no-untyped-def]
    data = telegram(*lines)
    result = Parser().parse(data[: data.rindex(b"!") + 1])
    assert result is not None
    return result


def test_reading_from_telegrams() -> None:
    found = reading(parse("0-0:1.0.0(230601120000S)", *PER_PHASE))
    assert found is not None
    assert found.seconds == START.replace(hour=12).timestamp()
    assert found.voltage == (230.0, 250.0, 240.0)
    assert found.active == pytest.approx((1000 / 230, -1500 / 250, 0.0))
    assert found.net_power == pytest.approx(-0.5)
    assert found.amps == (4.0, 6.0, 0.0)
    hungarian = reading(
        parse(
            "0-0:1.0.0(230601120000S)",
            "1-0:1.7.0(02.476*kW)",
            "1-0:32.7.0(234.3*V)",
            "1-0:31.7.0(009*A)",
        )
    )
    assert hungarian is not None
    assert hungarian.active is None
    assert hungarian.net_power == pytest.approx(2.476)
    assert hungarian.voltage == (234.3, None, None)
    assert reading(parse(*PER_PHASE)) is None  # no clock: no place in time
    assert PhaseInsight().update(parse(*PER_PHASE)) is None


def test_the_bundled_sample_feeds_without_error() -> None:
    from p1lib.converter import SAMPLE_LOG

    insight = PhaseInsight()
    decoder = Decoder()
    for result in decoder.feed(SAMPLE_LOG.read_bytes()):
        if result.telegram is not None and result.accepted:
            insight.update(result.telegram)
    snapshot = insight.snapshot()
    assert insight.telegrams > 150
    assert all(v is not None for v in snapshot.voltage)
    # Thirty minutes of a generated meter with few load steps: no impedance is claimed.
    assert snapshot.impedance.impedance.count(None) >= 2


def test_state_survives_a_restart_and_broken_state_is_refused() -> None:
    insight, _ = insight_with_overvoltage(250.0)
    saved = insight.as_dict()
    import json

    saved = json.loads(json.dumps(saved))  # what a Store writes and reads
    again = PhaseInsight(250.0)
    again.restore(saved)
    before, after = insight.snapshot(), again.snapshot()
    assert after.impedance.impedance == before.impedance.impedance
    assert again.voltage.days_as_list(2) == insight.voltage.days_as_list(2)
    assert after.share_above_today == (None, None, None)  # no voltage yet since the restart
    other = PhaseInsight(245.0)  # another threshold: the days were counted against 250 V
    other.restore(saved)
    assert other.voltage.days == {}
    assert other.snapshot().impedance.impedance == before.impedance.impedance
    PhaseInsight().restore({"version": 99})  # unknown: ignored
    broken = json.loads(json.dumps(saved))
    broken["impedance"]["histograms"][0][0]["bins"] = {"100000": 1.0}
    fresh = PhaseInsight(250.0)
    with pytest.raises(ValueError, match="no bin"):
        fresh.restore(broken)
    assert fresh.voltage.days == {}
    assert fresh.snapshot().impedance.impedance == (None, None, None)
    broken = json.loads(json.dumps(saved))
    broken["impedance"]["histograms"] = broken["impedance"]["histograms"][:2]
    with pytest.raises(ValueError, match="3 x 3"):
        fresh.restore(broken)
    broken = json.loads(json.dumps(saved))
    broken["impedance"]["histograms"][1][1]["total"] = -1.0
    with pytest.raises(ValueError, match="not a weight"):
        fresh.restore(broken)


def test_values_no_meter_can_send_are_left_out() -> None:
    # A telegram that passed its CRC with an infinite or absurd voltage (the coordinator drops
    # such values; the insight must neither raise nor count them).
    hostile = reading(
        parse(
            "0-0:1.0.0(230601120000S)",
            "1-0:32.7.0(" + "9" * 400 + ".0*V)",
            "1-0:52.7.0(5230.0*V)",
            "1-0:72.7.0(231.0*V)",
            "1-0:31.7.0(" + "9" * 400 + "*A)",
            "1-0:1.7.0(01.000*kW)",
        )
    )
    assert hostile is not None
    assert hostile.voltage == (None, None, 231.0)
    assert hostile.amps[0] is None
    insight = PhaseInsight()
    insight.add(hostile, START)
    insight.add(hostile._replace(seconds=hostile.seconds + 10), START + timedelta(seconds=10))
    assert insight.snapshot().voltage[0] is None
    phase3 = insight.snapshot().voltage[2]
    assert phase3 is not None
    assert phase3.maximum == 231.0
