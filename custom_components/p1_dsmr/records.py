"""The archive's files: records that are found again after any damage (no Home Assistant here).

A record is ``P1A2``, the receive time (int64, microseconds since the epoch, UTC), the length of the
data (uint32), a CRC32 of those 16 bytes, the data as received, and a CRC32 of the 16 bytes and the
data (a record torn in its last bytes checks out only in the rare case that they equal the first
bytes of the next record: the reader then finds the next marker inside it). A record is
appended with one ``write`` (repeated only when the kernel writes less), so a crash, a full disk or
a power cut tears at most the records being written. A reader checks the header before it trusts
the length, and after anything that is not an intact record (a torn write, zeros after a power
cut, garbage) it looks for the next ``P1A`` marker and goes on: every intact record is read,
wherever it is. Records of the first format (``P1A1``: one CRC32 over time, length and data) are
read too.

Files are created 0600 in 0700 directories: energy data shows when people are at home.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

MAGIC = b"P1A2"
_V1 = b"P1A1"
_MARK = b"P1A"
_HEADER = struct.Struct("<4sqII")  # magic, micros, length, CRC32 of magic + micros + length
_V1_HEADER = struct.Struct("<4sqI")  # magic, micros, length (then data, CRC32 of micros..data)
_CRC = struct.Struct("<I")
MAX_RECORD = 16 << 20
"""Longest data a record may hold (a reader distrusts a longer length; writers stay far below)."""
_BLOCK = 1 << 20
FILE_MODE = 0o600
DIR_MODE = 0o700


def encode_record(received: datetime, data: bytes) -> bytes:
    """One archive record."""
    micros = int(received.timestamp() * 1_000_000)
    head = struct.pack("<4sqI", MAGIC, micros, len(data))
    head_crc = zlib.crc32(head)
    return head + _CRC.pack(head_crc) + data + _CRC.pack(zlib.crc32(data, head_crc))


def make_private_dirs(directory: Path, top: Path) -> None:
    """Create ``directory`` and the folders from ``top`` down to it, each 0700 (``top`` is
    ``directory`` or one of its parents; the folders above it are not ours to change)."""
    chain = [directory, *directory.parents]
    top.parent.mkdir(parents=True, exist_ok=True)
    for path in reversed(chain[: chain.index(top) + 1]):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=DIR_MODE)
        if path.stat().st_mode & 0o777 != DIR_MODE:
            path.chmod(DIR_MODE)


def append_records(path: Path, records: list[bytes]) -> int:
    """Append records to ``path`` (created 0600); how many were written whole.

    Raises :class:`ArchiveWriteError` (an OSError) when a write fails, with how many were written
    whole before it; the record being written may be torn (the reader skips it).
    """
    done = 0
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    except OSError as err:
        raise ArchiveWriteError(err, 0) from err
    try:
        if os.fstat(fd).st_mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)  # an archive written by an older version
        for record in records:
            view = memoryview(record)
            while view:
                view = view[os.write(fd, view) :]
            done += 1
    except OSError as err:
        raise ArchiveWriteError(err, done) from err
    finally:
        os.close(fd)
    return done


class ArchiveWriteError(OSError):
    """A write to the archive failed after ``written`` whole records."""

    def __init__(self, error: OSError, written: int) -> None:
        super().__init__(error.errno, error.strerror or str(error), error.filename)
        self.written = written


def compress_file(path: Path, target: Path) -> None:
    """Write ``path`` gzip-compressed to ``target`` (0600), completely or not at all; when
    ``target`` exists, ``path`` is added to it as one more gzip member."""
    partial = target.with_name(target.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as raw:
            with contextlib.suppress(FileNotFoundError), target.open("rb") as earlier:
                while block := earlier.read(_BLOCK):
                    raw.write(block)
            with (
                gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw) as sink,
                path.open("rb") as source,
            ):
                while block := source.read(_BLOCK):
                    sink.write(block)
            raw.flush()
            os.fsync(raw.fileno())  # on disk before the uncompressed day goes
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Gunzip:
    """A gzip file's bytes, as far as they can be decompressed: a compressed file cut short (a
    crash while a finished day was compressed) gives every byte before the cut."""

    def __init__(self, raw: _Readable) -> None:
        self.raw = raw
        self.inflate = zlib.decompressobj(wbits=31)
        self.ended = False
        self.truncated = False

    def read(self, size: int = -1, /) -> bytes:
        while not self.ended:
            compressed = self.raw.read(_BLOCK)
            if not compressed:
                self.ended = True
                self.truncated = not self.inflate.eof
                return self.inflate.flush() if not self.inflate.eof else b""
            out = b""
            try:
                while compressed:
                    if self.inflate.eof:  # another gzip member
                        self.inflate = zlib.decompressobj(wbits=31)
                    out += self.inflate.decompress(compressed)
                    compressed = self.inflate.unused_data if self.inflate.eof else b""
            except zlib.error:  # what decompressed before the damage is kept
                self.ended = self.truncated = True
            if out:
                return out
        return b""


class _Reader:
    """A window on a file's bytes from ``pos``; offsets below are relative to ``pos``."""

    def __init__(self, handle: _Readable) -> None:
        self.handle = handle
        self.buf = bytearray()
        self.pos = 0
        self.at_end = False

    def ensure(self, needed: int) -> bool:
        """At least ``needed`` bytes from ``pos`` (False: the file ends before)."""
        buf = self.buf
        while len(buf) - self.pos < needed and not self.at_end:
            if self.pos > _BLOCK:
                del buf[: self.pos]
                self.pos = 0
            block = self.handle.read(_BLOCK)
            if not block:
                self.at_end = True
            buf += block
        return len(buf) - self.pos >= needed

    def take(self, start: int, end: int) -> bytes:
        return bytes(self.buf[self.pos + start : self.pos + end])

    def next_marker(self) -> int:
        """Offset of the next ``P1A`` after the first byte, or of the end."""
        offset = 1
        while True:
            found = self.buf.find(_MARK, self.pos + offset)
            if found >= 0:
                return found - self.pos
            offset = max(len(self.buf) - self.pos - len(_MARK) + 1, offset)
            if self.at_end:
                return len(self.buf) - self.pos
            self.ensure(len(self.buf) - self.pos + _BLOCK)

    def record(self) -> tuple[datetime, bytes, int] | None:
        """The intact record at ``pos`` (time, data, its size), or None."""
        if not self.ensure(_V1_HEADER.size):
            return None
        head = self.take(0, _HEADER.size)
        if head[:4] == MAGIC and len(head) == _HEADER.size:
            _, micros, length, head_crc = _HEADER.unpack(head)
            if zlib.crc32(head[:16]) != head_crc or length > MAX_RECORD:
                return None
            start = _HEADER.size
            size = start + length + _CRC.size
            if not self.ensure(size):
                return None
            data = self.take(start, start + length)
            checked, seed = data, head_crc
        elif head[:4] == _V1:
            _, micros, length = _V1_HEADER.unpack(head[: _V1_HEADER.size])
            if length > MAX_RECORD:
                return None
            start = _V1_HEADER.size
            size = start + length + _CRC.size
            if not self.ensure(size):
                return None
            data = self.take(start, start + length)
            checked, seed = self.take(4, start) + data, 0
        else:
            return None
        (crc,) = _CRC.unpack(self.take(size - _CRC.size, size))
        if zlib.crc32(checked, seed) != crc:
            return None
        try:
            received = datetime.fromtimestamp(micros / 1_000_000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return received, data, size


def iter_records(path: Path, damage: list[int]) -> Iterator[tuple[datetime, bytes]]:
    """The intact records of one file, streamed, wherever they are; each stretch of bytes that is
    not an intact record (a torn record, zeros, garbage, a compressed file cut short) adds one to
    ``damage[0]``."""
    with path.open("rb") as raw:
        handle: _Readable = _Gunzip(raw) if path.name.endswith(".gz") else raw
        reader = _Reader(handle)
        damaged = False  # inside a damaged stretch (counted once)
        while reader.ensure(1):
            record = reader.record()
            if record is None:
                if not damaged:
                    damage[0] += 1
                    damaged = True
                reader.pos += reader.next_marker()
                continue
            damaged = False
            received, data, size = record
            reader.ensure(size + len(_MARK))
            after = reader.take(size, size + len(_MARK))
            if after and not _MARK.startswith(after):
                # A record torn in its last bytes checks out when they equal the first bytes of
                # the next record (by chance): the next marker then begins inside it.
                for back in range(1, len(_MARK) + 1):
                    if reader.take(size - back, size - back + len(_MARK)) == _MARK:
                        size -= back
                        break
            reader.pos += size
            yield received, data
        if isinstance(handle, _Gunzip) and handle.truncated and not damaged:
            damage[0] += 1


def read_records(path: Path) -> tuple[list[tuple[datetime, bytes]], int]:
    """All intact records of one file, and how many damaged stretches it has."""
    damage = [0]
    records = list(iter_records(path, damage))
    return records, damage[0]
