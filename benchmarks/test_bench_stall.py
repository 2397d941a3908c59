"""The longest event-loop stall while Home Assistant reads hostile input (run by scripts/bench-stall).

For each kind of input (1 MiB of it by default) and each kind of source (a TCP stream, a serial
port on a pseudo-terminal, a followed log file) a real config entry reads it while a ticker task
measures the longest gap between its 1 ms ticks: how long the event loop was not handed back.
The input is sent from another thread (the sender's work is not the event loop's), as fast as the
source takes it, or paced for the "20x the meter's rate" kind. The ticker's longest gap while the
loop is idle, measured in the same run, is printed as the floor. Target: under 50 ms for every kind.

Environment: P1_STALL_BYTES (default 1048576), P1_STALL_KINDS and P1_STALL_SOURCES (comma lists of
the names below) select a part of the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.p1_dsmr.const import (
    CONF_BAUDRATE,
    CONF_DEVICE,
    CONF_FILE_MODE,
    CONF_FILE_PATH,
    CONF_SOURCE,
    DOMAIN,
    FILE_MODE_FOLLOW,
    SOURCE_FILE,
    SOURCE_NETWORK,
    SOURCE_SERIAL,
)
from custom_components.p1_dsmr.p1lib.faults import inject
from custom_components.p1_dsmr.p1lib.generator import MeterSimulator

SIZE = int(os.environ.get("P1_STALL_BYTES", str(1 << 20)))
RATE_20X = 20.0  # telegrams per second: 20 times a 1 s DSMR 5 meter
TARGET_MS = 50.0


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load the custom integration."""


def _repeat(piece: bytes, size: int) -> bytes:
    return (piece * (size // len(piece) + 1))[:size]


def _telegrams(style: str, size: int, seed: int = 3) -> list[bytes]:
    sim = MeterSimulator(style, seed=seed, solar=True)
    out: list[bytes] = []
    total = 0
    while total < size:
        out.append(sim.telegram())
        total += len(out[-1])
    return out


def _damaged(size: int) -> list[bytes]:
    rng = random.Random(4)
    faults = ("bit_loss", "drop", "insert", "burst", "two_faults", "message", "slash_garbage")
    good = _telegrams("hu_sanxing", size)
    return [t if i % 2 == 0 else inject(t, rng.choice(faults), rng) for i, t in enumerate(good)]


# name -> (payload pieces, seconds between pieces: 0 = all at once)
KINDS: dict[str, Callable[[int], tuple[list[bytes], float]]] = {
    "random bytes": lambda size: ([random.Random(1).randbytes(size)], 0.0),
    "'/'-rich (x/ABC)": lambda size: ([_repeat(b"x/ABC", size)], 0.0),
    "0xFF": lambda size: ([b"\xff" * size], 0.0),
    "NUL": lambda size: ([b"\x00" * size], 0.0),
    "'!' at line starts": lambda size: ([_repeat(b"\n!", size)], 0.0),
    "headers at line starts": lambda size: ([_repeat(b"/ABC5\r\n", size)], 0.0),
    "damaged telegrams": lambda size: ([b"".join(_damaged(size))], 0.0),
    "valid telegrams, burst": lambda size: ([b"".join(_telegrams("nl_dsmr5", size))], 0.0),
    "valid telegrams, 20x rate": lambda size: (_telegrams("nl_dsmr5", size), 1 / RATE_20X),
}
SOURCES = ("tcp", "serial", "file")


def _selected(names: tuple[str, ...] | list[str], variable: str) -> list[str]:
    wanted = os.environ.get(variable)
    if not wanted:
        return list(names)
    keys = [w.strip().lower() for w in wanted.split(",")]
    return [n for n in names if any(k in n.lower() for k in keys)]


class GcPauses:
    """Garbage collections while measuring: the interpreter stops every thread for them, whoever
    allocated; full ones (generation 2) take longer the more objects the process holds."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.full: list[tuple[float, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._started = now
            return
        self.worst = max(self.worst, now - self._started)
        if info["generation"] == 2:
            self.full.append((self._started, now))


class Ticker:
    """Ticks every millisecond in the event loop; the longest gap between two ticks is a stall.

    ``cpu`` is the longest gap counted in the event loop thread's own CPU time: the work that held
    the loop, without the time the operating system gave other processes (on a shared machine)."""

    def __init__(self) -> None:
        self.gaps: list[tuple[float, float]] = []
        self.cpu = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.monotonic()
        last_cpu = time.thread_time()
        while True:
            await asyncio.sleep(0.001)
            now, cpu = time.monotonic(), time.thread_time()
            if now - last > 0.002:
                self.gaps.append((last, now))
                self.cpu = max(self.cpu, cpu - last_cpu)
            last, last_cpu = now, cpu

    def start(self) -> None:
        self.gaps = []
        self.cpu = 0.0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> float:
        """The longest gap (s)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.worst()

    def worst(self, excluding: list[tuple[float, float]] = ()) -> float:  # type: ignore[assignment]
        """The longest gap, leaving out gaps during any of ``excluding``."""
        gaps = [(a, b) for a, b in self.gaps if not any(s < b and a < e for s, e in excluding)]
        return max((b - a - 0.001 for a, b in gaps), default=0.0)


class Sender:
    """Sends ``first`` now and then (a serial port drops what came before it was opened), then the
    payload once ``go`` is set, from a thread."""

    def __init__(
        self, write: Callable[[bytes], None], first: bytes, pieces: list[bytes], pause: float
    ) -> None:
        self.write = write
        self.first = first
        self.pieces = pieces
        self.pause = pause
        self.quiet = threading.Event()
        self.go = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self.quiet.wait(0.3):
                self.write(self.first)
            self.go.wait()
            for piece in self.pieces:
                for start in range(0, len(piece), 1 << 16):
                    self.write(piece[start : start + (1 << 16)])
                if self.pause:
                    time.sleep(self.pause)
        except OSError:
            pass

    def join(self) -> None:
        self.quiet.set()
        self.go.set()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def source(
    kind: str, tmp_path: Path, first: bytes, pieces: list[bytes], pause: float
) -> Iterator[tuple[dict[str, object], Sender]]:
    """The entry data of a source that sends ``first`` at once, then the payload on ``go``."""
    if kind == "file":
        path = tmp_path / "meter.log"
        path.write_bytes(b"")

        def append(data: bytes) -> None:
            with path.open("ab") as handle:
                handle.write(data)

        sender = Sender(append, first, pieces, pause)
        try:
            yield (
                {
                    CONF_SOURCE: SOURCE_FILE,
                    CONF_FILE_PATH: str(path),
                    CONF_FILE_MODE: FILE_MODE_FOLLOW,
                },
                sender,
            )
        finally:
            sender.join()
    elif kind == "serial":
        master, slave = os.openpty()
        sender = Sender(lambda data: _write_all(master, data), first, pieces, pause)
        try:
            yield (
                {CONF_SOURCE: SOURCE_SERIAL, CONF_DEVICE: os.ttyname(slave), CONF_BAUDRATE: 115200},
                sender,
            )
        finally:
            sender.join()
            for fd in (master, slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
    else:
        server = socket.create_server(("127.0.0.1", 0))
        port = server.getsockname()[1]
        clients: list[socket.socket] = []

        def accept() -> None:
            with contextlib.suppress(OSError):
                client, _ = server.accept()
                clients.append(client)

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()

        def send(data: bytes) -> None:
            while not clients:
                time.sleep(0.01)
            clients[0].sendall(data)

        sender = Sender(send, first, pieces, pause)
        try:
            yield {CONF_SOURCE: SOURCE_NETWORK, CONF_HOST: "127.0.0.1", CONF_PORT: port}, sender
        finally:
            sender.join()
            for sock in (*clients, server):
                with contextlib.suppress(OSError):
                    sock.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def _measure(
    hass: HomeAssistant, tmp_path: Path, source_kind: str, kind: str, index: int
) -> tuple[float, float, float, float, float, float]:
    """(idle floor ms, worst stall ms, seconds to read everything, longest garbage collection ms,
    worst stall outside full collections ms, worst stall in loop CPU time ms) for one kind and
    source."""
    pieces, pause = KINDS[kind](SIZE)
    first = _telegrams("nl_dsmr5", 1, seed=9)[0]
    directory = tmp_path / f"{source_kind}-{index}"
    directory.mkdir()
    with source(source_kind, directory, first, pieces, pause) as (data, sender):
        entry = MockConfigEntry(domain=DOMAIN, unique_id=f"E00440073822460{index:02d}", data=data)
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        coordinator = entry.runtime_data
        framer = coordinator.decoder.framer
        async with asyncio.timeout(30):
            while framer.bytes_in < len(first):
                await asyncio.sleep(0.01)
        sender.quiet.set()
        await hass.async_block_till_done()
        ticker = Ticker()
        ticker.start()
        await asyncio.sleep(0.7)  # the idle floor; and whatever was on its way arrives
        floor = await ticker.stop()
        target = framer.bytes_in + sum(len(p) for p in pieces)
        pauses = GcPauses()
        gc.callbacks.append(pauses)
        ticker.start()
        started = time.perf_counter()
        sender.go.set()
        try:
            async with asyncio.timeout(900):
                while framer.bytes_in < target:
                    await asyncio.sleep(0.01)
            drained = time.perf_counter() - started
            await hass.async_block_till_done()
            worst = await ticker.stop()
            own = ticker.worst(excluding=pauses.full)
        finally:
            gc.callbacks.remove(pauses)
        # Removed, not only unloaded: its entities leave the registry, whose save (in the event
        # loop, about 50-70 ms for the 2,000 entities of 27 meters) would otherwise be measured.
        assert (await hass.config_entries.async_remove(entry.entry_id))["require_restart"] is False
        await hass.async_block_till_done()
    return 1000 * floor, 1000 * worst, drained, 1000 * pauses.worst, 1000 * own, 1000 * ticker.cpu


async def test_event_loop_stalls(hass: HomeAssistant, tmp_path: Path, socket_enabled: None) -> None:
    hass.config.config_dir = str(tmp_path)
    asyncio.get_running_loop().set_debug(False)  # as Home Assistant runs (the test harness debugs)
    kinds = _selected(tuple(KINDS), "P1_STALL_KINDS")
    sources = _selected(SOURCES, "P1_STALL_SOURCES")
    results: dict[tuple[str, str], tuple[float, float, float, float, float, float]] = {}
    index = 0
    for kind in kinds:
        for source_kind in sources:
            index += 1
            results[kind, source_kind] = await _measure(hass, tmp_path, source_kind, kind, index)
    width = 27
    print(f"\nlongest event-loop stall, {SIZE // 1024} KiB per kind (target < {TARGET_MS:g} ms);")
    print("in brackets: the longest stall counted in the loop thread's CPU time (the work that")
    print("held the loop, not the time this shared machine gave other processes), then the seconds")
    print("until every byte was read; last column: the longest garbage collection of the row (full")
    print("collections stop every thread, whoever allocated)")
    print(f"{'input':{width}}" + "".join(f"{s:>30}" for s in sources) + f"{'longest GC':>12}")
    worst_overall = worst_cpu = worst_own = 0.0
    for kind in kinds:
        cells = []
        for source_kind in sources:
            _, worst, drained, _, own, cpu = results[kind, source_kind]
            worst_overall = max(worst_overall, worst)
            worst_own = max(worst_own, own)
            worst_cpu = max(worst_cpu, cpu)
            cells.append(f"{worst:7.1f} ms ({cpu:5.1f} ms, {drained:5.1f} s)")
        collected = max(results[kind, s][3] for s in sources)
        print(f"{kind:{width}}" + "".join(f"{c:>30}" for c in cells) + f"{collected:9.1f} ms")
    floor = max(r[0] for r in results.values())
    print(f"{'idle floor (worst)':{width}}" + f"{floor:10.1f} ms")
    started = time.perf_counter()
    gc.collect()
    print(
        f"a full garbage collection of this process ({len(gc.get_objects())} objects) takes "
        f"{1000 * (time.perf_counter() - started):.0f} ms"
    )
    verdict = "within" if worst_overall < TARGET_MS else "ABOVE"
    print(f"worst stall {worst_overall:.1f} ms ({verdict} the target); in loop CPU time ", end="")
    print(f"{worst_cpu:.1f} ms; outside full garbage collections {worst_own:.1f} ms")
