"""Fault injection: damage telegrams the way real P1 lines do, reproducibly (seeded).

The classes follow what was measured on a real noisy line (see the project's protocol notes): bits
lost (1 to 0, most often on the first character of a line, after an idle gap), ``/`` arriving as
0x0E after garbage bytes, dropped, inserted and duplicated characters (CR and LF included), damage
inside the 0xFF provider message, a damaged CRC field, short bursts and two faults in one telegram.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .crc import parse_crc_field

__all__ = ["FAULTS", "SINGLE_FAULTS", "inject", "same_telegram"]


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


def inject(data: bytes, fault: str, rng: random.Random) -> bytes:
    """Damage one telegram (``/`` ... ``!CRC`` CRLF) with the named fault class; always changes it."""
    damage = FAULTS[fault]
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
