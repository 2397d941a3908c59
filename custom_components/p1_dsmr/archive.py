"""The telegram archive: every byte received, with its receive time, in daily files.

Layout: ``<config>/p1_dsmr/archive/<entry_id>/YYYY-MM-DD.p1a`` for today, ``.p1a.gz`` for finished
days (compressed at the first write of a new day), files older than the retention deleted.

A file is a sequence of records, each ``P1A1`` + receive time (int64, microseconds since the epoch,
UTC) + length (uint32) + the bytes as received + CRC32 of time, length and bytes. A record is
appended with one write; a reader stops at the first record that is incomplete or fails its CRC, so
an interrupted write (power loss, full disk) loses at most the record being written.

All file work runs in the executor; the event loop only appends chunks to a bounded buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER

MAGIC = b"P1A1"
_HEADER = struct.Struct("<4sqI")
_CRC = struct.Struct("<I")
FLUSH_DELAY = 1.0  # s: chunks are written at most this long after they arrived
MAX_PENDING = 1 << 20  # bytes buffered while a write is slow; beyond it the oldest are dropped
MIN_FREE_BYTES = 200 * 1024 * 1024  # stop archiving below this much free space
DISK_CHECK_INTERVAL = 60.0  # s between free-space checks


def encode_record(received: datetime, data: bytes) -> bytes:
    """One archive record."""
    micros = int(received.timestamp() * 1_000_000)
    header = _HEADER.pack(MAGIC, micros, len(data))
    return header + data + _CRC.pack(zlib.crc32(header[4:] + data))


def iter_records(path: Path, torn: list[int]) -> Iterator[tuple[datetime, bytes]]:
    """The intact records of one file, streamed; a torn end is counted in ``torn[0]``."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            while header := handle.read(_HEADER.size):
                if len(header) < _HEADER.size:
                    torn[0] += 1
                    return
                magic, micros, length = _HEADER.unpack(header)
                rest = handle.read(length + _CRC.size) if magic == MAGIC else b""
                if magic != MAGIC or len(rest) < length + _CRC.size:
                    torn[0] += 1
                    return
                data = rest[:length]
                (crc,) = _CRC.unpack(rest[length:])
                if zlib.crc32(header[4:] + data) != crc:
                    torn[0] += 1
                    return
                yield datetime.fromtimestamp(micros / 1_000_000, dt_util.UTC), data
    except (OSError, EOFError):  # a compressed file cut short: what was readable was yielded
        torn[0] += 1


def read_records(path: Path) -> tuple[list[tuple[datetime, bytes]], int]:
    """All intact records of one file, and how many torn ones ended it (0 or 1)."""
    torn = [0]
    records = list(iter_records(path, torn))
    return records, torn[0]


class ArchiveWindow:
    """The archived bytes received between two times, streamed file by file (constant memory)."""

    def __init__(self, files: list[Path], start: datetime | None, end: datetime | None) -> None:
        self.files = files
        self.start = start
        self.end = end
        self.torn = 0

    def __iter__(self) -> Iterator[bytes]:
        counter = [0]
        for path in self.files:
            for when, data in iter_records(path, counter):
                if (self.start is None or when >= self.start) and (
                    self.end is None or when <= self.end
                ):
                    yield data
        self.torn = counter[0]


class Archive:
    """Keeps everything the coordinator receives, for exports and for replay."""

    def __init__(self, hass: HomeAssistant, entry_id: str, retention_days: int) -> None:
        self.hass = hass
        self.entry_id = entry_id
        self.directory = Path(hass.config.path(DOMAIN, "archive", entry_id))
        self.retention_days = retention_days
        self.enabled = retention_days > 0
        self._pending: list[tuple[date, bytes]] = []
        self._pending_bytes = 0
        self._flush_scheduled: object = None
        self._day: date | None = None
        self._disk_full = False
        self._write_lock = asyncio.Lock()  # one writer at a time: records stay in order
        self._watch: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0

    # --- writing (event loop side) -------------------------------------------------------------

    @callback
    def add(self, data: bytes, received: datetime) -> None:
        """Queue received bytes; they are written within about a second."""
        if not self.enabled or self._disk_full:
            return
        record = encode_record(received, data)
        self._pending.append((dt_util.as_local(received).date(), record))
        self._pending_bytes += len(record)
        while self._pending_bytes > MAX_PENDING and len(self._pending) > 1:
            # Writes are stuck: keep memory bounded, count what could not be kept.
            self._pending_bytes -= len(self._pending.pop(0)[1])
            self.dropped += 1
        if self._flush_scheduled is None:
            self._flush_scheduled = async_call_later(self.hass, FLUSH_DELAY, self._scheduled_flush)

    @callback
    def _scheduled_flush(self, _now: datetime) -> None:
        self._flush_scheduled = None
        self.hass.async_create_background_task(self.async_flush(), f"{DOMAIN} archive flush")

    async def async_flush(self) -> None:
        """Write what is queued (in the executor)."""
        async with self._write_lock:
            if not self._pending:
                return
            records, self._pending = self._pending, []
            self._pending_bytes = 0
            try:
                full = await self.hass.async_add_executor_job(self._write, records)
            except OSError as err:
                LOGGER.warning("Cannot write the telegram archive in %s: %s", self.directory, err)
                full = True
            self._set_disk_full(full)

    async def async_close(self) -> None:
        """Write what is left (at unload)."""
        cancel = self._flush_scheduled
        if callable(cancel):
            cancel()
        self._flush_scheduled = None
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
        await self.async_flush()

    @callback
    def _set_disk_full(self, full: bool) -> None:
        issue_id = f"archive_disk_full_{self.entry_id}"
        was_full, self._disk_full = self._disk_full, full
        if full and not was_full:
            LOGGER.warning("Disk nearly full: the telegram archive stops until space is freed")
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="archive_disk_full",
                translation_placeholders={"directory": str(self.directory)},
            )
            self._watch = self.hass.async_create_background_task(
                self._async_watch_disk(), f"{DOMAIN} archive disk watch"
            )
        elif not full and was_full:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)

    async def _async_watch_disk(self) -> None:
        """While the disk is full, look again now and then; archive again once there is room."""
        import asyncio

        while self._disk_full:
            await asyncio.sleep(DISK_CHECK_INTERVAL)
            room = await self.hass.async_add_executor_job(self._has_room)
            if room:
                self._set_disk_full(False)

    # --- writing (executor side) ---------------------------------------------------------------

    def _has_room(self) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.directory).free >= MIN_FREE_BYTES

    def _write(self, records: list[tuple[date, bytes]]) -> bool:
        """Append records to their day's file; True when the disk is too full to go on."""
        if not self._has_room():
            return True
        fd: int | None = None
        try:
            for day, record in records:
                if self._day != day or fd is None:
                    if fd is not None:
                        os.close(fd)
                    if self._day != day:
                        self._day = day
                        self._finish_days(day)
                        self.prune(day)
                    path = self.directory / f"{day.isoformat()}.p1a"
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.write(fd, record)  # one write per record: a crash tears at most this one
                self.written += 1
        finally:
            if fd is not None:
                os.close(fd)
        return False

    def _finish_days(self, today: date) -> None:
        """Compress every finished day's file."""
        for path in sorted(self.directory.glob("*.p1a")):
            if path.stem >= today.isoformat():
                continue
            target = path.with_name(path.name + ".gz")
            partial = path.with_name(path.name + ".gz.part")
            with path.open("rb") as source, gzip.open(partial, "wb") as sink:
                shutil.copyfileobj(source, sink)
            os.replace(partial, target)
            path.unlink()

    def prune(self, today: date) -> list[Path]:
        """Delete days older than the retention."""
        removed = []
        oldest = (today - timedelta(days=self.retention_days - 1)).isoformat()
        for path in sorted(self.directory.glob("*.p1a*")):
            if path.name[:10] < oldest and not path.name.endswith(".part"):
                path.unlink()
                removed.append(path)
        return removed

    # --- reading -------------------------------------------------------------------------------

    def files(self) -> list[Path]:
        """The archive's files, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.endswith((".p1a", ".p1a.gz")))

    def window(self, start: datetime | None, end: datetime | None) -> ArchiveWindow:
        """The archived bytes received between ``start`` and ``end`` (read in the executor)."""
        first_day = dt_util.as_local(start).date().isoformat() if start else ""
        last_day = dt_util.as_local(end).date().isoformat() if end else "9999"
        files = [p for p in self.files() if first_day <= p.name[:10] <= last_day]
        return ArchiveWindow(files, start, end)


class ChunkReader:
    """A file-like ``read()`` over a sequence of chunks (for the converter's stream API)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks

    def read(self, size: int = -1, /) -> bytes:
        """The next chunk (whatever its size), b"" at the end."""
        with contextlib.suppress(StopIteration):
            return next(self._chunks)
        return b""
