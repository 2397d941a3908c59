"""CRC-16/ARC as used by P1 telegrams.

Reflected polynomial 0xA001 (x^16 + x^15 + x^2 + 1), initial value 0, no final xor. The CRC covers
every byte from ``/`` up to and including ``!``.

Two implementations give the same answer:

* :func:`crc16_bytewise`, the classic table-driven loop (one table lookup per byte). It takes a
  starting register so it can run incrementally.
* :func:`crc16`, which is about ten times faster in CPython on a 2 kB telegram. It treats the telegram
  as one big polynomial over GF(2) held in a Python ``int`` and reduces it with a handful of big-int
  shifts and xors, so the work per byte runs in C. With P = (x + 1) * Q and Q = x^15 + x + 1, the
  remainder modulo Q is found by folding with x^(15*2^j) = (x + 1)^(2^j) = x^(2^j) + 1 (mod Q), the
  remainder modulo (x + 1) is the parity of the message, and the two are combined (CRT). The folds
  for each telegram length are planned once (each about halves the length) and cached.

With an initial value of 0 the CRC is linear over GF(2): crc(a ^ b) == crc(a) ^ crc(b) for equal
lengths. The repair engine relies on that to test many candidate fixes cheaply.
"""

from __future__ import annotations

__all__ = ["crc16", "crc16_bytewise", "parse_crc_field", "shift_register"]

_POLY_REFLECTED = 0xA001
_Q = (1 << 15) | 0b11  # x^15 + x + 1


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        reg = byte
        for _ in range(8):
            reg = (reg >> 1) ^ _POLY_REFLECTED if reg & 1 else reg >> 1
        table.append(reg)
    return tuple(table)


_TABLE = _make_table()
_REVERSE_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


def crc16_bytewise(data: bytes | bytearray | memoryview, register: int = 0) -> int:
    """Return the CRC-16/ARC of ``data``, continuing from ``register`` (0 to start)."""
    table = _TABLE
    for byte in data:
        register = (register >> 8) ^ table[(register ^ byte) & 0xFF]
    return register


def _fold_schedule(length: int) -> tuple[tuple[int, int, int], ...]:
    """Folds (cut, step, mask) that bring a ``length``-bit polynomial down to about 16 bits.

    Each fold uses x^(15*s) = x^s + 1 (mod Q) with s a power of two; the one chosen leaves the
    shortest upper bound max(cut, length - cut + s), which about halves the length every fold.
    """
    folds: list[tuple[int, int, int]] = []
    while length > 16:  # s = 1 always qualifies and shortens by 14 bits, so this ends
        bound, j = min(
            (max(15 << j, length - (15 << j) + (1 << j)), j)
            for j in range(length.bit_length())
            if 15 << j < length
        )
        folds.append((15 << j, 1 << j, (1 << (15 << j)) - 1))
        length = bound
    return tuple(folds)


_SCHEDULES: dict[int, tuple[tuple[int, int, int], ...]] = {}


def crc16(data: bytes | bytearray) -> int:
    """Return the CRC-16/ARC of ``data`` (fast path, same result as :func:`crc16_bytewise`)."""
    if not data:
        return 0
    # The reflected CRC equals the bit-reversed normal CRC (poly 0x8005) of the bit-reversed bytes.
    value = int.from_bytes(bytes(data).translate(_REVERSE_BITS), "big") << 16
    parity = value.bit_count() & 1
    schedule = _SCHEDULES.get(len(data))
    if schedule is None:
        if len(_SCHEDULES) >= 4096:
            _SCHEDULES.clear()
        schedule = _SCHEDULES[len(data)] = _fold_schedule(8 * len(data) + 16)
    for cut, step, mask in schedule:
        high = value >> cut
        value = (high << step) ^ high ^ (value & mask)
    while value >> 15:  # the last bits, one x^15 = x + 1 fold at a time
        high = value >> 15
        value = (high << 1) ^ high ^ (value & 0x7FFF)
    # value is now the remainder modulo Q; pick the one of r, r + Q whose parity matches.
    if (value.bit_count() & 1) != parity:
        value ^= _Q
    rev = _REVERSE_BITS
    return (rev[value & 0xFF] << 8) | rev[value >> 8]


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
