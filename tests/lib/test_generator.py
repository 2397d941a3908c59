"""The meter simulator and the fault injector."""

from __future__ import annotations

import random

import pytest
from p1lib.decoder import Decoder, Status
from p1lib.derived import DerivedCalculator
from p1lib.faults import FAULTS, inject
from p1lib.generator import STYLES, MeterSimulator
from p1lib.parsing import Dialect

DIALECT = {
    "hu_sanxing": Dialect.HU,
    "hu_sagemcom": Dialect.HU,
    "nl_dsmr5": Dialect.NL,
    "nl_dsmr4": Dialect.NL,
    "be_fluvius": Dialect.BE,
}


@pytest.mark.parametrize("style", STYLES)
def test_every_style_verifies_parses_and_is_consistent(style: str) -> None:
    sim = MeterSimulator(style, seed=1, solar=True)
    decoder = Decoder()
    results = decoder.feed(b"".join(sim.telegrams(30)))
    assert [r.status for r in results] == [Status.VALID] * 30
    derived = DerivedCalculator()
    previous = None
    for result in results:
        telegram = result.telegram
        assert telegram is not None
        assert telegram.dialect is DIALECT[style]
        assert not telegram.unparsed
        d = derived.update(telegram)
        if previous is not None:
            assert d.interval_s == sim.period
            assert d.energy_import_interval is not None
            assert d.energy_import_interval >= 0
        previous = telegram


def test_unknown_style() -> None:
    with pytest.raises(ValueError, match="unknown style"):
        MeterSimulator("xx")


def test_seeded() -> None:
    a = b"".join(MeterSimulator("nl_dsmr5", seed=4).telegrams(5))
    b = b"".join(MeterSimulator("nl_dsmr5", seed=4).telegrams(5))
    assert a == b


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_fault_breaks_the_crc(fault: str) -> None:
    rng = random.Random(7)
    for style in STYLES:
        original = MeterSimulator(style, seed=3).telegram()
        for _ in range(20):
            damaged = inject(original, fault, rng)
            assert damaged != original
            decoder = Decoder()
            results = decoder.feed(damaged) + decoder.flush()
            assert all(r.status is not Status.VALID or r.data == original for r in results)


def test_faults_fall_back_when_their_target_is_missing() -> None:
    from p1lib.faults import crc_field, message

    rng = random.Random(1)
    plain = MeterSimulator("nl_dsmr5", seed=1).telegram()
    assert message(plain, rng) != plain  # no 0xFF message: a bit is lost instead
    no_crc = plain[: plain.rindex(b"!") + 1] + b"\r\n"
    assert crc_field(no_crc, rng) != no_crc


@pytest.mark.parametrize("style", ["hu_sanxing", "hu_sagemcom"])
@pytest.mark.parametrize("solar", [False, True])
def test_hungarian_currents_agree_with_the_power_totals(style: str, solar: bool) -> None:
    """A real meter's whole amps carry the active power over voltage and power factor: the
    power-factor fit finds a fraction for every telegram, never ``inputs_disagree``."""
    sim = MeterSimulator(style, seed=4, solar=solar)
    results = Decoder().feed(b"".join(sim.telegrams(400)))
    derived = DerivedCalculator()
    methods = {derived.update(r.telegram).current_method for r in results if r.telegram}
    assert methods == {"power_factor_fit"}
