"""Sources on their own: the edge cases of files and streams."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.p1_dsmr.source import (
    FileSource,
    NetworkSource,
    SourceError,
    SourceMissing,
    _clock,
    create_source,
)

from .conftest import EVERY_TELEGRAM, telegrams
from .test_init import state, wait_for
from .test_sensor import setup_file

DOMAIN_LOGGER = "custom_components.p1_dsmr"


async def test_read_before_open() -> None:
    with pytest.raises(SourceError, match="not open"):
        await NetworkSource("127.0.0.1", 1).read()


async def test_directory_is_not_a_file(hass: HomeAssistant, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a file"):
        await FileSource(hass, str(tmp_path)).open()


async def test_follow_a_file_without_a_complete_telegram(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    data = telegrams("nl_dsmr5", 1)[0]
    path = tmp_path / "m.log"
    path.write_bytes(data[:100])
    source = FileSource(hass, str(path), poll_interval=0.01)
    await source.open()
    assert source.take_history() == b""
    with path.open("ab") as handle:
        handle.write(data[100:])
    assert await source.read() == data[100:]
    await source.close()


async def test_poll_interval_is_read_when_polling(hass: HomeAssistant, tmp_path: Path) -> None:
    # The fast_timing fixture shortens source.FILE_POLL_INTERVAL after the module was imported.
    path = tmp_path / "m.log"
    path.write_bytes(b"")
    source = FileSource(hass, str(path))
    assert source.poll_interval == 0.02
    await source.open()
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await hass.async_add_executor_job(path.write_bytes, b"data")

    with patch("custom_components.p1_dsmr.source.asyncio.sleep", fake_sleep):
        assert await source.read() == b"data"
    assert sleeps == [0.02]
    await source.close()


async def follow(hass: HomeAssistant, path: Path) -> FileSource:
    source = FileSource(hass, str(path), poll_interval=0.01)
    await source.open()
    return source


async def test_copytruncate_rewritten_past_its_old_size(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    # logrotate's copytruncate: the file is emptied and written again, longer than it was,
    # between two looks at it.
    data = telegrams("nl_dsmr5", 4)
    path = tmp_path / "m.log"
    path.write_bytes(b"junk\r\n")
    source = await follow(hass, path)
    with path.open("ab") as handle:
        handle.write(data[0])
    assert await source.read() == data[0]
    inode = path.stat().st_ino
    with path.open("r+b") as handle:
        handle.truncate(0)
        handle.write(data[1] + data[2])
    assert path.stat().st_ino == inode
    assert await source.read() == data[1] + data[2]  # from its start, nothing skipped
    await source.close()


async def test_rotated_by_rename_and_create(hass: HomeAssistant, tmp_path: Path) -> None:
    # A telegram written just before the file is renamed away is read, then the new file.
    data = telegrams("nl_dsmr5", 4)
    path = tmp_path / "m.log"
    path.write_bytes(data[0])
    source = await follow(hass, path)
    assert source.take_history() == data[0]
    with path.open("ab") as handle:
        handle.write(data[1])
    path.rename(tmp_path / "m.log.1")
    path.write_bytes(data[2])
    assert await source.read() == data[1]
    assert await source.read() == data[2]
    with path.open("ab") as handle:
        handle.write(data[3])
    assert await source.read() == data[3]
    # Renamed away, and the new file is not there yet: the source is lost; once it is there, it
    # is read from its start.
    path.rename(tmp_path / "m.log.2")
    with pytest.raises(SourceMissing):
        await source.read()
    await source.close()
    path.write_bytes(data[0] + data[1])
    await source.open()
    assert source.take_history() == b""
    assert await source.read() == data[0] + data[1]
    await source.close()


async def test_reopened_source_goes_on_where_it_stopped(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    data = telegrams("nl_dsmr5", 4)
    path = tmp_path / "m.log"
    path.write_bytes(b"junk\r\n")
    source = await follow(hass, path)
    with path.open("ab") as handle:
        handle.write(data[0])
    assert await source.read() == data[0]
    await source.close()
    await source.open()  # after a lost source: nothing is fed twice
    with path.open("ab") as handle:
        handle.write(data[1])
    assert await source.read() == data[1]
    await source.close()
    with path.open("ab") as handle:
        handle.write(data[2])  # while it was closed
    await source.open()
    assert await source.read() == data[2]
    await source.close()
    path.unlink()  # gone while closed, then a new file: all of it is new
    path.write_bytes(data[3])
    await source.open()
    assert source.take_history() == b""
    assert await source.read() == data[3]
    await source.close()


async def test_newest_telegram_is_history_once(hass: HomeAssistant, tmp_path: Path) -> None:
    data = telegrams("nl_dsmr5", 2)
    path = tmp_path / "m.log"
    path.write_bytes(data[0] + data[1][:50])
    source = await follow(hass, path)
    assert source.take_history() == data[0]
    assert source.take_history() == b""
    with path.open("ab") as handle:
        handle.write(data[1][50:])
    assert await source.read() == data[1]  # the telegram being written is new: all of it
    await source.close()


POWER = "sensor.electricity_meter_power_import"


async def followed(
    hass: HomeAssistant, tmp_path: Path, count: int
) -> tuple[list[bytes], Path, MockConfigEntry]:
    """``count`` Dutch telegrams, the first in a followed log, its entry set up."""
    data = telegrams("nl_dsmr5", count)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    return data, path, await setup_file(hass, path, "E0044007382246019", EVERY_TELEGRAM)


async def test_file_replaced_by_a_directory(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data, path, entry = await followed(hass, tmp_path, 3)
    path.unlink()
    path.mkdir()
    await wait_for(hass, lambda: state(hass, POWER) == STATE_UNAVAILABLE)
    # Seen while followed, or (when the follower saw the file vanish before the directory came)
    # as the file gone; the reconnections then meet the directory (next test).
    assert "is no longer a file" in caplog.text or "disappeared" in caplog.text
    assert "Unexpected error" not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith(DOMAIN_LOGGER) and r.exc_info]
    path.rmdir()
    path.write_bytes(data[1])
    await wait_for(hass, lambda: state(hass, POWER) not in (None, STATE_UNAVAILABLE))
    assert entry.runtime_data.decoder.stats.valid == 2
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_file_gone_then_a_directory_in_its_place(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data, path, entry = await followed(hass, tmp_path, 2)
    caplog.set_level(logging.DEBUG, logger=DOMAIN_LOGGER)
    path.unlink()
    await wait_for(hass, lambda: "disappeared" in caplog.text)
    path.mkdir()
    await wait_for(hass, lambda: "is not a file" in caplog.text)
    assert caplog.text.count("Lost file") == 1  # one warning per outage
    assert state(hass, POWER) == STATE_UNAVAILABLE
    assert "Unexpected error" not in caplog.text
    path.rmdir()
    path.write_bytes(data[1])
    await wait_for(hass, lambda: state(hass, POWER) not in (None, STATE_UNAVAILABLE))
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_read_errors_are_source_errors(hass: HomeAssistant, tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    path.write_bytes(b"")
    source = await follow(hass, path)
    path.unlink()
    with pytest.raises(SourceMissing):
        await source.read()
    await source.close()
    with pytest.raises(SourceError, match="not open"):
        await hass.async_add_executor_job(source._read_appended)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(SourceError):
        await FileSource(hass, str(tmp_path / "fifo")).open()


async def test_replay_without_clock_paces_at_one_second(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    body = b"/ISk5\\2MT382-1004\r\n\r\n1-0:1.8.1(00001.001*kWh)\r\n!\r\n"
    path = tmp_path / "m.log"
    path.write_bytes(body * 2)
    source = FileSource(hass, str(path), replay=True)
    await source.open()
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    with patch("custom_components.p1_dsmr.source.asyncio.sleep", fake_sleep):
        assert await source.read() == body
        assert await source.read() == body
    assert sleeps == [1.0]
    await source.close()


def test_clock() -> None:
    assert _clock(b"0-0:1.0.0(230502215010S)") - _clock(b"0-0:1.0.0(230502215000S)") == 10  # type: ignore[operator]
    assert _clock(b"no clock") is None


def test_unknown_source(hass: HomeAssistant) -> None:
    with pytest.raises(ValueError, match="unknown source"):
        create_source(hass, {"source": "carrier pigeon"})
