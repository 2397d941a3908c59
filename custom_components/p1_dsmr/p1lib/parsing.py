"""Parsing: one generic parser for every OBIS line of every dialect.

A data line is ``A-B:C.D.E[*F]`` followed by one or more ``(value[*unit])`` groups. Values are kept as
sent (latin-1 text, so every byte survives) and typed where they can be: numbers (``float``),
timestamps (``YYMMDDhhmmssX`` to a timezone-aware ``datetime``), hex-encoded text (decoded on request).
DSMR 2.2 puts the gas reading on a line of its own, ``(00001.001)``; it is joined to the line before.
Lines that match no grammar are kept in :attr:`Telegram.unparsed`, never dropped.

:class:`Parser` caches parsed lines: most lines of a telegram repeat verbatim from one telegram to the
next (identifiers, idle counters, the 0xFF message), so only the few that change cost anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from itertools import compress
from operator import ne
from typing import NamedTuple

from .obis import Kind, ObisInfo, canonical_number, lookup

__all__ = [
    "CET",
    "CEST",
    "CosemObject",
    "Dialect",
    "Header",
    "Parser",
    "Telegram",
    "Value",
    "decode_hex_text",
    "normalize_code",
    "detect_dialect",
    "parse_header",
    "parse_line",
    "parse_timestamp",
]

CET = timezone(timedelta(hours=1), "CET")
CEST = timezone(timedelta(hours=2), "CEST")

_OBIS_RE = re.compile(rb"\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}(?:[*.]\d{1,3})?\Z")
_HEX_CHARS = frozenset("0123456789abcdefABCDEF")


class Value(NamedTuple):
    """One ``(...)`` group of a line."""

    raw: str
    """The text without unit, latin-1 decoded (bytes 0x80-0xFF survive as U+0080-U+00FF)."""
    unit: str | None
    number: float | None
    timestamp: datetime | None


class CosemObject(NamedTuple):
    """One data line (plus, for DSMR 2.2 gas, its continuation line)."""

    obis: str
    """The code as sent, e.g. ``1-0:32.7.0``, ``1-0:1.8.0*255`` or ``1-0:21.7.0.255``."""
    code: str
    """The code as ``A-B:C.D.E`` (any ``*F``/``.F`` suffix removed): the key of lookups."""
    values: tuple[Value, ...]
    number: float | None
    """The main numeric value in canonical units (kW, kWh, kvar, kvarh, V, A, Hz, m3, GJ ...)."""
    unit: str | None
    """Canonical unit of :attr:`number`."""
    info: ObisInfo | None
    number_text: str
    """:attr:`number` as text: the digits the meter sent (leading zeros removed) when no unit
    conversion was needed, so exports reproduce the meter's exact decimals."""

    @property
    def channel(self) -> int:
        """The B group: M-Bus channel for ``0-n`` codes."""
        return int(self.obis[self.obis.index("-") + 1 : self.obis.index(":")])

    @property
    def key(self) -> str | None:
        """Registry key (``voltage_l1`` ...), None for codes the registry does not know."""
        return self.info.key if self.info is not None else None

    @property
    def text(self) -> str:
        """First value as text, hex-decoded where the code carries hex-encoded text."""
        raw = self.values[0].raw if self.values else ""
        if self.info is not None and self.info.kind in (Kind.IDENTIFIER, Kind.TEXT):
            return decode_hex_text(raw)
        return raw

    @property
    def timestamp(self) -> datetime | None:
        """The first timestamp among the values (DSMR 2.2 gas: its 12-digit reading time)."""
        for value in self.values:
            if value.timestamp is not None:
                return value.timestamp
        if self.values and len(self.values[0].raw) == 12 and self.values[0].raw.isdigit():
            return parse_timestamp(self.values[0].raw)
        return None


@dataclass(frozen=True, slots=True)
class Header:
    """The ``/XXXZ ident`` line."""

    raw: str
    flag: str
    """Manufacturer flag (3 characters: ISK, KFM, AUX, FLU, ...)."""
    baud: str
    """The baud-rate digit (5 = 115200 in DSMR 4/5), empty when absent."""
    ident: str


class Dialect(StrEnum):
    """The country or meter family, detected from the telegram itself."""

    NL = "NL"
    BE = "BE"
    LU = "LU"
    SE = "SE"
    HU = "HU"
    Q3D = "Q3D"
    IE = "IE"
    GENERIC = "generic"


@dataclass(slots=True, eq=False)
class Telegram:
    """A parsed telegram."""

    header: Header
    objects: tuple[CosemObject, ...]
    unparsed: tuple[tuple[int, str], ...]
    """Lines (index in the telegram, text) that match no grammar."""
    dialect: Dialect
    index: dict[str, CosemObject] = field(repr=False)
    """First object per code (an ``*F`` or ``.F`` suffix removed)."""
    layout: object = field(default_factory=object, repr=False)
    """Shared (``is``) by telegrams known to carry the same codes in the same order, so consumers
    can reuse what they derived from the layout (column maps, formats)."""

    def get(self, code: str) -> CosemObject | None:
        """The object for ``A-B:C.D.E``, or None."""
        return self.index.get(code)

    def number(self, code: str) -> float | None:
        """The canonical numeric value for ``code``, or None."""
        obj = self.index.get(code)
        return obj.number if obj is not None else None

    @property
    def timestamp(self) -> datetime | None:
        """The meter's clock (``0-0:1.0.0``), timezone-aware, or None (DSMR 2.2, Q3D)."""
        obj = self.index.get("0-0:1.0.0")
        return obj.values[0].timestamp if obj is not None and obj.values else None

    @property
    def equipment_id(self) -> str | None:
        """The meter's identifier, whichever code the dialect uses."""
        for code in ("0-0:96.1.1", "0-0:42.0.0", "0-0:96.1.0", "0-0:96.1.255", "1-0:0.0.0"):
            obj = self.index.get(code)
            if obj is not None and obj.values and obj.values[0].raw.strip("0"):
                return obj.text
        return None

    @property
    def protocol_version(self) -> str | None:
        """DSMR (``1-3:0.2.8``) or e-MUCS (``0-0:96.1.4``) version, e.g. ``5.0``."""
        obj = self.index.get("1-3:0.2.8") or self.index.get("0-0:96.1.4")
        if obj is None or not obj.values:
            return None
        raw = obj.values[0].raw
        return f"{raw[0]}.{raw[1:]}" if len(raw) >= 2 and raw.isdigit() else raw

    def mbus_channels(self) -> dict[int, list[CosemObject]]:
        """Objects of each M-Bus channel (``0-n`` with n >= 1)."""
        channels: dict[int, list[CosemObject]] = {}
        for obj in self.objects:
            if obj.obis.startswith("0-") and not obj.obis.startswith("0-0:"):
                channels.setdefault(obj.channel, []).append(obj)
        return channels


def decode_hex_text(raw: str) -> str:
    """Decode hex-encoded text (``4B4D...``) when it is that; otherwise return ``raw``."""
    if len(raw) < 2 or len(raw) % 2 or not _HEX_CHARS.issuperset(raw):
        return raw
    decoded = bytes.fromhex(raw).decode("latin-1")
    if decoded.isprintable():
        return decoded
    return raw


def _last_sunday(year: int, month: int) -> int:
    day = 31
    while datetime(year, month, day).weekday() != 6:
        day -= 1
    return day


_MINUTES: dict[str, datetime] = {}
_SECONDS = tuple(timedelta(seconds=second) for second in range(60))


def parse_timestamp(text: str) -> datetime | None:
    """``YYMMDDhhmmss[S|W]`` to an aware datetime (S: CEST, +02:00; W: CET, +01:00).

    Without the S/W flag (DSMR 2.2 gas) the European rule decides: CEST from the last Sunday of March
    to the last Sunday of October. Returns None for an impossible date. The minutes seen last are
    cached, so a meter's clock ticking within a minute costs one look-up and one addition.
    """
    minute = _MINUTES.get(text[:10] + text[12:])
    if minute is not None:
        seconds = text[10:12]
        if seconds.isdecimal() and len(seconds) == 2 and seconds < "60":
            return minute + _SECONDS[int(seconds)]
    parsed = _parse_timestamp(text)
    if parsed is not None:
        if len(_MINUTES) >= 64:
            _MINUTES.clear()
        _MINUTES[text[:10] + text[12:]] = parsed - _SECONDS[parsed.second]
    return parsed


def _parse_timestamp(text: str) -> datetime | None:
    try:
        fields = (
            2000 + int(text[0:2]),
            int(text[2:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
        )
        flag = text[12:13].upper()
        if flag == "S":
            return datetime(*fields, tzinfo=CEST)
        if flag == "W":
            return datetime(*fields, tzinfo=CET)
        naive = datetime(*fields)
    except ValueError:
        return None
    start = datetime(naive.year, 3, _last_sunday(naive.year, 3), 2)
    end = datetime(naive.year, 10, _last_sunday(naive.year, 10), 3)
    return naive.replace(tzinfo=CEST if start <= naive < end else CET)


def _number(text: bytes) -> float | None:
    """A strict decimal number (optional sign, digits, one optional point), or None."""
    digits = text[1:] if text[:1] in (b"-", b"+") else text
    if not digits.replace(b".", b"", 1).isdigit():
        return None
    return float(text)


def _parse_value(part: bytes) -> Value:
    value: Value
    star = part.find(b"*")
    if star >= 0:
        number_text = part[:star]
        value = _new(
            Value,
            (
                number_text.decode("latin-1"),
                part[star + 1 :].decode("latin-1"),
                _number(number_text),
                None,
            ),
        )
        return value
    text = part.decode("latin-1")
    if len(part) == 13 and text[12] in "SW" and text[:12].isdigit():
        value = _new(Value, (text, None, None, parse_timestamp(text)))
        return value
    number = _number(part) if 0 < len(part) <= 20 else None
    value = _new(Value, (text, None, number, None))
    return value


def _number_text(number: float | None, raw: str, scaled: bool) -> str:
    if number is None:
        return ""
    if scaled:
        return repr(round(number, 9))
    sign = ""
    if raw[0] in "+-":
        sign, raw = ("-" if raw[0] == "-" else ""), raw[1:]
    if raw[0] == "0":
        raw = raw.lstrip("0")
        if not raw or raw[0] == ".":
            raw = "0" + raw
    return sign + raw


def _main_number(values: tuple[Value, ...]) -> tuple[float | None, str | None, str]:
    """The main number of a line in canonical units, its unit and its text."""
    for value in reversed(values):
        if value.unit is not None and value.number is not None:
            number, unit = canonical_number(value.number, value.unit)
            return number, unit, _number_text(number, value.raw, unit != value.unit)
    if len(values) == 1 and values[0].number is not None:
        return values[0].number, None, _number_text(values[0].number, values[0].raw, False)
    return None, None, ""


def parse_line(line: bytes) -> CosemObject | None:
    """Parse one data line; None when it is not ``A-B:C.D.E(...)...``."""
    open_at = line.find(b"(")
    if open_at <= 0 or not line.endswith(b")"):
        return None
    code = line[:open_at]
    if _OBIS_RE.match(code) is None:
        return None
    values = _parse_values(line[open_at + 1 : -1])
    if values is None:
        return None
    obis = code.decode("ascii")
    number, unit, text = _main_number(values)
    return CosemObject(obis, normalize_code(obis), values, number, unit, lookup(obis), text)


def _parse_values(inner: bytes) -> tuple[Value, ...] | None:
    parts = inner.split(b")(")
    for part in parts:
        if 0x28 in part or 0x29 in part:  # '(' or ')'
            return None
    return tuple(_parse_value(part) for part in parts)


_UNITS: dict[bytes, tuple[str, str | None, float]] = {}


def _unit(unit: bytes) -> tuple[str, str | None, float]:
    """(unit as sent, canonical unit, scale to it), cached."""
    known = _UNITS.get(unit)
    if known is None:
        text = unit.decode("latin-1")
        scaled, canonical = canonical_number(1.0, text)
        known = (text, canonical, scaled)
        if len(_UNITS) < 256:
            _UNITS[unit] = known
    return known


_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
_NO_SPEC: _Spec = ("", "", None)  # "not cached" markers (compared with ``is``)
_NO_OBJECT = CosemObject("", "", (), None, None, None, "")


def _parse_inner(inner: bytes) -> _Parsed | None:
    """The values of a line (between its first ``(`` and last ``)``), typed, with the main number.

    The common single ``number*unit`` group takes a fast path.
    """
    star = inner.find(b"*")
    if star > 0 and 0x29 not in inner and 0x28 not in inner:
        digits = inner[:star]
        if digits.replace(b".", b"", 1).isdigit():
            number = float(digits)
            raw = digits.decode("ascii")
            unit, canonical, scale = _unit(inner[star + 1 :])
            value: Value = _new(Value, (raw, unit, number, None))
            if scale == 1.0:
                return (value,), number, canonical, _number_text(number, raw, False)
            scaled = number * scale
            return (value,), scaled, canonical, _number_text(scaled, raw, True)
    values = _parse_values(inner)
    return None if values is None else (values, *_main_number(values))


def _join_continuation(previous: CosemObject, line: bytes) -> CosemObject | None:
    """DSMR 2.2: ``0-1:24.3.0(ts)(00)(60)(1)(0-1:24.2.1)(m3)`` then ``(00001.001)``."""
    if not line.endswith(b")") or line.count(b"(") != 1 or line.count(b")") != 1:
        return None
    value = _parse_value(line[1:-1])
    if value.number is None:
        return None
    unit = previous.values[-1].raw if previous.values else None
    return CosemObject(
        previous.obis,
        previous.code,
        (*previous.values, value),
        value.number,
        unit or None,
        previous.info,
        _number_text(value.number, value.raw, False),
    )


def parse_header(line: bytes) -> Header | None:
    """Parse the ``/XXXZ ident`` line; None when it does not start with ``/`` and a 3-char flag."""
    if len(line) < 4 or line[0] != 0x2F:
        return None
    text = line[1:].decode("latin-1")
    flag = text[:3]
    if not flag.isalnum():
        return None
    rest = text[3:]
    baud = rest[:1] if rest[:1].isdigit() else ""
    return Header(line.decode("latin-1"), flag, baud, rest[len(baud) :].strip())


def detect_dialect(header: Header, index: dict[str, CosemObject]) -> Dialect:
    """Tell the dialect from the header flag and the codes present."""
    flag = header.flag.upper()
    if flag == "FLU" or "0-0:96.1.4" in index:
        return Dialect.BE
    if flag == "ISK" and "MIE" in header.ident.upper():
        return Dialect.IE
    if flag == "ESY" or "1-0:96.5.5" in index or "0-0:96.1.255" in index:
        return Dialect.Q3D
    if (
        flag == "AUX"
        or "0-0:96.50.68" in index
        or ("0-0:42.0.0" in index and "1-0:14.7.0" in index)
    ):
        return Dialect.HU
    if flag == "LUX" or header.raw.startswith("/Lux"):
        return Dialect.LU
    if "1-3:0.2.8" not in index and "1-0:23.7.0" in index:
        return Dialect.SE
    if "1-3:0.2.8" in index or "0-1:24.3.0" in index or "0-0:96.1.1" in index:
        return Dialect.NL
    return Dialect.GENERIC


_Spec = tuple[str, str, "ObisInfo | None"]
_Parsed = tuple[tuple[Value, ...], float | None, str | None, str]


_Numeric = tuple[str, str, "ObisInfo | None", str, str | None, float]
"""What a ``number*unit`` line's object takes from its code and unit: obis, code, registry entry,
unit as sent, canonical unit, scale to it."""


def _numeric(digits: bytes, spec: _Numeric) -> CosemObject:
    """The object of a ``code(digits*unit)`` line (``digits``: checked decimal digits)."""
    obis, code, info, unit, canonical, scale = spec
    number = float(digits)
    raw = digits.decode("ascii")
    value: Value = _new(Value, (raw, unit, number, None))
    if scale != 1.0:
        number *= scale
        text = repr(round(number, 9))
    else:
        text = raw.lstrip("0")
        if not text or text[0] == ".":
            text = "0" + text
    obj: CosemObject = _new(CosemObject, (obis, code, (value,), number, canonical, info, text))
    return obj


# A line position's shape: the bytes before and after the digits, where the digits are, and what
# the object takes from code and unit.
_Shape = tuple[bytes, bytes, int, int, _Numeric]


def _shape(line: bytes, obj: CosemObject) -> _Shape | None:
    """How to re-parse ``line`` when only its digits change; None unless it is ``code(n*unit)``."""
    if len(obj.values) != 1 or obj.values[0].unit is None or obj.values[0].number is None:
        return None
    open_at = line.find(b"(")
    star = line.rfind(b"*")
    unit, canonical, scale = _unit(line[star + 1 : -1])
    return (
        line[: open_at + 1],
        line[star:],
        open_at + 1,
        star - len(line),
        (obj.obis, obj.code, obj.info, unit, canonical, scale),
    )


class Parser:
    """Parses telegrams, reusing what repeats between telegrams (all caches bounded).

    A meter sends the same lines in the same order every time and only some values change. When a
    telegram has the layout of the previous one, only the lines that differ are parsed (found by
    comparing line lists in C); the rest of the objects and the index are reused. Whole lines
    (``1-0:32.7.0(234.3*V)`` to its object) and codes (``1-0:32.7.0`` to its registry entry) are
    cached too: values such as voltages, currents and power factors come back often, so a changed
    line is often a single dictionary look-up.
    """

    def __init__(self, cache_size: int = 4096) -> None:
        self._codes: dict[bytes, _Spec | None] = {}
        self._objects: dict[bytes, CosemObject | None] = {}
        self._cache_size = cache_size
        # The previous telegram: its lines, the object at each line (None: header or empty line).
        self._lines: list[bytes] = []
        self._slots: list[CosemObject | None] = []
        self._shapes: list[_Shape | None] = []
        self._previous: Telegram | None = None

    def _parse_new(self, line: bytes) -> CosemObject | None:
        """Parse a data line (cached: a line seen before costs one look-up)."""
        obj = self._objects.get(line, _NO_OBJECT)
        if obj is not _NO_OBJECT:
            return obj
        obj = self._parse_uncached(line)
        objects = self._objects
        if len(objects) >= self._cache_size:
            objects.clear()
        if len(line) <= 96:
            objects[line] = obj
        return obj

    def _parse_uncached(self, line: bytes) -> CosemObject | None:
        open_at = line.find(b"(")
        if open_at <= 0 or line[-1] != 0x29:
            return None
        code = line[:open_at]
        spec = self._codes.get(code, _NO_SPEC)
        if spec is _NO_SPEC:
            spec = None
            if _OBIS_RE.match(code) is not None:
                obis = code.decode("ascii")
                spec = (obis, normalize_code(obis), lookup(obis))
            if len(self._codes) >= self._cache_size:
                self._codes.clear()
            self._codes[code] = spec
        if spec is None:
            return None
        obis, normalized, info = spec
        inner = line[open_at + 1 : -1]
        obj: CosemObject
        star = inner.find(b"*")
        if star > 0 and 0x29 not in inner and 0x28 not in inner:
            # The common single ``number*unit`` group.
            digits = inner[:star]
            if digits.replace(b".", b"", 1).isdigit():
                return _numeric(digits, (obis, normalized, info, *_unit(inner[star + 1 :])))
        elif len(inner) == 13 and inner[12] in b"SW" and inner[:12].isdigit():
            # A clock, ``(230502215001S)``.
            raw = inner.decode("ascii")
            value: Value = _new(Value, (raw, None, None, parse_timestamp(raw)))
            obj = _new(CosemObject, (obis, normalized, (value,), None, None, info, ""))
            return obj
        parsed = _parse_inner(inner)
        if parsed is None:
            return None
        obj = _new(CosemObject, (obis, normalized, *parsed[:3], info, parsed[3]))
        return obj

    def parse(self, data: bytes) -> Telegram | None:
        """Parse a telegram from ``/`` through ``!`` with CRLF line ends (the CRC is not needed).

        Returns None when the first line is not a header.
        """
        lines = data.split(b"\r\n")
        if lines[-1] == b"!":
            lines.pop()
        previous = self._previous
        if previous is not None and len(lines) == len(self._lines) and lines[0] == self._lines[0]:
            telegram = self._parse_like_previous(lines, previous)
            if telegram is not None:
                return telegram
        return self._parse_full(lines)

    def _parse_like_previous(self, lines: list[bytes], previous: Telegram) -> Telegram | None:
        """Parse only the lines that changed; None when the layout changed after all.

        A changed line is looked up whole first; else, when its position held ``code(n*unit)``
        and only the digits differ, they are read where they stand.
        """
        slots = self._slots.copy()
        shapes = self._shapes
        index = previous.index.copy()
        objects = self._objects
        for position in compress(range(len(lines)), map(ne, lines, self._lines)):
            old = slots[position]
            if old is None:
                return None
            line = lines[position]
            obj = objects.get(line)
            if obj is None:
                shape = shapes[position]
                if (
                    shape is not None
                    and line.startswith(shape[0])
                    and line.endswith(shape[1])
                    and (digits := line[shape[2] : shape[3]]).replace(b".", b"", 1).isdigit()
                ):
                    obj = _numeric(digits, shape[4])
                    if len(objects) >= self._cache_size:
                        objects.clear()
                    objects[line] = obj
                else:
                    obj = self._parse_new(line)
                    if obj is None or obj.code != old.code:
                        return None
                    shapes[position] = _shape(line, obj)
            elif obj.code != old.code:
                return None
            slots[position] = obj
            if index[old.code] is old:
                index[old.code] = obj
        telegram = Telegram(
            previous.header,
            tuple(filter(None, slots)),
            (),
            previous.dialect,
            index,
            previous.layout,
        )
        self._lines = lines
        self._slots = slots
        self._previous = telegram
        return telegram

    def _parse_full(self, lines: list[bytes]) -> Telegram | None:
        header = parse_header(lines[0])
        if header is None:
            return None
        slots: list[CosemObject | None] = [None]
        objects: list[CosemObject] = []
        unparsed: list[tuple[int, str]] = []
        reusable = True
        for number in range(1, len(lines)):
            line = lines[number]
            obj = None
            if not line:
                pass
            elif line[0] == 0x28 and objects:  # '(' continues the previous line
                joined = _join_continuation(objects[-1], line)
                reusable = False
                if joined is not None:
                    objects[-1] = joined
                else:
                    unparsed.append((number, line.decode("latin-1")))
            else:
                obj = self._parse_new(line)
                if obj is None:
                    unparsed.append((number, line.decode("latin-1")))
                    reusable = False
                else:
                    objects.append(obj)
            slots.append(obj)
        index = {obj.code: obj for obj in reversed(objects)}
        telegram = Telegram(
            header, tuple(objects), tuple(unparsed), detect_dialect(header, index), index
        )
        self._shapes = [None] * len(slots)
        if reusable:
            self._lines, self._slots, self._previous = lines, slots, telegram
        else:
            self._lines, self._slots, self._previous = [], [], None
        return telegram


def normalize_code(code: str) -> str:
    """``1-0:1.8.0*255`` and ``1-0:1.8.0.255`` to ``1-0:1.8.0``."""
    star = code.find("*")
    if star >= 0:
        return code[:star]
    if code.count(".") > 2:
        return code[: code.rfind(".")]
    return code
