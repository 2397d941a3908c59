"""Input logs, read safely: :func:`open_log` and the :class:`LogReader` it returns.

:func:`open_log` opens an input log: a regular file only (a FIFO would block for ever, a device
such as ``/dev/zero`` never ends, a directory has no bytes), read as it is or, when it is
compressed with gzip, bzip2 or xz (months of logs often are; also compressed twice), decompressed
as it is read. A ``.zip``, ``.zst`` or ``.7z`` archive is refused with a clear message. Damaged or
truncated data ends the log there: what came before is read, and the problem is reported
(:attr:`LogReader.problem`) with the bytes of the log read and the byte of the file where the data
broke. A log that merely begins with a compression's magic bytes (line noise) is read as it is.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, cast

__all__ = ["COMPRESSED_SUFFIXES", "InputError", "LogReader", "open_log"]

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
}
_ARCHIVES = {
    b"PK\x03\x04": ("zip archive", (".zip",), "extract the log first"),
    b"(\xb5/\xfd": ("zstd", (".zst", ".zstd"), "decompress it first (zstd -d)"),
    b"7z\xbc\xaf'\x1c": ("7-Zip archive", (".7z",), "extract the log first"),
}
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")
"""Suffixes of compressed logs (``meter.log.gz``)."""


class _Stream(Protocol):
    """A binary stream to read from."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; b"" at the end."""
        ...

    def read1(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes from one read of the underlying file; b"" at the end."""
        ...

    def close(self) -> None:
        """Close it."""
        ...


class InputError(OSError):
    """An input log that cannot be read (``filename`` is its path)."""


class LogReader:
    """An open input log: :meth:`read` gives its bytes (decompressed when it is compressed)."""

    def __init__(
        self,
        path: Path,
        raw: BinaryIO,
        packed: _Stream | None = None,
        compression: str = "",
        first: bytes = b"",
        *,
        errors: tuple[type[Exception], ...] = (OSError,),
        inner: Sequence[_Stream] = (),
        problem: str = "",
    ) -> None:
        self.path = path
        self.compression = compression
        """``gzip``, ``bzip2``, ``xz`` (``bzip2 (in gzip)`` ... when compressed twice), or "" for
        a plain log."""
        self.problem = problem
        """Why reading stopped before the end (damaged or truncated compressed data, a failing
        disk), "" when the whole log was read. It says how many bytes of the log were read, and
        for a compressed log within how many bytes of the file the damage lies."""
        self._raw = raw
        self._packed = packed
        self._inner = inner
        self._errors = errors
        self._pending = first
        self._read = 0

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; b"" at the end, or where the log could not be read further.

        Compressed data is decompressed a block at a time, so a damaged or truncated file gives
        everything before the damage."""
        if self.problem:
            return b""
        parts = [self._pending]
        total = len(self._pending)
        self._pending = b""
        try:
            packed = self._packed
            if packed is None:
                parts.append(self._raw.read(size - total if size >= 0 else -1))
            else:
                while size < 0 or total < size:
                    piece = packed.read1(size - total if size >= 0 else 1 << 16)
                    if not piece:
                        break
                    parts.append(piece)
                    total += len(piece)
        except self._errors as err:
            self.problem = _unreadable(
                self.compression, err, self._read + sum(map(len, parts)), self._raw
            )
        data = b"".join(parts)
        self._read += len(data)
        return data

    def close(self) -> None:
        """Close the file."""
        try:
            for stream in (self._packed, *reversed(self._inner)):
                if stream is not None:
                    with contextlib.suppress(*self._errors):
                        stream.close()
        finally:
            self._raw.close()

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unreadable(compression: str, err: BaseException, read: int, raw: BinaryIO) -> str:
    """Why a log could not be read past ``read`` bytes (see :attr:`LogReader.problem`)."""
    at = -1
    with contextlib.suppress(OSError, ValueError):
        at = raw.tell()
    if isinstance(err, EOFError):
        reason = "it ends early (a truncated file)"
        if at >= 0:
            reason = f"it ends early, at byte {at} of the file (a truncated file)"
    else:
        reason = str(err) or type(err).__name__
        if compression and at >= 0:
            reason = f"damaged at or before byte {at} of the file ({reason})"
    what = f"the {compression} data" if compression else "the log"
    return f"{what} could not be read after {read} bytes: {reason}"


class _Small:
    """A file read at most :data:`_PIECE` bytes at a time, so that where its decompressor stops on
    damage (its ``tell``) is known to within that many bytes."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw

    def read(self, size: int = -1, /) -> bytes:
        return self._raw.read(_PIECE if size < 0 else min(size, _PIECE))


_PIECE = 4096


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "it is a directory"
    if stat.S_ISFIFO(mode):
        return "it is a FIFO (a pipe), not a file: save the log to a file first"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "it is a device, not a file: capture the meter to a file first"
    if stat.S_ISSOCK(mode):
        return "it is a socket, not a file"
    return "it is not a regular file"


def open_log(path: Path) -> LogReader:
    """Open an input log for :meth:`LogReader.read` (see the module's description).

    Raises :class:`InputError` when it cannot be read: missing, not permitted, not a regular file,
    an archive, or compressed with a method this Python lacks.
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
    # Opening a FIFO for reading blocks until a writer comes: open without waiting, then look.
    flags |= getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        reason = err.strerror
        with contextlib.suppress(OSError):  # a socket cannot even be opened: say what it is
            mode = os.stat(path).st_mode
            if not stat.S_ISREG(mode):
                reason = _kind(mode)
        raise InputError(err.errno, reason, str(path)) from err
    raw: BinaryIO | None = None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(errno.EINVAL, _kind(mode), str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        raw = io.FileIO(fd, "rb")
        head = raw.read(8)
        raw.seek(0)
        return _reader(path, raw, head)
    except BaseException:
        if raw is not None:
            raw.close()
        else:
            os.close(fd)
        raise


def _reader(path: Path, raw: io.FileIO, head: bytes) -> LogReader:
    """A reader of ``raw``, decompressing it when ``head`` says it is compressed (twice, when
    the decompressed data is itself compressed)."""
    suffix = path.suffix.lower()
    for magic, (what, suffixes, advice) in _ARCHIVES.items():
        if head.startswith(magic) and suffix in suffixes:
            raise InputError(errno.EINVAL, f"it is compressed ({what}): {advice}", str(path))
    methods: list[str] = []
    streams: list[_Stream] = []
    while len(methods) < _NESTED and (method := _method(head)):
        trial = [*methods, method]
        errors = _errors(trial)
        try:
            streams, head = _open_chain(path, trial, raw)
        except errors as err:
            if isinstance(err, EOFError) or (not methods and suffix == _SUFFIXES[method]):
                # Compressed data that ends before its first byte of log (a truncated file), or
                # a file named as compressed that is damaged from the start.
                return LogReader(
                    path,
                    raw,
                    compression=_name(trial),
                    errors=errors,
                    problem=_unreadable(_name(trial), err, 0, raw),
                )
            # Not compressed data: a log (or, inside, a decompressed log) that happens to begin
            # with those bytes (line noise). Read what came before as the log.
            streams, head = _open_chain(path, methods, raw) if methods else ([], b"")
            break
        methods = trial
    if not methods:
        raw.seek(0)
        return LogReader(path, raw)
    return LogReader(
        path,
        raw,
        streams[-1],
        _name(methods),
        head,
        errors=_errors(methods),
        inner=streams[:-1],
    )


_NESTED = 3
"""How many times a log may be compressed (a ``.gz`` of a ``.gz``...)."""
_SUFFIXES = {"gzip": ".gz", "bzip2": ".bz2", "xz": ".xz"}


def _method(head: bytes) -> str:
    """The compression ``head`` begins with, or ""."""
    for magic, method in _MAGIC.items():
        if head.startswith(magic):
            return method
    return ""


def _name(methods: Sequence[str]) -> str:
    """``gzip``, or ``bzip2 (in gzip)`` for a bzip2 log compressed again with gzip."""
    return methods[-1] + "".join(f" (in {method})" for method in reversed(methods[:-1]))


def _errors(methods: Sequence[str]) -> tuple[type[Exception], ...]:
    """What reading data compressed with ``methods`` raises when the data is damaged."""
    errors: list[type[Exception]] = [OSError, EOFError, ValueError]
    if "gzip" in methods:
        import zlib

        errors.append(zlib.error)
    if "xz" in methods:
        with contextlib.suppress(ImportError):
            import lzma

            errors.append(lzma.LZMAError)
    return tuple(errors)


def _open_chain(path: Path, methods: Sequence[str], raw: io.FileIO) -> tuple[list[_Stream], bytes]:
    """Decompressors of ``raw`` for ``methods`` (outermost first) from its start, and the first
    bytes of the log they give. Raises :class:`InputError` for a method this Python lacks, or what
    the decompressors raise for damaged data (having closed them)."""
    raw.seek(0)
    streams: list[_Stream] = []
    source: BinaryIO | _Stream = cast("BinaryIO", _Small(raw))
    try:
        for method in methods:
            try:
                source = _decompressing(method, source)
            except ImportError as err:
                raise InputError(
                    errno.EINVAL,
                    f"it is compressed with {method}, which this Python cannot decompress ({err})",
                    str(path),
                ) from err
            streams.append(source)
        return streams, streams[-1].read(16)
    except BaseException:
        for stream in reversed(streams):
            with contextlib.suppress(Exception):
                stream.close()
        raise


def _decompressing(method: str, source: BinaryIO | _Stream) -> _Stream:
    raw = cast("BinaryIO", source)  # a decompressor only calls read()
    if method == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")
    if method == "bzip2":
        import bz2

        return bz2.BZ2File(raw, "rb")
    import lzma

    return lzma.LZMAFile(raw, "rb")
