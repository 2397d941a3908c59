"""The validity CSV and the error log: an account of every telegram found, accepted or not.

* :class:`ValidityWriter`: ``S.validity.csv``, one row per telegram found.
* :class:`ErrorLogWriter`: ``S.errors.log``, a readable account of every rejected or repaired
  telegram and of the noise between telegrams, with a trailer of totals and rates.

Both are bounded by their input, whatever it holds: line noise that a stream cuts into many small
"frames" (``x/ABC`` repeated) shares rows and lines, and the error log describes a bounded number
of telegrams (see the writers).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from typing import IO, Protocol

from .clock import MeterClock
from .decoder import DecodeResult, DecoderStats, Status
from .export import _FAST_DELIMITERS, _STATUS_TEXT, check_delimiter, iso_text
from .parsing import parse_timestamp

__all__ = [
    "DESCRIBED",
    "DETAILED_ITEMS",
    "DETAILED_RUN",
    "SMALL_FRAME",
    "VALIDITY_COLUMNS",
    "ErrorLogWriter",
    "ValidityWriter",
    "telegram_time_text",
]

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


_INVALID = Status.INVALID


class _Clocked(Protocol):
    """What reads a meter's telegrams (a :class:`~.parsing.Parser`): its clock is the meter's."""

    @property
    def clock(self) -> MeterClock:
        """The meter's clock."""
        ...


def _clock(clocks: _Clocked | None) -> MeterClock | None:
    return None if clocks is None else clocks.clock


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
