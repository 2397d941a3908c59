"""Sources on their own: the edge cases of files and streams."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant

from custom_components.p1_dsmr.source import (
    FileSource,
    NetworkSource,
    SourceError,
    _clock,
    create_source,
)

from .conftest import telegrams


async def test_read_before_open() -> None:
    with pytest.raises(SourceError, match="not open"):
        await NetworkSource("127.0.0.1", 1).read()


async def test_directory_is_not_a_file(hass: HomeAssistant, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        await FileSource(hass, str(tmp_path)).open()


async def test_follow_a_file_without_a_complete_telegram(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    data = telegrams("nl_dsmr5", 1)[0]
    path = tmp_path / "m.log"
    path.write_bytes(data[:100])
    source = FileSource(hass, str(path), poll_interval=0.01)
    await source.open()
    with path.open("ab") as handle:
        handle.write(data[100:])
    assert await source.read() == data[100:]
    await source.close()


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
