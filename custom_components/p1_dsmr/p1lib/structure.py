"""The structure of a meter's telegrams, read from a good one (for the repair engine).

P1 meters send the same lines in the same order with fixed field widths; only the digits of values
change. So every byte of a good telegram is either *fixed* (the header, codes, punctuation, units,
identifiers, texts, setup lines, the 0xFF provider message) or a digit *slot*, and every value that
may change is a :class:`Field` with a :class:`Rule` saying how it may move from one telegram to the
next (the rules are applied by :mod:`.evidence`).

:func:`align` explains a damaged telegram as a good one of this structure with a few edits
(substitutions, deletions, insertions); every edit is placed where the structure stops matching, so
an edit path always explains the damage where it is visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from .obis import Kind, lookup
from .parsing import normalize_code

__all__ = ["Edit", "Field", "Rule", "Structure", "align", "prefix_match", "suffix_match"]

DIGITS = frozenset(b"0123456789")
_NON_DIGIT = bytes(0x00 if 0x30 <= b <= 0x39 else 0xFF for b in range(256))
_FIXED_KINDS = frozenset((Kind.IDENTIFIER, Kind.TEXT, Kind.VERSION))
_SETUP_CODES = frozenset(("0-0:17.0.0", "1-0:31.4.0", "1-0:51.4.0", "1-0:71.4.0", "0-n:24.1.0"))
"""Setup lines: the limiter threshold, current limits, the M-Bus device type."""
_COUNTER_KINDS = frozenset((Kind.ENERGY, Kind.REACTIVE_ENERGY))
_INSTANT_KINDS = frozenset(
    (
        Kind.POWER,
        Kind.REACTIVE_POWER,
        Kind.VOLTAGE,
        Kind.CURRENT,
        Kind.POWER_FACTOR,
        Kind.FREQUENCY,
    )
)


class Rule(StrEnum):
    """How a field may move between neighbouring telegrams."""

    CLOCK = "clock"
    """The meter's clock: determined by the neighbours' clocks and the period."""
    COUNTER = "counter"
    """An energy register: never decreases, grows at most by the meter's maximum power x time."""
    COUNT = "count"
    """An event counter: never decreases, a few events at most."""
    INSTANT = "instant"
    """An instantaneous value (power, voltage, current, power factor, frequency): near both
    neighbours."""
    CHOICE = "choice"
    """A line that changes rarely (tariff, breaker, M-Bus reading, monthly history, event log): the
    previous or the next telegram's line."""
    FREE = "free"
    """A line of a code this library does not know: the neighbours' line when they agree, else any
    digits."""


@dataclass(frozen=True, slots=True)
class Field:
    """A value that may change, where it stands in the structure."""

    code: str
    rule: Rule
    start: int
    """Where the rule reads: the number (counter, count, instant), the 13-character clock, or the
    whole line (choice, free)."""
    end: int
    line_start: int
    line_end: int
    kind: Kind | None
    unit: str
    """The unit after ``*`` (numeric rules), else empty."""
    slots: tuple[int, ...]
    """Positions of the digit slots inside [start, end)."""


class Edit(NamedTuple):
    """One edit of an alignment path."""

    kind: str
    """``sub`` (the received byte replaced), ``del`` (removed), ``ins`` (a byte restored)."""
    position: int
    """In the received data."""
    template_position: int


def _number_span(inner: bytes) -> tuple[int, int] | None:
    """Where the number of a ``digits[.digits][*unit]`` group is (offsets inside the group)."""
    star = inner.find(b"*")
    number = inner if star < 0 else inner[:star]
    if not number or not number.replace(b".", b"", 1).isdigit() or number[:1] == b".":
        return None
    return 0, len(number)


_CLOCK_FLAGS = (b"", b"S", b"W", b"s", b"w")


def _classify(code: str, inner: bytes, single: bool) -> Rule | None:
    """The rule of a line (None: every byte of it is fixed)."""
    info = lookup(code)
    if info is None:
        return Rule.FREE
    if info.kind in _FIXED_KINDS or info.code in _SETUP_CODES:
        return None
    if single and info.code == "0-0:1.0.0":
        # YYMMDDhhmmss, with its DST flag or (some meters) without one.
        if len(inner) in (12, 13) and inner[:12].isdigit() and inner[12:] in _CLOCK_FLAGS:
            return Rule.CLOCK
        return Rule.CHOICE
    if single and _number_span(inner) is not None:
        if info.kind in _COUNTER_KINDS:
            return Rule.COUNTER
        if info.kind is Kind.COUNT:
            return Rule.COUNT
        if info.kind in _INSTANT_KINDS:
            return Rule.INSTANT
    return Rule.CHOICE


class Structure:
    """What a good telegram of a meter looks like: fixed bytes, digit slots and fields."""

    __slots__ = (
        "data",
        "field_at",
        "fields",
        "fixed",
        "header",
        "lines",
        "setup_at",
        "slots",
    )

    def __init__(self, data: bytes) -> None:
        self.data = data
        fixed = bytearray(b"\xff" * len(data))
        fields: list[Field] = []
        field_at = [-1] * len(data)
        setup_at: dict[int, str] = {}
        lines: dict[str, tuple[int, int]] = {}
        header_end = data.find(b"\r\n")
        self.header = data[: header_end if header_end >= 0 else len(data)]
        start = header_end + 2 if header_end >= 0 else len(data)
        while start < len(data):
            end = data.find(b"\r\n", start)
            if end < 0:
                end = len(data)
            self._line(data, start, end, fixed, fields, field_at, setup_at, lines)
            start = end + 2
        self.fixed = bytes(fixed)
        self.slots = bytes(0xFF ^ b for b in fixed)
        self.fields = tuple(fields)
        self.field_at = field_at
        self.setup_at = setup_at
        """Digit positions inside fixed lines' values -> their code (to explain rejections)."""
        self.lines = lines
        """Code -> (start, end) of its first line."""

    @staticmethod
    def _line(
        data: bytes,
        start: int,
        end: int,
        fixed: bytearray,
        fields: list[Field],
        field_at: list[int],
        setup_at: dict[int, str],
        lines: dict[str, tuple[int, int]],
    ) -> None:
        open_at = data.find(b"(", start, end)
        if open_at <= start or data[end - 1 : end] != b")":
            return
        code = normalize_code(data[start:open_at].decode("latin-1"))
        lines.setdefault(code, (start, end))
        inner = data[open_at + 1 : end - 1]
        single = inner.find(b"(") < 0 and inner.find(b")") < 0
        rule = _classify(code, inner, single)
        if rule is None:
            for position in range(open_at + 1, end):
                if data[position] in DIGITS:
                    setup_at[position] = code
            return
        if rule is Rule.CLOCK:
            span = (open_at + 1, end - 1)
        elif rule in (Rule.CHOICE, Rule.FREE):
            span = (start, end)
        else:
            number = _number_span(inner)
            assert number is not None
            span = (open_at + 1 + number[0], open_at + 1 + number[1])
        slots = tuple(p for p in range(max(span[0], open_at + 1), span[1]) if data[p] in DIGITS)
        if not slots and rule in (Rule.CHOICE, Rule.FREE):
            return  # nothing in it can change without changing the structure
        star = inner.find(b"*")
        unit = inner[star + 1 :].decode("latin-1") if single and star >= 0 else ""
        index = len(fields)
        fields.append(Field(code, rule, span[0], span[1], start, end, _kind(code), unit, slots))
        for position in slots:
            fixed[position] = 0
            field_at[position] = index

    def matches(self, data: bytes) -> bool:
        """Same length, fixed bytes equal, digit slots holding digits."""
        return len(data) == len(self.data) and prefix_match(data, 0, self, 0) == len(data)

    def compatible(self, other: Structure) -> bool:
        """Whether ``other`` has the same structure (the same fixed bytes and slots)."""
        return (
            len(other.data) == len(self.data)
            and other.fixed == self.fixed
            and prefix_match(other.data, 0, self, 0) == len(self.data)
        )


def _kind(code: str) -> Kind | None:
    info = lookup(code)
    return info.kind if info is not None else None


def prefix_match(data: bytes, start: int, structure: Structure, tstart: int) -> int:
    """Length of the run from ``data[start:]`` that matches ``structure`` from ``tstart``."""
    length = min(len(data) - start, len(structure.data) - tstart)
    if length <= 0:
        return 0
    a = data[start : start + length]
    b = structure.data[tstart : tstart + length]
    difference = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    bad = difference & int.from_bytes(structure.fixed[tstart : tstart + length], "big")
    bad |= int.from_bytes(a.translate(_NON_DIGIT), "big") & int.from_bytes(
        structure.slots[tstart : tstart + length], "big"
    )
    if not bad:
        return length
    return (length * 8 - bad.bit_length()) // 8


def suffix_match(data: bytes, structure: Structure) -> int:
    """How many bytes at the end of ``data`` match the end of ``structure``."""
    length = min(len(data), len(structure.data))
    if length <= 0:
        return 0
    a = data[len(data) - length :]
    tstart = len(structure.data) - length
    b = structure.data[tstart:]
    difference = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    bad = difference & int.from_bytes(structure.fixed[tstart:], "big")
    bad |= int.from_bytes(a.translate(_NON_DIGIT), "big") & int.from_bytes(
        structure.slots[tstart:], "big"
    )
    if not bad:
        return length
    return ((bad & -bad).bit_length() - 1) // 8


def _digit_run_back(data: bytes, i: int, structure: Structure, j: int) -> int:
    """How many positions before (i, j) are digits in digit slots (an edit there is equivalent)."""
    back = 0
    slots = structure.slots
    while (
        back < 20
        and i - back - 1 >= 0
        and j - back - 1 >= 0
        and slots[j - back - 1]
        and data[i - back - 1] in DIGITS
    ):
        back += 1
    return back


def align(
    data: bytes, structure: Structure, edits: int, limit: int = 3000
) -> list[tuple[Edit, ...]]:
    """Edit paths of exactly ``edits`` edits (substitute, delete, insert) that make ``data`` match.

    Edits are placed where the structure stops matching; a byte inserted or deleted inside the digit
    run just before a mismatch is equivalent to one at the mismatch as far as the structure can
    tell, so each of those positions is a branch. At most ``limit`` nodes are explored.
    """
    size = len(data)
    tsize = len(structure.data)
    if abs(size - tsize) > edits:
        return []
    results: list[tuple[Edit, ...]] = []
    stack: list[tuple[int, int, tuple[Edit, ...]]] = [(0, 0, ())]
    explored = 0
    while stack and explored < limit:
        explored += 1
        i, j, path = stack.pop()
        run = prefix_match(data, i, structure, j)
        i += run
        j += run
        if i == size and j == tsize:
            if len(path) == edits:
                results.append(path)
            continue
        remaining = edits - len(path)
        if not remaining or abs((size - i) - (tsize - j)) > remaining:
            continue
        back = _digit_run_back(data, i, structure, j)
        if path:  # never back across the previous edit
            last = path[-1]
            back = min(back, i - last.position - 1, j - last.template_position - 1)
        for offset in range(back, -1, -1):
            a, b = i - offset, j - offset
            if a < size:
                stack.append((a + 1, b, (*path, Edit("del", a, b))))
            if b < tsize:
                stack.append((a, b + 1, (*path, Edit("ins", a, b))))
        if i < size and j < tsize:
            stack.append((i + 1, j + 1, (*path, Edit("sub", i, j))))
    return results
