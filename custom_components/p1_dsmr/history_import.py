"""The ``p1_dsmr.import_history`` action: a meter's old logs into Home Assistant's long-term statistics.

The file (a P1 log, a gzip-compressed log, a records CSV of the converter, or the integration's
own telegram archive) is read by the library in the executor, in chunks (:mod:`.p1lib.history`),
into hourly aggregates per value. Each value with an entity of this entry that the recorder keeps
statistics of becomes that entity's hourly statistics: counters as ``state`` and ``sum`` joined to
what Home Assistant recorded itself (:mod:`.history_statistics`), measurements as ``mean``, ``min``
and ``max``. Hours Home Assistant already has are left alone unless ``overwrite`` is set. Progress
is reported as ``p1_dsmr_import_progress`` events and in a persistent notification; the action
returns a summary.
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import voluptuous as vol
from homeassistant.components.recorder.models import StatisticData
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.recorder import get_instance
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .archive import ChunkReader
from .const import CONF_REPAIR, DEFAULT_REPAIR, DOMAIN, LOGGER
from .history_progress import EVENT_IMPORT_PROGRESS, ImportJob
from .history_statistics import (
    Move,
    Recorded,
    converter_for,
    counter_data,
    cutoff,
    make_metadata,
    mean_data,
    mismatch,
    plan_counter,
    recorded,
)
from .history_statistics import (
    async_write as async_write_statistics,
)
from .history_targets import Target, chained, counter_hours, targets
from .p1lib.history import (
    EmptyWindow,
    NoTelegram,
    OtherMeter,
    read_history,
    read_history_file,
)
from .p1lib.hourly import History
from .records import iter_records

SERVICE_IMPORT_HISTORY = "import_history"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_PATH = "path"
ATTR_START = "start"
ATTR_END = "end"
ATTR_OVERWRITE = "overwrite"
STATISTICS_WAIT = 360.0
"""Seconds to wait for Home Assistant's first statistics of a counter it has just begun to record."""
STATISTICS_POLL = 10.0

IMPORT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_PATH): cv.string,
        vol.Optional(ATTR_START): cv.datetime,
        vol.Optional(ATTR_END): cv.datetime,
        vol.Optional(ATTR_OVERWRITE, default=False): cv.boolean,
    }
)
_RUNNING: HassKey[set[str]] = HassKey(f"{DOMAIN}_history_imports")
_ARCHIVE_SUFFIXES = (".p1a", ".p1a.gz")


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """What to import."""

    path: str
    start: datetime | None = None
    end: datetime | None = None
    overwrite: bool = False


def async_setup_history_services(hass: HomeAssistant) -> None:
    """Register ``p1_dsmr.import_history``."""

    async def import_history(call: ServiceCall) -> ServiceResponse:
        entry = loaded_entry(hass, call.data[ATTR_CONFIG_ENTRY_ID])
        request = ImportRequest(
            call.data[ATTR_PATH].strip(),
            aware(call.data.get(ATTR_START)),
            aware(call.data.get(ATTR_END)),
            call.data[ATTR_OVERWRITE],
        )
        return await async_import_history(hass, entry, request)

    hass.services.async_register(
        DOMAIN,
        SERVICE_IMPORT_HISTORY,
        import_history,
        schema=IMPORT_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def aware(value: datetime | None) -> datetime | None:
    """A time given without a zone is in Home Assistant's."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt_util.get_default_time_zone())


def loaded_entry(hass: HomeAssistant, entry_id: str) -> ConfigEntry:
    """The loaded P1 DSMR entry, or a translated error."""
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN or entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id},
        )
    return entry


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN, translation_key=key, translation_placeholders=placeholders
    )


# --- validation (before anything is read) -------------------------------------------------------


def _archive_files(path: Path) -> list[Path] | None:
    """The telegram archive files a path names (a day's file or an entry's archive folder): in a
    folder, the regular files that are really in it (a link out of it, a pipe or a device is
    left out: the folder was allowed, not what its entries point at)."""
    if path.is_dir():
        folder = path.resolve()
        return sorted(
            p
            for p in path.iterdir()
            if p.name.endswith(_ARCHIVE_SUFFIXES) and p.is_file() and p.resolve().parent == folder
        )
    if path.name.endswith(_ARCHIVE_SUFFIXES):
        return [path]
    return None


def _check_path(hass: HomeAssistant, text: str) -> Path:
    """The file to import, if it may be read (in the executor: paths are resolved)."""
    path = Path(text)
    folder = Path(hass.config.path(DOMAIN)).resolve()
    allowed = path.is_absolute() and (
        hass.config.is_allowed_path(text) or path.resolve().is_relative_to(folder)
    )
    if not allowed:
        raise _invalid("import_path_not_allowed", path=text, folder=str(folder))
    try:
        if path.is_dir():
            files = _archive_files(path)
            if not files:
                raise IsADirectoryError(21, "a folder without telegram archive files", text)
        elif not path.is_file():  # a pipe would hold the import (and a thread) for ever
            raise OSError(errno.EINVAL, "not a regular file", text)
        else:
            with path.open("rb") as handle:
                handle.read(1)
    except OSError as err:
        raise _invalid("import_unreadable", path=text, error=err.strerror or str(err)) from err
    return path


async def async_validate(hass: HomeAssistant, entry: ConfigEntry, request: ImportRequest) -> Path:
    """Refuse what cannot be imported before starting: no recorder, a reversed window, a path
    outside the allowed folders or that cannot be read, an import of this meter already running."""
    if "recorder" not in hass.config.components:
        raise _invalid("recorder_not_loaded")
    if request.start is not None and request.end is not None and request.start > request.end:
        raise _invalid(
            "start_after_end", start=request.start.isoformat(), end=request.end.isoformat()
        )
    if entry.entry_id in hass.data.get(_RUNNING, set()):
        raise _invalid("import_running", path=request.path)
    return await hass.async_add_executor_job(_check_path, hass, request.path)


# --- the job ------------------------------------------------------------------------------------


def _read(job: ImportJob, path: Path) -> History:
    """Read the file (or the archive files) into hourly aggregates (in the executor)."""
    request, entry = job.request, job.entry
    repair = bool(entry.options.get(CONF_REPAIR, DEFAULT_REPAIR))
    progress = job.progress_from_thread("reading")
    files = _archive_files(path)
    if files is None:
        return read_history_file(
            path,
            repair=repair,
            meter=entry.unique_id,
            start=request.start,
            end=request.end,
            progress=progress,
            cancel=job.cancel.is_set,
            default_zone=job.hass.config.time_zone,
        )
    sizes = [max(file.stat().st_size, 1) for file in files]
    torn = [0]

    def chunks() -> Iterator[bytes]:
        done = 0
        for file, size in zip(files, sizes, strict=True):
            for _received, data in iter_records(file, torn):
                yield data
            done += size
            progress(done / sum(sizes))

    history = read_history(
        ChunkReader(chunks()),
        repair=repair,
        meter=entry.unique_id,
        start=request.start,
        end=request.end,
        cancel=job.cancel.is_set,
        default_zone=job.hass.config.time_zone,
    )
    history.stats.format = "archive"
    history.stats.truncated = torn[0] > 0
    return history


async def async_import_history(
    hass: HomeAssistant, entry: ConfigEntry, request: ImportRequest
) -> dict[str, Any]:
    """Import a file's history into the entry's statistics; the summary."""
    path = await async_validate(hass, entry, request)
    running = hass.data.setdefault(_RUNNING, set())
    if entry.entry_id in running:  # another call got here while this one was validating
        raise _invalid("import_running", path=request.path)
    running.add(entry.entry_id)
    job = ImportJob(hass, entry, request)
    started = time.monotonic()
    try:
        job.translations = await async_get_translations(
            hass, hass.config.language, "exceptions", [DOMAIN]
        )
        job.report("reading", 0.0)
        try:
            history = await hass.async_add_executor_job(_read, job, path)
        except asyncio.CancelledError:
            job.cancel.set()  # the reading thread stops at its next chunk
            raise
        summary = await _async_write(job, history)
    except HomeAssistantError as err:
        job.failed(err)
        raise
    except (OtherMeter, NoTelegram, EmptyWindow, OSError) as err:
        error = _history_error(request, err)
        job.failed(error)
        raise error from err
    except Exception as err:
        LOGGER.exception("Importing %s failed", request.path)
        error = HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="import_failed",
            translation_placeholders={"path": request.path, "error": repr(err)},
        )
        job.failed(error)
        raise error from err
    finally:
        running.discard(entry.entry_id)
    summary["seconds"] = round(time.monotonic() - started, 1)
    job.notify(
        job.text(
            "import_done",
            path=request.path,
            hours=summary["hours_written"],
            skipped=summary["hours_skipped"],
            statistics=len(summary["statistics"]),
            telegrams=summary["telegrams"],
            repaired=summary["repaired"],
            rejected=summary["rejected"],
        )
    )
    hass.bus.async_fire(
        EVENT_IMPORT_PROGRESS,
        {"config_entry_id": entry.entry_id, "path": request.path, "stage": "done", "percent": 100},
    )
    return summary


def _history_error(request: ImportRequest, err: Exception) -> HomeAssistantError:
    """The translated error for what the library raised."""
    path = request.path
    if isinstance(err, OtherMeter):
        return _invalid("import_other_meter", path=path, found=err.found, expected=err.expected)
    if isinstance(err, NoTelegram):
        return _invalid("import_no_telegram", path=path)
    if isinstance(err, EmptyWindow):
        start = request.start.isoformat() if request.start else "-"
        end = request.end.isoformat() if request.end else "-"
        return _invalid("import_empty_window", path=path, start=start, end=end)
    error = getattr(err, "strerror", None) or str(err)
    return _invalid("import_unreadable", path=path, error=error)


async def _async_recorded(job: ImportJob, target: Target, before: int) -> Recorded | None:
    """What the recorder has of a target around its importable hours (None: no such hours)."""
    starts = [h for h in target.series.hours if h < before]
    if not starts:
        return None
    instance = get_instance(job.hass)
    counter = target.series.counter
    return await instance.async_add_executor_job(
        recorded, job.hass, target.entity_id, starts[0], starts[-1], counter
    )


async def _async_wait_for_statistics(
    job: ImportJob, found: list[tuple[Target, Recorded]], before: int
) -> None:
    """Counters Home Assistant keeps no statistics of yet (it has just started recording them):
    wait for its first 5-minute statistics, which its sums start from, so the imported hours can
    lead up to them. Those still without any are left out."""
    waiting = [i for i, (t, rec) in enumerate(found) if t.series.counter and not rec.anchors]
    deadline = time.monotonic() + STATISTICS_WAIT
    while waiting and time.monotonic() < deadline:
        job.report("waiting", 0.0)
        await asyncio.sleep(STATISTICS_POLL)
        for index in list(waiting):
            target = found[index][0]
            rec = await _async_recorded(job, target, before)
            if rec is not None and rec.anchors:
                found[index] = (target, rec)
                waiting.remove(index)


async def _async_write(job: ImportJob, history: History) -> dict[str, Any]:
    """Join and write every target's statistics; the summary."""
    hass, entry, request = job.hass, job.entry, job.request
    found_targets, skipped = targets(hass, entry, history)
    before = cutoff(dt_util.utcnow())
    found: list[tuple[Target, Recorded]] = []
    too_recent = 0
    # What the recorder has, in its units; a file whose counters are not this meter's is refused
    # before anything is written.
    for target in found_targets:
        too_recent = max(too_recent, sum(1 for h in target.series.hours if h >= before))
        rec = await _async_recorded(job, target, before)
        if rec is None:
            continue
        if rec.metadata is not None:
            if rec.metadata["has_sum"] != target.series.counter:
                skipped[target.entity_id] = "recorded statistics of another kind"
                continue
            unit = rec.metadata["unit_of_measurement"]
            convert = converter_for(target.device_class, target.unit, unit)
            if convert is None:
                skipped[target.entity_id] = f"recorded in {unit}"
                continue
            target.convert = chained(target.convert, convert)
            target.unit = unit
        if target.series.counter and (bad := mismatch(counter_hours(target, before), rec.hours)):
            start, imported, recorded_state = bad
            raise _invalid(
                "import_mismatch",
                path=request.path,
                entity=target.entity_id,
                imported=f"{imported:g}",
                recorded=f"{recorded_state:g}",
                hour=dt_util.as_local(dt_util.utc_from_timestamp(start)).isoformat(),
            )
        found.append((target, rec))
    await _async_wait_for_statistics(job, found, before)
    job.to_write = max(1, sum(len(target.series) for target, _ in found))
    statistics: dict[str, dict[str, int]] = {}
    resets: dict[str, int] = {}
    for target, rec in found:
        entity_id, counter = target.entity_id, target.series.counter
        if counter and not rec.anchors:
            skipped[entity_id] = "no statistics of Home Assistant's own yet"
            continue
        metadata = make_metadata(entity_id, counter, target.unit, target.device_class, rec.metadata)
        skip = set() if request.overwrite else set(rec.hours)
        steps: list[list[StatisticData] | Move]
        if counter:
            hours = counter_hours(target, before)
            anchors = rec.anchors
            if request.overwrite:  # the rows being replaced are no anchors
                replaced = {h.start for h in hours}
                anchors = [a for a in anchors if int(a.start) not in replaced]
            steps = counter_data(plan_counter(hours, anchors, skip))
            if target.series.resets:
                resets[entity_id] = target.series.resets
        else:
            means = [h for h in target.series.means() if h.start < before and h.start not in skip]
            steps = [mean_data(means, target.convert)]
        statistics[entity_id] = {
            "written": sum(len(step) for step in steps if not isinstance(step, Move)),
            "skipped": sum(1 for h in target.series.hours if h in skip),
            "moved": sum(1 for step in steps if isinstance(step, Move)),
        }
        done = job.written

        def written(count: int, done: int = done) -> None:
            job.report("writing", (done + count) / job.to_write)

        await async_write_statistics(hass, metadata, steps, _accumulate(written))
        job.written = done + len(target.series)
    stats = history.stats
    return {
        "path": request.path,
        "format": stats.format,
        "meter": stats.meter,
        "telegrams": stats.telegrams,
        "accepted": stats.accepted,
        "valid": stats.valid,
        "repaired": stats.repaired,
        "rejected": stats.invalid,
        "unverified": stats.unverified,
        "without_time": stats.without_time,
        "out_of_order": stats.out_of_order + stats.clock_outliers,
        "outside_window": stats.outside_window,
        "truncated": stats.truncated,
        "first": stats.first.isoformat() if stats.first else None,
        "last": stats.last.isoformat() if stats.last else None,
        "hours_written": sum(s["written"] for s in statistics.values()),
        "hours_skipped": sum(s["skipped"] for s in statistics.values()),
        "hours_too_recent": too_recent,
        "statistics": statistics,
        "counter_resets": resets,
        "not_imported": skipped,
    }


def _accumulate(report: Callable[[int], None]) -> Callable[[int], None]:
    """Batch sizes in, running totals out."""
    total = [0]

    def add(count: int) -> None:
        total[0] += count
        report(total[0])

    return add


def async_start_import(hass: HomeAssistant, entry: ConfigEntry, request: ImportRequest) -> None:
    """Run an import in the background (from the options flow); the notification tells the rest."""

    async def run() -> None:
        try:
            await async_import_history(hass, entry, request)
        except HomeAssistantError as err:
            LOGGER.warning("History import of %s failed: %s", request.path, err)

    hass.async_create_background_task(run(), f"{DOMAIN} history import {request.path}")


__all__ = [
    "EVENT_IMPORT_PROGRESS",
    "ImportRequest",
    "SERVICE_IMPORT_HISTORY",
    "async_import_history",
    "async_setup_history_services",
    "async_start_import",
    "async_validate",
]
