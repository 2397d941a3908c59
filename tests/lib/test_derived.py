"""Derived values: every documented formula, on hand-made telegrams."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib.derived import FIT_TOLERANCE, DerivedCalculator, Thresholds
from p1lib.parsing import Parser, Telegram

from .builders import HU_LINES, telegram


def parse(*lines: str, header: str = "/TST5 t") -> Telegram:
    data = telegram(*lines, header=header)
    result = Parser().parse(data[: data.rindex(b"!") + 1])
    assert result is not None
    return result


PER_PHASE = (
    "0-0:1.0.0(230601120000S)",
    "1-0:1.8.1(000100.000*kWh)",
    "1-0:1.8.2(000050.000*kWh)",
    "1-0:2.8.1(000010.000*kWh)",
    "1-0:2.8.2(000000.000*kWh)",
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


def test_net_power_and_p_over_u() -> None:
    d = DerivedCalculator().update(parse(*PER_PHASE))
    assert d.net_power == pytest.approx(-0.5)
    assert (d.net_power_l1, d.net_power_l2, d.net_power_l3) == pytest.approx((1.0, -1.5, 0.0))
    assert d.current_method == "p_over_u"
    assert not d.current_estimated
    assert d.current_l1 == pytest.approx(1000 / 230)
    assert d.current_l2 == pytest.approx(1500 / 250)
    assert d.current_l3 == 0.0
    # Simultaneous: 1.0 kW imported on L1 while 1.5 kW exported on L2.
    assert d.simultaneous_power == pytest.approx(1.0)
    # Signed total current: 1000 * P_net / mean(U).
    assert d.signed_current == pytest.approx(1000 * -0.5 / 240.0)
    assert (d.max_voltage, d.max_voltage_phase) == (250.0, 2)
    assert (d.max_current_phase, d.overvoltage_l2, d.overvoltage_l1) == (2, True, False)
    assert d.interval_s is None  # first telegram


def test_interval_energy_and_average_power() -> None:
    calc = DerivedCalculator()
    calc.update(parse(*PER_PHASE))
    lines = list(PER_PHASE)
    lines[0] = "0-0:1.0.0(230601120010S)"
    lines[1] = "1-0:1.8.1(000100.002*kWh)"
    lines[3] = "1-0:2.8.1(000010.005*kWh)"
    d = calc.update(parse(*lines))
    assert d.interval_s == 10.0
    assert d.energy_import_interval == pytest.approx(0.002)
    assert d.energy_export_interval == pytest.approx(0.005)
    assert d.energy_simultaneous == pytest.approx(0.002)
    assert d.avg_power_import == pytest.approx(0.002 * 360)
    assert d.avg_power_export == pytest.approx(0.005 * 360)
    assert d.avg_power_net == pytest.approx(-0.003 * 360)


def test_counter_going_back_gives_no_interval_values() -> None:
    calc = DerivedCalculator()
    calc.update(parse(*PER_PHASE))
    lines = list(PER_PHASE)
    lines[0] = "0-0:1.0.0(230601120010S)"
    lines[1] = "1-0:1.8.1(000099.000*kWh)"
    d = calc.update(parse(*lines))
    assert d.energy_import_interval is None
    assert d.avg_power_import is None
    assert d.energy_export_interval == 0.0


def test_hungarian_power_factor_fit() -> None:
    d = DerivedCalculator().update(parse(*HU_LINES, header="/AUX59902759988"))
    assert d.current_method == "power_factor_fit"
    assert d.current_estimated
    weights = [234.3 * 0.913, 230.4 * 0.997, 236.0 * 0.918]
    fraction = (2476 - weights[1] * 9) / sum(weights)
    assert d.current_l1 == pytest.approx(fraction)
    assert d.current_l2 == pytest.approx(9 + fraction)
    assert d.current_l3 == pytest.approx(fraction)
    # The fitted currents reproduce the total power.
    total = sum(
        w * i for w, i in zip(weights, (d.current_l1, d.current_l2, d.current_l3), strict=True)
    )
    assert total == pytest.approx(2476)
    assert d.net_power_l1 is None
    assert d.simultaneous_power is None


def _hu(**replace: str) -> Telegram:
    """The Hungarian telegram with some lines replaced (by OBIS code) or removed (empty text)."""
    lines = [line for line in HU_LINES if line.split("(")[0] not in replace]
    lines += [f"{code}({value})" for code, value in replace.items() if value]
    return parse(*lines, header="/AUX5x")


def test_a_fit_outside_the_interval_is_unknown_not_pinned_to_the_clamp() -> None:
    # 50 kW cannot come from 0 + 9 + 0 whole amps: no fraction in [0, 1) explains it.
    d = DerivedCalculator().update(_hu(**{"1-0:1.7.0": "50.000*kW"}))
    assert d.current_method == "inputs_disagree"
    assert d.current_estimated
    assert (d.current_l1, d.current_l2, d.current_l3) == (None, None, None)
    assert d.max_current is None
    assert not d.overcurrent_l2


def test_a_total_below_the_whole_amps_is_unknown() -> None:
    # 9 A at 230 V and PF 0.997 is over 2 kW; a 0.5 kW total disagrees.
    d = DerivedCalculator().update(_hu(**{"1-0:1.7.0": "00.500*kW"}))
    assert d.current_method == "inputs_disagree"
    assert d.current_l2 is None


def test_export_on_one_phase_and_import_on_another_is_unknown() -> None:
    # L1 exports 3 kW of solar while L2 imports 2 kW: the meter's totals are nets (1 kW export),
    # far below what 13 + 9 whole amps carry.
    d = DerivedCalculator().update(
        _hu(**{"1-0:31.7.0": "013*A", "1-0:1.7.0": "00.000*kW", "1-0:2.7.0": "01.000*kW"})
    )
    assert d.current_method == "inputs_disagree"
    assert (d.current_l1, d.current_l2) == (None, None)


def test_export_on_every_phase_is_fitted_like_import() -> None:
    d = DerivedCalculator().update(_hu(**{"1-0:1.7.0": "00.000*kW", "1-0:2.7.0": "02.476*kW"}))
    imported = DerivedCalculator().update(_hu())
    assert d.current_method == "power_factor_fit"
    assert d.current_l2 == pytest.approx(imported.current_l2)


def test_a_fraction_just_outside_the_interval_is_its_edge() -> None:
    # 1.0 + half the tolerance: rounding, read as the top of the interval.
    weights = [234.3 * 0.913, 230.4 * 0.997, 236.0 * 0.918]
    watts = weights[1] * 9 + sum(weights) * (1.0 + FIT_TOLERANCE / 2)
    d = DerivedCalculator().update(_hu(**{"1-0:1.7.0": f"{watts / 1000:06.3f}*kW"}))
    assert d.current_method == "power_factor_fit"
    assert d.current_l2 == pytest.approx(9.999)
    assert d.current_l1 == pytest.approx(0.999)


def test_a_phase_without_voltage_falls_back_to_the_midpoint() -> None:
    # The fit cannot account for L2's power without its voltage.
    d = DerivedCalculator().update(_hu(**{"1-0:52.7.0": ""}))
    assert d.current_method == "midpoint"
    assert (d.current_l1, d.current_l2, d.current_l3) == (0.0, 9.5, 0.0)


@settings(max_examples=300)
@given(
    currents=st.tuples(*[st.floats(0.0, 40.0)] * 3),
    voltages=st.tuples(*[st.floats(200.0, 260.0)] * 3),
    power_factors=st.tuples(*[st.floats(0.3, 1.0)] * 3),
    export=st.booleans(),
)
def test_fit_of_consistent_inputs_stays_in_each_truncation_interval(
    currents: tuple[float, float, float],
    voltages: tuple[float, float, float],
    power_factors: tuple[float, float, float],
    export: bool,
) -> None:
    """A meter whose phases all flow one way: each estimate lies in its reading's [n, n + 1), and
    the estimate is never worse than the reading's midpoint by more than the spread of the phases'
    fractions."""
    watts = sum(i * u * pf for i, u, pf in zip(currents, voltages, power_factors, strict=True))
    power = f"{watts / 1000:06.3f}*kW"
    lines = {
        **{f"1-0:{c}.7.0": f"{u:05.1f}*V" for c, u in zip((32, 52, 72), voltages, strict=True)},
        **{f"1-0:{c}.7.0": f"{int(i):03d}*A" for c, i in zip((31, 51, 71), currents, strict=True)},
        **{f"1-0:{c}.7.0": f"{pf:.3f}" for c, pf in zip((33, 53, 73), power_factors, strict=True)},
        "1-0:1.7.0": "00.000*kW" if export else power,
        "1-0:2.7.0": power if export else "00.000*kW",
    }
    d = DerivedCalculator().update(_hu(**lines))
    estimates = (d.current_l1, d.current_l2, d.current_l3)
    if d.current_method == "inputs_disagree":
        # Only the rounding of the telegram's numbers can push a consistent meter out: at the
        # edge of an interval, with little current to weigh against it.
        fractions = [i - int(i) for i in currents]
        assert min(fractions) < 0.01 or max(fractions) > 0.99 or watts < 50
        return
    assert d.current_method == "power_factor_fit"
    spread = max(i - int(i) for i in currents) - min(i - int(i) for i in currents)
    for estimate, true in zip(estimates, currents, strict=True):
        assert estimate is not None
        assert int(true) <= estimate < int(true) + 1
        assert abs(estimate - true) <= spread + 0.02 + 0.5 / max(sum(voltages) / 3 * 0.3, 1)


def test_reported_decimals_are_kept() -> None:
    d = DerivedCalculator().update(
        parse("1-0:31.7.0(001.60*A)", "1-0:51.7.0(001.66*A)", "1-0:21.7.0(00.230*kW)")
    )
    assert d.current_method == "reported"
    assert (d.current_l1, d.current_l2, d.current_l3) == (1.6, 1.66, None)


def test_midpoint_without_power() -> None:
    d = DerivedCalculator().update(parse("1-0:31.7.0(003*A)", "1-0:51.7.0(000*A)"))
    assert d.current_method == "midpoint"
    assert (d.current_l1, d.current_l2, d.current_l3) == (3.5, 0.0, None)


def test_no_currents_at_all() -> None:
    d = DerivedCalculator().update(parse("1-0:1.7.0(00.100*kW)"))
    assert d.current_method == ""
    assert d.max_current is None
    assert d.signed_current is None


def test_thresholds_and_running_peaks() -> None:
    calc = DerivedCalculator(Thresholds(voltage=235.0, current=5.0, power=1.2))
    first = calc.update(parse(*PER_PHASE))
    assert first.new_peak_voltage
    assert first.overcurrent_l2  # 6 A > 5 A
    assert first.overpower  # 1.5 kW export > 1.2 kW
    assert (first.overvoltage_l1, first.overvoltage_l2, first.overvoltage_l3) == (False, True, True)
    second = calc.update(parse(*PER_PHASE))
    assert not second.new_peak_voltage
    assert second.peak_voltage == 250.0
    calc.reset()
    assert calc.update(parse(*PER_PHASE)).new_peak_voltage


def test_energy_from_tariffs_when_no_total() -> None:
    calc = DerivedCalculator()
    calc.update(parse("0-0:1.0.0(230601120000S)", "1-0:1.8.1(000001.000*kWh)"))
    d = calc.update(parse("0-0:1.0.0(230601120100S)", "1-0:1.8.1(000001.010*kWh)"))
    assert d.avg_power_import == pytest.approx(0.6)
    assert d.energy_export_interval is None
    assert d.energy_simultaneous is None


def test_counters_sent_as_minus_zero_give_plain_zero_steps() -> None:
    """A meter that writes '-0' yields 0.0 steps, never -0.0 (the CSV looks such values up)."""
    calc = DerivedCalculator()
    calc.update(parse("0-0:1.0.0(230601120000S)", "1-0:1.8.0(0.000*kWh)", "1-0:2.8.0(0.000*kWh)"))
    d = calc.update(
        parse("0-0:1.0.0(230601120010S)", "1-0:1.8.0(-0.000*kWh)", "1-0:2.8.0(-0.000*kWh)")
    )
    for value in (d.energy_import_interval, d.energy_export_interval, d.avg_power_net):
        assert value == 0.0
        assert str(value) == "0.0"


_OPTIONAL = st.one_of(st.none(), st.integers(0, 99_999))  # thousandths, or absent


@settings(max_examples=80, deadline=None)
@given(
    phases=st.lists(st.tuples(_OPTIONAL, _OPTIONAL, _OPTIONAL, _OPTIONAL), min_size=3, max_size=3),
    tariffs=st.lists(_OPTIONAL, min_size=5, max_size=5),
    steps=st.lists(st.integers(0, 5_000), min_size=5, max_size=5),
)
def test_documented_formulas_hold_for_any_inputs(
    phases: list[tuple[int | None, ...]], tariffs: list[int | None], steps: list[int]
) -> None:
    """Per-phase currents, highest voltage and current, energy from the total or the tariffs:
    what the module's description says, whichever inputs a meter sends."""
    codes = (("32", "31", "21", "22"), ("52", "51", "41", "42"), ("72", "71", "61", "62"))
    registers = ("1.8.0", "1.8.1", "1.8.2", "1.8.3", "1.8.4")

    def lines(second: int, step: int) -> list[str]:
        out = [f"0-0:1.0.0(2306011200{second:02d}S)"]
        for (u, i, pi, pe), (cu, ci, cpi, cpe) in zip(phases, codes, strict=True):
            if u is not None:
                out.append(f"1-0:{cu}.7.0({u / 100:06.1f}*V)")
            if i is not None:
                out.append(f"1-0:{ci}.7.0({i % 1000:03d}*A)")
            if pi is not None:
                out.append(f"1-0:{cpi}.7.0({pi / 1000:06.3f}*kW)")
            if pe is not None:
                out.append(f"1-0:{cpe}.7.0({pe / 1000:06.3f}*kW)")
        for register, value, extra in zip(registers, tariffs, steps, strict=True):
            if value is not None:
                total = (value + step * extra) / 1000
                out.append(f"1-0:{register}({total:010.3f}*kWh)")
        return out

    calculator = DerivedCalculator()
    first = parse(*lines(0, 0))
    calculator.update(first)
    second = parse(*lines(10, 1))
    d = calculator.update(second)

    def number(t: Telegram, code: str) -> float | None:
        return t.number(code)

    voltages = [number(second, f"1-0:{c[0]}.7.0") for c in codes]
    readings = [number(second, f"1-0:{c[1]}.7.0") for c in codes]
    imports = [number(second, f"1-0:{c[2]}.7.0") for c in codes]
    exports = [number(second, f"1-0:{c[3]}.7.0") for c in codes]
    currents = (d.current_l1, d.current_l2, d.current_l3)
    if d.current_method == "p_over_u":
        for u, reading, pi, pe, current in zip(
            voltages, readings, imports, exports, currents, strict=True
        ):
            if u is None or u <= 0 or pi is None:
                assert current == reading
            else:
                assert current == 1000.0 * (pi + (pe or 0.0)) / u

    def highest(values: list[float | None]) -> tuple[float | None, int | None]:
        present = [(v, k + 1) for k, v in enumerate(values) if v is not None]
        if not present:
            return None, None
        best = max(v for v, _ in present)
        return best, next(k for v, k in present if v == best)

    assert (d.max_voltage, d.max_voltage_phase) == highest(voltages)
    assert (d.max_current, d.max_current_phase) == highest(list(currents))

    def energy(t: Telegram) -> float | None:
        total = number(t, "1-0:1.8.0")
        if total is not None:
            return total
        for k in range(1, 5):  # added in order (sum() compensates rounding since 3.12)
            part = number(t, f"1-0:1.8.{k}")
            if part is not None:
                total = part if total is None else total + part
        return total

    before, after = energy(first), energy(second)
    if before is None or after is None:
        assert d.energy_import_interval is None
    else:
        assert d.energy_import_interval == after - before + 0.0


def test_the_bundled_sample_has_no_estimate_pinned_to_the_clamp() -> None:
    """The bundled Hungarian sample (solar export on L1): an estimate lies inside its reading's
    interval, never on the clamp's edge; telegrams no fraction explains are counted unknown."""
    from pathlib import Path

    from p1lib.decoder import Decoder, Status

    sample = Path(__file__).resolve().parents[2] / "custom_components/p1_dsmr/p1lib/samples"
    calc = DerivedCalculator()
    methods: dict[str, int] = {}
    for result in Decoder().feed((sample / "hu_sanxing_demo.log").read_bytes()):
        if result.telegram is None or result.status not in (Status.VALID, Status.REPAIRED):
            continue
        d = calc.update(result.telegram)
        methods[d.current_method] = methods.get(d.current_method, 0) + 1
        readings = [result.telegram.number(f"1-0:{c}.7.0") for c in (31, 51, 71)]
        for estimate, reading in zip(
            (d.current_l1, d.current_l2, d.current_l3), readings, strict=True
        ):
            if estimate is None:
                assert d.current_method == "inputs_disagree"
                continue
            assert reading is not None
            assert reading <= estimate < reading + 0.998
    assert methods.get("power_factor_fit", 0) > 100
    assert set(methods) <= {"power_factor_fit", "inputs_disagree"}
