"""The export action and the telegram archive behind it."""

from __future__ import annotations

import asyncio
import csv
import gzip
from datetime import date, timedelta
from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.p1_dsmr.archive import Archive, encode_record, read_records
from custom_components.p1_dsmr.const import DOMAIN

from .conftest import HU_ID, telegrams
from .test_init import wait_for
from .test_sensor import setup_file


async def live_entry(hass: HomeAssistant, tmp_path: Path, count: int = 6) -> MockConfigEntry:
    data = telegrams("hu_sanxing", count)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, HU_ID)
    with path.open("ab") as handle:
        handle.write(b"".join(data[1:]))
    coordinator = entry.runtime_data
    await wait_for(hass, lambda: coordinator.decoder.stats.telegrams >= count)
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
    assert Path(files["repaired"]).read_bytes() == b"".join(telegrams("hu_sanxing", 6))
    assert result["torn_records"] == 0
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


def test_torn_last_record(tmp_path: Path) -> None:
    now = dt_util.utcnow()
    path = tmp_path / "2026-11-26.p1a"
    good = encode_record(now, b"/AUX5 first")
    path.write_bytes(good + encode_record(now, b"second")[:-3])
    records, torn = read_records(path)
    assert [data for _, data in records] == [b"/AUX5 first"]
    assert torn == 1
    path.write_bytes(good + b"X" * 30)
    assert read_records(path)[1] == 1
    path.write_bytes(good[:-1] + b"\x00")  # damaged CRC
    assert read_records(path) == ([], 1)
    path.write_bytes(good + good[:5])
    assert read_records(path)[1] == 1
    gz = tmp_path / "2026-11-25.p1a.gz"
    gz.write_bytes(gzip.compress(good + good)[:-10])  # a compressed file cut short
    assert read_records(gz)[1] == 1


async def test_retention_and_compression(hass: HomeAssistant, tmp_path: Path) -> None:
    archive = Archive(hass, "entry", retention_days=3)
    archive.directory.mkdir(parents=True)
    today = date(2026, 11, 26)
    for days in range(6):
        day = today - timedelta(days=days)
        (archive.directory / f"{day.isoformat()}.p1a").write_bytes(
            encode_record(dt_util.utcnow(), b"x")
        )
    await hass.async_add_executor_job(archive._finish_days, today)
    removed = await hass.async_add_executor_job(archive.prune, today)
    names = sorted(p.name for p in archive.files())
    assert names == ["2026-11-24.p1a.gz", "2026-11-25.p1a.gz", "2026-11-26.p1a"]
    assert len(removed) == 3
    records, torn = read_records(archive.directory / "2026-11-25.p1a.gz")
    assert (len(records), torn) == (1, 0)


async def test_disk_guard(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path, 2)
    archive = entry.runtime_data.archive
    assert archive is not None
    issues = ir.async_get(hass)
    with (
        patch("custom_components.p1_dsmr.archive.shutil.disk_usage") as usage,
        patch("custom_components.p1_dsmr.archive.DISK_CHECK_INTERVAL", 0.05),
    ):
        usage.return_value = type("Usage", (), {"free": 0})()
        entry.runtime_data.feed(telegrams("hu_sanxing", 7)[6])
        await archive.async_flush()
        assert issues.async_get_issue(DOMAIN, f"archive_disk_full_{entry.entry_id}") is not None
        written = archive.written
        entry.runtime_data.feed(b"more")
        await archive.async_flush()
        assert archive.written == written  # nothing written while the disk is full
        usage.return_value = type("Usage", (), {"free": 10**12})()
        await wait_for(
            hass,
            lambda: issues.async_get_issue(DOMAIN, f"archive_disk_full_{entry.entry_id}") is None,
        )
    assert await hass.config_entries.async_unload(entry.entry_id)
