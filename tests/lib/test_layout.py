"""Layouts: a telegram that matches the previous one's layout is built lazily, with the same content."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib.crc import telegram_number
from p1lib.generator import STYLES, MeterSimulator
from p1lib.parsing import Fields, Parser, Telegram

from .builders import HU_LINES, telegram


def body(data: bytes) -> bytes:
    """A telegram from ``/`` through ``!`` (what the parser takes)."""
    return data[: data.rindex(b"!") + 1]


def eager(data: bytes) -> Telegram:
    """The telegram as a fresh parser makes it: every line parsed."""
    parsed = Parser().parse(data)
    assert parsed is not None
    return parsed


def assert_same(lazy: Telegram, full: Telegram) -> None:
    """Everything a consumer can read is the same."""
    codes = Fields(sorted({obj.code for obj in full.objects} | {"9-9:9.9.9", "0-0:1.0.0"}))
    assert lazy.header == full.header
    assert lazy.dialect is full.dialect
    assert lazy.unparsed == full.unparsed
    assert lazy.timestamp == full.timestamp
    assert lazy.numbers(codes) == full.numbers(codes)
    assert lazy.number_texts(codes) == full.number_texts(codes)
    assert [lazy.get(code) for code in codes.codes] == [full.get(code) for code in codes.codes]
    assert lazy.objects == full.objects
    assert lazy.index == full.index
    assert lazy.equipment_id == full.equipment_id
    assert lazy.protocol_version == full.protocol_version
    assert lazy.mbus_channels() == full.mbus_channels()


def value_digits(data: bytes) -> list[int]:
    """Positions of digits inside values (after '(' or a point or another such digit)."""
    positions = []
    for match in re.finditer(rb"\(([^()]*)\)", data):
        inner_start = match.start(1)
        for offset, byte in enumerate(match.group(1)):
            if 0x30 <= byte <= 0x39:
                positions.append(inner_start + offset)
    return positions


def telegram_pair(style: str, seed: int, edits: list[tuple[int, int]]) -> tuple[bytes, ...]:
    """Two telegrams of a meter in a row, and the second with value digits changed by ``edits``
    ((which digit, its new value) pairs)."""
    first, second = (body(t) for t in MeterSimulator(style, seed=seed).telegrams(2))
    changed = bytearray(second)
    positions = value_digits(second)
    for where, digit in edits:
        changed[positions[where % len(positions)]] = 0x30 + digit
    return first, second, bytes(changed)


@settings(max_examples=60, deadline=None)
@given(
    style=st.sampled_from(STYLES),
    seed=st.integers(0, 10_000),
    edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 9)), max_size=6),
)
def test_lazy_telegrams_read_as_parsed_ones(
    style: str, seed: int, edits: list[tuple[int, int]]
) -> None:
    """Any digits changed inside values: the lazily built telegram reads as a full parse."""
    first, second, changed = telegram_pair(style, seed, edits)
    parser = Parser()
    parser.parse(first)
    for data in (second, changed):
        parsed = parser.parse(data)
        assert parsed is not None
        assert_same(parsed, eager(data))
        # The decoder hands over the integer its CRC check read: the same answer.
        again = parser.parse(data, telegram_number(data))
        assert again is not None
        assert again.layout is parsed.layout
        assert again.objects == parsed.objects


def test_a_matching_telegram_is_lazy_and_shares_the_layout() -> None:
    parser = Parser()
    lines = list(HU_LINES)
    a = parser.parse(body(telegram(*lines)))
    lines[7] = "1-0:32.7.0(235.0*V)"
    b = parser.parse(body(telegram(*lines)))
    assert a is not None
    assert b is not None
    assert b.layout is a.layout
    assert b._plan is not None  # built lazily
    assert b.number("1-0:32.7.0") == 235.0


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("1-0:32.7.0(234.3*V)", "1-0:52.7.0(234.3*V)"),  # a code digit
        ("1-0:32.7.0(234.3*V)", "1-0:32.7.0(234:3*V)"),  # the point moved out
        ("1-0:32.7.0(234.3*V)", "1-0:32.7.0(23:.3*V)"),  # a non-digit where a digit was
        ("1-0:32.7.0(234.3*V)", "1-0:32.7.0(-34.3*V)"),  # a sign
        ("1-0:32.7.0(234.3*V)", "1-0:32.7.0(2344.3*V)"),  # wider
        ("1-0:32.7.0(234.3*V)", "1-0:32.7.0(234.3*W)"),  # another unit
        ("0-0:42.0.0(AUX1030302759988)", "0-0:42.0.0(AUX1030302759989)"),  # an identifier
        ("0-0:96.50.68(ON)", "0-0:96.50.68(OF)"),  # a state text
    ],
)
def test_anything_but_value_digits_is_a_new_layout(before: str, after: str) -> None:
    parser = Parser()
    lines = list(HU_LINES)
    a = parser.parse(body(telegram(*lines)))
    lines[lines.index(before)] = after
    data = body(telegram(*lines))
    assert a is not None
    assert a.layout is not None
    assert not a.layout.matches(data)
    assert not a.layout.matches(data, telegram_number(data))
    b = parser.parse(data)
    assert b is not None
    assert b.layout is not a.layout
    assert b._plan is None  # parsed line by line
    assert_same(b, eager(data))


def test_device_types_and_versions_stay_fixed() -> None:
    """Consumers choose columns by them, so a change makes a new layout."""
    lines = ["1-3:0.2.8(50)", "0-1:24.1.0(003)", "0-1:24.2.1(230502215000S)(01234.567*m3)"]
    parser = Parser()
    a = parser.parse(body(telegram(*lines)))
    b = parser.parse(body(telegram("1-3:0.2.8(50)", "0-1:24.1.0(007)", lines[2])))
    assert a is not None
    assert b is not None
    assert b.layout is not a.layout


@pytest.mark.parametrize(
    ("line", "changed", "kept"),
    [
        # a new gas reading and its capture time: the same layout
        (
            "0-1:24.2.1(230502215000S)(01234.567*m3)",
            "0-1:24.2.1(230502220500S)(01234.999*m3)",
            True,
        ),
        ("0-1:24.2.3(230502215000W)(00012.5*GJ)", "0-1:24.2.3(230503000000W)(00013.0*GJ)", True),
        # a unit a full parse converts, a moved point, a sign, an impossible time: a new layout
        ("0-1:24.2.1(230502215000S)(01234*Wh)", "0-1:24.2.1(230502215000S)(01235*Wh)", False),
        ("0-1:24.2.1(230502215000S)(1234.5*m3)", "0-1:24.2.1(230502215000S)(12345.*m3)", False),
        ("0-1:24.2.1(230502215000S)(01234*m3)", "0-1:24.2.1(230502215000S)(-1234*m3)", False),
        ("0-1:24.2.1(230502215000S)(01234*m3)", "0-1:24.2.1(231502215000S)(01234*m3)", True),
    ],
)
def test_timed_readings(line: str, changed: str, kept: bool) -> None:
    """``code(capture time)(reading*unit)``: digits may change in both, nothing else."""
    parser = Parser()
    first = parser.parse(body(telegram("0-0:96.14.0(0001)", line)))
    data = body(telegram("0-0:96.14.0(0001)", changed))
    second = parser.parse(data)
    assert first is not None
    assert second is not None
    assert (second.layout is first.layout) is kept
    assert (second._plan is not None) is kept
    assert_same(second, eager(data))


def lazy_after(line: str, changed: str) -> tuple[Telegram, bytes]:
    """A telegram with ``changed``, built lazily after one with ``line``, and its bytes."""
    parser = Parser()
    parser.parse(body(telegram("0-0:96.14.0(0001)", line)))
    data = body(telegram("0-0:96.14.0(0001)", changed))
    lazy = parser.parse(data)
    assert lazy is not None
    assert lazy._plan is not None
    return lazy, data


@pytest.mark.parametrize(
    ("line", "changed"),
    [
        ("1-0:1.7.0(01500*W)", "1-0:1.7.0(01234*W)"),  # scaled to kW
        ("1-0:1.7.0(.500*kW)", "1-0:1.7.0(.234*kW)"),  # no digit before the point
        ("0-0:96.7.21(00004)", "0-0:96.7.21(00000)"),  # a bare number
        ("0-0:96.7.21(4.5)", "0-0:96.7.21(0.5)"),  # a bare number with a point
        ("1-0:31.7.0(000*A)", "1-0:31.7.0(100*A)"),
        ("0-0:1.0.0(230502215000S)", "0-0:1.0.0(231302215000S)"),  # an impossible date
    ],
)
def test_every_kind_of_field(line: str, changed: str) -> None:
    lazy, data = lazy_after(line, changed)
    assert_same(lazy, eager(data))


def test_scaled_values_match_the_object() -> None:
    parser = Parser()
    parser.parse(body(telegram("1-0:1.7.0(01500*W)")))
    lazy = parser.parse(body(telegram("1-0:1.7.0(01234*W)")))
    assert lazy is not None
    assert lazy.numbers(Fields(["1-0:1.7.0"])) == (1.234,)
    assert lazy.number_texts(Fields(["1-0:1.7.0"])) == ("1.234",)
    assert math.isclose(lazy.objects[0].number or 0.0, 1.234)


def test_fields_in_any_order_and_repeated() -> None:
    """A consumer's codes in any order, one of them twice, scaled ones among them."""
    lines = ("1-0:1.7.0(01500*W)", "1-0:32.7.0(234.3*V)", "0-0:96.14.0(0001)")
    parser = Parser()
    parser.parse(body(telegram(*lines)))
    data = body(telegram("1-0:1.7.0(01234*W)", "1-0:32.7.0(229.9*V)", "0-0:96.14.0(0002)"))
    lazy = parser.parse(data)
    assert lazy is not None
    assert lazy._plan is not None
    fields = Fields(["0-0:96.14.0", "9-9:9.9.9", "1-0:32.7.0", "1-0:1.7.0", "0-0:96.14.0"])
    assert lazy.numbers(fields) == eager(data).numbers(fields) == (2.0, None, 229.9, 1.234, 2.0)
    assert lazy.number_texts(fields) == eager(data).number_texts(fields)


def test_eager_telegrams_answer_fields_too() -> None:
    t = eager(body(telegram(*HU_LINES)))
    fields = Fields(["1-0:32.7.0", "9-9:9.9.9", "0-0:96.14.0"])
    assert t.numbers(fields) == (234.3, None, 1.0)
    assert t.number_texts(fields) == ("234.3", "", "1")
    assert "objects=" in repr(t)
    assert repr(Fields(["1-0:1.8.0"])) == "Fields(('1-0:1.8.0',))"


def test_compiled_accessors_are_bounded() -> None:
    parser = Parser()
    parser.parse(body(telegram(*HU_LINES)))
    lazy = parser.parse(body(telegram(*HU_LINES)))
    assert lazy is not None
    assert lazy._plan is not None
    for _ in range(200):
        assert lazy.numbers(Fields(["1-0:32.7.0"])) == (234.3,)
        assert lazy.number_texts(Fields(["1-0:32.7.0"])) == ("234.3",)
    layout = lazy._plan
    assert len(layout.number_readers) <= 64
    assert len(layout.text_readers) <= 64


def test_a_telegram_without_clock() -> None:
    parser = Parser()
    parser.parse(body(telegram("1-0:1.8.0(000001.000*kWh)")))
    lazy = parser.parse(body(telegram("1-0:1.8.0(000002.000*kWh)")))
    assert lazy is not None
    assert lazy._plan is not None
    assert lazy.timestamp is None
