"""Export: the original tool's three files (and the repaired log), written as a stream.

* :class:`RecordsWriter`: ``S.records.csv``, one row per accepted telegram, measured and derived
  values (:data:`RECORD_COLUMNS` lists every column with its unit and source).
* :class:`ValidityWriter`: ``S.validity.csv``, one row per telegram found.
* :class:`ErrorLogWriter`: ``S.errors.log``, a readable account of every rejected or repaired
  telegram and of the noise between telegrams, with a trailer of totals and rates.

All writers take an open text stream and keep no per-telegram state, so memory stays constant.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from operator import is_, itemgetter
from typing import IO, Protocol

from .clock import MeterClock
from .decoder import DecodeResult, DecoderStats, Status
from .derived import Derived
from .mbus import MbusMeter, mbus_meters
from .parsing import Telegram, parse_timestamp
from .template import Arg, Code, Stamp, Template

__all__ = [
    "DESCRIBED",
    "DETAILED_ITEMS",
    "DETAILED_RUN",
    "SMALL_FRAME",
    "Column",
    "ErrorLogWriter",
    "RECORD_COLUMNS",
    "RecordsWriter",
    "ValidityWriter",
    "VALIDITY_COLUMNS",
    "check_delimiter",
    "check_locale",
    "iso_text",
    "telegram_time_text",
]


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

VALIDITY_COLUMNS = (
    "index",
    "offset",
    "timestamp",
    "status",
    "crc_sent",
    "crc_computed",
    "length",
    "detail",
)

_TIMESTAMP_RE = re.compile(rb"0-0:1\.0\.0\((\d{12}[SWsw]?)\)")


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


def telegram_time_text(result: DecodeResult, clock: MeterClock | None = None) -> str:
    """ISO 8601 time of a telegram: the meter's clock, found even in a rejected telegram (whose
    clock text is read with ``clock``, the meter's; by default in Central European time)."""
    if result.telegram is not None:
        return iso_text(result.telegram.timestamp)
    match = _TIMESTAMP_RE.search(result.frame.data)
    if match is None:
        return ""
    raw = match.group(1).decode("ascii")
    if clock is not None:
        return clock.iso[raw]
    parsed = parse_timestamp(raw)
    return parsed.isoformat() if parsed is not None else ""


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
_INVALID = Status.INVALID


class _Clocked(Protocol):
    """What reads a meter's telegrams (a :class:`~.parsing.Parser`): its clock is the meter's."""

    @property
    def clock(self) -> MeterClock:
        """The meter's clock."""
        ...


def _clock(clocks: _Clocked | None) -> MeterClock | None:
    return None if clocks is None else clocks.clock


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


class ValidityWriter:
    """Writes the validity CSV: a row per telegram found.

    Its size follows the input: of a run of small rejected frames in a row (under
    :data:`SMALL_FRAME` bytes each: bits of noise a stream cut into "frames", such as ``x/ABC``
    repeated), the first has its row and the others one row together when the run ends (call
    :meth:`finish` at the end of the stream), whose detail says how many and where.
    """

    def __init__(
        self, stream: IO[str], delimiter: str = ",", clocks: _Clocked | None = None
    ) -> None:
        """``clocks``: what reads the meter's telegrams (the decoder's parser), whose clock reads
        the times of rejected ones (default: Central European time)."""
        check_delimiter(delimiter)
        self._stream = stream
        self._writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        self._writer.writerow(VALIDITY_COLUMNS)
        self._delimiter = delimiter if delimiter in _FAST_DELIMITERS else ""
        self._count = 0
        self._small = False  # the previous frame was a small rejected one
        self._hidden: _HiddenRun | None = None  # (only while _small)
        self._clocks = clocks

    def write(self, result: DecodeResult) -> None:
        """One row per telegram found."""
        self._count += 1
        frame = result.frame
        if result.status is _INVALID and len(frame.data) < SMALL_FRAME:
            if self._small:
                hidden = self._hidden
                if hidden is None:
                    hidden = self._hidden = _HiddenRun(self._count, frame.offset)
                hidden.add(self._count, result)
                return
            self._small = True
        elif self._small:
            self._small = False
            if self._hidden is not None:
                self._end_run()
        # (% is about twice as fast as a format spec here, once per telegram)
        sent = "" if result.crc_sent is None else "%04X" % result.crc_sent  # noqa: UP031
        if result.crc_computed == result.crc_sent:
            computed = sent
        else:
            computed = "" if result.crc_computed is None else "%04X" % result.crc_computed  # noqa: UP031
        d = self._delimiter
        if d and not result.reason and result.repair is None:  # nothing to quote: join directly
            telegram = result.telegram
            when = (
                iso_text(telegram.timestamp)
                if telegram is not None
                else telegram_time_text(result, _clock(self._clocks))
            )
            self._stream.write(
                f"{self._count}{d}{frame.offset}{d}{when}{d}{_STATUS_TEXT[result.status]}{d}"
                f"{sent}{d}{computed}{d}{len(frame.data)}{d}\n"
            )
            return
        detail = result.reason
        if result.repair is not None:
            changes = result.repair.changes
            detail = f"{result.repair.method}: " + "; ".join(
                f"@{c.position} {c.before.hex(' ') or '-'} -> {c.after.hex(' ') or '-'}"
                for c in changes[:DETAILED_ITEMS]
            )
            if len(changes) > DETAILED_ITEMS:
                detail += f"; ... {len(changes) - DETAILED_ITEMS} more changes"
        self._writer.writerow(
            (
                self._count,
                frame.offset,
                telegram_time_text(result, _clock(self._clocks)),
                result.status.value,
                sent,
                computed,
                len(frame.data),
                detail,
            )
        )

    def _end_run(self) -> None:
        """The row of the small rejected frames of a run that have none of their own."""
        hidden = self._hidden
        assert hidden is not None
        self._hidden = None
        self._writer.writerow(
            (
                hidden.first,
                hidden.start,
                "",
                Status.INVALID.value,
                "",
                "",
                hidden.end - hidden.start,
                f"{hidden.count} small rejected frame(s) in a row (#{hidden.first}-#{hidden.last},"
                f" noise), not listed one by one: {hidden.describe()}",
            )
        )

    def finish(self) -> None:
        """End of the stream: the row of a run of small rejected frames not written yet."""
        self._small = False
        if self._hidden is not None:
            self._end_run()


def _hex(data: bytes, limit: int = 48) -> str:
    shown = data[:limit].hex(" ").upper()
    return shown + (f" ... ({len(data)} bytes)" if len(data) > limit else "")


def _describe_noise(count: int, noise: bytes) -> str:
    if noise.startswith(b"=~=~=") and b"PuTTY log" in noise:
        return f"a PuTTY log header ({noise.decode('latin-1').strip()})"
    return f"{count} byte(s) of noise: {_hex(noise)}"


def _line_col(data: bytes, position: int) -> tuple[int, int]:
    line = data.count(b"\n", 0, position) + 1
    return line, position - (data.rfind(b"\n", 0, position) + 1) + 1


DETAILED_RUN = 10
"""Rejected frames in a row described in the error log; the rest of such a run is summed up."""
DESCRIBED = 10_000
"""Rejected and repaired telegrams the error log describes in all; the rest are counted."""
SMALL_FRAME = 64
"""A rejected frame shorter than this (bytes) is noise rather than a damaged telegram (the shortest
real telegrams are longer): runs of them share one validity row."""
DETAILED_ITEMS = 20
"""Suspicious bytes, repair attempts and changes listed per telegram."""


def _more(out: IO[str], items: Sequence[object], what: str) -> None:
    if len(items) > DETAILED_ITEMS:
        out.write(f"  ... {len(items) - DETAILED_ITEMS} more {what}\n")


class _HiddenRun:
    """The rejected frames of a run that are summed up, not described."""

    __slots__ = ("count", "end", "first", "last", "reasons", "start")

    def __init__(self, first: int, start: int) -> None:
        self.first = self.last = first
        self.start = self.end = start
        self.count = 0
        self.reasons: dict[str, int] = {}

    def add(self, number: int, result: DecodeResult) -> None:
        self.count += 1
        self.last = number
        self.end = result.frame.end_offset
        reason = result.reason.split(":", 1)[0] or "rejected"
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def describe(self) -> str:
        return ", ".join(f"{reason}: {n}" for reason, n in sorted(self.reasons.items()))


class ErrorLogWriter:
    """Writes the readable error log: noise, rejected and repaired telegrams, and a trailer.

    Its size follows the telegrams, not the noise: in a run of rejected frames in a row (no
    telegram accepted between them: a long stretch of line noise, a stream that is no P1 log), the
    first :data:`DETAILED_RUN` are described, and after them the small ones (under
    :data:`SMALL_FRAME` bytes: noise, not telegrams) are summed up in one line per stretch. Every
    description is bounded (suspicious bytes, repair attempts and changes: :data:`DETAILED_ITEMS`
    each), and so is their number (:data:`DESCRIBED`; the summary counts them all).
    """

    def __init__(self, stream: IO[str], source: str, clocks: _Clocked | None = None) -> None:
        """``clocks``: what reads the meter's telegrams (the decoder's parser), whose clock reads
        the times of rejected ones (default: Central European time)."""
        self._out = stream
        self._count = 0
        self._run = 0  # rejected frames in a row
        self._described = 0
        self._hidden: _HiddenRun | None = None  # (only while _run)
        self._clocks = clocks
        stream.write(f"P1 DSMR error log for {source}\n\n")

    def write(self, result: DecodeResult) -> None:
        """Account for one telegram (only what is worth reporting is written)."""
        self._count += 1
        frame = result.frame
        out = self._out
        if result.status is _INVALID:
            self._run += 1
            if self._run > DETAILED_RUN and len(frame.data) < SMALL_FRAME:
                hidden = self._hidden
                if hidden is None:
                    hidden = self._hidden = _HiddenRun(self._count, frame.offset)
                hidden.add(self._count, result)
                return
            if self._hidden is not None:
                self._end_run()
        elif self._run:
            self._run = 0
            if self._hidden is not None:
                self._end_run()
        if frame.noise_count and result.status is not Status.INVALID:
            noise = _describe_noise(frame.noise_count, frame.noise)
            out.write(f"#{self._count} at byte {frame.offset}: {noise} before the telegram\n")
        if result.status in (Status.VALID, Status.UNVERIFIED):
            return
        self._described += 1
        if self._described > DESCRIBED:
            if self._described == DESCRIBED + 1:
                out.write(
                    f"#{self._count} on: {DESCRIBED} damaged telegrams described; the others are"
                    " counted in the summary (and listed in the validity CSV)\n"
                )
            return
        when = telegram_time_text(result, _clock(self._clocks)) or "time unknown"
        out.write(
            f"#{self._count} at byte {frame.offset} ({when}): {result.status.value}"
            f" - {result.reason or 'repaired'}\n"
        )
        if frame.noise_count:
            out.write(f"  before it: {_describe_noise(frame.noise_count, frame.noise)}\n")
        if result.crc_sent is not None or result.crc_computed is not None:
            sent = "-" if result.crc_sent is None else f"{result.crc_sent:04X}"
            got = "-" if result.crc_computed is None else f"{result.crc_computed:04X}"
            out.write(f"  CRC sent {sent}, computed over the received bytes {got}\n")
        data = frame.data
        for position, byte in result.suspicious[:DETAILED_ITEMS]:
            line, column = _line_col(data, position)
            context = data[max(0, position - 12) : position + 12]
            out.write(
                f"  suspicious byte 0x{byte:02X} at {position} (line {line}, column {column}):"
                f" {context!r}\n"
            )
        _more(out, result.suspicious, "suspicious bytes")
        for attempt in result.attempts[:DETAILED_ITEMS]:
            out.write(f"  tried: {attempt}\n")
        _more(out, result.attempts, "attempts")
        if result.repair is not None:
            repair = result.repair
            for attempt in repair.attempts[:DETAILED_ITEMS]:
                out.write(f"  tried: {attempt}\n")
            _more(out, repair.attempts, "attempts")
            for change in repair.changes[:DETAILED_ITEMS]:
                out.write(
                    f"  changed at {change.position}: {_hex(change.before) or '(nothing)'} -> "
                    f"{_hex(change.after) or '(nothing)'}\n"
                )
            _more(out, repair.changes, "changes")
            out.write(
                f"  outcome: repaired by {repair.method} after {repair.candidates} candidate(s);"
                " CRC verified\n"
            )
        else:
            out.write("  outcome: rejected\n")

    def _end_run(self) -> None:
        """Sum up the rejected frames of a run that were not described."""
        hidden = self._hidden
        assert hidden is not None
        self._hidden = None
        self._out.write(
            f"#{hidden.first}-#{hidden.last} at bytes {hidden.start}-{hidden.end}:"
            f" {hidden.count} more rejected frame(s) in a row, not described ({hidden.describe()})\n"
        )

    def trailer(
        self,
        stats: DecoderStats,
        noise_bytes: int,
        bytes_in: int,
        seconds: float,
        notes: Sequence[str] = (),
    ) -> None:
        """Totals and rates (and ``notes``: what else the reader should know)."""
        if self._hidden is not None:
            self._end_run()
        total = stats.telegrams
        damaged = stats.invalid + stats.repaired

        def rate(part: int) -> str:
            return f"{100.0 * part / total:.3f}%" if total else "-"

        out = self._out
        if notes:
            out.write("\nNotes\n")
            for note in notes:
                out.write(f"  {note}\n")
        out.write("\nSummary\n")
        out.write(f"  bytes read: {bytes_in}; noise bytes between telegrams: {noise_bytes}\n")
        out.write(f"  telegrams found: {total}\n")
        out.write(f"  valid: {stats.valid} ({rate(stats.valid)})\n")
        out.write(f"  repaired: {stats.repaired} ({rate(stats.repaired)})\n")
        out.write(f"  invalid: {stats.invalid} ({rate(stats.invalid)})\n")
        out.write(f"  unverified (meter sends no CRC): {stats.unverified}\n")
        if damaged:
            out.write(
                f"  repair rate: {100.0 * stats.repaired / damaged:.1f}% of {damaged} damaged;"
                f" repair candidates tested: {stats.candidates}\n"
            )
        for reason, count in sorted(stats.by_reason.items()):
            out.write(f"  rejected for {reason}: {count}\n")
        per = 1e6 * seconds / total if total else 0.0
        out.write(f"  time: {seconds:.3f} s ({per:.1f} us per telegram)\n")
