"""Fault injection: damage telegrams reproducibly (seeded), inside and outside the repair model.

:data:`FAULTS` follow what was measured on a real noisy line (see the project's protocol notes):
bits lost (1 to 0, most often on the first character of a line, after an idle gap), ``/``
arriving as 0x0E after garbage bytes, dropped, inserted and duplicated characters (CR and LF
included), damage inside the 0xFF provider message, a damaged CRC field, short bursts and two faults
in one telegram.

:data:`OUTSIDE` are faults the repair engine was not built around, to find what it misses or gets
wrong: any byte replaced by any value, a digit by any other digit, bits gained, long bursts, two
arbitrary faults, the frame bytes ``/`` and ``!`` damaged or lost, a random bit-error process
(independent flips both ways, any number of them), and adversarial digit changes chosen so that
the telegram stays plausible.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .crc import parse_crc_field
from .obis import Kind, lookup

__all__ = [
    "ALL_FAULTS",
    "CRC_BLIND",
    "FAULTS",
    "OUTSIDE",
    "SINGLE_FAULTS",
    "inject",
    "same_telegram",
]


def _positions(data: bytes) -> tuple[int, int]:
    """The range of the body: after '/' and before '!' (so the frame stays findable)."""
    return 1, data.rindex(b"!")


def _line_starts(data: bytes) -> list[int]:
    end = data.rindex(b"!")
    return [i + 1 for i in range(end) if data[i] == 0x0A and i + 1 < end]


def bit_loss(data: bytes, rng: random.Random) -> bytes:
    """One character loses 1 to 3 bits (1 becomes 0); half the time the first one of a line."""
    start, end = _positions(data)
    while True:
        line_start = rng.random() < 0.5
        position = rng.choice(_line_starts(data)) if line_start else rng.randrange(start, end)
        byte = data[position]
        ones = [bit for bit in range(8) if byte >> bit & 1]
        if ones:
            break
    for bit in rng.sample(ones, min(len(ones), rng.choice((1, 1, 1, 2, 3)))):
        byte &= ~(1 << bit)
    return data[:position] + bytes((byte,)) + data[position + 1 :]


def slash_garbage(data: bytes, rng: random.Random) -> bytes:
    """'/' arrives as 0x0E after a few garbage bytes (the Sanxing line's signature fault)."""
    garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 8)))
    return garbage + b"\x0e" + data[1:]


def drop(data: bytes, rng: random.Random) -> bytes:
    """One character is lost ('.', '-', '(' and line ends included)."""
    start, end = _positions(data)
    position = rng.randrange(start, end)
    return data[:position] + data[position + 1 :]


def insert(data: bytes, rng: random.Random) -> bytes:
    """One noise byte is inserted."""
    start, end = _positions(data)
    position = rng.randrange(start, end)
    return data[:position] + bytes((rng.randrange(256),)) + data[position:]


def duplicate(data: bytes, rng: random.Random) -> bytes:
    """One character arrives twice."""
    start, end = _positions(data)
    position = rng.randrange(start, end)
    return data[: position + 1] + data[position:]


def line_end(data: bytes, rng: random.Random) -> bytes:
    """A CR or LF is lost, or an extra one appears."""
    start, end = _positions(data)
    ends = [i for i in range(start, end) if data[i] in (0x0D, 0x0A)]
    if rng.random() < 0.5 and ends:
        position = rng.choice(ends)
        return data[:position] + data[position + 1 :]
    position = rng.randrange(start, end)
    return data[:position] + rng.choice((b"\r", b"\n")) + data[position:]


def message(data: bytes, rng: random.Random) -> bytes:
    """A byte inside the 0xFF provider message is corrupted or dropped (else: a bit loss)."""
    first = data.find(b"\xff\xff")
    if first < 0:
        return bit_loss(data, rng)
    last = data.rfind(b"\xff\xff") + 1
    position = rng.randrange(first, last + 1)
    if rng.random() < 0.5:
        return data[:position] + data[position + 1 :]
    return data[:position] + bytes((0xFF & ~(1 << rng.randrange(8)),)) + data[position + 1 :]


def crc_field(data: bytes, rng: random.Random) -> bytes:
    """A CRC digit loses bits or is dropped."""
    bang = data.rindex(b"!")
    digits = [i for i in range(bang + 1, len(data)) if data[i] not in (0x0D, 0x0A)]
    if not digits:
        return bit_loss(data, rng)
    position = rng.choice(digits)
    if rng.random() < 0.3:
        return data[:position] + data[position + 1 :]
    byte = data[position]
    ones = [bit for bit in range(8) if byte >> bit & 1]
    byte &= ~(1 << rng.choice(ones))
    return data[:position] + bytes((byte,)) + data[position + 1 :]


def burst(data: bytes, rng: random.Random) -> bytes:
    """2 to 4 consecutive bytes are replaced by noise."""
    start, end = _positions(data)
    length = rng.randrange(2, 5)
    position = rng.randrange(start, max(start + 1, end - length))
    noise = bytes(rng.randrange(256) for _ in range(length))
    return data[:position] + noise + data[position + length :]


SINGLE_FAULTS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "bit_loss": bit_loss,
    "slash_garbage": slash_garbage,
    "drop": drop,
    "insert": insert,
    "duplicate": duplicate,
    "line_end": line_end,
    "message": message,
    "crc_field": crc_field,
}


def two_faults(data: bytes, rng: random.Random) -> bytes:
    """Two single faults of random classes in one telegram."""
    first, second = rng.sample(sorted(set(SINGLE_FAULTS) - {"slash_garbage"}), 2)
    return SINGLE_FAULTS[second](SINGLE_FAULTS[first](data, rng), rng)


FAULTS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    **SINGLE_FAULTS,
    "burst": burst,
    "two_faults": two_faults,
}


def any_byte(data: bytes, rng: random.Random) -> bytes:
    """Any byte of the body replaced by any other value."""
    start, end = _positions(data)
    position = rng.randrange(start, end)
    value = rng.choice([b for b in range(256) if b != data[position]])
    return data[:position] + bytes((value,)) + data[position + 1 :]


def digit_any(data: bytes, rng: random.Random) -> bytes:
    """A digit of the body (codes, values, anything) replaced by any other digit."""
    start, end = _positions(data)
    digits = [i for i in range(start, end) if 0x30 <= data[i] <= 0x39]
    position = rng.choice(digits)
    value = rng.choice([b for b in range(0x30, 0x3A) if b != data[position]])
    return data[:position] + bytes((value,)) + data[position + 1 :]


def bit_gain(data: bytes, rng: random.Random) -> bytes:
    """One character gains 1 to 3 bits (0 becomes 1): the opposite of the line's usual fault."""
    start, end = _positions(data)
    while True:
        position = rng.randrange(start, end)
        byte = data[position]
        zeros = [bit for bit in range(8) if not byte >> bit & 1]
        if zeros:
            break
    for bit in rng.sample(zeros, min(len(zeros), rng.choice((1, 1, 1, 2, 3)))):
        byte |= 1 << bit
    return data[:position] + bytes((byte,)) + data[position + 1 :]


def _burst_of(length: int) -> Callable[[bytes, random.Random], bytes]:
    def burst_n(data: bytes, rng: random.Random) -> bytes:
        start, end = _positions(data)
        position = rng.randrange(start, max(start + 1, end - length))
        noise = bytes(rng.randrange(256) for _ in range(length))
        return data[:position] + noise + data[position + length :]

    burst_n.__doc__ = f"{length} consecutive bytes replaced by noise."
    return burst_n


def bang(data: bytes, rng: random.Random) -> bytes:
    """The ``!`` that ends the telegram replaced by any byte, or lost."""
    at = data.rindex(b"!")
    if rng.random() < 0.25:
        return data[:at] + data[at + 1 :]
    value = rng.choice([b for b in range(256) if b != 0x21])
    return data[:at] + bytes((value,)) + data[at + 1 :]


def slash(data: bytes, rng: random.Random) -> bytes:
    """The ``/`` that starts the telegram replaced by any byte, or lost (no garbage before it)."""
    if rng.random() < 0.25:
        return data[1:]
    value = rng.choice([b for b in range(256) if b != 0x2F])
    return bytes((value,)) + data[1:]


def _edit(data: bytes, rng: random.Random) -> bytes:
    start, end = _positions(data)
    position = rng.randrange(start, end)
    kind = rng.random()
    if kind < 0.6:
        value = rng.choice([b for b in range(256) if b != data[position]])
        return data[:position] + bytes((value,)) + data[position + 1 :]
    if kind < 0.8:
        return data[:position] + data[position + 1 :]
    return data[:position] + bytes((rng.randrange(256),)) + data[position:]


def two_any(data: bytes, rng: random.Random) -> bytes:
    """Two arbitrary byte faults (replaced by any value, lost, or a byte inserted), anywhere."""
    return _edit(_edit(data, rng), rng)


def bit_errors(data: bytes, rng: random.Random) -> bytes:
    """A different noise process: independent bit flips, both ways, anywhere in the telegram
    (frame bytes and CRC field included); 1 flip, plus 1 more with probability 1/2 each time."""
    damaged = bytearray(data)
    flips = 1
    while rng.random() < 0.5:
        flips += 1
    for _ in range(flips):
        bit = rng.randrange(8 * len(data))
        damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


_NEAR_KINDS = frozenset(
    (Kind.VOLTAGE, Kind.CURRENT, Kind.POWER, Kind.POWER_FACTOR, Kind.FREQUENCY, Kind.REACTIVE_POWER)
)


def _plausible_positions(data: bytes) -> list[int]:
    """The last two digits of instantaneous values (a change there stays near the neighbours)."""
    positions = []
    start = 0
    while True:
        end = data.find(b"\r\n", start)
        if end < 0:
            break
        line = data[start:end]
        open_at = line.find(b"(")
        info = lookup(line[:open_at].decode("latin-1")) if open_at > 0 else None
        if info is not None and info.kind in _NEAR_KINDS and info.code != "0-0:17.0.0":
            close = line.find(b"*", open_at)
            close = line.find(b")", open_at) if close < 0 else close
            digits = [start + i for i in range(open_at + 1, close) if 0x30 <= line[i] <= 0x39]
            positions += digits[-2:]
        start = end + 2
    return positions


def plausible_digit(data: bytes, rng: random.Random) -> bytes:
    """Adversarial: a low digit of an instantaneous value moved by 1 to 3, so the telegram stays
    plausible next to its neighbours and nothing locates the damage."""
    positions = _plausible_positions(data)
    if not positions:
        return digit_any(data, rng)
    position = rng.choice(positions)
    digit = data[position] - 0x30
    choices = [d for d in range(10) if d != digit and abs(d - digit) <= 3]
    return data[:position] + bytes((0x30 + rng.choice(choices),)) + data[position + 1 :]


def two_plausible(data: bytes, rng: random.Random) -> bytes:
    """Adversarial and outside every model: two plausible low-digit changes."""
    return plausible_digit(plausible_digit(data, rng), rng)


_BLIND = ((0x0C, 0x05, 2), (0x05, 0x09, 28), (0x04, 0x07, 30), (0x08, 0x0E, 30))
"""Pairs of byte changes (XOR at a position, XOR ``distance`` bytes on) that change the CRC-16
alike, so together they leave it as it was: among them, digits that stay digits."""
_IS_DIGIT = frozenset(range(0x30, 0x3A))


def crc_blind(data: bytes, rng: random.Random) -> bytes:
    """Two digits changed so that the telegram still matches its CRC ('4' -> '8' and two bytes
    on '3' -> '6'...): damage no CRC-16 can see, only what the values say (falls back to
    :func:`digit_any` in a telegram without such a pair)."""
    start, end = _positions(data)
    pairs = [
        (position, first, position + distance, second)
        for first, second, distance in _BLIND
        for position in range(start, end - distance)
        if data[position] in _IS_DIGIT
        and data[position] ^ first in _IS_DIGIT
        and data[position + distance] in _IS_DIGIT
        and data[position + distance] ^ second in _IS_DIGIT
    ]
    if not pairs:
        return digit_any(data, rng)
    position, first, other, second = rng.choice(pairs)
    damaged = bytearray(data)
    damaged[position] ^= first
    damaged[other] ^= second
    return bytes(damaged)


OUTSIDE: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "any_byte": any_byte,
    "digit_any": digit_any,
    "bit_gain": bit_gain,
    "bang": bang,
    "slash": slash,
    "burst_8": _burst_of(8),
    "burst_16": _burst_of(16),
    "two_any": two_any,
    "bit_errors": bit_errors,
    "plausible_digit": plausible_digit,
    "two_plausible": two_plausible,
}
"""Faults outside the repair engine's model of the line."""

CRC_BLIND: dict[str, Callable[[bytes, random.Random], bytes]] = {"crc_blind": crc_blind}
"""Damage the CRC cannot see: the telegram still matches it. Only its values can give it away (a
counter that jumps and comes back: see :mod:`.continuity`); a change of an instantaneous value,
a clock or a history line that stays plausible is accepted, by any reader."""

ALL_FAULTS = {**FAULTS, **OUTSIDE, **CRC_BLIND}


def inject(data: bytes, fault: str, rng: random.Random) -> bytes:
    """Damage one telegram (``/`` ... ``!CRC`` CRLF) with the named fault class; always changes it."""
    damage = ALL_FAULTS[fault]
    for _ in range(100):
        damaged = damage(data, rng)
        if damaged != data:
            return damaged
    raise ValueError(f"{fault} could not change this telegram")


def same_telegram(got: bytes, original: bytes) -> bool:
    """Whether a decoded telegram is the original one: byte-exact through ``!`` and the same CRC
    value (a meter's ``06BA`` received as ``6BA`` is the same value, so the same telegram)."""
    bang = original.rindex(b"!")
    if got[: bang + 1] != original[: bang + 1]:
        return False
    return parse_crc_field(got[bang + 1 :].strip()) == parse_crc_field(original[bang + 1 :].strip())
