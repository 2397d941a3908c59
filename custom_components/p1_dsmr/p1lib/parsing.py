"""Parsing: one generic parser for every OBIS line of every dialect.

A data line is ``A-B:C.D.E[*F]`` followed by one or more ``(value[*unit])`` groups. Values are kept as
sent (latin-1 text, so every byte survives) and typed where they can be: numbers (``float``),
timestamps (``YYMMDDhhmmssX`` to a timezone-aware ``datetime``), hex-encoded text (decoded on request).
DSMR 2.2 puts the gas reading on a line of its own, ``(00001.001)``; it is joined to the line before.
Lines that match no grammar are kept in :attr:`Telegram.unparsed`, never dropped.

:class:`Parser` reuses what repeats between telegrams. A telegram with the layout of the previous one
(only digits of values changed: see :mod:`.layout`) is checked in a few C-level passes and built
lazily; any other is parsed line by line, with parsed lines and codes cached (identifiers, idle
counters, the 0xFF message repeat verbatim), and its layout becomes the next one to match.
"""

from __future__ import annotations

import re

from .layout import Layout
from .obis import ObisInfo, canonical_number, lookup
from .telegram import (
    CEST,
    CET,
    CosemObject,
    Dialect,
    Fields,
    Header,
    Telegram,
    Value,
    decode_hex_text,
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
            unit, canonical, scale = unit_spec(inner[star + 1 :])
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


class Parser:
    """Parses telegrams, reusing what repeats between telegrams (all caches bounded).

    A meter sends the same lines in the same order every time and only some values change. When a
    telegram has the layout of the previous one (:meth:`.layout.Layout.matches`), it is built lazily
    from that layout. Otherwise it is parsed line by line: whole lines (``1-0:32.7.0(234.3*V)`` to
    its object) and codes (``1-0:32.7.0`` to its registry entry) are cached, so a line seen before
    costs one look-up; and when every line parsed, its layout is the one the next telegram is
    matched against.
    """

    def __init__(self, cache_size: int = 4096) -> None:
        self._codes: dict[bytes, _Spec | None] = {}
        self._objects: dict[bytes, CosemObject | None] = {}
        self._cache_size = cache_size
        self._layout: Layout | None = None

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
                return numeric_object(
                    digits, (obis, normalized, info, *unit_spec(inner[star + 1 :]))
                )
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
        for line_number in range(1, len(lines)):
            line = lines[line_number]
            obj = None
            if not line:
                pass
            elif line[0] == 0x28 and objects:  # '(' continues the previous line
                joined = _join_continuation(objects[-1], line)
                reusable = False
                if joined is not None:
                    objects[-1] = joined
                else:
                    unparsed.append((line_number, line.decode("latin-1")))
            else:
                obj = self._parse_new(line)
                if obj is None:
                    unparsed.append((line_number, line.decode("latin-1")))
                    reusable = False
                else:
                    objects.append(obj)
            slots.append(obj)
        index = {obj.code: obj for obj in reversed(objects)}
        telegram = Telegram(
            header, tuple(objects), tuple(unparsed), detect_dialect(header, index), index
        )
        self._layout = None
        if reusable and objects:
            self._layout = Layout(data, lines, slots, header, telegram.dialect)
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
