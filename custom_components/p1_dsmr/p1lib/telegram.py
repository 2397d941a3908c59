"""The telegram model: values, objects, header, dialect and the parsed telegram.

A :class:`Telegram` is built in one of two ways. A full parse (:class:`~.parsing.Parser`) builds
every object at once. A telegram with the layout of one parsed before (same lines, same codes, same
widths; only digits of values differ: see :mod:`.layout`) is built lazily: it keeps its bytes and
its layout, makes objects only when they are asked for, and reads the numbers consumers ask for in
bulk (:meth:`Telegram.numbers`, :meth:`Telegram.number_texts`, :meth:`Telegram.render`) straight
from its bytes. Both give the same objects, numbers and texts for the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .clock import DEFAULT_ZONE, MeterClock
from .obis import Kind, ObisInfo, canonical_number

if TYPE_CHECKING:
    from .template import Renderer, Template

__all__ = [
    "CET",
    "CEST",
    "DIALECT_ZONES",
    "CosemObject",
    "Dialect",
    "Fields",
    "Header",
    "NumericSpec",
    "Telegram",
    "TelegramPlan",
    "Value",
    "decode_hex_text",
    "index_objects",
    "numeric_object",
    "parse_timestamp",
    "unit_spec",
]

CET = timezone(timedelta(hours=1), "CET")
CEST = timezone(timedelta(hours=2), "CEST")

_HEX_CHARS = frozenset("0123456789abcdefABCDEF")
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


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
        """First value as text, hex-decoded where the code carries hex-encoded text (an
        identifier without the spaces some meters pad it with)."""
        raw = self.values[0].raw if self.values else ""
        if self.info is not None:
            if self.info.kind is Kind.IDENTIFIER:
                return decode_hex_text(raw).strip()
            if self.info.kind is Kind.TEXT:
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
    LT = "LT"
    HU = "HU"
    AT = "AT"
    Q3D = "Q3D"
    IE = "IE"
    """Iskra IE.5/IE.7 (``/ISk5\\2MIE5T-200``), deployed in Wallonia (Belgium)."""
    GENERIC = "generic"


DIALECT_ZONES: dict[Dialect, str] = {
    Dialect.NL: "Europe/Amsterdam",
    Dialect.BE: "Europe/Brussels",
    Dialect.IE: "Europe/Brussels",
    Dialect.LU: "Europe/Luxembourg",
    Dialect.SE: "Europe/Stockholm",
    Dialect.LT: "Europe/Vilnius",
    Dialect.HU: "Europe/Budapest",
    Dialect.AT: "Europe/Vienna",
    Dialect.Q3D: "Europe/Berlin",
}
"""The time zone a dialect's meters keep their clocks in (a generic telegram has none: the caller's
default zone applies)."""


class Fields:
    """Codes a consumer reads together from every telegram (its inputs, its columns).

    Create one per set of codes and keep it: a lazily built telegram reads a :class:`Fields` through
    an accessor its layout compiles once (see :meth:`Telegram.numbers`).
    """

    __slots__ = ("codes",)

    def __init__(self, codes: Iterable[str]) -> None:
        self.codes: tuple[str, ...] = tuple(codes)

    def __repr__(self) -> str:
        return f"Fields({self.codes!r})"


class TelegramPlan(Protocol):
    """What a lazily built telegram needs from its layout (implemented by :class:`.layout.Layout`)."""

    @property
    def header(self) -> Header:
        """The header every telegram of the layout has."""
        ...

    @property
    def dialect(self) -> Dialect:
        """The dialect every telegram of the layout has."""
        ...

    @property
    def clock(self) -> MeterClock:
        """The clock (time zone) every telegram of the layout is read with."""
        ...

    def objects(self, data: bytes) -> tuple[CosemObject, ...]:
        """Every object of ``data``, in line order."""
        ...

    def get(self, data: bytes, code: str) -> CosemObject | None:
        """The first object for ``code`` in ``data``."""
        ...

    def timestamp(self, data: bytes) -> datetime | None:
        """The meter's clock in ``data``."""
        ...

    @property
    def number_readers(self) -> Mapping[Fields, Callable[[bytes], tuple[float | None, ...]]]:
        """Per :class:`Fields`: ``data`` -> :attr:`CosemObject.number` of each code (None where
        absent)."""
        ...

    @property
    def text_readers(self) -> Mapping[Fields, Callable[[bytes], tuple[str, ...]]]:
        """Per :class:`Fields`: ``data`` -> :attr:`CosemObject.number_text` of each code (""
        where absent)."""
        ...

    @property
    def renderers(self) -> Mapping[Template, Renderer]:
        """Per :class:`~.template.Template`: (``data``, arguments) -> the rendered text."""
        ...


class Telegram:
    """A parsed telegram (see the module's description for eager and lazy ones)."""

    __slots__ = (
        "_data",
        "_index",
        "_objects",
        "_plan",
        "_stamped",
        "_timestamp",
        "clock",
        "dialect",
        "header",
        "layout",
        "unparsed",
    )

    header: Header
    unparsed: tuple[tuple[int, str], ...]
    """Lines (index in the telegram, text) that match no grammar."""
    dialect: Dialect
    layout: object
    """Shared (``is``) by telegrams of the same layout (the same codes in the same order), so
    consumers can reuse what they derived from the layout (column maps, formats)."""
    clock: MeterClock
    """The meter's clock: its time zone, in which every time of the telegram was read."""

    def __init__(
        self,
        header: Header,
        objects: tuple[CosemObject, ...],
        unparsed: tuple[tuple[int, str], ...],
        dialect: Dialect,
        index: dict[str, CosemObject],
        layout: object | None = None,
        clock: MeterClock | None = None,
    ) -> None:
        self.header = header
        self.clock = _DEFAULT_CLOCK if clock is None else clock
        self._objects: tuple[CosemObject, ...] | None = objects
        self.unparsed = unparsed
        self.dialect = dialect
        self._index: dict[str, CosemObject] | None = index
        self.layout = object() if layout is None else layout
        self._plan: TelegramPlan | None = None
        self._data = b""
        self._timestamp: datetime | None = None
        self._stamped = False

    @classmethod
    def lazy(cls, plan: TelegramPlan, data: bytes) -> Telegram:
        """A telegram of ``plan``'s layout whose objects are made from ``data`` when needed."""
        telegram = cls.__new__(cls)
        telegram.header = plan.header
        telegram._objects = None
        telegram.unparsed = ()
        telegram.dialect = plan.dialect
        telegram.clock = plan.clock
        telegram._index = None
        telegram.layout = plan
        telegram._plan = plan
        telegram._data = data
        telegram._stamped = False
        return telegram

    def __repr__(self) -> str:
        return (
            f"Telegram(header={self.header!r}, objects={len(self.objects)},"
            f" unparsed={self.unparsed!r}, dialect={self.dialect!r})"
        )

    @property
    def objects(self) -> tuple[CosemObject, ...]:
        """Every data line's object, in line order."""
        objects = self._objects
        if objects is None:
            assert self._plan is not None
            objects = self._objects = self._plan.objects(self._data)
        return objects

    @property
    def index(self) -> dict[str, CosemObject]:
        """First object per code (an ``*F`` or ``.F`` suffix removed; see :func:`index_objects`)."""
        index = self._index
        if index is None:
            index = self._index = index_objects(self.objects)
        return index

    def get(self, code: str) -> CosemObject | None:
        """The object for ``A-B:C.D.E``, or None."""
        if self._index is None and self._plan is not None:
            return self._plan.get(self._data, code)
        return self.index.get(code)

    def number(self, code: str) -> float | None:
        """The canonical numeric value for ``code``, or None."""
        obj = self.get(code)
        return obj.number if obj is not None else None

    def numbers(self, fields: Fields) -> tuple[float | None, ...]:
        """:attr:`CosemObject.number` of each code of ``fields``, None where absent (one call)."""
        if self._plan is not None:
            return self._plan.number_readers[fields](self._data)
        get = self.index.get
        return tuple([None if (obj := get(code)) is None else obj.number for code in fields.codes])

    def number_texts(self, fields: Fields) -> tuple[str, ...]:
        """:attr:`CosemObject.number_text` of each code of ``fields``, "" where absent."""
        if self._plan is not None:
            return self._plan.text_readers[fields](self._data)
        get = self.index.get
        return tuple(
            ["" if (obj := get(code)) is None else obj.number_text for code in fields.codes]
        )

    def render(self, template: Template, *args: Any) -> str:
        """``template`` rendered with this telegram's number texts and ``args``
        (see :mod:`.template`)."""
        if self._plan is not None:
            return self._plan.renderers[template](self._data, *args)
        get = self.index.get
        texts = [
            "" if (obj := get(read.code)) is None else read.text(obj) for read in template.reads
        ]
        return template.generic(texts, *args)

    @property
    def timestamp(self) -> datetime | None:
        """The meter's clock (``0-0:1.0.0``), timezone-aware, or None (DSMR 2.2, Q3D)."""
        if not self._stamped:
            if self._plan is not None:
                self._timestamp = self._plan.timestamp(self._data)
            else:
                obj = self.index.get("0-0:1.0.0")
                self._timestamp = (
                    obj.values[0].timestamp if obj is not None and obj.values else None
                )
            self._stamped = True
        return self._timestamp

    @property
    def equipment_id(self) -> str | None:
        """The meter's identifier, whichever code the dialect uses."""
        for code in ("0-0:96.1.1", "0-0:42.0.0", "0-0:96.1.0", "0-0:96.1.255", "1-0:0.0.0"):
            obj = self.get(code)
            if obj is not None and obj.values and obj.values[0].raw.strip("0"):
                return obj.text
        return None

    @property
    def protocol_version(self) -> str | None:
        """DSMR (``1-3:0.2.8``) or e-MUCS (``0-0:96.1.4``) version, e.g. ``5.0``."""
        obj = self.get("1-3:0.2.8") or self.get("0-0:96.1.4")
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


def index_objects(objects: Iterable[CosemObject]) -> dict[str, CosemObject]:
    """The first object of each code; a register a meter sends on channel 1 (``1-1:1.8.0``, as
    some Landis+Gyr and Luxembourg meters do) is also found under ``1-0:`` unless the telegram has
    that code too."""
    index = {obj.code: obj for obj in reversed(tuple(objects))}
    aliases = [code for code in index if code.startswith("1-1:")]
    for code in aliases:
        index.setdefault("1-0:" + code[4:], index[code])
    return index


def decode_hex_text(raw: str) -> str:
    """Decode hex-encoded text (``4B4D...``) when it is that; otherwise return ``raw``."""
    if len(raw) < 2 or len(raw) % 2 or not _HEX_CHARS.issuperset(raw):
        return raw
    decoded = bytes.fromhex(raw).decode("latin-1")
    if decoded.isprintable():
        return decoded
    return raw


_DEFAULT_CLOCK = MeterClock.named(DEFAULT_ZONE)


def parse_timestamp(text: str) -> datetime | None:
    """``YYMMDDhhmmss[X]`` in Central European time (``Europe/Amsterdam``), or None.

    The flag X (S, W, any case, or none) only resolves the hour that occurs twice in autumn; an
    impossible date or an unset clock (year 70 or later) is None. A telegram's clocks are read in its
    own zone (:attr:`Telegram.clock`, see :mod:`.clock`); this is the default one.
    """
    return _DEFAULT_CLOCK(text)


_UNITS: dict[bytes, tuple[str, str | None, float]] = {}


def unit_spec(unit: bytes) -> tuple[str, str | None, float]:
    """A unit as sent: (its text, the canonical unit, the scale to it), cached."""
    known = _UNITS.get(unit)
    if known is None:
        text = unit.decode("latin-1")
        scaled, canonical = canonical_number(1.0, text)
        known = (text, canonical, scaled)
        if len(_UNITS) < 256:
            _UNITS[unit] = known
    return known


NumericSpec = tuple[str, str, "ObisInfo | None", str, str | None, float]
"""What a ``number*unit`` line's object takes from its code and unit: obis, code, registry entry,
unit as sent, canonical unit, scale to it."""


def numeric_object(digits: bytes, spec: NumericSpec) -> CosemObject:
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
