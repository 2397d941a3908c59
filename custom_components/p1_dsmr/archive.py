"""The telegram archive: every byte received, with its receive time, in daily files.

Layout: ``<config>/p1_dsmr/archive/<entry_id>/YYYY-MM-DD.p1a`` for the day being written,
``.p1a.gz`` for finished days (compressed when the next day begins); directories 0700, files 0600.
The record format, and how a reader finds every intact record again after a crash, a full disk or a
power cut, is :mod:`.records`.

Retention keeps the newest N days that received data, in the order they were written (kept in
``days``), not by the system clock: a clock that jumps a few decades ahead and back deletes nothing
and leaves no file behind that is never pruned. The receive times themselves follow the system
clock, except while it has just jumped (see :class:`SteadyClock`).

All file work runs in the executor; the event loop only queues chunks. Nothing is dropped
silently: the reader of a followed file waits while the queue is long (back-pressure); what cannot
be archived (a full or read-only disk, a write that failed, a stream faster than the disk) is
counted in ``bytes_not_archived`` (a diagnostic sensor, the diagnostics, the export's response).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER
from .records import (
    FILE_MODE,
    ArchiveWriteError,
    append_records,
    compress_file,
    encode_record,
    iter_records,
    make_private_dirs,
)

FLUSH_DELAY = 1.0  # s: chunks are written at most this long after they arrived
FLUSH_NOW_BYTES = 256 * 1024  # ... or at once when this much is queued
BACKPRESSURE_BYTES = 512 * 1024  # a followed file is not read further while this much is queued
# Bytes queued while writes are stuck; beyond, the oldest are dropped (and counted).
MAX_PENDING = 8 << 20
MIN_FREE_BYTES = 200 * 1024 * 1024  # stop archiving below this much free space
DISK_CHECK_INTERVAL = 60.0  # s between looks at a stopped archive's disk
JUMP_TOLERANCE = 300.0  # s the system clock may move against the steady clock and still be followed
JUMP_SETTLE = 600.0  # s a jumped clock must hold before the archive follows it
ORDER_FILE = "days"

DISK_FULL = "disk_full"
NOT_WRITABLE = "not_writable"


def _steady_seconds() -> float:
    """Seconds of a clock that never jumps and counts a suspend (boot time where there is one)."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return time.monotonic()


class SteadyClock:
    """Receive times that follow the system clock, but not its jumps.

    While the system clock agrees with a steady clock (within :data:`JUMP_TOLERANCE`, so NTP
    corrections are followed at once), its time is used. When it jumps, times go on from the last
    good one by the steady clock, and the new system time is followed only once it has held for
    :data:`JUMP_SETTLE` (an NTP fix of a wrong clock at boot); a jump that does not hold (a clock
    that ran decades ahead for a moment) never reaches the archive.
    """

    def __init__(self) -> None:
        self._anchor: tuple[datetime, float] | None = None
        self._jump: tuple[float, float] | None = None  # (steady time it began, its offset in s)

    def __call__(self, wall: datetime, steady: float) -> datetime:
        """The receive time for a chunk received at ``wall`` (system clock), ``steady``."""
        anchor = self._anchor
        if anchor is None:
            self._anchor = (wall, steady)
            return wall
        expected = anchor[0] + timedelta(seconds=steady - anchor[1])
        offset = (wall - expected).total_seconds()
        if abs(offset) <= JUMP_TOLERANCE:
            if self._jump is not None:
                LOGGER.info("The system clock is back in step; the archive follows it again")
            self._anchor, self._jump = (wall, steady), None
            return wall
        jump = self._jump
        if jump is None or abs(offset - jump[1]) > JUMP_TOLERANCE:
            if jump is None:
                LOGGER.warning(
                    "The system clock jumped by %.0f s; the archive keeps its own time until the "
                    "new time has held for %.0f s",
                    offset,
                    JUMP_SETTLE,
                )
            self._jump = (steady, offset)
        elif steady - jump[0] >= JUMP_SETTLE:
            LOGGER.info("The system clock's new time held: the archive follows it")
            self._anchor, self._jump = (wall, steady), None
            return wall
        return expected


class ArchiveWindow:
    """The archived bytes received between two times, streamed file by file (constant memory).

    Its files are listed when it is iterated (in the executor, with the conversion)."""

    def __init__(self, directory: Path, start: datetime | None, end: datetime | None) -> None:
        self.directory = directory
        self.start = start
        self.end = end
        self.torn = 0

    def files(self) -> list[Path]:
        """The files that may hold records of the window, oldest first (blocking)."""
        first = dt_util.as_local(self.start).date().isoformat() if self.start else ""
        last = dt_util.as_local(self.end).date().isoformat() if self.end else "9999"
        return [p for p in archive_files(self.directory) if first <= p.name[:10] <= last]

    def __iter__(self) -> Iterator[bytes]:
        damage = [0]
        for path in self.files():
            for when, data in iter_records(path, damage):
                if (self.start is None or when >= self.start) and (
                    self.end is None or when <= self.end
                ):
                    yield data
        self.torn = damage[0]


def archive_files(directory: Path) -> list[Path]:
    """An archive directory's files, by day and ``.p1a.gz`` before ``.p1a`` (blocking)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [directory / n for n in sorted(names) if n.endswith((".p1a", ".p1a.gz"))]


class Archive:
    """Keeps everything the coordinator receives, for exports and for replay."""

    def __init__(self, hass: HomeAssistant, entry_id: str, retention_days: int) -> None:
        self.hass = hass
        self.entry_id = entry_id
        self.top = Path(hass.config.path(DOMAIN))
        self.directory = self.top / "archive" / entry_id
        self.retention_days = retention_days
        self.enabled = retention_days > 0
        self.clock = SteadyClock()
        self._pending: list[tuple[date, bytes, int]] = []  # (day, record, data bytes)
        self._pending_bytes = 0
        self._flush_scheduled: Callable[[], None] | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._day: date | None = None
        self._ready = False  # the directories exist, 0700
        self.stopped: str | None = None
        """Why the archive does not write: :data:`DISK_FULL`, :data:`NOT_WRITABLE` or None."""
        self.problem = ""
        self._write_lock = asyncio.Lock()  # one writer at a time: records stay in order
        self._watch: asyncio.Task[None] | None = None
        self.written = 0
        """Records written."""
        self.bytes_not_archived = 0
        """Bytes received that could not be archived (full or read-only disk, failed writes,
        a stream faster than the disk)."""
        self.on_change: Callable[[], None] | None = None
        """Called when ``bytes_not_archived`` grows (the coordinator updates its sensor)."""

    # --- writing (event loop side) -------------------------------------------------------------

    @callback
    def add(self, data: bytes, received: datetime) -> None:
        """Queue received bytes; they are written within about a second."""
        if not self.enabled:
            return
        if self.stopped is not None:
            self._not_archived(len(data))
            return
        stamp = self.clock(received, _steady_seconds())
        record = encode_record(stamp, data)
        self._pending.append((dt_util.as_local(stamp).date(), record, len(data)))
        self._pending_bytes += len(record)
        dropped = 0
        while self._pending_bytes > MAX_PENDING and len(self._pending) > 1:
            # Writes are stuck: keep memory bounded, count what could not be kept.
            _, oldest, size = self._pending.pop(0)
            self._pending_bytes -= len(oldest)
            dropped += size
        if dropped:
            self._not_archived(dropped)
        if self._pending_bytes >= FLUSH_NOW_BYTES:
            self._flush_soon()
        elif self._flush_scheduled is None:
            self._flush_scheduled = async_call_later(self.hass, FLUSH_DELAY, self._scheduled_flush)

    @callback
    def _not_archived(self, size: int) -> None:
        self.bytes_not_archived += size
        if self.on_change is not None:
            self.on_change()

    @callback
    def _scheduled_flush(self, _now: datetime) -> None:
        self._flush_scheduled = None
        self._flush_soon()

    @callback
    def _flush_soon(self) -> None:
        if self._flushing is None or self._flushing.done():
            self._flushing = self.hass.async_create_background_task(
                self.async_flush(), f"{DOMAIN} archive flush"
            )

    async def async_wait_room(self) -> None:
        """Wait while the queue is long (a followed file read faster than the disk writes)."""
        if self._pending_bytes >= BACKPRESSURE_BYTES:
            await self.async_flush()

    async def async_flush(self) -> None:
        """Write what is queued (in the executor)."""
        async with self._write_lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            self._pending_bytes = 0
            try:
                written = await self.hass.async_add_executor_job(self._write, batch)
            except OSError as err:
                written = getattr(err, "written", 0)
                self._stop(err)
            self.written += written
            lost = sum(size for _, _, size in batch[written:])
            if lost:
                self._not_archived(lost)

    async def async_close(self) -> None:
        """Write what is left (at unload)."""
        cancel, self._flush_scheduled = self._flush_scheduled, None
        if cancel is not None:
            cancel()
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
        await self.async_flush()

    @callback
    def _stop(self, err: OSError) -> None:
        """Stop archiving after a failed write; say why, and look again now and then."""
        full = err.errno in (errno.ENOSPC, errno.EDQUOT)
        self._set_stopped(DISK_FULL if full else NOT_WRITABLE, str(err))

    @callback
    def _set_stopped(self, state: str | None, problem: str = "") -> None:
        previous, self.stopped, self.problem = self.stopped, state, problem
        for kind in (DISK_FULL, NOT_WRITABLE):
            if kind != state and kind == previous:
                ir.async_delete_issue(self.hass, DOMAIN, f"archive_{kind}_{self.entry_id}")
        if state is None or state == previous:
            return
        if state == DISK_FULL:
            LOGGER.warning("Disk nearly full: the telegram archive stops until space is freed")
        else:
            LOGGER.warning(
                "The telegram archive in %s cannot be written (%s); it stops until it can",
                self.directory,
                problem,
            )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"archive_{state}_{self.entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=f"archive_{state}",
            translation_placeholders={"directory": str(self.directory), "error": problem},
        )
        if self._watch is None or self._watch.done():
            self._watch = self.hass.async_create_background_task(
                self._async_watch(), f"{DOMAIN} archive disk watch"
            )

    async def _async_watch(self) -> None:
        """While the archive is stopped, look again now and then; go on once it can write."""
        while self.stopped is not None:
            await asyncio.sleep(DISK_CHECK_INTERVAL)
            try:
                full = await self.hass.async_add_executor_job(self._probe)
            except OSError as err:
                self._stop(err)
                continue
            self._set_stopped(DISK_FULL if full else None)

    # --- writing (executor side) ---------------------------------------------------------------

    def _probe(self) -> bool:
        """Whether the disk is too full; OSError when the archive cannot be written."""
        make_private_dirs(self.directory, self.top)
        probe = self.directory / ".probe"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        os.close(fd)
        probe.unlink()
        return shutil.disk_usage(self.directory).free < MIN_FREE_BYTES

    def _write(self, batch: list[tuple[date, bytes, int]]) -> int:
        """Append records to their day's file; how many were written. OSError (with ``written``)
        when a write fails; an ENOSPC one when the disk is nearly full."""
        if not self._ready:
            make_private_dirs(self.directory, self.top)
            self._ready = True
        if shutil.disk_usage(self.directory).free < MIN_FREE_BYTES:
            raise ArchiveWriteError(OSError(errno.ENOSPC, "less than the minimum free space"), 0)
        written = 0
        for day, group in groupby(batch, key=lambda item: item[0]):
            if day != self._day:
                self._day = day
                self._begin_day(day)
            records = [record for _, record, _ in group]
            try:
                written += append_records(self.directory / f"{day.isoformat()}.p1a", records)
            except ArchiveWriteError as err:
                err.written += written
                self._ready = False
                raise
        return written

    def _begin_day(self, today: date) -> None:
        """A new day: compress the finished days, apply the retention."""
        self.finish_days(today)
        self.prune(today)

    def finish_days(self, today: date) -> None:
        """Compress every day's file but ``today``'s (a day's records are appended to its
        compressed file when the clock came back to it)."""
        for path in archive_files(self.directory):
            if path.name.endswith(".p1a") and path.name[:10] != today.isoformat():
                compress_file(path, path.with_name(path.name + ".gz"))
                path.unlink()

    def prune(self, today: date) -> list[Path]:
        """Keep the newest ``retention_days`` days that received data, in the order they were
        written (``today`` is the newest); delete the others' files."""
        files = archive_files(self.directory)
        present = {p.name[:10] for p in files}
        current = today.isoformat()
        order = [d for d in self._read_order() if d in present and d != current]
        order = sorted(present - set(order) - {current}) + order + [current]
        keep = set(order[-self.retention_days :])
        removed = [p for p in files if p.name[:10] not in keep]
        for path in removed:
            path.unlink()
        self._write_order([d for d in order if d in keep])
        return removed

    def _read_order(self) -> list[str]:
        try:
            text = (self.directory / ORDER_FILE).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            return []
        return [line for line in text.split() if len(line) == 10]

    def _write_order(self, days: list[str]) -> None:
        partial = self.directory / f".{ORDER_FILE}.part"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write("\n".join(days) + "\n")
        os.replace(partial, self.directory / ORDER_FILE)

    # --- reading -------------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """The archive's files, oldest first (blocking: call it in the executor)."""
        return archive_files(self.directory)

    def window(self, start: datetime | None, end: datetime | None) -> ArchiveWindow:
        """The archived bytes received between ``start`` and ``end`` (read in the executor)."""
        return ArchiveWindow(self.directory, start, end)

    def diagnostics(self) -> dict[str, Any]:
        """The archive's state for diagnostics."""
        return {
            "enabled": self.enabled,
            "retention_days": self.retention_days,
            "stopped": self.stopped,
            "problem": self.problem or None,
            "records_written": self.written,
            "bytes_not_archived": self.bytes_not_archived,
            "bytes_queued": self._pending_bytes,
        }


class ChunkReader:
    """A file-like ``read()`` over a sequence of chunks (for the converter's stream API)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1, /) -> bytes:
        """The next chunk (whatever its size), b"" at the end."""
        with contextlib.suppress(StopIteration):
            return next(self._chunks)
        return b""
