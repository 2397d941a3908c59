"""The ``p1_dsmr.export`` action: the converter's files from a live meter's archive."""

from __future__ import annotations

import errno
import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from .archive import ArchiveWindow, ChunkReader
from .const import CONF_REPAIR, DEFAULT_REPAIR, DOMAIN
from .history_import import async_setup_history_services
from .p1lib.converter import ConvertOptions, convert_to_directory
from .records import FILE_MODE, make_private_dirs

SERVICE_EXPORT = "export"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_START = "start"
ATTR_END = "end"
ATTR_DIRECTORY = "directory"
ATTR_DELIMITER = "delimiter"
ATTR_DECIMAL = "decimal"
ATTR_INCLUDE_REPAIRED = "include_repaired_log"

EXPORT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_START): cv.datetime,
        vol.Optional(ATTR_END): cv.datetime,
        vol.Optional(ATTR_DIRECTORY): cv.string,
        vol.Optional(ATTR_DELIMITER, default=","): vol.In([",", ";", "\t"]),
        vol.Optional(ATTR_DECIMAL, default="."): vol.In([".", ","]),
        vol.Optional(ATTR_INCLUDE_REPAIRED, default=False): cv.boolean,
    }
)


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""

    async def export(call: ServiceCall) -> ServiceResponse:
        return await _async_export(hass, call)

    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT,
        export,
        schema=EXPORT_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    async_setup_history_services(hass)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return (
        value if value.tzinfo is not None else value.replace(tzinfo=dt_util.get_default_time_zone())
    )


async def _async_export(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    entry_id = call.data[ATTR_CONFIG_ENTRY_ID]
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id},
        )
    coordinator = entry.runtime_data
    archive = coordinator.archive
    start, end = _aware(call.data.get(ATTR_START)), _aware(call.data.get(ATTR_END))
    if start is not None and end is not None and start > end:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="start_after_end",
            translation_placeholders={"start": start.isoformat(), "end": end.isoformat()},
        )
    private_top: Path | None = None  # our own folder: 0700; a user's folder stays as it is
    if ATTR_DIRECTORY in call.data:
        directory = Path(call.data[ATTR_DIRECTORY])
        if not directory.is_absolute() or not await hass.async_add_executor_job(
            hass.config.is_allowed_path, str(directory)
        ):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="directory_not_allowed",
                translation_placeholders={"directory": str(directory)},
            )
    else:
        private_top = Path(hass.config.path(DOMAIN))
        directory = private_top / "exports"
    options = ConvertOptions(
        delimiter=call.data[ATTR_DELIMITER],
        decimal=call.data[ATTR_DECIMAL],
        repaired_log=call.data[ATTR_INCLUDE_REPAIRED],
        repair=entry.options.get(CONF_REPAIR, DEFAULT_REPAIR),
        thresholds=coordinator.calculator.thresholds,
        default_zone=hass.config.time_zone,  # meter clocks of a dialect that implies no zone
    )
    # Named by the entry, never by the meter's serial (file names travel further than files).
    stamp = dt_util.now().strftime("%Y%m%d_%H%M%S")
    stem = f"p1_dsmr_{entry.entry_id.lower()}_{stamp}"
    if archive is None or not archive.enabled:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_archive")
    async with coordinator.export_lock:  # one export at a time per meter
        await archive.async_flush()  # include what arrived in the last second
        window = archive.window(start, end)
        try:
            result = await hass.async_add_executor_job(
                _write_files, directory, private_top, stem, window, options
            )
        except EmptyWindow as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="empty_window",
                translation_placeholders={
                    "start": start.isoformat() if start else "-",
                    "end": end.isoformat() if end else "-",
                },
            ) from err
        except OSError as err:
            key = "disk_full" if err.errno == errno.ENOSPC else "export_failed"
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders={"directory": str(directory), "error": str(err)},
            ) from err
    result["bytes_not_archived"] = archive.bytes_not_archived
    result["archive_stopped"] = archive.stopped
    return result


class EmptyWindow(Exception):
    """Nothing was archived in the window."""


def _write_files(
    directory: Path,
    private_top: Path | None,
    stem: str,
    window: ArchiveWindow,
    options: ConvertOptions,
) -> dict[str, Any]:
    """Run the library over the archived bytes and write the files (in the executor): 0600 (the
    export dir 0700 when it is ours), each complete or not at all, created exclusively (never
    through a name planted beside them)."""
    chunks = iter(window)
    first = next(chunks, None)
    if first is None:
        raise EmptyWindow
    if private_top is not None:
        make_private_dirs(directory, private_top)
    source = ChunkReader(itertools.chain((first,), chunks))
    summary, paths = convert_to_directory(source, stem, directory, stem, options, FILE_MODE)
    return {
        "files": {kind: str(path) for kind, path in paths.items()},
        "telegrams": summary.telegrams,
        "valid": summary.valid,
        "repaired": summary.repaired,
        "invalid": summary.invalid,
        "unverified": summary.unverified,
        "torn_records": window.torn,
    }
