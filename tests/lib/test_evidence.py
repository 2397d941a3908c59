"""Evidence: how plausible a telegram is next to its good neighbours."""

from __future__ import annotations

from p1lib.evidence import Evidence, Neighbour, number_value
from p1lib.generator import MeterSimulator
from p1lib.structure import Rule, Structure

from .builders import telegram


def body(data: bytes) -> bytes:
    return data[: data.rindex(b"!") + 1]


def trio(*lines: tuple[str, str, str]) -> tuple[bytes, bytes, bytes]:
    """Three telegrams whose n-th lines are the n-th triples."""
    first, middle, last = (telegram(*(line[i] for line in lines)) for i in range(3))
    return body(first), body(middle), body(last)


def evidence(previous: bytes | None, following: bytes | None, **kwargs: object) -> Evidence:
    structure = Structure(previous if previous is not None else following)  # type: ignore[arg-type]
    return Evidence(
        structure,
        Neighbour(previous) if previous is not None else None,
        Neighbour(following) if following is not None else None,
        **kwargs,  # type: ignore[arg-type]
    )


def value(data: bytes, code: bytes, new: bytes) -> bytes:
    start = data.index(code + b"(") + len(code) + 1
    return data[:start] + new + data[data.index(b")", start) :]


CLOCK = ("0-0:1.0.0(230502215000S)", "0-0:1.0.0(230502215010S)", "0-0:1.0.0(230502215020S)")
COUNTER = ("1-0:1.8.1(000100.000*kWh)", "1-0:1.8.1(000100.010*kWh)", "1-0:1.8.1(000100.020*kWh)")
VOLTAGE = ("1-0:32.7.0(230.0*V)", "1-0:32.7.0(231.0*V)", "1-0:32.7.0(232.0*V)")
TARIFF = ("0-0:96.14.0(0001)", "0-0:96.14.0(0001)", "0-0:96.14.0(0002)")
LIMIT = ("0-0:17.0.0(90.000*kW)",) * 3
FAILURES = ("0-0:96.7.21(00005)",) * 3


def test_structure_rules() -> None:
    first, _, _ = trio(CLOCK, COUNTER, VOLTAGE, TARIFF, LIMIT, FAILURES)
    structure = Structure(first)
    rules = {f.code: f.rule for f in structure.fields}
    assert rules == {
        "0-0:1.0.0": Rule.CLOCK,
        "1-0:1.8.1": Rule.COUNTER,
        "1-0:32.7.0": Rule.INSTANT,
        "0-0:96.14.0": Rule.CHOICE,
        "0-0:96.7.21": Rule.COUNT,
    }
    assert "0-0:17.0.0" not in rules  # a setup line: fixed
    assert structure.matches(first)
    assert not structure.matches(first.replace(b"90.000", b"80.000"))
    assert structure.matches(first.replace(b"230.0", b"239.9"))


def test_the_clock_is_determined_by_its_neighbours() -> None:
    first, middle, last = trio(CLOCK, COUNTER)
    rules = evidence(first, last, period=10.0)
    assert rules.problem(middle) is None
    assert "clock" in str(rules.problem(value(middle, b"0-0:1.0.0", b"230502215011S")))
    assert "clock" in str(rules.problem(value(middle, b"0-0:1.0.0", b"230502205010W")))
    # The period is inferred from the neighbours when it is not known yet.
    assert evidence(first, last).problem(value(middle, b"0-0:1.0.0", b"230502215015S"))
    # In a run of two damaged telegrams, the second takes the second place.
    run = evidence(first, value(last, b"0-0:1.0.0", b"230502215030S"), position=2, run=2)
    assert run.problem(value(middle, b"0-0:1.0.0", b"230502215020S")) is None
    assert run.problem(middle) is not None
    # A period learned across a lost telegram (20 s) does not leave the damaged one no place.
    assert evidence(first, last, period=20.0).problem(middle) is None
    # One neighbour and a known period: a few places after it.
    assert evidence(first, None, period=10.0).problem(middle) is None
    assert evidence(None, last, period=10.0).problem(middle) is None


def test_counters_lie_between_their_neighbours() -> None:
    first, middle, last = trio(CLOCK, COUNTER)
    rules = evidence(first, last, period=10.0)
    assert rules.problem(value(middle, b"1-0:1.8.1", b"000100.015*kWh")) is None
    assert "backwards" in str(rules.problem(value(middle, b"1-0:1.8.1", b"000099.999*kWh")))
    assert "next" in str(rules.problem(value(middle, b"1-0:1.8.1", b"000100.021*kWh")))
    # With one neighbour: no faster than the meter's maximum power (100 kW when unknown).
    alone = evidence(first, None, period=10.0)
    assert alone.problem(value(middle, b"1-0:1.8.1", b"000100.300*kWh")) is None
    assert alone.problem(value(middle, b"1-0:1.8.1", b"000101.500*kWh")) is not None


def test_the_limiter_bounds_the_growth() -> None:
    first, middle, _ = trio(CLOCK, COUNTER, ("0-0:17.0.0(05.000*kW)",) * 3)
    alone = evidence(first, None, period=10.0)
    assert alone.max_power == 5.0
    # 5 kW for at most three periods (lost telegrams allowed for): 0.042 kWh.
    assert alone.problem(value(middle, b"1-0:1.8.1", b"000100.040*kWh")) is None
    assert alone.problem(value(middle, b"1-0:1.8.1", b"000100.060*kWh")) is not None


def test_instantaneous_values_stay_near_both_neighbours() -> None:
    first, middle, last = trio(CLOCK, VOLTAGE)
    rules = evidence(first, last, period=10.0)
    assert rules.problem(value(middle, b"1-0:32.7.0", b"236.0*V")) is None
    assert "far above" in str(rules.problem(value(middle, b"1-0:32.7.0", b"239.0*V")))
    assert "far below" in str(rules.problem(value(middle, b"1-0:32.7.0", b"222.0*V")))


def test_rare_lines_are_one_of_the_neighbours() -> None:
    first, middle, last = trio(CLOCK, TARIFF, FAILURES)
    rules = evidence(first, last, period=10.0)
    assert rules.problem(middle) is None
    assert rules.problem(value(middle, b"0-0:96.14.0", b"0002")) is None  # the next one's
    assert "neither" in str(rules.problem(value(middle, b"0-0:96.14.0", b"0003")))
    assert rules.problem(value(middle, b"0-0:96.7.21", b"00006")) is not None


def test_unknown_codes() -> None:
    odd = ("0-0:96.99.9(0042)", "0-0:96.99.9(0042)", "0-0:96.99.9(0042)")
    moving = ("1-0:99.1.0(0011)", "1-0:99.1.0(0012)", "1-0:99.1.0(0013)")
    first, middle, last = trio(CLOCK, odd, moving)
    rules = evidence(first, last, period=10.0)
    assert rules.problem(value(middle, b"1-0:99.1.0", b"9999")) is None  # changes: anything
    assert "agree" in str(rules.problem(value(middle, b"0-0:96.99.9", b"0043")))


def test_relations_the_meter_keeps() -> None:
    sim = MeterSimulator("hu_sanxing", seed=3, solar=True)
    sent = [body(t) for t in sim.telegrams(6)]
    history = [Neighbour(t) for t in sent[:4]]
    structure = Structure(sent[3])
    rules = Evidence(structure, history[-1], Neighbour(sent[5]), period=10.0, history=history)
    names = [r.name for r in rules.relations]
    assert any(name.startswith("1-0:1.8.0 = 1-0:1.8.1") for name in names)
    assert any(name.startswith("1-0:3.8.0") for name in names)
    assert rules.problem(sent[4]) is None
    total = sent[4].index(b"1-0:1.8.1(") + len(b"1-0:1.8.1(") + 6
    broken = sent[4][:total] + b"1" + sent[4][total + 1 :]  # 1000 kWh more on tariff 1 only
    problems = rules.bad(broken)
    assert (problems[1] and not problems[0]) or problems[0]
    assert rules.suspects(broken) is not None


def test_a_phase_never_imports_and_exports_at_once() -> None:
    sim = MeterSimulator("nl_dsmr5", seed=4, solar=True)
    sent = [body(t) for t in sim.telegrams(3)]
    rules = Evidence(Structure(sent[0]), Neighbour(sent[0]), Neighbour(sent[2]), period=1.0)
    assert any("not both" in r.name for r in rules.relations)
    middle = sent[1]
    at = middle.index(b"1-0:22.7.0(") + len(b"1-0:22.7.0(")
    both = middle[:at] + b"01.000" + middle[at + 6 :]
    if b"1-0:21.7.0(00.000" not in middle:
        assert rules.problem(both) is not None


def test_single_changes_and_completions() -> None:
    first, middle, last = trio(CLOCK, COUNTER, TARIFF)
    rules = evidence(first, last, period=10.0)
    changes = rules.single_changes(middle, range(len(rules.structure.fields)), 100)
    counter = rules.structure.fields[1]
    assert all(counter.start <= p < counter.end or p >= 0 for p, _ in changes)
    assert (counter.end - 1, ord("5")) in changes  # 100.015 lies between the neighbours
    assert all(p != rules.structure.fields[0].start for p, _ in changes)  # the clock is fixed
    pattern = b"000100.0" + b"00"
    texts = rules.completions(1, pattern, [8, 9])
    assert texts is not None
    assert [number_value(t) for t in texts] == list(range(100000, 100021))
    assert rules.completions(1, pattern, [8, 9], limit=3) == texts[:3]
    assert number_value(b"230502215000S") == 0


def test_what_the_neighbours_cannot_say() -> None:
    first, middle, last = trio(CLOCK, COUNTER, VOLTAGE)
    # The clock went back (a clock set by the grid operator): any date will do.
    back = value(last, b"0-0:1.0.0", b"230502214000S")
    rules = evidence(first, back, period=10.0)
    assert rules.problem(value(middle, b"0-0:1.0.0", b"230502215917S")) is None
    assert "date" in str(rules.problem(value(middle, b"0-0:1.0.0", b"231302215917S")))
    # Neighbours 25 s apart with a 10 s period: any second in between.
    odd = value(last, b"0-0:1.0.0", b"230502215025S")
    assert (
        evidence(first, odd, period=10.0).problem(value(middle, b"0-0:1.0.0", b"230502215013S"))
        is None
    )
    # Hours apart: nothing to hold the clock to.
    far = value(last, b"0-0:1.0.0", b"230502235020S")
    assert evidence(first, far, period=10.0).problem(middle) is None
    # A counter replaced (it went down between the neighbours) and a value sent in another width.
    reset = value(value(last, b"1-0:1.8.1", b"000000.020*kWh"), b"1-0:32.7.0", b"0232.0*V")
    loose = evidence(first, reset, period=10.0)
    assert loose.problem(value(middle, b"1-0:1.8.1", b"000050.000*kWh")) is None
    assert loose.problem(value(middle, b"1-0:32.7.0", b"236.0*V")) is None
    # Without a clock on either side the clock rule has nothing to say.
    plain_first, plain_middle, _ = trio(COUNTER, VOLTAGE)
    assert evidence(plain_first, None).problem(plain_middle) is None


def test_relations_need_the_same_resolution() -> None:
    total = ("1-0:1.8.0(000200.000*kWh)", "1-0:1.8.0(000200.010*kWh)", "1-0:1.8.0(000200.020*kWh)")
    t1 = ("1-0:1.8.1(000100.000*kWh)", "1-0:1.8.1(000100.010*kWh)", "1-0:1.8.1(000100.020*kWh)")
    t2 = ("1-0:1.8.2(000100.00*kWh)", "1-0:1.8.2(000100.00*kWh)", "1-0:1.8.2(000100.00*kWh)")
    first, _, last = trio(CLOCK, total, t1, t2)
    assert evidence(first, last, period=10.0).relations == []
    t2 = ("1-0:1.8.2(000100.000*kWh)",) * 3
    first, _, last = trio(CLOCK, total, t1, t2)
    assert [r.name for r in evidence(first, last, period=10.0).relations] == [
        "1-0:1.8.0 = 1-0:1.8.1 + 1-0:1.8.2"
    ]
    # A neighbour that sends a member in another resolution: no relation to learn from it.
    odd = last.replace(b"1-0:1.8.2(000100.000", b"1-0:1.8.2(00100.0000")
    assert evidence(first, odd, period=10.0).relations == []
