"""The coordinator: owns the source, runs the library, pushes data to the entities.

The mapping of a telegram to entity values lives in :mod:`.values`, the link's health in
:mod:`.link`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from time import monotonic
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import (
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    CONF_CURRENT_THRESHOLD,
    CONF_REPAIR,
    CONF_SOURCE,
    CONF_UPDATE_INTERVAL,
    CONF_VOLTAGE_THRESHOLD,
    DEFAULT_CURRENT_THRESHOLD,
    DEFAULT_REPAIR,
    DEFAULT_UPDATE_INTERVAL,
    DEFAULT_VOLTAGE_THRESHOLD,
    DOMAIN,
    LOGGER,
    SOURCE_SERIAL,
)
from .link import LinkMonitor, LinkStats
from .p1lib.decoder import Decoder, DecodeResult
from .p1lib.derived import DerivedCalculator, Thresholds
from .p1lib.repair import RepairEngine
from .source import P1Source, SourceError, SourceMissing
from .values import DERIVED_KEYS, P1Data, Value, ValueMapper, mbus_devices

if TYPE_CHECKING:
    from . import P1ConfigEntry
    from .archive import Archive

__all__ = ["DERIVED_KEYS", "LinkStats", "P1Coordinator", "P1Data", "Value"]


class P1Coordinator(DataUpdateCoordinator[P1Data | None]):
    """Reads the source, decodes telegrams, pushes results (no polling).

    ``data`` is None until the first telegram arrives.
    """

    config_entry: P1ConfigEntry

    def __init__(self, hass: HomeAssistant, entry: P1ConfigEntry, source: P1Source) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {source.description}",
            always_update=True,
        )
        options = entry.options
        self.source = source
        self.update_interval_s = float(options.get(CONF_UPDATE_INTERVAL, DEFAULT_UPDATE_INTERVAL))
        repair = options.get(CONF_REPAIR, DEFAULT_REPAIR)
        self.decoder = Decoder(repair=RepairEngine() if repair else None)
        self.calculator = DerivedCalculator(
            Thresholds(
                voltage=float(options.get(CONF_VOLTAGE_THRESHOLD, DEFAULT_VOLTAGE_THRESHOLD)),
                current=float(options.get(CONF_CURRENT_THRESHOLD, DEFAULT_CURRENT_THRESHOLD)),
            )
        )
        self.connected = False
        self.last_result: DecodeResult | None = None
        self.last_telegram_at: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self.link = LinkMonitor(hass, entry.entry_id)
        self.mapper = ValueMapper(self.update_interval_s)
        self._lost_logged = False
        self._raw_listeners: list[Callable[[bytes, datetime], None]] = []
        self.archive: Archive | None = None
        self.export_lock = asyncio.Lock()

    # --- lifecycle -----------------------------------------------------------------------

    async def async_connect(self) -> None:
        """Open the source (raises :class:`SourceError`)."""
        await self.source.open()
        self._connected()

    def start(self) -> None:
        """Start reading in the background."""
        self._task = self.config_entry.async_create_background_task(
            self.hass, self._run(), f"{DOMAIN} reader {self.source.description}"
        )

    async def async_stop(self) -> None:
        """Stop reading and close the source."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.source.close()
        self.connected = False

    @callback
    def add_raw_listener(self, listener: Callable[[bytes, datetime], None]) -> Callable[[], None]:
        """Be told every chunk of bytes received, with its receive time (for the archive)."""
        self._raw_listeners.append(listener)
        return lambda: self._raw_listeners.remove(listener)

    async def _run(self) -> None:
        backoff = BACKOFF_INITIAL
        while True:
            try:
                if not self.connected:
                    await self.source.open()
                    self._connected()
                    backoff = BACKOFF_INITIAL
                timeout = None if self.source.finished else self.source.watchdog
                async with asyncio.timeout(timeout):
                    chunk = await self.source.read()
                self.feed(chunk)
            except (SourceError, TimeoutError) as err:
                if isinstance(err, TimeoutError):
                    err = SourceError(
                        f"no data from {self.source.description} for {self.source.watchdog:g} s"
                    )
                self._lost(err)
                await self.source.close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except Exception:  # a bug must not stop the reader for good: log it, start again
                LOGGER.exception("Unexpected error reading %s", self.source.description)
                self._lost(SourceError("unexpected error"))
                await self.source.close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    @callback
    def _connected(self) -> None:
        if not self.connected and self._lost_logged:
            LOGGER.info("%s is back", self.source.description)
        self.connected = True
        self._lost_logged = False
        if self.config_entry.data.get(CONF_SOURCE) == SOURCE_SERIAL:
            ir.async_delete_issue(
                self.hass, DOMAIN, f"serial_port_missing_{self.config_entry.entry_id}"
            )

    @callback
    def _lost(self, err: SourceError) -> None:
        self.connected = False
        if not self._lost_logged:
            LOGGER.warning("Lost %s: %s; reconnecting", self.source.description, err)
            self._lost_logged = True
        if (
            isinstance(err, SourceMissing)
            and self.config_entry.data.get(CONF_SOURCE) == SOURCE_SERIAL
        ):
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"serial_port_missing_{self.config_entry.entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="serial_port_missing",
                translation_placeholders={"device": str(getattr(self.source, "device", ""))},
            )
        self.last_update_success = False
        self.async_update_listeners()

    # --- data ------------------------------------------------------------------------------

    @callback
    def feed(self, chunk: bytes) -> None:
        """Handle received bytes (runs in the event loop; bounded work per byte)."""
        if not chunk:
            return
        now = dt_util.utcnow()
        for listener in self._raw_listeners:
            listener(chunk, now)
        for result in self.decoder.feed(chunk):
            self._handle(result, now)

    @callback
    def _handle(self, result: DecodeResult, now: datetime) -> None:
        link = self.link.record(result, self.decoder.stats, now)
        if not result.accepted or result.telegram is None:
            if self.data is not None:
                # Keep the last values; only the link statistics move.
                self.async_set_updated_data(
                    P1Data(
                        self.data.values,
                        self.data.telegram,
                        self.data.derived,
                        link,
                        self.data.mbus,
                        self.data.kinds,
                    )
                )
            return
        telegram = result.telegram
        derived = self.calculator.update(telegram)
        self.last_result = result
        self.last_telegram_at = now
        update = self.mapper.update(telegram, derived, monotonic())
        if update is None:
            return
        values, kinds = update
        self.async_set_updated_data(
            P1Data(values, telegram, derived, link, mbus_devices(telegram), kinds)
        )

    async def _async_update_data(self) -> P1Data | None:
        """Push-only: there is nothing to fetch; return what was last pushed."""
        return self.data

    def diagnostics(self) -> dict[str, Any]:
        """Link and decoder state for diagnostics."""
        stats = self.decoder.stats
        repair = self.decoder.repair
        return {
            "source": self.source.description,
            "connected": self.connected,
            "update_interval": self.update_interval_s,
            "bytes_received": self.decoder.framer.bytes_in,
            "noise_bytes": self.decoder.framer.noise_bytes,
            "telegrams": {
                "received": stats.telegrams,
                "valid": stats.valid,
                "repaired": stats.repaired,
                "invalid": stats.invalid,
                "unverified": stats.unverified,
                "rejected_by_reason": dict(stats.by_reason),
                "repair_candidates_tested": stats.candidates,
            },
            "error_rate_percent": self.link.stats.error_rate,
            "repair_enabled": repair is not None,
            "meter_period_s": repair.period if repair is not None else None,
            "last_telegram_at": self.last_telegram_at.isoformat()
            if self.last_telegram_at
            else None,
        }
