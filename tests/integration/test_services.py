"""The export action and the telegram archive behind it."""

from __future__ import annotations

import asyncio
import csv
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.p1_dsmr.const import DOMAIN

from .conftest import HU_ID, telegrams
from .test_init import wait_for
from .test_sensor import setup_file


async def live_entry(hass: HomeAssistant, tmp_path: Path, count: int = 6) -> MockConfigEntry:
    """An entry following a file with one telegram (shown, not archived: it was received before
    the entry started), then ``count`` telegrams appended (archived)."""
    data = telegrams("hu_sanxing", count + 1)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, HU_ID)
    with path.open("ab") as handle:
        handle.write(b"".join(data[1:]))
    coordinator = entry.runtime_data
    await wait_for(hass, lambda: coordinator.decoder.stats.telegrams >= count + 1)
    return entry


async def export(hass: HomeAssistant, **data: object) -> dict:  # type: ignore[type-arg]
    return await hass.services.async_call(  # type: ignore[return-value]
        DOMAIN, "export", data, blocking=True, return_response=True
    )


async def test_export_from_a_live_entry(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path)
    result = await export(
        hass, config_entry_id=entry.entry_id, delimiter=";", decimal=",", include_repaired_log=True
    )
    assert result["telegrams"] == result["valid"] == 6
    files = result["files"]
    assert set(files) == {"records", "validity", "errors", "repaired"}
    assert Path(files["records"]).parent == Path(hass.config.path(DOMAIN, "exports"))
    with open(files["records"], encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert len(rows) == 6
    assert "," in rows[0]["voltage_l1_v"]
    assert Path(files["repaired"]).read_bytes() == b"".join(telegrams("hu_sanxing", 7)[1:])
    assert result["torn_records"] == 0
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_export_names_carry_no_identifier(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path, 2)
    result = await export(hass, config_entry_id=entry.entry_id)
    for path in result["files"].values():
        name = Path(path).name
        assert HU_ID not in name
        assert "9902759988" not in name
        assert name.startswith(f"p1_dsmr_{entry.entry_id.lower()}_")
    assert result["bytes_not_archived"] == 0
    assert result["archive_stopped"] is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_time_windows(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path)
    now = dt_util.utcnow()
    everything = await export(hass, config_entry_id=entry.entry_id, start=now - timedelta(hours=1))
    assert everything["telegrams"] == 6
    with pytest.raises(ServiceValidationError) as error:
        await export(hass, config_entry_id=entry.entry_id, end=now - timedelta(hours=1))
    assert error.value.translation_key == "empty_window"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_errors(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path, 2)
    now = dt_util.utcnow()
    cases = [
        ({"config_entry_id": "nope"}, "entry_not_loaded"),
        (
            {"config_entry_id": entry.entry_id, "start": now, "end": now - timedelta(hours=1)},
            "start_after_end",
        ),
        ({"config_entry_id": entry.entry_id, "directory": "/etc"}, "directory_not_allowed"),
        ({"config_entry_id": entry.entry_id, "directory": "relative/dir"}, "directory_not_allowed"),
    ]
    for data, key in cases:
        with pytest.raises(ServiceValidationError) as error:
            await export(hass, **data)
        assert error.value.translation_key == key
    assert await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(ServiceValidationError) as error:
        await export(hass, config_entry_id=entry.entry_id)
    assert error.value.translation_key == "entry_not_loaded"


async def test_allowed_directory(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path, 2)
    target = tmp_path / "exports"
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    result = await export(hass, config_entry_id=entry.entry_id, directory=str(target))
    assert Path(result["files"]["records"]).parent == target
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_full_disk_leaves_no_partial_file(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path, 2)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    with (
        patch("custom_components.p1_dsmr.p1lib.export.RecordsWriter.write", full),
        pytest.raises(HomeAssistantError) as error,
    ):
        await export(hass, config_entry_id=entry.entry_id)
    assert error.value.translation_key == "disk_full"
    exports = Path(hass.config.path(DOMAIN, "exports"))
    assert not exports.exists() or list(exports.iterdir()) == []
    with (
        patch(
            "custom_components.p1_dsmr.p1lib.export.RecordsWriter.write",
            side_effect=OSError(5, "I/O error"),
        ),
        pytest.raises(HomeAssistantError) as error,
    ):
        await export(hass, config_entry_id=entry.entry_id)
    assert error.value.translation_key == "export_failed"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_two_exports_at_once(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path, 3)
    first, second = await asyncio.gather(
        export(hass, config_entry_id=entry.entry_id),
        export(hass, config_entry_id=entry.entry_id),
    )
    assert first["telegrams"] == second["telegrams"] == 3
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_no_archive(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path, 2)
    hass.config_entries.async_update_entry(entry, options={"archive_days": 0})
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as error:
        await export(hass, config_entry_id=entry.entry_id)
    assert error.value.translation_key == "no_archive"
    assert await hass.config_entries.async_unload(entry.entry_id)
