"""Byte sources: a serial port, a raw TCP stream, or a log file (followed or replayed).

A source only moves bytes; framing, verification, repair and parsing are the library's. Blocking
work (file reads, serial port setup) never runs in the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import stat
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO, Any

import serial_asyncio_fast
from homeassistant.core import HomeAssistant

from .const import (
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_DEVICE,
    CONF_FILE_MODE,
    CONF_FILE_PATH,
    CONF_LOOP,
    CONF_PARITY,
    CONF_SOURCE,
    FILE_MODE_REPLAY,
    FILE_POLL_INTERVAL,
    SOURCE_FILE,
    SOURCE_NETWORK,
    SOURCE_SERIAL,
    WATCHDOG_TIMEOUT,
)
from .p1lib.dlms import FrameScanner, GcmFrame
from .p1lib.framing import Frame, Framer

try:
    from termios import error as TermiosError
except ImportError:  # pragma: no cover - not on POSIX
    TermiosError = OSError  # type: ignore[assignment,misc]

CHUNK = 4096
FOLLOW_TAIL = 64 * 1024  # bytes read back from the end of a followed file to find its last telegram
FOLLOW_READ = 1 << 20  # bytes read from a followed file at a time
FINGERPRINT = 64  # bytes before the read position that tell a file rewritten in place
_TIMESTAMP = re.compile(rb"0-0:1\.0\.0\((\d{12})[SW]\)")


class SourceError(ConnectionError):
    """The source cannot be opened or was lost."""


class SourceMissing(SourceError):
    """The device or file does not exist (a serial adapter unplugged, a log file gone)."""


class P1Source(ABC):
    """Where telegram bytes come from."""

    finished = False
    """A replay that has played its log to the end: silence is expected, not a lost source."""
    watchdog: float | None = WATCHDOG_TIMEOUT
    """Seconds without an accepted telegram after which the source counts as lost (None: never)."""
    backpressure = False
    """The source can wait while the archive catches up (a file), a stream cannot."""

    @property
    @abstractmethod
    def description(self) -> str:
        """Where the bytes come from, for logs and diagnostics."""

    @abstractmethod
    async def open(self) -> None:
        """Open the source; raises :class:`SourceError`."""

    @abstractmethod
    async def read(self) -> bytes:
        """The next bytes; raises :class:`SourceError` when the source is lost."""

    @abstractmethod
    async def close(self) -> None:
        """Close the source (idempotent)."""

    def take_history(self) -> bytes:
        """Bytes received before the source was opened, to show but not to archive again (the
        newest telegram already in a followed file); empty once taken."""
        return b""


class StreamSource(P1Source):
    """A serial port or a TCP connection: an asyncio stream."""

    def __init__(self) -> None:
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def read(self) -> bytes:
        if self._reader is None:
            raise SourceError(f"{self.description} is not open")
        try:
            data = await self._reader.read(CHUNK)
        except OSError as err:
            raise SourceError(f"{self.description}: {err}") from err
        if not data:
            raise SourceError(f"{self.description} closed the connection")
        return data

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()


class SerialSource(StreamSource):
    """A serial port (USB P1 cable), opened with pyserial-asyncio-fast."""

    def __init__(self, device: str, baudrate: int = 115200, bytesize: int = 8, parity: str = "N"):
        super().__init__()
        self.device = device
        self.baudrate = baudrate
        self.bytesize = bytesize
        self.parity = parity

    @property
    def description(self) -> str:
        return f"serial port {self.device} ({self.baudrate} {self.bytesize}{self.parity}1)"

    async def open(self) -> None:
        try:
            self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                url=self.device,
                baudrate=self.baudrate,
                bytesize=self.bytesize,
                parity=self.parity,
                stopbits=1,
            )
        except (OSError, ValueError, TermiosError) as err:  # SerialException is an OSError
            if not os.path.exists(self.device):
                raise SourceMissing(f"{self.device} does not exist") from err
            raise SourceError(f"cannot open {self.device}: {err}") from err


class NetworkSource(StreamSource):
    """A raw TCP P1 stream (ser2net, Ethernet or Wi-Fi P1 dongles)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.timeout = timeout

    @property
    def description(self) -> str:
        return f"{self.host}:{self.port}"

    async def open(self) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        except (OSError, TimeoutError) as err:
            raise SourceError(f"cannot connect to {self.description}: {err}") from err


class FileSource(P1Source):
    """A P1 log file (silence is normal: a file only grows while something writes it).

    *Follow* (the default) works like ``tail -F``: the newest complete telegram already in the file
    first (shown, not archived: it was received before), then every byte appended. The file is
    followed by its descriptor: a file renamed away (rotated) is read to its end before the new
    file at the path is read from its start; a file truncated or rewritten in place (logrotate's
    copytruncate) is read again from its start; after a lost source is reopened, reading goes on
    where it stopped, nothing is fed twice. *Replay* plays a finished log at the meter's pace (the
    telegrams' own timestamps), optionally in a loop, for demonstrations.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        path: str,
        replay: bool = False,
        loop: bool = False,
        poll_interval: float | None = None,
    ) -> None:
        self.hass = hass
        self.path = Path(path)
        self.replay = replay
        self.loop = loop
        self._poll_interval = poll_interval
        self._position = 0
        self._identity: tuple[int, int] | None = None  # (device, inode) of the followed file
        self._handle: IO[bytes] | None = None
        self._fingerprint = b""  # the bytes just before _position
        self._history = b""
        self._replay_time: float | None = None
        self._replaying = False
        self.watchdog = None
        self.backpressure = True

    @property
    def poll_interval(self) -> float:
        """Seconds between looks at a followed file (read when used, so tests can shorten it)."""
        return FILE_POLL_INTERVAL if self._poll_interval is None else self._poll_interval

    @property
    def description(self) -> str:
        return f"file {self.path} ({'replay' if self.replay else 'follow'})"

    async def open(self) -> None:
        try:
            await self.hass.async_add_executor_job(self._open_blocking)
        except FileNotFoundError as err:
            raise SourceMissing(f"{self.path} does not exist") from err
        except IsADirectoryError as err:
            raise SourceError(f"{self.path} is not a file") from err
        except OSError as err:
            raise SourceError(f"cannot read {self.path}: {err}") from err
        self.finished = False
        self._replay_time = None
        self._replaying = False

    def take_history(self) -> bytes:
        history, self._history = self._history, b""
        return history

    def _open_blocking(self) -> None:
        handle = _open_regular(self.path)
        try:
            info = os.fstat(handle.fileno())
            identity = (info.st_dev, info.st_ino)
            if self.replay:
                handle.close()
                self._identity = identity
                return
            if self._identity is None:
                self._history, self._position = _newest_telegram(handle, info.st_size)
                self._fingerprint = _fingerprint(handle, self._position)
            else:
                self._history = b""  # shown once, at the first open
                if identity != self._identity or not self._unchanged(handle, info.st_size):
                    self._position, self._fingerprint = 0, b""  # another file: all of it is new
        except BaseException:
            handle.close()
            raise
        self._close_handle()
        self._handle, self._identity = handle, identity

    def _unchanged(self, handle: IO[bytes], size: int) -> bool:
        """Whether the file still holds what was read from it (not truncated or rewritten)."""
        return size >= self._position and _fingerprint(handle, self._position) == self._fingerprint

    async def read(self) -> bytes:
        if self.replay:
            return await self._read_replay()
        while True:
            data = await self.hass.async_add_executor_job(self._read_appended)
            if data:
                return data
            await asyncio.sleep(self.poll_interval)

    def _read_appended(self) -> bytes:
        handle = self._handle
        if handle is None:
            raise SourceError(f"{self.description} is not open")
        try:
            size = os.fstat(handle.fileno()).st_size
            if not self._unchanged(handle, size):
                self._position, self._fingerprint = 0, b""  # truncated or rewritten in place
            if size > self._position:
                handle.seek(self._position)
                data = handle.read(FOLLOW_READ)
                self._position += len(data)
                self._fingerprint = (self._fingerprint + data)[-FINGERPRINT:]
                return data
            # The followed file is read to its end: is there another file at the path now?
            info = self.path.stat()
        except FileNotFoundError as err:
            raise SourceMissing(f"{self.path} disappeared") from err
        except OSError as err:
            raise SourceError(f"cannot read {self.path}: {err}") from err
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(f"{self.path} is no longer a file")
        if (info.st_dev, info.st_ino) != self._identity:
            # Rotated (renamed away and created again): the new file from its start.
            self._position, self._fingerprint = 0, b""
            self._close_handle()
            try:
                handle = _open_regular(self.path)
            except OSError as err:
                raise SourceError(f"cannot read {self.path}: {err}") from err
            info = os.fstat(handle.fileno())
            self._handle, self._identity = handle, (info.st_dev, info.st_ino)
        return b""

    async def _read_replay(self) -> bytes:
        while self.finished:
            # A finished replay without loop stays quiet (the entities keep their last values).
            await asyncio.sleep(3600)
        telegram, stamp = await self.hass.async_add_executor_job(self._next_telegram)
        if not telegram and self.loop:
            self._position = 0
            telegram, stamp = await self.hass.async_add_executor_job(self._next_telegram)
        if not telegram:
            self.finished = True
            return b""
        if self._replaying:
            # The meter's own pace: the time between the telegrams' clocks (1 s without clocks).
            delay = 1.0
            if stamp is not None and self._replay_time is not None:
                delay = min(max(stamp - self._replay_time, 0.0), 60.0)
            await asyncio.sleep(delay)
        self._replaying = True
        self._replay_time = stamp
        return telegram

    def _next_telegram(self) -> tuple[bytes, float | None]:
        """The bytes from the current position through the end of the next telegram."""
        framer = Framer()
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._position)
                frames: list[Frame] = []
                while not frames:
                    chunk = handle.read(CHUNK)
                    frames = [f for f in framer.feed(chunk) if f.complete] if chunk else []
                    if not chunk:
                        frames = [f for f in framer.flush() if f.complete]
                        break
                if not frames:
                    self._position += framer.bytes_in
                    return b"", None
                handle.seek(self._position)
                data = handle.read(frames[0].end_offset + 2)
        except FileNotFoundError as err:
            raise SourceMissing(f"{self.path} disappeared") from err
        except OSError as err:
            raise SourceError(f"cannot read {self.path}: {err}") from err
        end = frames[0].end_offset
        while end < len(data) and data[end] in b"\r\n":
            end += 1
        self._position += end
        return data[:end], _clock(frames[0].data)

    def _close_handle(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()

    async def close(self) -> None:
        """Close the file; where reading stopped is kept, for a reopen."""
        if self._handle is not None:
            await self.hass.async_add_executor_job(self._close_handle)


def _open_regular(path: Path) -> IO[bytes]:
    """``path`` opened for reading; IsADirectoryError unless it is a regular file (never waits:
    a FIFO would block an open until something writes to it)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
    return os.fdopen(fd, "rb")


def _newest_telegram(handle: IO[bytes], size: int) -> tuple[bytes, int]:
    """The newest complete telegram (or encrypted frame) near the end of a file (with its line end
    when there is one), and the offset just past it (where following starts: what comes after is
    read as new)."""
    start = max(0, size - FOLLOW_TAIL)
    handle.seek(start)
    tail = handle.read(size - start)
    frames = [f for f in Framer().feed(tail) if f.complete and f.has_header]
    # An encrypted meter's log: its newest frame, when that is newer than any plain telegram.
    scanner = FrameScanner()
    sealed = [f for f in scanner.feed(tail) + scanner.flush() if type(f) is GcmFrame and f.complete]
    if sealed and (not frames or sealed[-1].offset >= frames[-1].end_offset):
        return sealed[-1].data, start + sealed[-1].end_offset
    if not frames:
        return b"", size
    last = frames[-1]
    end = last.end_offset
    if tail[end : end + 2] == b"\r\n":
        end += 2
    return tail[last.offset : end], start + end


def _fingerprint(handle: IO[bytes], position: int) -> bytes:
    """The bytes just before ``position``."""
    start = max(0, position - FINGERPRINT)
    handle.seek(start)
    return handle.read(position - start)


def _clock(data: bytes) -> float | None:
    """Seconds of the meter's clock (for pacing a replay)."""
    match = _TIMESTAMP.search(data)
    if match is None:
        return None
    text = match.group(1)
    days = int(text[4:6]) + 31 * int(text[2:4]) + 372 * int(text[0:2])
    return ((days * 24 + int(text[6:8])) * 60 + int(text[8:10])) * 60 + int(text[10:12])


def create_source(hass: HomeAssistant, data: dict[str, Any]) -> P1Source:
    """The source a config entry describes."""
    kind = data[CONF_SOURCE]
    if kind == SOURCE_SERIAL:
        return SerialSource(
            data[CONF_DEVICE],
            data.get(CONF_BAUDRATE, 115200),
            data.get(CONF_BYTESIZE, 8),
            data.get(CONF_PARITY, "N"),
        )
    if kind == SOURCE_NETWORK:
        return NetworkSource(data["host"], int(data["port"]))
    if kind == SOURCE_FILE:
        return FileSource(
            hass,
            data[CONF_FILE_PATH],
            replay=data.get(CONF_FILE_MODE) == FILE_MODE_REPLAY,
            loop=bool(data.get(CONF_LOOP, False)),
        )
    raise ValueError(f"unknown source {kind!r}")
