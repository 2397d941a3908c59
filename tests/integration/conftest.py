"""Fixtures for the integration tests: real sources (pseudo-terminal, TCP, files) and a meter."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

from custom_components.p1_dsmr.const import (
    CONF_FILE_MODE,
    CONF_FILE_PATH,
    CONF_LOOP,
    CONF_SOURCE,
    CONF_UPDATE_INTERVAL,
    DOMAIN,
    FILE_MODE_FOLLOW,
    SOURCE_FILE,
)
from custom_components.p1_dsmr.p1lib.generator import MeterSimulator, putty_header
from tests.ha_reports import is_deprecation_report

from .blocking import strict_blocking_calls

HU_ID = "AUX1030302759988"


# Snapshots pin what Home Assistant itself shows of our entities and devices (registry entries,
# states, diagnostics), and that differs between releases: new registry fields, display precisions
# Home Assistant now suggests, syrupy's format. Each release the suite runs on has its own complete
# set, in snapshots/<release>/ beside the test module (e.g. snapshots/2026.11/test_sensor.ambr):
# every field checked on every release, and a diff between two sets shows what a release changed.
HA_RELEASE = f"{MAJOR_VERSION}.{MINOR_VERSION}"


class ReleaseSnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's snapshot format, one directory per Home Assistant release."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(Path(test_location.filepath).parent / "snapshots" / HA_RELEASE)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/p1_dsmr in every test."""


@pytest.fixture(autouse=True)
def no_blocking_calls() -> Iterator[None]:
    """Home Assistant's blocking-call detection: a blocking call in the event loop by this
    integration fails the test (see blocking.py)."""
    with strict_blocking_calls() as found:
        yield
    assert not found, "blocking calls in the event loop:\n" + "\n".join(found)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots in Home Assistant's format, in the set of the running Home Assistant release."""
    return snapshot.use_extension(ReleaseSnapshotExtension)


# Home Assistant reports the use of a deprecated API with a log record, not a Python warning (see
# tests/ha_reports.py): such a record fails the test that caused it, whether it came while the test
# ran or while its fixtures were set up or torn down (unloading an entry, stopping Home Assistant).
# Python deprecation warnings raised from our modules are errors through pyproject's filterwarnings.
class DeprecationReports(logging.Handler):
    """Collects Home Assistant's reports of deprecated calls by p1_dsmr or by a test."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if is_deprecation_report(record.name, record.levelno, record.getMessage()):
            self.reports.append(record.getMessage())


_REPORTS = pytest.StashKey[DeprecationReports]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    handler = item.stash[_REPORTS] = DeprecationReports()
    logging.getLogger().addHandler(handler)
    return (yield)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    try:
        result = yield
    finally:
        handler = item.stash.get(_REPORTS, None)
        if handler is not None:
            logging.getLogger().removeHandler(handler)
    if handler is not None and handler.reports:
        pytest.fail("Home Assistant reported deprecated use:\n" + "\n".join(handler.reports))
    return result


def device_by_identifier(
    hass: HomeAssistant, entry: MockConfigEntry, identifier: str
) -> dr.DeviceEntry | None:
    """The entry's device with ``(DOMAIN, identifier)``, looked up the same way on every release.

    ``DeviceRegistry.async_get_device(identifiers=...)`` is deprecated from 2026.8 (identifiers are
    unique per config entry only); its replacement ``async_get_device_by_identifier`` does not exist
    in 2025.4. Listing the entry's devices works on both.
    """
    registry = dr.async_get(hass)
    matches = [
        device
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
        if (DOMAIN, identifier) in device.identifiers
    ]
    assert len(matches) <= 1, matches
    return matches[0] if matches else None


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Create every entity enabled, also those disabled by default."""
    from unittest.mock import PropertyMock, patch

    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture(autouse=True)
def config_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A configuration directory of each test's own (the archive and exports go there)."""
    path = tmp_path / "config"
    path.mkdir()
    if "hass" in request.fixturenames:
        request.getfixturevalue("hass").config.config_dir = str(path)
    return path


@pytest.fixture(autouse=True)
def fast_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts: the meters in these tests send several telegrams a second."""
    monkeypatch.setattr("custom_components.p1_dsmr.config_flow.TELEGRAM_TIMEOUT", 2.0)
    monkeypatch.setattr("custom_components.p1_dsmr.coordinator.BACKOFF_INITIAL", 0.05)
    monkeypatch.setattr("custom_components.p1_dsmr.coordinator.BACKOFF_MAX", 0.2)
    monkeypatch.setattr("custom_components.p1_dsmr.source.FILE_POLL_INTERVAL", 0.02)


def telegrams(style: str = "hu_sanxing", count: int = 5, seed: int = 1) -> list[bytes]:
    """Telegrams of a simulated meter (valid CRCs)."""
    return list(MeterSimulator(style, seed=seed, solar=True).telegrams(count))


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """A PuTTY log of a Hungarian Sanxing meter."""
    path = tmp_path / "meter.log"
    sim = MeterSimulator("hu_sanxing", seed=1, solar=True)
    path.write_bytes(putty_header(sim.now) + b"".join(sim.telegrams(5)))
    return path


EVERY_TELEGRAM: dict[str, Any] = {CONF_UPDATE_INTERVAL: 0}
"""Options of an entry whose entities follow every telegram (the default paces 1-second meters)."""


def file_config_entry(
    path: Path, unique_id: str, title: str = "meter", options: dict[str, Any] | None = None
) -> MockConfigEntry:
    """A config entry that follows a log file."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=unique_id,
        options=options or {},
        data={
            CONF_SOURCE: SOURCE_FILE,
            CONF_FILE_PATH: str(path),
            CONF_FILE_MODE: FILE_MODE_FOLLOW,
            CONF_LOOP: False,
        },
    )


@pytest.fixture
def file_entry(log_file: Path) -> MockConfigEntry:
    """A config entry that follows the log file."""
    return file_config_entry(log_file, HU_ID, "Sanxing AUX1030302759988")


class PtyMeter:
    """A meter on a pseudo-terminal: a real serial device for pyserial."""

    def __init__(self, payload: list[bytes], interval: float = 0.1, parity_bits: bool = False):
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.payload = payload
        self.interval = interval
        self.parity_bits = parity_bits
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PtyMeter:
        self._thread.start()
        return self

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            data = self.payload[index % len(self.payload)]
            if self.parity_bits:
                data = bytes(b | (0x80 if bin(b).count("1") % 2 else 0) for b in data)
            try:
                os.write(self.master, data)
            except OSError:
                return
            index += 1
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def pty_meter() -> Iterator[PtyMeter]:
    """A Hungarian meter on a pseudo-terminal."""
    meter = PtyMeter(telegrams("hu_sanxing", 20)).start()
    yield meter
    meter.stop()


class TcpMeter:
    """A raw TCP P1 stream on 127.0.0.1 (like ser2net)."""

    def __init__(self, payload: list[bytes], interval: float = 0.05) -> None:
        self.payload = payload
        self.interval = interval
        self.server: asyncio.Server | None = None
        self.port = 0
        self.clients: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self, port: int = 0) -> TcpMeter:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.append(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        index = 0
        try:
            while True:
                writer.write(self.payload[index % len(self.payload)])
                await writer.drain()
                index += 1
                await asyncio.sleep(self.interval)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def drop_clients(self) -> None:
        """Cut every connection (the server keeps listening)."""
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.clients = []

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.drop_clients()
            await self.server.wait_closed()
            self.server = None


@pytest.fixture
async def tcp_meter(socket_enabled: None) -> AsyncIterator[TcpMeter]:
    """A Hungarian meter streaming over TCP on 127.0.0.1."""
    meter = await TcpMeter(telegrams("hu_sanxing", 20)).start()
    yield meter
    await meter.stop()
