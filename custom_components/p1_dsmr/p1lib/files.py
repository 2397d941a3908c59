"""The converter's files: logs read safely, outputs written completely or not at all.

* :func:`open_log` opens an input log (see :mod:`.logs`, re-exported here).
* :func:`atomic_outputs` creates each output under a temporary name of its own (exclusively: an
  existing file or a symbolic link planted at that name is never opened or followed), and renames
  them all to their final names when the conversion completes, as a set (a rename that fails puts
  back those done before it); on any failure or interruption it deletes them, and it deletes the
  temporary files a killed run left (:data:`STALE_AFTER`). Signals are held back while files are
  created, renamed or deleted, so an interruption never leaves a temporary file behind.
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
from typing import TYPE_CHECKING

from .logs import COMPRESSED_SUFFIXES, InputError, LogReader, open_log

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


def display_name(path: str | os.PathLike[str]) -> str:
    """``path`` as printable text: bytes of the name that are not UTF-8 appear as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


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
        if name.lower().endswith(COMPRESSED_SUFFIXES) and name.count(".") > 1:
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
