"""The coordinator: owns the source, runs the library, pushes data to the entities."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from time import monotonic
from typing import TYPE_CHECKING, Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
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
    ERROR_RATE_CLEAR,
    ERROR_RATE_ISSUE,
    ERROR_RATE_WINDOW,
    LOGGER,
    SOURCE_SERIAL,
)
from .p1lib.decoder import Decoder, DecodeResult, Status
from .p1lib.derived import Derived, DerivedCalculator, Thresholds
from .p1lib.obis import MBUS_DEVICE_TYPES, Kind
from .p1lib.parsing import Telegram
from .p1lib.repair import RepairEngine
from .source import P1Source, SourceError, SourceMissing

if TYPE_CHECKING:
    from . import P1ConfigEntry
    from .archive import Archive

Value = float | int | str | datetime | None

# Derived values and the entity keys they feed.
DERIVED_KEYS: Mapping[str, str] = {
    "net_power": "net_power",
    "net_power_l1": "net_power_l1",
    "net_power_l2": "net_power_l2",
    "net_power_l3": "net_power_l3",
    "current_l1": "current_l1_calculated",
    "current_l2": "current_l2_calculated",
    "current_l3": "current_l3_calculated",
    "signed_current": "signed_current",
    "avg_power_import": "average_power_import",
    "avg_power_export": "average_power_export",
    "avg_power_net": "average_power_net",
    "simultaneous_power": "simultaneous_power",
    "max_voltage": "max_voltage",
    "max_voltage_phase": "max_voltage_phase",
    "max_current": "max_current",
    "max_current_phase": "max_current_phase",
    "overvoltage_l1": "overvoltage_l1",
    "overvoltage_l2": "overvoltage_l2",
    "overvoltage_l3": "overvoltage_l3",
    "overcurrent_l1": "overcurrent_l1",
    "overcurrent_l2": "overcurrent_l2",
    "overcurrent_l3": "overcurrent_l3",
    "overpower": "overpower",
}
_AVERAGED_KINDS = frozenset(
    (Kind.POWER, Kind.REACTIVE_POWER, Kind.VOLTAGE, Kind.CURRENT, Kind.POWER_FACTOR, Kind.FREQUENCY)
)
# Derived keys averaged over an update window; flags are OR-ed; peaks take the maximum.
_AVERAGED_DERIVED = frozenset(
    (
        "net_power",
        "net_power_l1",
        "net_power_l2",
        "net_power_l3",
        "current_l1_calculated",
        "current_l2_calculated",
        "current_l3_calculated",
        "signed_current",
        "simultaneous_power",
    )
)
_MAXIMUM_DERIVED = frozenset(("max_voltage", "max_current"))
_FLAG_DERIVED = frozenset(k for k in DERIVED_KEYS.values() if k.startswith("over"))


def mbus_key(channel: int, key: str) -> str:
    """Entity key of an M-Bus channel's value."""
    return f"mbus{channel}_{key}"


def unknown_key(code: str) -> str:
    """Entity key of a code the registry does not know."""
    return "obis_" + code.replace("-", "_").replace(":", "_").replace(".", "_").replace("*", "_")


@dataclass(frozen=True, slots=True)
class LinkStats:
    """How healthy the P1 link is."""

    received: int = 0
    valid: int = 0
    repaired: int = 0
    invalid: int = 0
    unverified: int = 0
    error_rate: float | None = None
    """Percentage of the last telegrams that arrived damaged (repaired or rejected)."""
    last_repair: datetime | None = None
    last_repair_method: str | None = None


@dataclass(frozen=True, slots=True)
class MbusDevice:
    """A gas, water or heat meter on an M-Bus channel."""

    channel: int
    kind: str
    equipment_id: str | None


@dataclass(frozen=True, slots=True)
class P1Data:
    """What the entities show."""

    values: Mapping[str, Value]
    telegram: Telegram | None
    derived: Derived | None
    link: LinkStats
    mbus: Mapping[int, MbusDevice] = field(default_factory=dict)
    kinds: Mapping[str, Kind] = field(default_factory=dict)
    """The registry kind of each key that comes from the telegram (for sensor descriptions)."""


def telegram_values(telegram: Telegram) -> tuple[dict[str, Value], dict[str, Kind]]:
    """Entity values from a telegram: numbers in canonical units, decoded texts, timestamps."""
    values: dict[str, Value] = {}
    kinds: dict[str, Kind] = {}
    for obj in telegram.objects:
        info = obj.info
        code = obj.code
        if info is None:
            key = unknown_key(code)
            kind = Kind.TEXT if obj.number is None else Kind.COUNT
        elif code.startswith("0-") and not code.startswith("0-0:"):
            key = mbus_key(obj.channel, info.key)
            kind = info.kind
        else:
            key = info.key
            kind = info.kind
        if key in values:
            continue  # a code sent twice: the first wins, as in the telegram's index
        kinds[key] = kind
        if kind is Kind.TIMESTAMP:
            values[key] = obj.values[0].timestamp if obj.values else None
        elif kind is Kind.PROFILE:
            values[key] = len(obj.values)
        elif kind in (Kind.IDENTIFIER, Kind.TEXT, Kind.VERSION):
            # Sanxing meters fill an empty provider message with 0xFF bytes.
            values[key] = obj.text.strip("\xff")[:255]
        elif kind in (Kind.STATE, Kind.COUNT) and obj.number is not None:
            values[key] = int(obj.number) if obj.number.is_integer() else obj.number
        elif kind is Kind.MBUS_READING:
            values[key] = obj.number
            stamp = obj.timestamp
            if stamp is not None:
                values[key + "_time"] = stamp
                kinds[key + "_time"] = Kind.TIMESTAMP
        elif obj.number is not None:
            values[key] = obj.number
        else:
            values[key] = obj.values[0].raw[:255] if obj.values else None
    return values, kinds


def derived_values(derived: Derived) -> dict[str, Value]:
    """Entity values from the library's derived values."""
    values: dict[str, Value] = {}
    for name, key in DERIVED_KEYS.items():
        value = getattr(derived, name)
        values[key] = round(value, 4) if isinstance(value, float) else value
    return values


def mbus_devices(telegram: Telegram) -> dict[int, MbusDevice]:
    """The M-Bus devices a telegram mentions."""
    devices: dict[int, MbusDevice] = {}
    for channel, objects in telegram.mbus_channels().items():
        device_type = telegram.number(f"0-{channel}:24.1.0")
        kind = (
            MBUS_DEVICE_TYPES.get(int(device_type), "other") if device_type is not None else "gas"
        )
        equipment = None
        for obj in objects:
            if obj.info is not None and obj.info.kind is Kind.IDENTIFIER and obj.text.strip("0"):
                equipment = obj.text
        devices[channel] = MbusDevice(channel, kind, equipment)
    return devices


PENDING_PERIOD_DEFAULT = 10.0
"""Seconds between telegrams assumed before the meter's period is known."""


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
        self._recent: deque[bool] = deque(maxlen=ERROR_RATE_WINDOW)
        self._damaged = 0  # damaged telegrams in _recent
        self._link = LinkStats()
        self._window: list[dict[str, Value]] = []
        self._window_started = 0.0
        self._lost_logged = False
        self._error_issue = False
        self._raw_listeners: list[Callable[[bytes, datetime], None]] = []
        self.archive: Archive | None = None
        self.export_lock = asyncio.Lock()
        self._simultaneous: float | None = None  # kWh imported and exported in the same intervals
        self._pending_timer: CALLBACK_TYPE | None = None

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
        self._cancel_pending_timer()
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
        self._watch_pending()

    @callback
    def _watch_pending(self) -> None:
        """A damaged telegram waits for the next good one (it bounds the repair); when the meter
        falls silent for about two periods, decide it with what is known."""
        if not self.decoder.pending:
            self._cancel_pending_timer()
        elif self._pending_timer is None:
            repair = self.decoder.repair
            period = (repair.period if repair is not None else None) or PENDING_PERIOD_DEFAULT
            self._pending_timer = async_call_later(self.hass, 2 * period + 1, self._decide_pending)

    @callback
    def _decide_pending(self, _now: datetime) -> None:
        self._pending_timer = None
        now = dt_util.utcnow()
        for result in self.decoder.decide_pending():
            self._handle(result, now)

    @callback
    def _cancel_pending_timer(self) -> None:
        if self._pending_timer is not None:
            self._pending_timer()
            self._pending_timer = None

    @callback
    def _handle(self, result: DecodeResult, now: datetime) -> None:
        stats = self.decoder.stats
        damaged = result.status in (Status.REPAIRED, Status.INVALID)
        if len(self._recent) == self._recent.maxlen:
            self._damaged -= self._recent[0]
        self._recent.append(damaged)
        self._damaged += damaged
        rate = 100.0 * self._damaged / len(self._recent)
        last_repair, method = self._link.last_repair, self._link.last_repair_method
        if result.repair is not None:
            last_repair, method = now, result.repair.method
        self._link = LinkStats(
            stats.telegrams,
            stats.valid,
            stats.repaired,
            stats.invalid,
            stats.unverified,
            round(rate, 2),
            last_repair,
            method,
        )
        self._check_error_rate(rate)
        if not result.accepted or result.telegram is None:
            if self.data is not None:
                # Keep the last values; only the link statistics move.
                self.async_set_updated_data(
                    P1Data(
                        self.data.values,
                        self.data.telegram,
                        self.data.derived,
                        self._link,
                        self.data.mbus,
                        self.data.kinds,
                    )
                )
            return
        telegram = result.telegram
        derived = self.calculator.update(telegram)
        values, kinds = telegram_values(telegram)
        values.update(derived_values(derived))
        if derived.energy_simultaneous is not None:
            self._simultaneous = (self._simultaneous or 0.0) + derived.energy_simultaneous
        if self._simultaneous is not None:
            values["energy_simultaneous"] = round(self._simultaneous, 6)
        self.last_result = result
        self.last_telegram_at = now
        if self.update_interval_s > 0:
            # At most one update per interval; what arrived in between is averaged, not dropped.
            self._window.append(values)
            clock = monotonic()
            if self.data is not None and clock - self._window_started < self.update_interval_s:
                return
            values = _aggregate(self._window, kinds)
            self._window = []
            self._window_started = clock
        if self.data is None:
            self._window_started = monotonic()
        self.async_set_updated_data(
            P1Data(values, telegram, derived, self._link, mbus_devices(telegram), kinds)
        )

    @callback
    def _check_error_rate(self, rate: float) -> None:
        issue_id = f"high_error_rate_{self.config_entry.entry_id}"
        if len(self._recent) < 100:
            return
        if not self._error_issue and rate > 100 * ERROR_RATE_ISSUE:
            self._error_issue = True
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="high_error_rate",
                translation_placeholders={"rate": f"{rate:.1f}", "window": str(len(self._recent))},
            )
        elif self._error_issue and rate < 100 * ERROR_RATE_CLEAR:
            self._error_issue = False
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)

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
            "error_rate_percent": self._link.error_rate,
            "repair_enabled": repair is not None,
            "meter_period_s": repair.period if repair is not None else None,
            "last_telegram_at": self.last_telegram_at.isoformat()
            if self.last_telegram_at
            else None,
        }


def _aggregate(window: list[dict[str, Value]], kinds: Mapping[str, Kind]) -> dict[str, Value]:
    """Combine the telegrams of an update window: averages, maxima, any-flags, latest counters."""
    latest = dict(window[-1])
    if len(window) == 1:
        return latest
    for key, value in latest.items():
        samples = [v[key] for v in window if isinstance(v.get(key), int | float)]
        if not samples or isinstance(value, bool):
            if key in _FLAG_DERIVED:
                latest[key] = any(bool(v.get(key)) for v in window)
            continue
        if kinds.get(key) in _AVERAGED_KINDS or key in _AVERAGED_DERIVED:
            latest[key] = sum(samples) / len(samples)  # type: ignore[arg-type]
        elif key in _MAXIMUM_DERIVED:
            latest[key] = max(samples)  # type: ignore[type-var]
    return latest
