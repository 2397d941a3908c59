"""Parsing: one generic parser for every OBIS line of every dialect.

A data line is ``A-B:C.D.E[*F]`` followed by one or more ``(value[*unit])`` groups. Values are kept as
sent (latin-1 text, so every byte survives) and typed where they can be: numbers (``float``),
timestamps (``YYMMDDhhmmssX`` to a timezone-aware ``datetime``), hex-encoded text (decoded on request).
DSMR 2.2 puts the gas reading on a line of its own, ``(00001.001)``; it is joined to the line before.
Some meters wrap a long text message (``0-0:96.13.0``) over several lines; its lines are joined.
Lines that match no grammar are kept in :attr:`Telegram.unparsed`, never dropped.

Clocks are read in the meter's time zone (see :mod:`.clock`): the dialect's zone
(:data:`~.telegram.DIALECT_ZONES`), or the parser's default zone for a dialect that implies none, or
a zone the parser is given for every telegram.

:class:`Parser` reuses what repeats between telegrams. A telegram with the layout of the previous one
(only digits of values changed: see :mod:`.layout`) is checked in a few C-level passes and built
lazily; any other is parsed line by line, with parsed lines and codes cached (identifiers, idle
counters, the 0xFF message repeat verbatim), and its layout becomes the next one to match.
"""

from __future__ import annotations

import re
from datetime import tzinfo

from .clock import DEFAULT_ZONE, MeterClock, clock_for
from .layout import Layout
from .obis import Kind, ObisInfo, canonical_number, lookup
from .telegram import (
    CEST,
    CET,
    DIALECT_ZONES,
    CosemObject,
    Dialect,
    Fields,
    Header,
    Telegram,
    Value,
    decode_hex_text,
    index_objects,
    numeric_object,
    parse_timestamp,
    unit_spec,
)

__all__ = [
    "CET",
    "CEST",
    "CosemObject",
    "Dialect",
    "Fields",
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

_OBIS_RE = re.compile(rb"\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}(?:[*.]\d{1,3})?\Z")
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)
_DEFAULT_CLOCK = MeterClock.named(DEFAULT_ZONE)
_DIALECT_CLOCKS = {dialect: MeterClock.named(zone) for dialect, zone in DIALECT_ZONES.items()}
"""Loaded when the module is imported (Home Assistant imports it outside its event loop), so no
time zone file is read while telegrams are parsed."""
_FLAGS = "SWsw"
_JOIN_LINES = 32
"""Lines a wrapped text message may span."""


def _number(text: bytes) -> float | None:
    """A strict decimal number (optional sign, digits, one optional point), or None."""
    digits = text[1:] if text[:1] in (b"-", b"+") else text
    if not digits.replace(b".", b"", 1).isdigit():
        return None
    return float(text)


def _parse_value(part: bytes, clock: MeterClock = _DEFAULT_CLOCK) -> Value:
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
    if len(part) == 13 and text[12] in _FLAGS and text[:12].isdigit():
        value = _new(Value, (text, None, None, clock(text)))
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
    """The main number of a line in canonical units, its unit and its text: its first number with
    a unit (``(time)(reading*m3)``: the reading; ``(40*A)(-40*A)``: the first), or its only value."""
    for value in values:
        if value.unit is not None and value.number is not None:
            number, unit = canonical_number(value.number, value.unit)
            return number, unit, _number_text(number, value.raw, unit != value.unit)
    if len(values) == 1 and values[0].number is not None:
        return values[0].number, None, _number_text(values[0].number, values[0].raw, False)
    return None, None, ""


def parse_line(line: bytes, clock: MeterClock = _DEFAULT_CLOCK) -> CosemObject | None:
    """Parse one data line (clocks read with ``clock``); None when it is not ``A-B:C.D.E(...)...``."""
    open_at = line.find(b"(")
    if open_at <= 0 or not line.endswith(b")"):
        return None
    code = line[:open_at]
    if _OBIS_RE.match(code) is None:
        return None
    obis = code.decode("ascii")
    info = lookup(obis)
    inner = line[open_at + 1 : -1]
    if _is_clock(inner, info):
        raw = inner.decode("ascii")
        value: Value = _new(Value, (raw, None, None, clock(raw)))
        return CosemObject(obis, normalize_code(obis), (value,), None, None, info, "")
    values = _parse_values(inner, clock)
    if values is None or _malformed(values, info):
        return None
    number, unit, text = _main_number(values)
    obj = CosemObject(obis, normalize_code(obis), values, number, unit, info, text)
    return _reading_on_its_line(obj, clock)


def _is_clock(inner: bytes, info: ObisInfo | None) -> bool:
    """Whether a line's value is a clock: ``YYMMDDhhmmss`` with its S/W flag, or without one on
    the telegram's own clock line (Iskra IE meters send none)."""
    if len(inner) == 13:
        return inner[12] in b"SWsw" and inner[:12].isdigit()
    return len(inner) == 12 and info is not None and info.kind is Kind.TIMESTAMP and inner.isdigit()


def _parse_values(inner: bytes, clock: MeterClock = _DEFAULT_CLOCK) -> tuple[Value, ...] | None:
    parts = inner.split(b")(")
    for part in parts:
        if 0x28 in part or 0x29 in part:  # '(' or ')'
            return None
    return tuple(_parse_value(part, clock) for part in parts)


def _malformed(values: tuple[Value, ...], info: ObisInfo | None) -> bool:
    """Whether a value carries a unit but no number (``00.\xa500*kW``): no meter sends that, so
    the line does not parse (text codes excepted). It is how damage the CRC missed shows."""
    if info is not None and info.kind is Kind.TEXT:
        return False
    return any(value.unit is not None and value.number is None for value in values)


_NO_SPEC: _Spec = ("", "", None)  # "not cached" markers (compared with ``is``)
_NO_OBJECT = CosemObject("", "", (), None, None, None, "")


def _parse_inner(inner: bytes, clock: MeterClock) -> _Parsed | None:
    """The values of a line (between its first ``(`` and last ``)``), typed, with the main number
    (the common single ``number*unit`` group is read by :meth:`Parser._parse_uncached` itself)."""
    values = _parse_values(inner, clock)
    return None if values is None else (values, *_main_number(values))


def _join_continuation(previous: CosemObject, line: bytes, clock: MeterClock) -> CosemObject | None:
    """DSMR 2.2: ``0-1:24.3.0(ts)(00)(60)(1)(0-1:24.2.1)(m3)`` then ``(00001.001)``.

    The first value, the reading's time, is read as a clock; the unit (the last value of the line
    before) is made canonical (``dm3`` to ``m3``) as any other."""
    if not line.endswith(b")") or line.count(b"(") != 1 or line.count(b")") != 1:
        return None
    value = _parse_value(line[1:-1], clock)
    if value.number is None:
        return None
    values = previous.values
    if values and len(values[0].raw) == 12 and values[0].raw.isdigit():
        values = (_new(Value, (values[0].raw, None, None, clock(values[0].raw))), *values[1:])
    sent_unit = previous.values[-1].raw if previous.values else ""
    number, unit = canonical_number(value.number, sent_unit or None)
    return CosemObject(
        previous.obis,
        previous.code,
        (*values, value),
        number,
        unit,
        previous.info,
        _number_text(number, value.raw, unit != (sent_unit or None)),
    )


def _reading_on_its_line(obj: CosemObject, clock: MeterClock) -> CosemObject:
    """DSMR 2.2/3 with the gas reading on the header's own line,
    ``0-1:24.3.0(ts)(00)(60)(1)(0-1:24.2.1)(m3)(00001.001)``: read as when it comes on the next
    line (:func:`_join_continuation`). Any other object is returned as it is."""
    values = obj.values
    if (
        obj.number is not None
        or len(values) < 3
        or not obj.obis.endswith(":24.3.0")
        or values[-1].number is None
        or values[-1].unit is not None
        or values[-2].number is not None
        or not values[-2].raw.isalnum()
    ):
        return obj
    head = obj._replace(values=values[:-1])
    joined = _join_continuation(head, f"({values[-1].raw})".encode("latin-1"), clock)
    return obj if joined is None else joined


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
    if flag == "ESO":  # Energijos skirstymo operatorius, Lithuania's grid operator
        return Dialect.LT
    if flag == "EST":  # Energienetze Steiermark, Austria
        return Dialect.AT
    if (
        flag == "AUX"
        or "0-0:96.50.68" in index
        or ("0-0:42.0.0" in index and "1-0:14.7.0" in index)
    ):
        return Dialect.HU
    if flag == "LUX" or header.raw.startswith("/Lux"):
        return Dialect.LU
    if "1-3:0.2.8" in index and ("1-0:3.8.1" in index or "1-0:4.8.1" in index):
        return Dialect.AT  # a DSMR-style telegram with reactive energy per tariff
    if "1-3:0.2.8" not in index and "1-0:23.7.0" in index:
        return Dialect.SE
    if "1-3:0.2.8" in index or "0-1:24.3.0" in index or "0-0:96.1.1" in index:
        return Dialect.NL
    return Dialect.GENERIC


_Spec = tuple[str, str, "ObisInfo | None"]
_Parsed = tuple[tuple[Value, ...], float | None, str | None, str]


class Parser:
    """Parses telegrams, reusing what repeats between telegrams (all caches bounded).

    A meter sends the same lines in the same order every time and only some values change. When a
    telegram has the layout of the previous one (:meth:`.layout.Layout.matches`), it is built lazily
    from that layout. Otherwise it is parsed line by line: whole lines (``1-0:32.7.0(234.3*V)`` to
    its object) and codes (``1-0:32.7.0`` to its registry entry) are cached, so a line seen before
    costs one look-up; and when every line parsed, its layout is the one the next telegram is
    matched against.

    Clocks are read in ``zone`` when it is given (the converter's ``--timezone``); otherwise in the
    zone of the telegram's dialect (:data:`~.telegram.DIALECT_ZONES`: Dutch meters in
    ``Europe/Amsterdam``, Belgian ones in ``Europe/Brussels`` ...), and for a dialect that implies
    none in ``default_zone`` (Home Assistant's configured zone; ``Europe/Amsterdam`` when not
    given). Zones are IANA names or :class:`~datetime.tzinfo` objects.
    """

    def __init__(
        self,
        cache_size: int = 4096,
        *,
        zone: str | tzinfo | None = None,
        default_zone: str | tzinfo | None = None,
    ) -> None:
        self._codes: dict[bytes, _Spec | None] = {}
        self._objects: dict[bytes, CosemObject | None] = {}
        self._cache_size = cache_size
        self._layout: Layout | None = None
        self._fixed = None if zone is None else clock_for(zone)
        self._default = clock_for(DEFAULT_ZONE if default_zone is None else default_zone)
        self._clock = self._fixed or self._default

    @property
    def clock(self) -> MeterClock:
        """The clock the last telegram was read with (its meter's time zone)."""
        return self._clock

    def clock_for(self, dialect: Dialect) -> MeterClock:
        """The clock a telegram of ``dialect`` is read with."""
        return self._fixed or _DIALECT_CLOCKS.get(dialect) or self._default

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

    def _spec(self, code: bytes) -> _Spec | None:
        """The code as text, normalized, and its registry entry (cached); None for no code."""
        spec = self._codes.get(code, _NO_SPEC)
        if spec is _NO_SPEC:
            spec = None
            if _OBIS_RE.match(code) is not None:
                obis = code.decode("ascii")
                spec = (obis, normalize_code(obis), lookup(obis))
            if len(self._codes) >= self._cache_size:
                self._codes.clear()
            self._codes[code] = spec
        return spec

    def _parse_uncached(self, line: bytes) -> CosemObject | None:
        open_at = line.find(b"(")
        if open_at <= 0 or line[-1] != 0x29:
            return None
        spec = self._spec(line[:open_at])
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
                return numeric_object(
                    digits, (obis, normalized, info, *unit_spec(inner[star + 1 :]))
                )
        elif _is_clock(inner, info):
            # A clock, ``(230502215001S)``.
            raw = inner.decode("ascii")
            value: Value = _new(Value, (raw, None, None, self._clock(raw)))
            obj = _new(CosemObject, (obis, normalized, (value,), None, None, info, ""))
            return obj
        parsed = _parse_inner(inner, self._clock)
        if parsed is None or _malformed(parsed[0], info):
            return None
        obj = _new(CosemObject, (obis, normalized, *parsed[:3], info, parsed[3]))
        if parsed[1] is None and len(parsed[0]) > 2:
            return _reading_on_its_line(obj, self._clock)
        return obj

    def _wrapped(self, lines: list[bytes], first: int) -> tuple[CosemObject, int] | None:
        """A text message wrapped over lines ``first`` ... : its object and its last line.

        Only a text code (``0-0:96.13.0`` ...) whose value is still open at the end of its line;
        the next lines, none with a ``(``, up to the one that closes it, are joined without their
        line ends."""
        line = lines[first]
        open_at = line.find(b"(")
        if open_at <= 0 or 0x29 in line[line.rfind(b"(") :]:
            return None
        spec = self._spec(line[:open_at])
        if spec is None or spec[2] is None or spec[2].kind is not Kind.TEXT:
            return None
        parts = [line]
        for last in range(first + 1, min(len(lines), first + _JOIN_LINES)):
            part = lines[last]
            if not part or 0x28 in part:
                return None
            parts.append(part)
            close = part.find(b")")
            if close >= 0:
                if close != len(part) - 1:
                    return None
                obj = self._parse_uncached(b"".join(parts))
                return None if obj is None else (obj, last)
        return None

    def parse(self, data: bytes, number: int | None = None) -> Telegram | None:
        """Parse a telegram from ``/`` through ``!`` with CRLF line ends (the CRC is not needed).

        ``number``: ``data`` read as :func:`.crc.telegram_number`, when the caller has it (it
        saves building it again for the layout match). Returns None when the first line is not a
        header.
        """
        layout = self._layout
        if layout is not None and layout.matches(data, number):
            return Telegram.lazy(layout, data)
        lines = data.split(b"\r\n")
        if lines[-1] == b"!":
            lines.pop()
        header = parse_header(lines[0])
        if header is None:
            return None
        slots: list[CosemObject | None] = [None]
        objects: list[CosemObject] = []
        unparsed: list[tuple[int, str]] = []
        reusable = True
        line_number = 1
        while line_number < len(lines):
            line = lines[line_number]
            obj = None
            if not line:
                pass
            elif line[0] == 0x28 and objects:  # '(' continues the previous line
                joined = _join_continuation(objects[-1], line, self._clock)
                reusable = False
                if joined is not None:
                    objects[-1] = joined
                else:
                    unparsed.append((line_number, line.decode("latin-1")))
            else:
                obj = self._parse_new(line)
                if obj is None:
                    wrapped = self._wrapped(lines, line_number)
                    if wrapped is not None:  # its lines: the object, then nothing
                        obj, last = wrapped
                        objects.append(obj)
                        slots += [obj, *[None] * (last - line_number)]
                        line_number = last + 1
                        continue
                    unparsed.append((line_number, line.decode("latin-1")))
                    reusable = False
                else:
                    objects.append(obj)
            slots.append(obj)
            line_number += 1
        index = index_objects(objects)
        dialect = detect_dialect(header, index)
        clock = self.clock_for(dialect)
        if clock is not self._clock:
            # Another zone than the lines were read in (a new meter): read them again in it.
            self._clock = clock
            self._objects.clear()
            self._layout = None
            return self.parse(data)
        telegram = Telegram(header, tuple(objects), tuple(unparsed), dialect, index, None, clock)
        self._layout = None
        if reusable and objects:
            self._layout = Layout(data, lines, slots, header, dialect, clock)
            telegram.layout = self._layout
        return telegram


def normalize_code(code: str) -> str:
    """``1-0:1.8.0*255`` and ``1-0:1.8.0.255`` to ``1-0:1.8.0``."""
    star = code.find("*")
    if star >= 0:
        return code[:star]
    if code.count(".") > 2:
        return code[: code.rfind(".")]
    return code
