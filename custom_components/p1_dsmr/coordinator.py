"""The coordinator: owns the source, runs the library, pushes data to the entities.

The mapping of a telegram to entity values lives in :mod:`.values`, the link's health in
:mod:`.link`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from time import monotonic
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import (
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    CONF_AUTH_KEY,
    CONF_CURRENT_THRESHOLD,
    CONF_KEY,
    CONF_REPAIR,
    CONF_SOURCE,
    CONF_UPDATE_INTERVAL,
    CONF_VOLTAGE_THRESHOLD,
    DEFAULT_CURRENT_THRESHOLD,
    DEFAULT_REPAIR,
    DEFAULT_VOLTAGE_THRESHOLD,
    DOMAIN,
    LOGGER,
    SOURCE_SERIAL,
    WATCHDOG_PERIODS,
)
from .link import LinkMonitor, LinkStats
from .p1lib.cipher import Outcome
from .p1lib.decoder import DecodeResult
from .p1lib.derived import DerivedCalculator, Thresholds
from .p1lib.encrypted import EncryptedDecoder
from .p1lib.parsing import Parser
from .p1lib.repair import RepairEngine
from .source import P1Source, SourceError, SourceMissing
from .values import DERIVED_KEYS, P1Data, Value, ValueMapper

if TYPE_CHECKING:
    from . import P1ConfigEntry
    from .archive import Archive
    from .counters import CounterKeeper
    from .insight import InsightFeed

__all__ = ["DERIVED_KEYS", "LinkStats", "P1Coordinator", "P1Data", "Value"]

DECODE_SLICE = 2048
"""Bytes decoded per executor job: a 1 MiB chunk of a followed file is decoded in slices, and a
flood of short frames is decoded a few hundred at a time (garbage that dies young never makes
the interpreter stop every thread for a full collection)."""
LOOP_BUDGET = 0.004
"""Seconds of event-loop work on decoded telegrams before the reader hands the loop back."""
LINK_UPDATE_INTERVAL = 1.0
"""Rejected telegrams move the link statistics' entities at most this often (seconds)."""
PENDING_PERIOD_DEFAULT = 10.0
"""Seconds between telegrams assumed before the meter's period is known."""


class P1Coordinator(DataUpdateCoordinator[P1Data | None]):
    """Reads the source, decodes telegrams, pushes results (no polling).

    ``data`` is None until the first telegram arrives. Decoding (framing, CRC, repair, parsing) runs
    in the executor a slice at a time, so however much arrives at once and whatever it is, the event
    loop only handles the results, and hands the loop back every few milliseconds.
    """

    config_entry: P1ConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: P1ConfigEntry,
        source: P1Source,
        counters: dict[bytes, int] | None = None,
    ) -> None:
        """``counters``: an encrypted meter's last invocation counters (see :mod:`.counters`)."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {source.description}",
            always_update=True,
        )
        options = entry.options
        self.source = source
        interval = options.get(CONF_UPDATE_INTERVAL)  # absent: automatic, from the meter's period
        self.update_interval_s: float | None = None if interval is None else float(interval)
        repair = options.get(CONF_REPAIR, DEFAULT_REPAIR)
        # Plain telegrams, and an encrypted meter's frames with the entry's keys (without a key
        # its frames are reported as needing one).
        self.key = entry_key(entry)
        """An encrypted meter's decryption key (None for a plain meter)."""
        self.auth_key = _key(entry.data.get(CONF_AUTH_KEY)) if self.key else None
        """... and its authentication key (None: the unverified mode)."""
        self.decoder = EncryptedDecoder(
            repair=RepairEngine() if repair else None,
            # Meter clocks: the dialect's zone, else the one Home Assistant is configured with.
            parser=Parser(default_zone=hass.config.time_zone),
            key=self.key,
            auth_key=self.auth_key,
            counters=counters,
        )
        self.counter_keeper: CounterKeeper | None = None
        """Keeps the invocation counters across restarts (an encrypted meter on a live source)."""
        self._decryption_issue = False
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
        self.link = LinkMonitor(hass, entry.entry_id, self.decoder.stats)
        self.mapper = ValueMapper(self.update_interval_s)
        base = entry.unique_id or entry.entry_id
        self.mapper.admit_unknown_codes(
            e.unique_id.removeprefix(f"{base}_")
            for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        )
        self._lost_logged = False
        self._raw_listeners: list[Callable[[bytes, datetime], None]] = []
        self._archive: Archive | None = None
        self.export_lock = asyncio.Lock()
        self._link_update: Callable[[], None] | None = None
        self._stopped = False
        self._fresh = 0.0  # loop time of the last accepted telegram (or of connecting)
        self._accepted_at: deque[float] = deque(maxlen=9)
        # The decoder is used by one job at a time: the reader's executor jobs, or the decision
        # on damaged telegrams that wait for a next good one when the meter falls silent.
        self._decoder_lock = asyncio.Lock()
        self._pending_timer: Callable[[], None] | None = None
        self.insight: InsightFeed | None = None
        """The phase insight (set up by the entry), fed every accepted telegram."""

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
        self._stopped = True
        self._cancel_pending_timer()
        if self._link_update is not None:
            self._link_update()
            self._link_update = None
        await self.source.close()
        self.connected = False

    @callback
    def add_raw_listener(self, listener: Callable[[bytes, datetime], None]) -> Callable[[], None]:
        """Be told every chunk of bytes received, with its receive time (for the archive)."""
        self._raw_listeners.append(listener)
        return lambda: self._raw_listeners.remove(listener)

    @property
    def archive(self) -> Archive | None:
        """The telegram archive (set up by the entry), fed through a raw listener."""
        return self._archive

    @archive.setter
    def archive(self, archive: Archive | None) -> None:
        self._archive = archive
        if archive is not None:
            archive.on_change = self._link_changed  # bytes not archived: a diagnostic sensor

    @property
    def watchdog(self) -> float | None:
        """Seconds without an accepted telegram after which the source counts as lost: the
        source's (60 s for a stream, none for a file), or more for a meter slower than 10 s."""
        limit = self.source.watchdog
        if limit is None or self.source.finished:
            return None
        if len(self._accepted_at) >= 3:
            times = list(self._accepted_at)
            period = statistics.median(b - a for a, b in itertools.pairwise(times))
            limit = max(limit, WATCHDOG_PERIODS * period)
        return limit

    async def _run(self) -> None:
        backoff = BACKOFF_INITIAL
        while True:
            try:
                if not self.connected:
                    await self.source.open()
                    self._connected()
                    backoff = BACKOFF_INITIAL
                if history := self.source.take_history():
                    # Received before this source was opened: shown, not archived again.
                    await self._async_decode(history, dt_util.utcnow())
                if self._archive is not None and self.source.backpressure:
                    await self._archive.async_wait_room()  # a file waits; nothing is dropped
                chunk = await self._read()
                now = dt_util.utcnow()
                for listener in self._raw_listeners:
                    listener(chunk, now)
                await self._async_decode(chunk, now)
            except SourceError as err:
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

    async def _read(self) -> bytes:
        """The source's next bytes; :class:`SourceError` when no telegram was accepted within the
        watchdog's limit (bytes alone, noise, do not count)."""
        limit = self.watchdog
        if limit is None:
            return await self.source.read()
        deadline = self._fresh + limit
        try:
            if self.hass.loop.time() >= deadline:
                raise TimeoutError
            async with asyncio.timeout_at(deadline):
                return await self.source.read()
        except TimeoutError:
            raise SourceError(
                f"no valid telegram from {self.source.description} for {limit:g} s"
            ) from None

    @callback
    def _connected(self) -> None:
        self.connected = True
        self._fresh = self.hass.loop.time()
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
        else:  # once a warning per outage; each failed attempt for who debugs it
            LOGGER.debug("Still cannot read %s: %s", self.source.description, err)
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
        """Handle received bytes at once, in the event loop (tests and benchmarks; the reader
        decodes in the executor)."""
        if not chunk:
            return
        now = dt_util.utcnow()
        for listener in self._raw_listeners:
            listener(chunk, now)
        for result in self.decoder.feed(chunk):
            self._handle(result, now)
        self._cipher_changed(self.decoder.counters)
        self._watch_pending()

    @callback
    def _cipher_changed(self, counters: dict[bytes, int]) -> None:
        """Log once what changed in how the meter's frames decrypt (the first frame without a key,
        with a wrong key, decrypting again), and keep a repair issue up while they cannot be read;
        ``counters`` (the decoder's invocation counters, copied while it was not feeding) go to
        the :attr:`counter_keeper`."""
        if self.counter_keeper is not None:
            self.counter_keeper.note(counters)
        decoder = self.decoder
        for notice in decoder.take_notices():
            if notice.outcome is Outcome.DECRYPTED:
                LOGGER.info("%s: %s", self.source.description, notice.message)
            else:
                LOGGER.warning("%s: %s", self.source.description, notice.message)
        problem = decoder.problem
        issue_id = f"decryption_failed_{self.config_entry.entry_id}"
        if problem and not self._decryption_issue:
            self._decryption_issue = True
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="decryption_failed",
                translation_placeholders={"problem": problem},
            )
        elif not problem and self._decryption_issue:
            self._decryption_issue = False
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)

    async def _async_decode(self, data: bytes, now: datetime) -> None:
        """Decode in the executor a slice at a time; handle the results in the event loop and
        hand it back whenever that took more than :data:`LOOP_BUDGET`."""
        for start in range(0, len(data), DECODE_SLICE):
            piece = data[start : start + DECODE_SLICE]
            async with self._decoder_lock:
                results = await self.hass.async_add_executor_job(self.decoder.feed, piece)
                counters = dict(self.decoder.counters)
            self._cipher_changed(counters)
            await self._async_handle_all(results, now)
        self._watch_pending()

    async def _async_handle_all(self, results: list[DecodeResult], now: datetime) -> None:
        """Handle decoded results in the event loop, handing it back every :data:`LOOP_BUDGET`."""
        loop = self.hass.loop
        began = loop.time()
        for result in results:
            self._handle(result, now)
            if loop.time() - began > LOOP_BUDGET:
                await asyncio.sleep(0)
                began = loop.time()

    @callback
    def _watch_pending(self) -> None:
        """A damaged telegram waits for the next good one (it bounds the repair); when the meter
        falls silent for about two periods, it is decided with what is known."""
        if not self.decoder.pending:
            self._cancel_pending_timer()
        elif self._pending_timer is None and not self._stopped:
            repair = self.decoder.repair
            period = (repair.period if repair is not None else None) or PENDING_PERIOD_DEFAULT
            self._pending_timer = async_call_later(self.hass, 2 * period + 1, self._pending_due)

    @callback
    def _pending_due(self, _now: datetime) -> None:
        self._pending_timer = None
        self.config_entry.async_create_task(
            self.hass, self._async_decide_pending(), f"{DOMAIN} decide waiting telegrams"
        )

    async def _async_decide_pending(self) -> None:
        async with self._decoder_lock:
            if not self.decoder.pending or self._stopped:
                return
            results = await self.hass.async_add_executor_job(self.decoder.decide_pending)
        await self._async_handle_all(results, dt_util.utcnow())

    @callback
    def _cancel_pending_timer(self) -> None:
        if self._pending_timer is not None:
            self._pending_timer()
            self._pending_timer = None

    @callback
    def _handle(self, result: DecodeResult, now: datetime) -> None:
        self.link.record(result, now)
        if not result.accepted or result.telegram is None:
            self._link_changed()  # the last values stay; only the link statistics move
            return
        clock = self.hass.loop.time()
        self._fresh = clock
        self._accepted_at.append(clock)
        if self._lost_logged:
            LOGGER.info("%s is back", self.source.description)
            self._lost_logged = False
        telegram = result.telegram
        if self.insight is not None:
            self.insight.update(telegram)
        derived = self.calculator.update(telegram)
        self.last_result = result
        self.last_telegram_at = now
        updates = self.mapper.update(telegram, derived, monotonic())
        if not updates:
            self._link_changed()
            return
        devices = self.mapper.devices(telegram)
        for update in updates:
            self.async_set_updated_data(
                P1Data(
                    update.values,
                    telegram,
                    derived,
                    self.link.stats,
                    devices,
                    update.kinds,
                    update.spread,
                )
            )

    @callback
    def _link_changed(self) -> None:
        """Show the new link statistics within :data:`LINK_UPDATE_INTERVAL`, not per telegram."""
        if self._link_update is None and not self._stopped:
            self._link_update = async_call_later(self.hass, LINK_UPDATE_INTERVAL, self._update_link)

    @callback
    def _update_link(self, _now: datetime) -> None:
        self._link_update = None
        if self.data is not None:
            self.data = replace(self.data, link=self.link.stats)
        self.async_update_listeners()

    async def _async_update_data(self) -> P1Data | None:
        """Push-only: there is nothing to fetch; return what was last pushed."""
        return self.data

    def diagnostics(self) -> dict[str, Any]:
        """Link and decoder state for diagnostics."""
        stats = self.decoder.stats
        repair = self.decoder.repair
        mapper = self.mapper
        return {
            "source": self.source.description,
            "connected": self.connected,
            "update_interval": self.update_interval_s,
            "update_interval_in_effect": mapper.interval,
            "meter_clock_period_s": mapper.period.seconds,
            "watchdog_s": self.watchdog,
            "bytes_received": self.decoder.bytes_in,
            "noise_bytes": self.decoder.noise_bytes,
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
            "values_dropped": dict(mapper.dropped_values),
            "unknown_codes": {
                "with_entity": len(mapper.unknown_codes),
                "ignored": len(mapper.ignored_codes),
            },
            "mbus_channels_ignored": sorted(mapper.ignored_channels)[:20],
            "encryption": self._encryption_diagnostics(),
        }

    def _encryption_diagnostics(self) -> dict[str, Any]:
        """How the meter's frames decrypt; the system title is the meter's identity (redacted by
        diagnostics)."""
        decoder = self.decoder
        cipher = decoder.cipher
        return {
            "key_configured": decoder.mode is not None,
            "mode": str(decoder.mode) if decoder.mode is not None else None,
            "frames": cipher.frames,
            "decrypted": cipher.decrypted,
            "by_outcome": dict(cipher.by_outcome),
            "last_outcome": str(cipher.last_outcome) if cipher.last_outcome else None,
            "problem": decoder.problem or None,
            "system_title": cipher.system_title.hex().upper() if cipher.system_title else None,
            "invocation_counter": cipher.counter,
            "false_frames": decoder.false_frames,
        }


def _key(text: str | None) -> bytes | None:
    """A key stored in the entry (32 hexadecimal digits, checked by the config flow)."""
    return bytes.fromhex(text) if text else None


def entry_key(entry: P1ConfigEntry) -> bytes | None:
    """The entry's decryption key (None: a plain meter)."""
    return _key(entry.data.get(CONF_KEY))
