"""The converter's files: logs read safely, outputs written completely or not at all.

* :func:`open_log` opens an input log: a regular file only (a FIFO would block for ever, a device
  such as ``/dev/zero`` never ends, a directory has no bytes), read as it is or, when it is
  compressed with gzip, bzip2 or xz (months of logs often are), decompressed as it is read. A
  ``.zip``, ``.zst`` or ``.7z`` archive is refused with a clear message. A reading or
  decompression error after the start ends the log there: what came before is converted, and the
  problem is reported (:attr:`LogReader.problem`).
* :func:`atomic_outputs` creates each output under a temporary name of its own (exclusively: an
  existing file or a symbolic link planted at that name is never opened or followed), and renames
  them all to their final names when the conversion completes; on any failure or interruption it
  deletes them. Signals are held back while files are created, renamed or deleted, so an
  interruption never leaves a temporary file behind.
* :func:`output_stems` gives every input a stem of its own, so inputs with the same name (in two
  folders, or with two extensions) never overwrite each other's outputs.
* :func:`display_name` is a path as it can be printed and written to a UTF-8 file, whatever bytes
  its name holds.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, cast

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

__all__ = [
    "InputError",
    "LogReader",
    "atomic_outputs",
    "display_name",
    "held_signals",
    "open_log",
    "output_stems",
]

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
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")


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


def display_name(path: str | os.PathLike[str]) -> str:
    """``path`` as printable text: bytes of the name that are not UTF-8 appear as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


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


_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """Hold back SIGINT, SIGTERM and SIGHUP (delivered when the block ends), where the platform can."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    previous = mask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


class _OutputFile(io.FileIO):
    """An output's temporary file; a write error names the output it was for."""

    def __init__(self, fd: int, final: Path) -> None:
        super().__init__(fd, "wb")
        self._final = final

    def write(self, data: ReadableBuffer, /) -> int:
        try:
            return super().write(data)
        except OSError as err:
            if err.filename is None:
                err.filename = str(self._final)
            raise


def _token() -> str:
    """The writing process's id and eight random hex digits (a temporary file's name)."""
    return f"{os.getpid()}-{os.urandom(4).hex()}"


STALE_AFTER = 3600.0
"""Seconds a temporary file of a process that no longer runs stays untouched before a later run
that writes the same output deletes it (a conversion killed with SIGKILL, a machine that lost
power)."""


def _remove_stale(final: Path) -> None:
    """Delete the temporary files of ``final`` that a process which no longer runs left behind
    (regular files named by :func:`_token`, untouched for :data:`STALE_AFTER` seconds)."""
    prefix, now = f".{final.name}.", time.time()
    with contextlib.suppress(OSError), os.scandir(final.parent) as entries:
        for entry in entries:
            name = entry.name
            if not (name.startswith(prefix) and name.endswith(".part")):
                continue
            pid, _, token = name[len(prefix) : -len(".part")].partition("-")
            if not (pid.isdigit() and len(token) == 8 and all(c in _HEX for c in token)):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                old = stat.S_ISREG(info.st_mode) and now - info.st_mtime > STALE_AFTER
                if old and not _runs(int(pid)):
                    os.unlink(entry.path)


_HEX = frozenset("0123456789abcdef")


def _runs(pid: int) -> bool:
    """Whether a process ``pid`` runs (or may: when that cannot be told)."""
    if pid == os.getpid() or os.name != "posix":  # on Windows, os.kill would end it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True  # another user's process, or no way to ask
    return True


def _create(final: Path, mode: int = 0o666) -> tuple[Path, int]:
    """Create a temporary file beside ``final`` exclusively (never through an existing name),
    with ``mode`` (less the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(16):
        temp = final.with_name(f".{final.name}.{_token()}.part")
        try:
            return temp, os.open(temp, flags, mode)
        except FileExistsError:
            continue
        except OSError as err:
            err.filename = str(final)  # the output, not its hidden temporary name
            raise
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(final))


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[Path], mode: int = 0o666) -> Iterator[list[io.FileIO]]:
    """Binary files to write ``paths`` through: renamed to ``paths`` when the block completes,
    deleted when it fails or is interrupted (see the module's description). ``mode``: the files'
    permissions, less the umask (0o600: only the owner reads them)."""
    created: list[tuple[Path, _OutputFile]] = []
    try:
        with held_signals():
            for final in paths:
                _remove_stale(final)
            for final in paths:
                temp, fd = _create(final, mode)
                try:
                    created.append((temp, _OutputFile(fd, final)))
                except BaseException:
                    os.close(fd)
                    os.unlink(temp)
                    raise
        yield [file for _, file in created]
        with held_signals():
            for _, file in created:
                file.close()
            _install([temp for temp, _ in created], paths)
            created.clear()
    finally:
        with held_signals():
            for temp, file in created:
                with contextlib.suppress(OSError):
                    file.close()
                with contextlib.suppress(OSError):
                    temp.unlink()


def _install(temps: Sequence[Path], finals: Sequence[Path]) -> None:
    """Rename each of ``temps`` to its name in ``finals``: all of them, or, when one cannot be,
    none (the outputs already renamed are put back as they were, so a set of outputs is never a
    mix of two runs); raises the failure, its ``filename`` the output's."""
    backups: list[Path | None] = []
    try:
        for temp, final in zip(temps, finals, strict=True):
            backups.append(_backup(final))
            try:
                os.replace(temp, final)
            except OSError as err:
                if err.filename is None or err.filename == str(temp):
                    err.filename = str(final)
                raise
    except BaseException:
        for final, backup in zip(finals, backups[:-1], strict=False):  # the ones renamed
            with contextlib.suppress(OSError):
                if backup is None:
                    os.unlink(final)  # it was new
                elif backup != _KEPT:
                    os.replace(backup, final)
        if backups and backups[-1] not in (None, _KEPT):
            with contextlib.suppress(OSError):
                os.unlink(backups[-1])
        raise
    for backup in backups:
        if backup not in (None, _KEPT):
            with contextlib.suppress(OSError):
                os.unlink(backup)


def _backup(final: Path) -> Path | None:
    """A second name (a hard link) for the file at ``final``, to put it back if the set of
    outputs cannot be completed; None when there is no such file, :data:`_KEPT` when it cannot
    have one (a file system without hard links: then a failure leaves the new output there rather
    than lose both)."""
    if not os.path.lexists(final):
        return None
    for _ in range(16):
        backup = final.with_name(f".{final.name}.{_token()}.part")
        try:
            os.link(final, backup, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError:
            break
        return backup
    return _KEPT


_KEPT = Path()
"""See :func:`_backup`."""


def output_stems(paths: Sequence[Path], out_dir: Path, suffixes: Sequence[str]) -> list[str]:
    """A stem per input for its outputs (``stem + suffix`` in ``out_dir``): the name without its
    extension (and without ``.gz``, ``.bz2``, ``.xz``), made unique among the inputs (``meter``,
    ``meter-2`` ..., compared as a case-insensitive file system would) and never naming an
    input."""
    inputs = []
    for path in paths:
        with contextlib.suppress(OSError):
            inputs.append(path.stat())
    used: set[str] = set()
    stems: list[str] = []
    for path in paths:
        name = path.name
        if name.lower().endswith(_COMPRESSED_SUFFIXES) and name.count(".") > 1:
            name = name.rsplit(".", 1)[0]
        base = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
        base = base or name or "log"
        stem, number = base, 1
        while stem.casefold() in used or _names_an_input(out_dir, stem, suffixes, inputs):
            number += 1
            stem = f"{base}-{number}"
        used.add(stem.casefold())
        stems.append(stem)
    return stems


def _names_an_input(
    out_dir: Path, stem: str, suffixes: Sequence[str], inputs: list[os.stat_result]
) -> bool:
    """Whether an output of ``stem`` would replace one of the inputs."""
    for suffix in suffixes:
        try:
            found = (out_dir / f"{stem}{suffix}").stat()
        except OSError:
            continue
        if any(os.path.samestat(found, known) for known in inputs):
            return True
    return False
