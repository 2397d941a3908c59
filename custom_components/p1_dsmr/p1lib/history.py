"""Read a meter's past: a P1 log (raw, PuTTY, gzip-compressed) or a records CSV of the converter,
into hourly aggregates per value (see :mod:`.hourly`), for long-term statistics.

A log is decoded by the :class:`~.decoder.Decoder`, repair included, and every accepted telegram
with a clock gives a sample: the numbers of its energy counters, M-Bus readings, powers, voltages,
currents, power factors and frequency (canonical units: kW, kWh, kvar...) and the derived values of
:data:`DERIVED_MEASUREMENTS`. A records CSV gives the same keys from its columns (its ``gas_m3``
column as :data:`GAS_KEY`: the CSV does not say which M-Bus channel it came from).

Keys are the registry's (``energy_import``, ``voltage_l1``), ``mbus<n>_<key>`` for M-Bus channels,
and ``derived:<name>`` for derived values (:data:`DERIVED_PREFIX`). A log is read in chunks; memory
is bounded by the number of hours.
"""

from __future__ import annotations

import codecs
import csv
import errno
import gzip
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, tzinfo
from math import isfinite
from operator import itemgetter
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import IO, NamedTuple, cast

from .clock import DEFAULT_ZONE, zone
from .converter import CHUNK, ByteSource
from .decoder import Decoder, DecodeResult, Status
from .derived import Derived, DerivedCalculator
from .export import RECORD_COLUMNS
from .hourly import History, HistoryStats, HourlyAggregator
from .obis import MBUS_DEVICE_TYPES, REGISTRY, Kind
from .parsing import Parser
from .repair import RepairEngine
from .telegram import Fields, Telegram

__all__ = [
    "COUNTER_KINDS",
    "Cancelled",
    "DERIVED_MEASUREMENTS",
    "DERIVED_PREFIX",
    "EmptyWindow",
    "GAS_KEY",
    "HistoryError",
    "MEASUREMENT_KINDS",
    "NoTelegram",
    "OtherMeter",
    "meter_identity",
    "open_history_file",
    "read_history",
    "read_history_file",
]

COUNTER_KINDS = frozenset((Kind.ENERGY, Kind.REACTIVE_ENERGY, Kind.COUNT, Kind.MBUS_READING))
MEASUREMENT_KINDS = frozenset(
    (Kind.POWER, Kind.REACTIVE_POWER, Kind.VOLTAGE, Kind.CURRENT, Kind.POWER_FACTOR, Kind.FREQUENCY)
)
DERIVED_MEASUREMENTS = (
    "net_power",
    "net_power_l1",
    "net_power_l2",
    "net_power_l3",
    "current_l1",
    "current_l2",
    "current_l3",
    "signed_current",
    "avg_power_import",
    "avg_power_export",
    "avg_power_net",
    "simultaneous_power",
    "max_voltage",
    "max_current",
)
"""Derived values aggregated as measurements (keys ``derived:<name>``)."""
DERIVED_PREFIX = "derived:"
GAS_KEY = "gas"
"""Key of a records CSV's ``gas_m3`` column (the first gas meter, on whichever M-Bus channel)."""

_DERIVED = itemgetter(*(Derived._fields.index(name) for name in DERIVED_MEASUREMENTS))
_DERIVED_KEYS = tuple(DERIVED_PREFIX + name for name in DERIVED_MEASUREMENTS)

Progress = Callable[[], None]
"""Called after each chunk read (the caller knows how far its file is read)."""


class HistoryError(Exception):
    """The file cannot give hourly statistics."""


class OtherMeter(HistoryError):
    """The log holds telegrams of another meter than the one expected."""

    def __init__(self, found: str, expected: str) -> None:
        super().__init__(f"the log is of meter {found}, not {expected}")
        self.found = found
        self.expected = expected


class NoTelegram(HistoryError):
    """Not one telegram (row) of the file was accepted with a clock."""


class EmptyWindow(HistoryError):
    """Telegrams were accepted, but none within the window asked for."""


class Cancelled(HistoryError):
    """Stopped on request."""


def meter_identity(telegram: Telegram) -> str:
    """What identifies the meter: its equipment identifier, or its header when it sends none (the
    integration's config entries use the same as unique id)."""
    return telegram.equipment_id or telegram.header.raw.lstrip("/")


class _Plan(NamedTuple):
    """What a layout gives: the keys of its values and the fields to read the measured ones."""

    keys: tuple[str, ...]
    fields: Fields


def _plan(telegram: Telegram, aggregator: HourlyAggregator, history: History) -> _Plan:
    """The keys and fields of a telegram's layout (measured values, then derived values)."""
    keys: list[str] = []
    codes: list[str] = []
    kinds: list[Kind | None] = []
    for obj in telegram.objects:
        info = obj.info
        if info is None or obj.number is None:
            continue
        kind = info.kind
        if kind not in COUNTER_KINDS and kind not in MEASUREMENT_KINDS:
            continue
        mbus = obj.code.startswith("0-") and not obj.code.startswith("0-0:")
        key = f"mbus{obj.channel}_{info.key}" if mbus else info.key  # as the entities' keys
        if key not in keys:  # a code sent twice: the first wins, as for the entities
            keys.append(key)
            codes.append(obj.code)
            kinds.append(kind)
    for channel in telegram.mbus_channels():
        device = telegram.number(f"0-{channel}:24.1.0")
        kind_name = "gas" if device is None else MBUS_DEVICE_TYPES.get(int(device), "other")
        history.mbus_kinds[channel] = kind_name
    measured = len(keys)
    derived = len(_DERIVED_KEYS)
    declared = aggregator.declare(
        (*keys, *_DERIVED_KEYS),
        tuple(kind in COUNTER_KINDS for kind in kinds) + (False,) * derived,
        (False,) * measured + (True,) * derived,  # a layout's measured values are always there
        (*kinds, *(None,) * derived),
    )
    return _Plan(declared, Fields(codes))


def _chunks(
    source: ByteSource,
    stats: HistoryStats,
    progress: Progress | None,
    cancel: Callable[[], bool] | None,
) -> Iterator[bytes]:
    """The source in chunks; a compressed file that ends early (or is damaged after its start)
    ends the stream, flagged as truncated."""
    started = False
    while True:
        if cancel is not None and cancel():
            raise Cancelled
        try:
            chunk = source.read(CHUNK)
        except (EOFError, zlib.error, gzip.BadGzipFile):
            if not started:
                raise
            stats.truncated = True
            return
        if not chunk:
            return
        started = True
        yield chunk
        if progress is not None:
            progress()


def _read_log(
    chunks: Iterator[bytes],
    aggregator: HourlyAggregator,
    repair: bool,
    meter: str | None,
    default_zone: str | tzinfo | None,
) -> None:
    history = aggregator.history
    stats = history.stats
    decoder = Decoder(
        repair=RepairEngine() if repair else None, parser=Parser(default_zone=default_zone)
    )
    derive = DerivedCalculator().update
    add = aggregator.add
    plans: dict[object, _Plan] = {}
    layout: object = None
    plan = _Plan((), Fields(()))

    def handle(results: list[DecodeResult]) -> None:
        nonlocal layout, plan
        for result in results:
            telegram = result.telegram
            if telegram is None or result.status is Status.INVALID:
                continue
            if telegram.layout is not layout:
                layout = telegram.layout
                known = plans.get(layout)
                if known is None:
                    identity = meter_identity(telegram)
                    if meter is not None and identity != meter:
                        raise OtherMeter(identity, meter)
                    stats.meter = identity
                    if len(plans) >= 64:
                        plans.clear()
                    known = plans[layout] = _plan(telegram, aggregator, history)
                plan = known
            stamp = telegram.timestamp
            if stamp is None:
                stats.without_time += 1
                continue
            values = telegram.numbers(plan.fields) + _DERIVED(derive(telegram))
            add(stamp.timestamp(), plan.keys, values)

    for chunk in chunks:
        handle(decoder.feed(chunk))
    handle(decoder.flush())
    counts = decoder.stats
    stats.telegrams = counts.telegrams
    stats.valid = counts.valid
    stats.repaired = counts.repaired
    stats.invalid = counts.invalid
    stats.unverified = counts.unverified


def _csv_columns(header: list[str]) -> tuple[list[int], list[str], list[bool], list[Kind | None]]:
    """Which records CSV columns are read, as which keys; which of them are counters."""
    by_name = {column.name: column for column in RECORD_COLUMNS}
    indexes: list[int] = []
    keys: list[str] = []
    counters: list[bool] = []
    kinds: list[Kind | None] = []
    for index, name in enumerate(header):
        column = by_name.get(name.strip())
        kind: Kind | None = None
        if name.strip() == "gas_m3":
            key, counter = GAS_KEY, True
        elif column is None:
            continue
        elif column.obis is not None:
            info = REGISTRY.get(column.obis)
            if info is None or (
                info.kind not in COUNTER_KINDS and info.kind not in MEASUREMENT_KINDS
            ):
                continue
            key, counter, kind = info.key, info.kind in COUNTER_KINDS, info.kind
        elif column.derived in DERIVED_MEASUREMENTS:
            key, counter = DERIVED_PREFIX + column.derived, False
        else:
            continue
        if key not in keys:
            indexes.append(index)
            keys.append(key)
            counters.append(counter)
            kinds.append(kind)
    return indexes, keys, counters, kinds


MAX_LINE = 1 << 16
"""Longest records CSV line read (a row is a few hundred characters): a longer one is a bad row,
dropped as it arrives, so a file without line ends costs no more memory than a chunk."""
_BAD_LINE = "?\n"  # what stands for a dropped line: a row too short, counted as bad


def _text_lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """Lines of UTF-8 text (a BOM dropped), with their line ends; a line over :data:`MAX_LINE`
    characters comes as :data:`_BAD_LINE`."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    rest = ""
    skipping = False  # inside a line that was too long: its end is dropped too
    for chunk in chunks:
        lines = (rest + decoder.decode(chunk)).splitlines(keepends=True)
        rest = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
        if skipping:
            if lines:
                lines.pop(0)
                skipping = False
            else:
                rest = ""
        if len(rest) > MAX_LINE:
            rest, skipping = "", True
            lines.append(_BAD_LINE)
        yield from lines
    rest += decoder.decode(b"", final=True)
    if rest:
        yield rest


_DELIMITERS = frozenset(",;\t|")


def _read_csv(
    chunks: Iterator[bytes], aggregator: HourlyAggregator, default_zone: str | tzinfo | None
) -> None:
    stats = aggregator.history.stats
    lines = _text_lines(chunks)
    first = next(lines, "")
    # The delimiter is what follows "timestamp" (",", ";", tab...); a non-comma delimiter may come
    # with a decimal comma (Hungarian Excel), which no cell needs otherwise.
    delimiter = first[len("timestamp") : len("timestamp") + 1] or ","
    if delimiter not in _DELIMITERS:
        return  # not a records CSV: nothing is read (NoTelegram)
    # A time without offset (a CSV saved again by a spreadsheet) is the meter's local time.
    local = (
        zone(default_zone or DEFAULT_ZONE) if not isinstance(default_zone, tzinfo) else default_zone
    )
    header = next(csv.reader([first], delimiter=delimiter))
    indexes, names, counters, kinds = _csv_columns(header)
    if not indexes:
        return
    keys = aggregator.declare(tuple(names), tuple(counters), (True,) * len(names), tuple(kinds))
    pick = itemgetter(*indexes, 0)  # the time last, so one call reads a row
    comma = delimiter != ","
    by_status = dict.fromkeys(("valid", "repaired", "unverified", "invalid"), 0)
    add = aggregator.add
    width = len(header)
    for row in csv.reader(lines, delimiter=delimiter):
        if len(row) < width:
            stats.bad_rows += bool(row)
            continue
        status = row[1].strip()
        if status == "invalid":
            by_status["invalid"] += 1
            continue
        *texts, stamp = pick(row)
        try:
            moment = datetime.fromisoformat(stamp)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=local)
            when = moment.timestamp()
            if comma:
                texts = [text.replace(",", ".") for text in texts]
            values = tuple([float(text) if text else None for text in texts])
        except (ValueError, OverflowError):
            stats.bad_rows += 1
            continue
        if not all(v is None or isfinite(v) for v in values):
            stats.bad_rows += 1  # nan, inf or a number past float range: no meter sends them
            continue
        by_status[status if status in by_status else "valid"] += 1
        add(when, keys, values)
    stats.telegrams = sum(by_status.values())
    stats.valid = by_status["valid"]
    stats.repaired = by_status["repaired"]
    stats.unverified = by_status["unverified"]
    stats.invalid = by_status["invalid"]


def read_history(
    source: ByteSource,
    *,
    records_csv: bool = False,
    repair: bool = True,
    meter: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
    default_zone: str | tzinfo | None = None,
) -> History:
    """Hourly aggregates of a log (or, with ``records_csv``, of the converter's records CSV).

    Meter clocks are read in the zone of the meter's dialect, else in ``default_zone`` (Home
    Assistant's), else in the EU rule's Central European time (see :class:`~.parsing.Parser`).

    ``meter``: the identity (:func:`meter_identity`) every telegram must have (:class:`OtherMeter`
    at the first that has another; a records CSV names no meter). ``start``/``end`` (aware): keep
    the hours that overlap them. Raises :class:`NoTelegram` when nothing was accepted with a clock,
    :class:`EmptyWindow` when nothing accepted lies in the window, :class:`Cancelled` when
    ``cancel()`` says so between chunks, OSError when the source cannot be read.
    """
    history = History()
    stats = history.stats
    if records_csv:
        stats.format = "records csv"
    aggregator = HourlyAggregator(
        history,
        None if start is None else start.timestamp(),
        None if end is None else end.timestamp(),
    )
    chunks = _chunks(source, stats, progress, cancel)
    if records_csv:
        _read_csv(chunks, aggregator, default_zone)
    else:
        _read_log(chunks, aggregator, repair, meter, default_zone)
    aggregator.finish()
    if not stats.aggregated:
        if stats.outside_window:
            raise EmptyWindow("no accepted telegram in the window")
        raise NoTelegram("no accepted telegram with a clock")
    return history


def open_history_file(path: Path) -> tuple[IO[bytes], IO[bytes], bool, bool]:
    """Open a log, a gzip-compressed log or a records CSV: (the stream to read, the file itself,
    whose position tells the progress; compressed; records CSV). Close the stream, then the file.
    Raises OSError for what is not a regular file (a pipe would block the reader for ever)."""
    mode = path.stat().st_mode  # (FileNotFoundError when it is missing)
    if not (S_ISREG(mode) or S_ISDIR(mode)):  # a folder raises IsADirectoryError on opening
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    raw = path.open("rb")
    try:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: IO[bytes] = cast(IO[bytes], gzip.GzipFile(fileobj=raw)) if compressed else raw
        head = stream.read(64)
        if compressed:
            stream.close()
            raw.seek(0)
            stream = cast(IO[bytes], gzip.GzipFile(fileobj=raw))
        else:
            raw.seek(0)
    except BaseException:
        raw.close()
        raise
    return stream, raw, compressed, head.lstrip(codecs.BOM_UTF8).startswith(b"timestamp")


def read_history_file(
    path: Path,
    *,
    repair: bool = True,
    meter: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    default_zone: str | tzinfo | None = None,
) -> History:
    """:func:`read_history` of a file; ``progress`` gets the fraction of the file read so far."""
    stream, raw, compressed, records = open_history_file(path)
    size = max(path.stat().st_size, 1)

    def report() -> None:
        if progress is not None:
            progress(min(raw.tell() / size, 1.0))

    with raw, stream:
        history = read_history(
            stream,
            records_csv=records,
            repair=repair,
            meter=None if records else meter,
            start=start,
            end=end,
            progress=report,
            cancel=cancel,
            default_zone=default_zone,
        )
    if compressed:
        history.stats.format = "gzip " + history.stats.format
    return history
