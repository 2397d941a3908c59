"""Hypotheses for the repair engine: which candidate telegrams a damaged one may stand for.

A hypothesis is a *skeleton*: the candidate's bytes with some digits still unknown (they are found
among the plausible values, see :mod:`.evidence`), read from a *variant* of the received bytes (as
framed; with the header rebuilt; with the ``!`` restored), checked against a CRC field that allows
one value or, when it is damaged, a few (:class:`CrcField`). Families of skeletons
(tier = how many faults they assume; searched and judged by :mod:`.search`):

* ``digit``: a digit became another digit (invisible to the structure). Where the received telegram
  has implausible fields, only their digits are tried; elsewhere every digit slot, located by
  walking the CRC syndrome back through the telegram (the one byte change that explains it);
* ``crc field``: the CRC field lost a character, or one of its characters became another (visibly,
  or into another hex digit); alone (the body intact) or together with the other families;
* ``align``: bytes substituted, lost or inserted (CR and LF, the 0xFF message, digits): the
  received bytes aligned to the structure with 1 to 4 edits, each where the structure stops matching;
  a fixed byte is restored from the structure, a digit is found among the plausible ones;
* ``+ digit``: an aligned candidate that leaves a field implausible, with one more digit of the
  implausible fields found; ``two digits``: two digits of the implausible fields;
* ``field``: one implausible field replaced by any plausible value (an invisible burst);
* ``span``: one contiguous damaged region of any length (a burst, garbage, lost bytes) restored;
* variants made before the search: the header rebuilt (garbage before it, ``/`` lost or damaged)
  and the ``!`` restored (a frame the framer could not end) cost one fault each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from .evidence import Evidence, Relation
from .structure import Edit, Structure, align, prefix_match, suffix_match

__all__ = [
    "MAX_EDITS",
    "MAX_EXTENSION",
    "MAX_IMPLICATED",
    "Candidate",
    "Context",
    "CrcField",
    "Paths",
    "Skeleton",
    "Variant",
    "fill_in",
    "one_more",
    "realize",
    "span",
    "two_more",
    "whole_fields",
]

MAX_EDITS = 4
MAX_EXTENSION = 1
"""Digits of implausible fields found on top of an alignment (visible and hidden damage)."""
MAX_IMPLICATED = 2
"""An aligned candidate that leaves more implausible fields than this is not extended."""
_MAX_PAIRS = 600
_HEX = frozenset(b"0123456789ABCDEFabcdef")


class Context(NamedTuple):
    """A structure to repair against and the evidence for its fields."""

    structure: Structure
    evidence: Evidence


class Variant(NamedTuple):
    """A reading of the received bytes: body (``/`` .. ``!``), CRC field, faults already assumed."""

    data: bytes
    crc_text: bytes
    cost: int
    label: str
    source: int
    """How many received bytes the body was read from."""


class Candidate(NamedTuple):
    """A telegram that matches its CRC, fits the structure and is plausible."""

    data: bytes
    crc_text: bytes
    label: str
    source: int
    """How many received bytes it replaces."""
    received_crc: bytes
    """The CRC field as received."""


class CrcField:
    """What the received CRC field allows: one value (``exact``) or, when it is visibly damaged,
    the values one edit away (``options``)."""

    __slots__ = ("changed", "exact", "lost", "lower", "options", "problem", "width")

    def __init__(self, text: bytes, width: int, lower: bool) -> None:
        self.width = width
        self.lower = lower
        self.exact: int | None = None
        self.options: frozenset[int] | None = None
        self.changed: frozenset[int] = frozenset()
        self.lost: frozenset[int] = frozenset()
        """The values of :attr:`changed` whose changed character lost bits on the line (the
        received character's bits all set in the sent one): the line's own fault."""
        self.problem = ""
        hexes = [c in _HEX for c in text]
        if text and all(hexes) and len(text) == width - 1:
            # A character lost (a lost leading zero, or a meter that drops it, is one of them).
            self.options = _dropped(text)
        elif text and all(hexes) and len(text) <= 4:
            self.exact = int(text, 16)
            # The field may itself have changed, one character into another hex digit.
            self.changed = frozenset(
                int(text[:at] + bytes((c,)) + text[at + 1 :], 16)
                for at in range(len(text))
                for c in b"0123456789ABCDEF"
                if c != text[at : at + 1].upper()[0]
            )
            digits = b"0123456789abcdef" if lower else b"0123456789ABCDEF"
            self.lost = frozenset(
                int(text[:at] + bytes((c,)) + text[at + 1 :], 16)
                for at, received in enumerate(text)
                for c in digits
                if c != received and c & received == received
            )
        elif len(text) == width and hexes.count(False) == 1:
            at = hexes.index(False)
            self.options = frozenset(
                int(text[:at] + bytes((c,)) + text[at + 1 :], 16) for c in b"0123456789ABCDEF"
            )
        elif not text:
            self.problem = "the CRC field is missing: nothing verifies the telegram"
        else:
            self.problem = f"the CRC field {text!r} is damaged beyond one character"

    def format(self, value: int) -> bytes:
        text = f"{value:0{self.width}X}".encode()
        return text.lower() if self.lower else text


def _dropped(text: bytes) -> frozenset[int]:
    return frozenset(
        int(text[:i] + bytes((c,)) + text[i:], 16)
        for i in range(len(text) + 1)
        for c in b"0123456789ABCDEF"
    )


class Skeleton(NamedTuple):
    data: bytes
    """Candidate bytes with ``0`` at the unknown digits."""
    unknown: tuple[int, ...]
    depth: int
    """Digits added for implausible fields so far."""


class Paths:
    """The alignment paths of exactly ``count`` edits, as skeletons (computed when needed)."""

    def __init__(self, data: bytes, structure: Structure, count: int) -> None:
        self.data = data
        self.structure = structure
        self.count = count

    def __iter__(self) -> Iterator[Skeleton]:
        for path in align(self.data, self.structure, self.count):
            yield realize(self.data, path, self.structure)


def fill_in(
    data: bytes,
    per_field: list[tuple[int, list[int], list[tuple[bytes, int]]]],
    choice: tuple[tuple[bytes, int], ...],
) -> bytes:
    """``data`` with each field's chosen text written at its unknown positions."""
    out = bytearray(data)
    for (start, positions, _), (text, _) in zip(per_field, choice, strict=True):
        for position in positions:
            out[position] = text[position - start]
    return bytes(out)


def _implicated(
    evidence: Evidence, data: bytes, bad: set[int] | None, bad_relations: list[Relation] | None
) -> list[int]:
    """The fields the damage must be in: the implausible ones and the members of broken
    relations."""
    if bad is None or bad_relations is None:
        bad, bad_relations = evidence.bad(data)
    fields = set(bad)
    for relation in bad_relations:
        fields.update(relation.fields)
    return sorted(fields)


def one_more(
    data: bytes,
    unknown: tuple[int, ...],
    context: Context,
    depth: int,
    bad: set[int] | None = None,
    bad_relations: list[Relation] | None = None,
) -> list[Skeleton]:
    """Skeletons with one more unknown digit in the fields the damage must be in."""
    structure = context.structure
    out = []
    for index in _implicated(context.evidence, data, bad, bad_relations):
        for position in structure.fields[index].slots:
            if position in unknown:
                continue
            changed = data[:position] + b"0" + data[position + 1 :]
            out.append(Skeleton(changed, tuple(sorted((*unknown, position))), depth))
    return out


def two_more(data: bytes, context: Context) -> list[Skeleton]:
    """Skeletons with two unknown digits in the fields the damage must be in."""
    slots = [
        position
        for index in _implicated(context.evidence, data, None, None)
        for position in context.structure.fields[index].slots
    ]
    if len(slots) * (len(slots) - 1) // 2 > _MAX_PAIRS:
        return []
    out = []
    for i, first in enumerate(slots):
        for second in slots[i + 1 :]:
            changed = bytearray(data)
            changed[first] = changed[second] = 0x30
            out.append(Skeleton(bytes(changed), (first, second), 2))
    return out


def whole_fields(data: bytes, context: Context) -> list[Skeleton]:
    """Skeletons with every digit of one implausible field unknown."""
    out = []
    for index in _implicated(context.evidence, data, None, None):
        slots = context.structure.fields[index].slots
        changed = bytearray(data)
        for position in slots:
            changed[position] = 0x30
        out.append(Skeleton(bytes(changed), slots, 2))
    return out


def realize(data: bytes, edits: tuple[Edit, ...], structure: Structure) -> Skeleton:
    """Apply an alignment path: fixed bytes restored, digits in slots unknown."""
    template = structure.data
    fixed = structure.fixed
    out = bytearray()
    unknown: list[int] = []
    position = 0
    for edit in edits:
        out += data[position : edit.position]
        position = edit.position
        if edit.kind == "del":
            position += 1
            continue
        if fixed[edit.template_position]:
            out.append(template[edit.template_position])
        else:
            unknown.append(len(out))
            out.append(0x30)
        if edit.kind == "sub":
            position += 1
    out += data[position:]
    return Skeleton(bytes(out), tuple(unknown), 0)


def span(data: bytes, structure: Structure) -> Skeleton | None:
    """One contiguous damaged region restored from the structure (digits unknown, or kept where a
    same-length region still has a digit in a slot)."""
    template = structure.data
    size, tsize = len(data), len(template)
    head = prefix_match(data, 0, structure, 0)
    tail = suffix_match(data, structure)
    if head + tail >= min(size, tsize):
        return None  # no region, or an insertion or deletion inside a run: alignment's work
    end, tend = size - tail, tsize - tail
    if end - head <= 1 and tend - head <= 1:
        return None  # one byte: alignment's work
    out = bytearray(data[:head])
    unknown = []
    same = size == tsize
    for j in range(head, tend):
        if structure.fixed[j]:
            out.append(template[j])
        elif same and 0x30 <= data[j] <= 0x39:
            out.append(data[j])
        else:
            unknown.append(len(out))
            out.append(0x30)
    out += data[end:]
    return Skeleton(bytes(out), tuple(unknown), 2)
