"""CRC-16/ARC as used by P1 telegrams.

Reflected polynomial 0xA001 (x^16 + x^15 + x^2 + 1), initial value 0, no final xor. The CRC covers
every byte from ``/`` up to and including ``!``.

Two implementations give the same answer:

* :func:`crc16_bytewise`, the classic table-driven loop (one table lookup per byte). It takes a
  starting register so it can run incrementally.
* :func:`crc16`, which is about ten times faster in CPython on a 2 kB telegram. It reads the
  telegram as one little-endian Python ``int`` (:func:`telegram_number`), a polynomial over GF(2)
  with bit i the coefficient of x^i, and reduces it with a handful of big-int shifts and xors, so the
  work per byte runs in C. The reflected CRC of n bytes read so is ``L * x^(-8n) mod P*``, where
  P* = x^16 + x^14 + x + 1 is the reciprocal of the CRC polynomial (the shift-right register
  divides by x once per bit). With P* = (x + 1) * Q* and Q* = x^15 + x^14 + 1, which divides
  1 + x^(14s) + x^(15s) for every power of two s, the low 14s bits A of a value fold up:
  ``A + B * x^(14s) = x^(14s) * (B + A + A * x^s) (mod Q*)``. Each fold takes 14s bits off the
  exponent and about halves the value; planned once per length, they leave the remainder modulo Q*.
  The remainder modulo (x + 1) is the parity of the message, and the two are combined (CRT).
  :func:`crc16_number` takes the integer ready made, so a caller that also needs it (the layout
  match of :mod:`.layout`) builds it once.

With an initial value of 0 the CRC is linear over GF(2): crc(a ^ b) == crc(a) ^ crc(b) for equal
lengths. The repair engine relies on that to test many candidate fixes cheaply.
"""

from __future__ import annotations

__all__ = [
    "crc16",
    "crc16_bytewise",
    "crc16_number",
    "parse_crc_field",
    "shift_register",
    "telegram_number",
]

_POLY_REFLECTED = 0xA001


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ _POLY_REFLECTED if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


_TABLE = _make_table()
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def crc16_bytewise(data: bytes | bytearray | memoryview, register: int = 0) -> int:
    """Return the CRC-16/ARC of ``data``, continuing from ``register`` (0 to start)."""
    table = _TABLE
    for byte in data:
        register = (register >> 8) ^ table[(register ^ byte) & 0xFF]
    return register


def _fold_schedule(length: int) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """For ``length`` bytes: the pre-shift p and the folds (bits, step, mask) that take the
    exponent 8 * length + p (a multiple of 14) to 0.

    A fold of 14s bits leaves at most max(bits - 14s, 15s) bits; choosing s <= (exponent + 15) / 29
    keeps the value no longer than the exponent (plus 15 bits), so it ends below 2^15.
    """
    exponent = 8 * length
    shift = -exponent % 14
    exponent += shift
    folds: list[tuple[int, int, int]] = []
    while exponent > 0:
        step = 1
        while 29 * 2 * step <= exponent + 15:
            step *= 2
        folds.append((14 * step, step, (1 << 14 * step) - 1))
        exponent -= 14 * step
    return shift, tuple(folds)


_SCHEDULES: dict[int, tuple[int, tuple[tuple[int, int, int], ...]]] = {}
_QR = (1 << 15) | (1 << 14) | 1  # Q* = x^15 + x^14 + 1


def telegram_number(data: bytes | bytearray) -> int:
    """``data`` as one little-endian integer: what :func:`crc16_number` and the layout match read."""
    return int.from_bytes(data, "little")


def crc16_number(value: int, length: int) -> int:
    """The CRC-16/ARC of the ``length`` bytes whose :func:`telegram_number` is ``value``."""
    parity = value.bit_count() & 1
    planned = _SCHEDULES.get(length)
    if planned is None:
        if len(_SCHEDULES) >= 4096:
            _SCHEDULES.clear()
        planned = _SCHEDULES[length] = _fold_schedule(length)
    shift, folds = planned
    value <<= shift
    for bits, step, mask in folds:
        low = value & mask
        value = (value >> bits) ^ low ^ (low << step)
    # value is now the remainder modulo Q*; pick the one of r, r + Q* whose parity matches.
    if (value.bit_count() & 1) != parity:
        value ^= _QR
    return value


def crc16(data: bytes | bytearray) -> int:
    """Return the CRC-16/ARC of ``data`` (fast path, same result as :func:`crc16_bytewise`)."""
    return crc16_number(int.from_bytes(data, "little"), len(data))


def shift_register(register: int, count: int) -> int:
    """Advance a CRC register over ``count`` zero bytes."""
    table = _TABLE
    for _ in range(count):
        register = (register >> 8) ^ table[register & 0xFF]
    return register


def parse_crc_field(text: bytes) -> int | None:
    """Return the CRC a meter sent (1 to 4 hex digits, any case), or None when there is none."""
    if not text or len(text) > 4 or not _HEX_DIGITS.issuperset(text):
        return None
    return int(text, 16)
