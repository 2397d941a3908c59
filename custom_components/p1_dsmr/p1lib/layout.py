"""Layouts: what a meter's telegrams share, so the next one costs a few C-level passes to read.

A meter sends the same lines in the same order, each value in the same width, and only digits change.
A :class:`Layout` is taken from a telegram that parsed line for line. It knows the telegram's bytes
and its *fields*: the digits of values that may change, at fixed positions. A later telegram matches
the layout (:meth:`Layout.matches`) when it has the same length, the same bytes everywhere outside
the fields (codes, units, points, headers, identifiers, texts) and a decimal digit at every digit
position of a field. It then has, line for line, the same codes, units and value shapes, so its
objects are the layout's with the fields' digits read where they stand.

Fields are the digits of

* ``code(digits*unit)`` measurements (``digits``: decimal digits with at most one point);
* ``code(digits)`` bare numbers (tariff, counters, states): digits with at most one point;
* ``code(YYMMDDhhmmssX)`` clocks: the twelve digits (the S/W flag, if any, stays fixed);
* ``code(YYMMDDhhmmssX)(digits*unit)`` M-Bus readings (gas every five minutes, water, heat) and
  their capture time, in units kept as sent.

Every other line must repeat byte for byte: other multi-value lines (event logs), and the lines that
describe the installation rather than measure it (identifiers, versions, texts, M-Bus device
types), on which consumers base their choices (which columns, which channel is gas). When one
changes, the telegram is parsed in full and gives the next layout.

A matching telegram is built lazily (:meth:`.telegram.Telegram.lazy`). Consumers that read the same
codes from every telegram (:class:`.telegram.Fields`) get them through accessors compiled once per
layout (numbers: one ``struct.unpack_from``, one ``map(float, ...)``, one rearrangement); text
templates (:mod:`.template`) are compiled once per layout into an f-string that slices the digits
where they stand.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import repeat
from operator import add, itemgetter
from typing import Any, NamedTuple, TypeVar

from .clock import MeterClock
from .crc import telegram_number
from .obis import Kind
from .telegram import (
    CosemObject,
    Dialect,
    Fields,
    Header,
    NumericSpec,
    Value,
    numeric_object,
    unit_spec,
)
from .template import Renderer, Source, Stamp, Template, TimeSource

__all__ = ["Layout"]

_ZEROS = repeat("0")
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
_ACCESSORS = 64
"""Compiled accessors kept per layout (one per :class:`~.telegram.Fields` in use)."""

_SETUP_KINDS = frozenset((Kind.IDENTIFIER, Kind.TEXT, Kind.VERSION, Kind.PROFILE))
_SETUP_KEYS = frozenset(("mbus_device_type",))

_MEASUREMENT = 0
"""``code(digits*unit)``"""
_BARE = 1
"""``code(digits)``"""
_CLOCK = 2
"""``code(YYMMDDhhmmssX)`` (or without the flag X)"""
_TIMED = 3
"""``code(YYMMDDhhmmssX)(digits*unit)``: an M-Bus reading (gas, water, heat) and its capture time."""


class _Field(NamedTuple):
    """The changing digits of one line: where they are and how they become its object."""

    kind: int
    start: int
    stop: int
    spec: NumericSpec
    """For a bare number or a clock, only obis, code and registry entry are used."""
    integer_digits: int
    """Digits before the point (or in all, without one)."""
    clock: int = -1
    """For a timed reading, where its capture time's twelve digits start; for a clock, where its
    text (the digits and the S/W flag, if any) ends."""


def _is_number(digits: bytes) -> bool:
    return digits.replace(b".", b"", 1).isdigit()


def _field(line: bytes, obj: CosemObject, offset: int) -> _Field | None:
    """The field of a data line that starts at ``offset``, or None when the line must repeat."""
    info = obj.info
    if info is not None and (info.kind in _SETUP_KINDS or info.key in _SETUP_KEYS):
        return None
    if len(obj.values) == 2:
        return _timed_field(line, obj, offset)
    if len(obj.values) != 1:
        return None
    value = obj.values[0]
    open_at = line.find(b"(")
    inner = line[open_at + 1 : -1]
    start = offset + open_at + 1
    star = inner.find(b"*")
    if value.unit is not None and value.number is not None and star > 0:
        digits = inner[:star]
        if not _is_number(digits) or b"(" in inner or b")" in inner:
            return None
        unit = inner[star + 1 :]
        spec = (obj.obis, obj.code, obj.info, *unit_spec(unit))
        point = digits.find(b".")
        return _Field(_MEASUREMENT, start, start + star, spec, point if point >= 0 else len(digits))
    raw = value.raw
    if inner != raw.encode("latin-1"):
        return None
    basis: NumericSpec = (obj.obis, obj.code, obj.info, "", None, 1.0)
    if value.unit is None and value.number is not None:
        if not raw[:1].isdigit() or len(raw) > 20 or not _is_number(inner):
            return None
        point = raw.find(".")
        return _Field(_BARE, start, start + len(raw), basis, point if point >= 0 else len(raw))
    if value.number is None and value.timestamp is not None and len(raw) in (12, 13):
        return _Field(_CLOCK, start, start + 12, basis, 0, start + len(raw))
    return None


def _timed_field(line: bytes, obj: CosemObject, offset: int) -> _Field | None:
    """The field of ``code(YYMMDDhhmmssX)(digits*unit)``, or None for any other two-value line.

    Only for units kept as sent (m3, GJ ...): a converted unit's number is made differently by a
    full parse of a two-value line.
    """
    clock, reading = obj.values
    open_at = line.find(b"(")
    inner = line[open_at + 1 : -1]
    star = inner.find(b"*")
    digits = inner[15:star]
    if (
        clock.timestamp is None
        or len(clock.raw) != 13
        or inner[13:15] != b")("
        or reading.number is None
        or star < 16
        or not digits[:1].isdigit()
        or not _is_number(digits)
        or b"(" in inner[15:]
        or b")" in inner[15:]
    ):
        return None
    unit = unit_spec(inner[star + 1 :])
    if unit[2] != 1.0:
        return None
    start = offset + open_at + 1 + 15
    point = digits.find(b".")
    integer_digits = point if point >= 0 else len(digits)
    spec: NumericSpec = (obj.obis, obj.code, obj.info, *unit)
    return _Field(_TIMED, start, start + len(digits), spec, integer_digits, offset + open_at + 1)


def _build(field: _Field, data: bytes, clock: MeterClock) -> CosemObject:
    """The object of a field's line, read from ``data`` (a telegram that matches the layout), its
    times with ``clock``."""
    if field.kind == _MEASUREMENT:
        return numeric_object(data[field.start : field.stop], field.spec)
    obj: CosemObject
    if field.kind == _TIMED:
        reading = numeric_object(data[field.start : field.stop], field.spec)
        raw = data[field.clock : field.clock + 13].decode("ascii")
        time: Value = _new(Value, (raw, None, None, clock(raw)))
        obj = reading._replace(values=(time, reading.values[0]))
        return obj
    obis, code, info = field.spec[:3]
    if field.kind == _CLOCK:
        raw = data[field.start : field.clock].decode("ascii")  # the digits and the S/W flag
        value: Value = _new(Value, (raw, None, None, clock(raw)))
        obj = _new(CosemObject, (obis, code, (value,), None, None, info, ""))
        return obj
    digits = data[field.start : field.stop]
    raw = digits.decode("ascii")
    number = float(digits)
    text = raw.lstrip("0")
    if not text or text[0] == ".":
        text = "0" + text
    value = _new(Value, (raw, None, number, None))
    obj = _new(CosemObject, (obis, code, (value,), number, None, info, text))
    return obj


def _special(field: _Field) -> bool:
    """Whether a field's number text is made as its object makes it: a scaled value (W to kW), or
    a number that starts with the point."""
    return field.spec[5] != 1.0 or field.integer_digits == 0


def _tuple_getter(items: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """``itemgetter(*items)`` that returns a tuple for any number of items."""
    if len(items) == 1:
        item = items[0]
        return lambda source: (source[item],)
    if not items:
        return lambda source: ()
    return itemgetter(*items)


_K = TypeVar("_K")
_V = TypeVar("_V")


class _Compiled(dict[_K, _V]):
    """What a layout compiled per consumer's key (a :class:`~.telegram.Fields`, a
    :class:`~.template.Template`), compiled on first use (bounded)."""

    __slots__ = ("_compile",)

    def __init__(self, compile_one: Callable[[_K], _V]) -> None:
        super().__init__()
        self._compile = compile_one

    def __missing__(self, key: _K) -> _V:
        if len(self) >= _ACCESSORS:
            self.clear()
        compiled = self[key] = self._compile(key)
        return compiled


_Entry = CosemObject | _Field
"""A line's object when the line repeats; its field when its digits change."""


class Layout:
    """The layout of a telegram that parsed line for line (see the module's description).

    Also the :attr:`.telegram.Telegram.layout` token of every telegram that matches it.
    """

    __slots__ = (
        "_carry",
        "_entries",
        "_expected",
        "_first",
        "_fixed",
        "_length",
        "_low",
        "_read_clock",
        "_six",
        "_stamp",
        "clock",
        "dialect",
        "header",
        "number_readers",
        "renderers",
        "text_readers",
    )

    def __init__(
        self,
        data: bytes,
        lines: Sequence[bytes],
        slots: Sequence[CosemObject | None],
        header: Header,
        dialect: Dialect,
        clock: MeterClock,
    ) -> None:
        """Take the layout of ``data``, split into ``lines``, whose objects are ``slots`` (None for
        the header, empty lines and the continuation lines of a wrapped text), read with
        ``clock``."""
        self.header = header
        self.dialect = dialect
        self.clock = clock
        """The meter's clock: the time zone the layout's times are read in."""
        self._read_clock = clock.__call__
        self._length = len(data)
        entries: list[_Entry] = []
        first: dict[str, int] = {}
        fixed = bytearray(b"\xff" * len(data))  # 0xF0 where a field's digit stands
        digit = bytearray(len(data))  # 0x01 where a field's digit stands
        offset = 0
        for line, obj in zip(lines, slots, strict=True):
            if obj is not None:
                field = _field(line, obj, offset)
                if field is not None:
                    positions = [*range(field.start, field.stop)]
                    if field.kind == _TIMED:
                        positions += range(field.clock, field.clock + 12)
                    for position in positions:
                        if data[position] != 0x2E:  # the point is fixed, digits may change
                            fixed[position] = 0xF0
                            digit[position] = 0x01
                entries.append(obj if field is None else field)
                first.setdefault(obj.code, len(entries) - 1)
            offset += len(line) + 2
        for code, position in [*first.items()]:
            if code.startswith("1-1:"):  # a register on channel 1 is found under 1-0: too
                first.setdefault("1-0:" + code[4:], position)
        self._entries = tuple(entries)
        self._first = first
        stamp = entries[first["0-0:1.0.0"]] if "0-0:1.0.0" in first else None
        self._stamp = (
            slice(stamp.start, stamp.clock)  # the digits and the S/W flag
            if isinstance(stamp, _Field) and stamp.kind == _CLOCK
            else None
        )
        # Matching is three big-int operations over the whole telegram (see :meth:`matches`), read
        # as the CRC reads it (:func:`.crc.telegram_number`), so a caller that checked the CRC
        # passes the integer on.
        ones = telegram_number(digit)
        self._fixed = telegram_number(fixed)
        self._expected = telegram_number(data) & self._fixed
        self._low = ones * 0x0F
        self._six = ones * 0x06
        self._carry = ones * 0x10
        self.number_readers: _Compiled[Fields, Callable[[bytes], tuple[float | None, ...]]] = (
            _Compiled(lambda fields: self._compile_numbers(fields.codes))
        )
        """Per :class:`~.telegram.Fields`: ``data`` -> :attr:`CosemObject.number` of each code
        (None where absent), compiled on first use."""
        self.text_readers: _Compiled[Fields, Callable[[bytes], tuple[str, ...]]] = _Compiled(
            lambda fields: self._compile_texts(fields.codes)
        )
        """Per :class:`~.telegram.Fields`: ``data`` -> :attr:`CosemObject.number_text` of each
        code ("" where absent)."""
        self.renderers: _Compiled[Template, Renderer] = _Compiled(
            lambda template: template.compile(self._text_source, self._time_source)
        )
        """Per :class:`~.template.Template`: (``data``, arguments) -> the rendered text."""

    def matches(self, data: bytes, number: int | None = None) -> bool:
        """Whether ``data`` differs from this layout's telegram only in the digits of its fields.

        Read as one big integer (``number``, its :func:`.crc.telegram_number`, when the caller has
        it), ``data`` must equal the layout's telegram in every byte outside
        the fields and in the high nibble (0x3_) of every field digit; and every such digit's low
        nibble must be 9 at most (adding 6 to it must not carry into 0x10).
        """
        if len(data) != self._length:
            return False
        value = telegram_number(data) if number is None else number
        return (
            value & self._fixed == self._expected
            and ((value & self._low) + self._six) & self._carry == 0
        )

    # --- a matching telegram's content (``data`` must match) --------------------------------

    def objects(self, data: bytes) -> tuple[CosemObject, ...]:
        """Every object of ``data``, in line order."""
        return tuple(
            _build(entry, data, self.clock) if isinstance(entry, _Field) else entry
            for entry in self._entries
        )

    def get(self, data: bytes, code: str) -> CosemObject | None:
        """The first object for ``code`` in ``data``, or None."""
        entry = self._entry(code)
        return _build(entry, data, self.clock) if isinstance(entry, _Field) else entry

    def _entry(self, code: str) -> _Entry | None:
        """The first line of ``code``: its object, or its field; None when there is none."""
        position = self._first.get(code)
        return None if position is None else self._entries[position]

    def timestamp(self, data: bytes) -> datetime | None:
        """The meter's clock (``0-0:1.0.0``) in ``data``."""
        stamp = self._stamp
        if stamp is not None:
            return self._read_clock(data[stamp].decode("ascii"))
        obj = self.get(data, "0-0:1.0.0")
        return obj.values[0].timestamp if obj is not None and obj.values else None

    # --- accessors ---------------------------------------------------------------------------

    def _pick(
        self, codes: Sequence[str]
    ) -> tuple[list[_Field], list[CosemObject | None], list[int]]:
        """The numeric fields among ``codes``, the objects that hold the others' values (None:
        absent, or a clock, which has no number), and where each code's value lands in
        ``fields + objects``."""
        fields: list[_Field] = []
        constants: list[CosemObject | None] = []
        picks: list[tuple[bool, int]] = []
        for code in codes:
            entry = self._entry(code)
            if isinstance(entry, _Field):
                if entry.kind != _CLOCK:
                    picks.append((True, len(fields)))
                    fields.append(entry)
                    continue
                entry = None
            picks.append((False, len(constants)))
            constants.append(entry)
        order = [k if numeric else len(fields) + k for numeric, k in picks]
        return fields, constants, order

    def _compile_numbers(self, codes: Sequence[str]) -> Callable[[bytes], tuple[float | None, ...]]:
        fields, objects, order = self._pick(codes)
        # Every field's digits in one struct.unpack_from, in telegram order, each field once.
        spans = sorted({(f.start, f.stop): f for f in fields}.items())
        layout: list[str] = []
        end = 0
        for (start, stop), _ in spans:
            layout.append(f"{start - end}x{stop - start}s")
            end = stop
        digits = struct.Struct("".join(layout)).unpack_from
        scaled = [(k, f.spec[5]) for k, (_, f) in enumerate(spans) if f.spec[5] != 1.0]
        constants = [None if o is None else o.number for o in objects]
        where = {span: k for k, (span, _) in enumerate(spans)}
        arrange = _tuple_getter(
            [
                where[fields[k].start, fields[k].stop]
                if k < len(fields)
                else k - len(fields) + len(spans)
                for k in order
            ]
        )

        def numbers(data: bytes) -> tuple[float | None, ...]:
            values: list[float | None] = list(map(float, digits(data)))
            for k, scale in scaled:
                values[k] *= scale  # type: ignore[operator]  # as numeric_object scales
            values += constants
            return arrange(values)

        return numbers

    def _text_source(self, code: str) -> Source:
        """Where the number text of ``code`` is (see :data:`.template.Source`)."""
        entry = self._entry(code)
        if entry is None:
            return ""
        if not isinstance(entry, _Field):
            return entry.number_text
        if entry.kind == _CLOCK:
            return ""
        if _special(entry):
            field, clock = entry, self.clock
            return lambda data: _build(field, data, clock).number_text
        return (entry.start, entry.start + entry.integer_digits - 1, entry.stop)

    def _time_source(self, code: str) -> TimeSource:
        """Where the time of ``code``'s object is (see :data:`.template.TimeSource`)."""
        entry = self._entry(code)
        read = Stamp(code)
        if entry is None:
            return ""
        if not isinstance(entry, _Field):
            return read.text(entry)
        if entry.kind == _CLOCK:
            return (entry.start, entry.clock, self.clock.iso)
        if entry.kind == _TIMED:
            return (entry.clock, entry.clock + 13, self.clock.iso)
        field, clock = entry, self.clock
        return lambda data: read.text(_build(field, data, clock))

    def _compile_texts(self, codes: Sequence[str]) -> Callable[[bytes], tuple[str, ...]]:
        fields, objects, order = self._pick(codes)
        # A number's text is its digits without leading zeros, keeping the last digit before the
        # point: the leading part is stripped, the rest appended. Scaled values (W to kW) and
        # numbers that start with the point are made as their objects make them.
        special = [(k, f) for k, f in enumerate(fields) if _special(f)]
        splits = [f.start + f.integer_digits - 1 for f in fields]
        for k, _ in special:
            splits[k] = fields[k].start
        leads = _tuple_getter(
            [slice(f.start, split) for f, split in zip(fields, splits, strict=True)]
        )
        rests = _tuple_getter(
            [slice(split, f.stop) for f, split in zip(fields, splits, strict=True)]
        )
        constants = ["" if o is None else o.number_text for o in objects]
        arrange = _tuple_getter(order)
        clock = self.clock

        def texts(data: bytes) -> tuple[str, ...]:
            text = data.decode("latin-1")
            cells = list(map(add, map(str.lstrip, leads(text), _ZEROS), rests(text)))
            for k, field in special:
                cells[k] = _build(field, data, clock).number_text
            cells += constants
            return arrange(cells)

        def plain(data: bytes) -> tuple[str, ...]:
            """Every code a field in order, none special: no rearrangement."""
            text = data.decode("latin-1")
            return tuple(map(add, map(str.lstrip, leads(text), _ZEROS), rests(text)))

        return plain if not special and order == list(range(len(order))) else texts
