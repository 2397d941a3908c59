"""CRC-16/ARC: the fast and the bytewise implementations, and the CRC field."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from p1lib import crc
from p1lib.crc import (
    crc16,
    crc16_bytewise,
    crc16_number,
    parse_crc_field,
    shift_register,
    telegram_number,
)


def test_check_value() -> None:
    assert crc16(b"123456789") == 0xBB3D
    assert crc16_bytewise(b"123456789") == 0xBB3D


def test_empty() -> None:
    assert crc16(b"") == 0
    assert crc16_bytewise(b"") == 0


@given(st.binary(max_size=3000))
def test_fast_equals_bytewise(data: bytes) -> None:
    assert crc16(data) == crc16_bytewise(data)


def test_fast_equals_bytewise_at_every_length() -> None:
    """The fold plan differs per length: check each length a telegram can have, worst-case bytes."""
    for length in range(1, 2600):
        for data in (b"\xff" * length, bytes(range(256)) * (length // 256) + bytes(length % 256)):
            assert crc16(data) == crc16_bytewise(data), length


def test_fold_plans_are_bounded() -> None:
    for length in range(1, 4300):
        assert crc16(bytes(length)) == 0
    assert len(crc._SCHEDULES) <= 4096


@given(st.binary(max_size=3000))
def test_from_the_telegram_number(data: bytes) -> None:
    """The decoder reads a telegram's integer once, for the CRC and for the layout match."""
    assert crc16_number(telegram_number(data), len(data)) == crc16_bytewise(data)


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_incremental(first: bytes, second: bytes) -> None:
    assert crc16_bytewise(second, crc16_bytewise(first)) == crc16(first + second)


@given(st.binary(min_size=1, max_size=300), st.data())
def test_linear(data: bytes, draw: st.DataObject) -> None:
    other = draw.draw(st.binary(min_size=len(data), max_size=len(data)))
    mixed = bytes(a ^ b for a, b in zip(data, other, strict=True))
    assert crc16(mixed) == crc16(data) ^ crc16(other)


@given(st.integers(0, 0xFFFF), st.integers(0, 50))
def test_shift_register_is_zero_bytes(register: int, count: int) -> None:
    assert shift_register(register, count) == crc16_bytewise(bytes(count), register)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"EC15", 0xEC15),
        (b"ec15", 0xEC15),
        (b"1e1D", 0x1E1D),
        (b"B9F", 0x0B9F),
        (b"1", 1),
        (b"", None),
        (b"12345", None),
        (b"+1", None),
        (b" 1", None),
        (b"&EDC", None),
    ],
)
def test_parse_crc_field(text: bytes, expected: int | None) -> None:
    assert parse_crc_field(text) == expected
