"""Byte sources: a serial port, a raw TCP stream, or a log file (followed or replayed).

A source only moves bytes; framing, verification, repair and parsing are the library's. Blocking
work (file reads, serial port setup) never runs in the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

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
from .p1lib.framing import Frame, Framer

try:
    from termios import error as TermiosError
except ImportError:  # pragma: no cover - not on POSIX
    TermiosError = OSError  # type: ignore[assignment,misc]

CHUNK = 4096
FOLLOW_TAIL = 64 * 1024  # bytes read back from the end of a followed file to find its last telegram
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
    """Seconds of silence after which the source counts as lost (None: never)."""

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

    *Follow* (the default) works like ``tail -f``: the newest complete telegram already in the file
    first, then every byte appended; a file that is truncated or replaced is read again from its
    start. *Replay* plays a finished log at the meter's pace (the telegrams' own timestamps),
    optionally in a loop, for demonstrations.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        path: str,
        replay: bool = False,
        loop: bool = False,
        poll_interval: float = FILE_POLL_INTERVAL,
    ) -> None:
        self.hass = hass
        self.path = Path(path)
        self.replay = replay
        self.loop = loop
        self.poll_interval = poll_interval
        self._position = 0
        self._inode: int | None = None
        self._pending: list[bytes] = []
        self._replay_time: float | None = None
        self._replaying = False
        self.watchdog = None

    @property
    def description(self) -> str:
        return f"file {self.path} ({'replay' if self.replay else 'follow'})"

    async def open(self) -> None:
        try:
            self._pending, self._position, self._inode = await self.hass.async_add_executor_job(
                self._open_blocking
            )
        except FileNotFoundError as err:
            raise SourceMissing(f"{self.path} does not exist") from err
        except OSError as err:
            raise SourceError(f"cannot read {self.path}: {err}") from err
        self.finished = False
        self._replay_time = None
        self._replaying = False

    def _open_blocking(self) -> tuple[list[bytes], int, int]:
        stat = self.path.stat()
        if not self.path.is_file():
            raise IsADirectoryError(f"{self.path} is not a file")
        if self.replay:
            return [], 0, stat.st_ino
        with self.path.open("rb") as handle:
            start = max(0, stat.st_size - FOLLOW_TAIL)
            handle.seek(start)
            tail = handle.read()
        framer = Framer()
        frames = [f for f in framer.feed(tail) if f.complete and f.has_header]
        if not frames:
            return [], stat.st_size, stat.st_ino
        last = frames[-1]
        end = last.end_offset
        return [tail[last.offset : end] + b"\r\n"], start + end, stat.st_ino

    async def read(self) -> bytes:
        if self._pending:
            return self._pending.pop(0)
        if self.replay:
            return await self._read_replay()
        while True:
            data = await self.hass.async_add_executor_job(self._read_appended)
            if data:
                return data
            await asyncio.sleep(self.poll_interval)

    def _read_appended(self) -> bytes:
        try:
            stat = self.path.stat()
        except FileNotFoundError as err:
            raise SourceMissing(f"{self.path} disappeared") from err
        if stat.st_ino != self._inode or stat.st_size < self._position:
            self._inode = stat.st_ino  # replaced or truncated: start again from its beginning
            self._position = 0
        if stat.st_size == self._position:
            return b""
        with self.path.open("rb") as handle:
            handle.seek(self._position)
            data = handle.read(1 << 20)
        self._position += len(data)
        return data

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
        end = frames[0].end_offset
        while end < len(data) and data[end] in b"\r\n":
            end += 1
        self._position += end
        return data[:end], _clock(frames[0].data)

    async def close(self) -> None:
        self._pending = []


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
