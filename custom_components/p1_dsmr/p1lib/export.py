"""Export: the original tool's three files (and the repaired log), written as a stream.

* :class:`RecordsWriter`: ``S.records.csv``, one row per accepted telegram, measured and derived
  values (:data:`RECORD_COLUMNS` lists every column with its unit and source).
* :class:`~.validity.ValidityWriter`: ``S.validity.csv``, one row per telegram found, and
  :class:`~.validity.ErrorLogWriter`: ``S.errors.log``, a readable account of every rejected or
  repaired telegram and of the noise between telegrams (in :mod:`.validity`; also importable from
  here).

All writers take an open text stream and keep no per-telegram state, so memory stays constant.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from operator import is_, itemgetter
from typing import IO

from .decoder import DecodeResult, Status
from .derived import Derived
from .mbus import MbusMeter, mbus_meters
from .parsing import Telegram
from .template import Arg, Code, Stamp, Template

__all__ = [
    "Column",
    "RECORD_COLUMNS",
    "RecordsWriter",
    "check_delimiter",
    "check_locale",
    "iso_text",
]

_MOVED = frozenset(
    (
        "DESCRIBED",
        "DETAILED_ITEMS",
        "DETAILED_RUN",
        "ErrorLogWriter",
        "SMALL_FRAME",
        "VALIDITY_COLUMNS",
        "ValidityWriter",
        "telegram_time_text",
    )
)


def __getattr__(name: str) -> object:
    """The validity CSV's and the error log's names, now in :mod:`.validity`."""
    if name in _MOVED:
        from . import validity

        return getattr(validity, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the records CSV."""

    name: str
    description: str
    obis: str | None = None
    """Measured column: the OBIS code whose canonical value it holds."""
    derived: str | None = None
    """Derived column: the :class:`~.derived.Derived` field it holds."""
    digits: int = 3
    """Decimal places for derived values."""


def _m(name: str, obis: str, description: str) -> Column:
    return Column(name, description, obis=obis)


def _d(name: str, field: str, description: str, digits: int = 3) -> Column:
    return Column(name, description, derived=field, digits=digits)


RECORD_COLUMNS: tuple[Column, ...] = (
    _m("energy_import_kwh", "1-0:1.8.0", "Active energy import total (1.8.0)"),
    _m("energy_import_t1_kwh", "1-0:1.8.1", "Active energy import tariff 1 (1.8.1)"),
    _m("energy_import_t2_kwh", "1-0:1.8.2", "Active energy import tariff 2 (1.8.2)"),
    _m("energy_import_t3_kwh", "1-0:1.8.3", "Active energy import tariff 3 (1.8.3)"),
    _m("energy_import_t4_kwh", "1-0:1.8.4", "Active energy import tariff 4 (1.8.4)"),
    _m("energy_export_kwh", "1-0:2.8.0", "Active energy export total (2.8.0)"),
    _m("energy_export_t1_kwh", "1-0:2.8.1", "Active energy export tariff 1 (2.8.1)"),
    _m("energy_export_t2_kwh", "1-0:2.8.2", "Active energy export tariff 2 (2.8.2)"),
    _m("energy_export_t3_kwh", "1-0:2.8.3", "Active energy export tariff 3 (2.8.3)"),
    _m("energy_export_t4_kwh", "1-0:2.8.4", "Active energy export tariff 4 (2.8.4)"),
    _m("reactive_energy_import_kvarh", "1-0:3.8.0", "Reactive energy import (3.8.0)"),
    _m("reactive_energy_export_kvarh", "1-0:4.8.0", "Reactive energy export (4.8.0)"),
    _m("tariff", "0-0:96.14.0", "Active tariff (96.14.0)"),
    _m("power_import_kw", "1-0:1.7.0", "Active power import (1.7.0)"),
    _m("power_export_kw", "1-0:2.7.0", "Active power export (2.7.0)"),
    _d("net_power_kw", "net_power", "P_import - P_export; positive = import"),
    _m("power_import_l1_kw", "1-0:21.7.0", "Active power import L1 (21.7.0)"),
    _m("power_import_l2_kw", "1-0:41.7.0", "Active power import L2 (41.7.0)"),
    _m("power_import_l3_kw", "1-0:61.7.0", "Active power import L3 (61.7.0)"),
    _m("power_export_l1_kw", "1-0:22.7.0", "Active power export L1 (22.7.0)"),
    _m("power_export_l2_kw", "1-0:42.7.0", "Active power export L2 (42.7.0)"),
    _m("power_export_l3_kw", "1-0:62.7.0", "Active power export L3 (62.7.0)"),
    _d("net_power_l1_kw", "net_power_l1", "P_import,L1 - P_export,L1"),
    _d("net_power_l2_kw", "net_power_l2", "P_import,L2 - P_export,L2"),
    _d("net_power_l3_kw", "net_power_l3", "P_import,L3 - P_export,L3"),
    _m("voltage_l1_v", "1-0:32.7.0", "Voltage L1 (32.7.0)"),
    _m("voltage_l2_v", "1-0:52.7.0", "Voltage L2 (52.7.0)"),
    _m("voltage_l3_v", "1-0:72.7.0", "Voltage L3 (72.7.0)"),
    _m("current_l1_a", "1-0:31.7.0", "Current L1 as the meter sends it (31.7.0)"),
    _m("current_l2_a", "1-0:51.7.0", "Current L2 as the meter sends it (51.7.0)"),
    _m("current_l3_a", "1-0:71.7.0", "Current L3 as the meter sends it (71.7.0)"),
    _d("current_l1_calc_a", "current_l1", "Current L1 with decimals"),
    _d("current_l2_calc_a", "current_l2", "Current L2 with decimals"),
    _d("current_l3_calc_a", "current_l3", "Current L3 with decimals"),
    _d("current_method", "current_method", "How the currents with decimals were found"),
    _d("signed_current_a", "signed_current", "1000 * P_net / mean(U); + = import"),
    _m("power_factor", "1-0:13.7.0", "Power factor (13.7.0)"),
    _m("power_factor_l1", "1-0:33.7.0", "Power factor L1 (33.7.0)"),
    _m("power_factor_l2", "1-0:53.7.0", "Power factor L2 (53.7.0)"),
    _m("power_factor_l3", "1-0:73.7.0", "Power factor L3 (73.7.0)"),
    _m("frequency_hz", "1-0:14.7.0", "Frequency (14.7.0)"),
    _d("interval_s", "interval_s", "Seconds since the previous accepted telegram", 0),
    _d("avg_power_import_kw", "avg_power_import", "dE_import / dt", 4),
    _d("avg_power_export_kw", "avg_power_export", "dE_export / dt", 4),
    _d("avg_power_net_kw", "avg_power_net", "(dE_import - dE_export) / dt", 4),
    _d("energy_import_interval_kwh", "energy_import_interval", "dE_import"),
    _d("energy_export_interval_kwh", "energy_export_interval", "dE_export"),
    _d(
        "energy_simultaneous_kwh",
        "energy_simultaneous",
        "min(dE_import, dE_export): imported and exported in the same interval",
    ),
    _d(
        "simultaneous_power_kw",
        "simultaneous_power",
        "min(sum of importing phases, sum of exporting phases)",
    ),
    _d("max_voltage_v", "max_voltage", "Highest phase voltage", 1),
    _d("max_voltage_phase", "max_voltage_phase", "Its phase (1-3)", 0),
    _d("max_current_a", "max_current", "Highest phase current (with decimals)"),
    _d("max_current_phase", "max_current_phase", "Its phase (1-3)", 0),
    _d("peak_voltage_v", "peak_voltage", "Running maximum voltage", 1),
    _d("peak_current_a", "peak_current", "Running maximum current"),
    _d("new_peak_voltage", "new_peak_voltage", "1 when this row sets the maximum"),
    _d("new_peak_current", "new_peak_current", "1 when this row sets the maximum"),
    _d("overvoltage_l1", "overvoltage_l1", "1 when U_L1 > voltage threshold"),
    _d("overvoltage_l2", "overvoltage_l2", "1 when U_L2 > voltage threshold"),
    _d("overvoltage_l3", "overvoltage_l3", "1 when U_L3 > voltage threshold"),
    _d("overcurrent_l1", "overcurrent_l1", "1 when I_L1 > current threshold"),
    _d("overcurrent_l2", "overcurrent_l2", "1 when I_L2 > current threshold"),
    _d("overcurrent_l3", "overcurrent_l3", "1 when I_L3 > current threshold"),
    _d("overpower", "overpower", "1 when import or export > power threshold"),
)
"""Records CSV columns after ``timestamp`` and ``status`` and before ``gas_m3`` and ``gas_time``."""

_LAST: list[tuple[datetime | None, str]] = [(None, "")]
"""The last time made text: a telegram's validity and records rows ask for it in turn."""


def iso_text(stamp: datetime | None) -> str:
    """ISO 8601 text of a time, "" for None (the time asked for last is not formatted again)."""
    last = _LAST[0]
    if last[0] is stamp:
        return last[1]
    if stamp is None:
        return ""
    text = stamp.isoformat()
    _LAST[0] = (stamp, text)
    return text


def check_delimiter(delimiter: str) -> None:
    """Raise ValueError unless ``delimiter`` can separate CSV cells: one printable character (or
    a tab), not a digit, a quote or a line end."""
    if len(delimiter) != 1:
        raise ValueError(f"the delimiter must be one character, not {delimiter!r}")
    if (
        delimiter.isdigit()
        or delimiter == '"'
        or not (delimiter.isprintable() or delimiter == "\t")
    ):
        raise ValueError(
            f"{delimiter!r} cannot be a delimiter (not a digit, a quote, a line end or a control"
            " character)"
        )


def check_locale(delimiter: str, decimal: str) -> None:
    """Raise ValueError unless ``delimiter`` (see :func:`check_delimiter`) and ``decimal``
    (``.`` or ``,``) make a readable CSV."""
    check_delimiter(delimiter)
    if decimal not in (".", ","):
        raise ValueError(f"the decimal mark must be '.' or ',', not {decimal!r}")
    if delimiter == decimal:
        raise ValueError("the delimiter and the decimal mark must differ")


def _numbered(meters: list[MbusMeter]) -> list[tuple[str, int]]:
    """Each meter's kind and its number among the meters of its kind (1, 2 ...), by channel."""
    seen: dict[str, int] = {}
    keys = []
    for meter in meters:
        seen[meter.kind] = seen.get(meter.kind, 0) + 1
        keys.append((meter.kind, seen[meter.kind]))
    return keys


_FAST_DELIMITERS = frozenset(",;\t|")
"""Delimiters no cell can contain (cells hold numbers, ISO times and method names): rows are joined
directly. Any other delimiter goes through the csv module, which quotes where needed."""
_SEPARATOR = "\x00"
_NO_NONE: tuple[bool, ...] = ()
_STATUS_TEXT = {status: status.value for status in Status}


def _derived_spec(field: str, digits: int) -> str:
    annotation = Derived.__annotations__[field]
    kind = str(getattr(annotation, "__forward_arg__", annotation))  # a ForwardRef on 3.13
    if kind == "str":
        return "%s"
    if kind == "bool" or kind.startswith("int"):
        return "%d"  # True -> 1, phase 2 -> 2
    return f"%.{digits}f"


_NEVER_NEGATIVE_ZERO = frozenset(
    (
        "interval_s",
        "avg_power_import",
        "avg_power_export",
        "avg_power_net",
        "energy_import_interval",
        "energy_export_interval",
        "energy_simultaneous",
        "simultaneous_power",
    )
)
"""Float columns whose formulas cannot give -0.0 (steps of counters, which never go back and are
made +0.0 when equal; sums of non-negative terms)."""

_REPEATING = _NEVER_NEGATIVE_ZERO | frozenset(
    (
        "current_method",
        "max_voltage",
        "max_voltage_phase",
        "max_current_phase",
        "peak_voltage",
        "peak_current",
        "new_peak_voltage",
        "new_peak_current",
        "overvoltage_l1",
        "overvoltage_l2",
        "overvoltage_l3",
        "overcurrent_l1",
        "overcurrent_l2",
        "overcurrent_l3",
        "overpower",
    )
)
"""Derived values that come back telegram after telegram (methods, intervals, energy steps, the
highest voltage, peaks, phases, flags): each distinct value is formatted once per column and looked
up after; in the float columns not in :data:`_NEVER_NEGATIVE_ZERO` a zero is formatted every time,
because a look-up would confuse -0.0 (from a meter that sends "-0.0") with 0.0. The others (powers,
currents) are formatted in every row."""


_ALONE = frozenset(("max_voltage",))
"""Repeating values looked up on their own: the highest voltage changes too often to be part of a
run of columns looked up as one (see :class:`_Run`)."""

_DIRECT = tuple(c for c in RECORD_COLUMNS if c.derived is not None and c.derived not in _REPEATING)
"""Derived columns formatted in every row."""


class _Cells(dict[object, str]):
    """One column's cell texts by value, made on first use (bounded; None is an empty cell)."""

    __slots__ = ("_spec", "keep_zero")

    def __init__(self, spec: str, keep_zero: bool) -> None:
        super().__init__({None: ""})
        self._spec = spec
        self.keep_zero = keep_zero
        """Whether a zero may be kept: the column never holds -0.0."""

    def __missing__(self, value: object) -> str:
        text = self._spec % (value,)
        if value == 0 and isinstance(value, float) and not self.keep_zero:
            return text
        if len(self) >= 1024:
            self.clear()
            self[None] = ""
        self[value] = text
        return text


class _Run(dict[tuple[object, ...], str]):
    """Cell texts of adjacent repeating columns, by their values (one look-up instead of one per
    column; bounded). Values with a zero some column's table formats every time are not kept."""

    __slots__ = ("_cells", "_separator")

    def __init__(self, cells: Sequence[_Cells], separator: str) -> None:
        super().__init__()
        self._cells = tuple(cells)
        self._separator = separator

    def __missing__(self, values: tuple[object, ...]) -> str:
        text = self._separator.join(map(_LOOK_UP, self._cells, values))
        for cells, value in zip(self._cells, values, strict=True):
            if value == 0 and isinstance(value, float) and not cells.keep_zero:
                return text
        if len(self) >= 1024:
            self.clear()
        self[values] = text
        return text


_LOOK_UP = dict.__getitem__


class RecordsWriter:
    """Writes the records CSV.

    A row is one :class:`~.template.Template` rendered by the telegram (see :mod:`.template`): the
    measured cells are the meter's digits read where they stand, derived values that repeat are
    looked up as text (see :data:`_REPEATING`), the others formatted in place. There is a template
    per pattern of None among the derived values formatted in the row (their cells are empty).
    """

    def __init__(self, stream: IO[str], delimiter: str = ",", decimal: str = ".") -> None:
        check_locale(delimiter, decimal)
        self._stream = stream
        self._writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        self._decimal = decimal
        self._fast = delimiter in _FAST_DELIMITERS
        self._separator = delimiter if self._fast else _SEPARATOR
        fields = Derived._fields
        self._direct = itemgetter(*(fields.index(c.derived or "") for c in _DIRECT))
        self._tables = {
            c.derived: _Cells(_derived_spec(c.derived, c.digits), c.derived in _NEVER_NEGATIVE_ZERO)
            for c in RECORD_COLUMNS
            if c.derived in _REPEATING
        }
        self._layout: object = None
        self._meters: list[tuple[str, int]] | None = None
        """The M-Bus meters with columns, by kind and number (the first gas meter, then the
        others the first telegram has); None until the header is written."""
        self._codes: tuple[str | None, ...] = (None,)
        """The code of each M-Bus meter's reading in the current layout (None: absent)."""
        self._templates: dict[tuple[bool, ...], Template] = {}
        """Templates of the current M-Bus codes, by pattern of None among the direct values."""
        self._runs: dict[tuple[int, ...], _Run] = {}
        self.notes: list[str] = []
        """What the rows leave out (M-Bus meters that appeared after the header was written)."""

    def _header(self, meters: list[MbusMeter]) -> None:
        """Write the header: the M-Bus columns are the first gas meter's (always) and those of the
        other meters of the first telegram (``gas2_m3``, ``water_m3``, ``heat_gj`` ...)."""
        columns = [("gas", 1)]
        names = ["gas_m3", "gas_time"]
        for meter, key in zip(meters, _numbered(meters), strict=True):
            if key not in columns:
                columns.append(key)
                prefix = f"{key[0]}{key[1] if key[1] > 1 else ''}"
                names += [f"{prefix}_{meter.unit.lower()}", f"{prefix}_time"]
        self._meters = columns
        self._writer.writerow(["timestamp", "status", *(c.name for c in RECORD_COLUMNS), *names])

    def _find_meters(self, telegram: Telegram) -> None:
        """Which line holds each M-Bus column's reading in ``telegram``'s layout."""
        meters = mbus_meters(telegram)
        if self._meters is None:
            self._header(meters)
        assert self._meters is not None
        found = dict(zip(_numbered(meters), meters, strict=True))
        codes = tuple(
            meter.code if (meter := found.get(key)) is not None else None for key in self._meters
        )
        if codes != self._codes:
            self._codes = codes
            self._templates.clear()
        for key, meter in found.items():
            if key not in self._meters and len(self.notes) < 16:
                note = (
                    f"M-Bus channel {meter.channel} ({meter.kind}, {meter.code}) appeared after the"
                    " records CSV's columns were set by its first telegram: its readings are not in"
                    " it"
                )
                if note not in self.notes:
                    self.notes.append(note)

    def finish(self) -> None:
        """End of the stream: the header, if no row wrote it."""
        if self._meters is None:
            self._header([])

    def _template(self, codes: tuple[str | None, ...], none: tuple[bool, ...]) -> Template:
        """The row for these M-Bus readings' codes and this pattern of None among the direct values
        (arguments: time, status, derived values)."""
        blanks = iter(none or [False] * len(_DIRECT))
        separator = self._separator
        parts: list[str | Code | Stamp | Arg] = [Arg(0), separator, Arg(1)]
        run: list[int] = []  # adjacent repeating values, looked up as one

        def end_run() -> None:
            if len(run) == 1:
                parts.append(Arg(2, run[0], table=self._tables[Derived._fields[run[0]]]))
            elif run:
                parts.append(Arg(2, (run[0], run[-1] + 1), table=self._run(tuple(run))))
            run.clear()

        for column in RECORD_COLUMNS:
            field = column.derived or ""
            item = Derived._fields.index(field) if column.derived is not None else -1
            if field in _REPEATING and run and item == run[-1] + 1 and field not in _ALONE:
                run.append(item)  # its cell joins the run's text
                continue
            end_run()
            parts.append(separator)
            if column.obis is not None:
                parts.append(Code(column.obis))
            elif field in _REPEATING:
                run.append(item)
                if field in _ALONE:
                    end_run()
            elif not next(blanks):
                spec = _derived_spec(field, column.digits)  # "%.3f" and the like
                parts.append(Arg(2, item, spec="" if spec == "%s" else spec[1:]))
        end_run()
        for code in codes:
            parts += [separator, Code(code), separator, Stamp(code)] if code else [separator] * 2
        parts.append("\n")
        if len(self._templates) >= 64:
            self._templates.clear()
        self._templates[none] = template = Template(parts)
        return template

    def _run(self, items: tuple[int, ...]) -> _Run:
        """The table of a run of repeating values (one per run, shared by the templates)."""
        table = self._runs.get(items)
        if table is None:
            cells = [self._tables[Derived._fields[k]] for k in items]
            table = self._runs[items] = _Run(cells, self._separator)
        return table

    def write(self, result: DecodeResult, derived: Derived) -> None:
        """One row for an accepted telegram."""
        telegram = result.telegram
        if telegram is None:
            return
        if telegram.layout is not self._layout:
            self._layout = telegram.layout
            self._find_meters(telegram)
        direct = self._direct(derived)
        none = tuple(map(is_, direct, repeat(None))) if None in direct else _NO_NONE
        template = self._templates.get(none) or self._template(self._codes, none)
        row = telegram.render(
            template, iso_text(telegram.timestamp), _STATUS_TEXT[result.status], derived
        )
        if self._decimal != ".":
            row = row.replace(".", self._decimal)  # timestamps and names hold no '.'
        if self._fast:
            self._stream.write(row)
        else:
            self._writer.writerow(row[:-1].split(_SEPARATOR))
