"""From a telegram to what the entities show: values in canonical units, averaged over a window."""

from __future__ import annotations

import math
import re
import statistics
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from .const import LOGGER
from .link import LinkStats
from .p1lib.derived import Derived
from .p1lib.obis import MBUS_DEVICE_TYPES, Kind
from .p1lib.parsing import Telegram

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

# What a meter can physically report, in the library's canonical units (generous: a value outside
# is damage the CRC did not catch or a hostile stream, never a reading). Derived values have the
# kind of what they measure.
_RANGES: Mapping[Kind | None, tuple[float, float]] = {
    Kind.ENERGY: (0.0, 1e10),  # kWh
    Kind.REACTIVE_ENERGY: (0.0, 1e10),  # kvarh
    Kind.POWER: (-1e5, 1e5),  # kW
    Kind.REACTIVE_POWER: (-1e5, 1e5),  # kvar
    Kind.VOLTAGE: (0.0, 1e3),  # V
    Kind.CURRENT: (-1e4, 1e4),  # A
    Kind.POWER_FACTOR: (-1.0, 1.0),
    Kind.FREQUENCY: (0.0, 1e3),  # Hz
    Kind.DURATION: (0.0, 1e12),  # s
    Kind.MBUS_READING: (0.0, 1e10),
    Kind.GAS: (0.0, 1e10),
    Kind.WATER: (0.0, 1e10),
    Kind.HEAT: (0.0, 1e10),
}
_ANY_NUMBER = (-1e15, 1e15)  # counts, states, codes the registry does not know
_DERIVED_KINDS: Mapping[str, Kind] = {
    **dict.fromkeys(
        (
            "net_power",
            "net_power_l1",
            "net_power_l2",
            "net_power_l3",
            "simultaneous_power",
            "average_power_import",
            "average_power_export",
            "average_power_net",
        ),
        Kind.POWER,
    ),
    **dict.fromkeys(
        (
            "current_l1_calculated",
            "current_l2_calculated",
            "current_l3_calculated",
            "signed_current",
            "max_current",
        ),
        Kind.CURRENT,
    ),
    "max_voltage": Kind.VOLTAGE,
    "energy_simultaneous": Kind.ENERGY,
}
AUTO_WINDOW = 10.0
"""Seconds of the automatic update window of a meter that sends at least every
:data:`AUTO_FAST_PERIOD` (a DSMR 5 meter's 1 s): 6 updates a minute per sensor."""
AUTO_FAST_PERIOD = 5.0
"""Slower meters (10 s: DSMR 4, Hungarian, Belgian) keep one update per telegram by default."""
CROSSING_HOLDOFF = 60.0
"""Seconds after a threshold crossing shown at once before the next is (a voltage that hovers
around the threshold would otherwise add two updates per window); one within it is in its window:
the flag on, the reading in the window's maximum."""
MAX_INTERVAL_ENERGY = 1e4  # kWh: more imported and exported in one telegram interval is not real
MAX_UNKNOWN_CODES = 40
"""Codes the registry does not know that get an entity; more are counted, not registered."""
MAX_MBUS_CHANNEL = 4
"""M-Bus channels 1-4 (the DSMR limit) get devices; values of higher channels are counted."""
_MBUS_KEY = re.compile(r"mbus(\d+)_")


def plausible(kind: Kind | None, value: float) -> bool:
    """Whether a number is finite and within what a meter of this kind can report."""
    low, high = _RANGES.get(kind, _ANY_NUMBER)
    return math.isfinite(value) and low <= value <= high


def mbus_key(channel: int, key: str) -> str:
    """Entity key of an M-Bus channel's value."""
    return f"mbus{channel}_{key}"


def unknown_key(code: str) -> str:
    """Entity key of a code the registry does not know."""
    return "obis_" + code.replace("-", "_").replace(":", "_").replace(".", "_").replace("*", "_")


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
    spread: Mapping[str, Spread] = field(default_factory=dict)
    """For averaged values of a window of several telegrams: the lowest and highest reading."""


@dataclass(frozen=True, slots=True)
class Spread:
    """What an averaged value did within its update window."""

    minimum: float
    maximum: float
    telegrams: int


@dataclass(frozen=True, slots=True)
class Update:
    """One set of values for the entities (a window's aggregate, or one telegram's values)."""

    values: dict[str, Value]
    kinds: dict[str, Kind]
    spread: dict[str, Spread] = field(default_factory=dict)


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


def aggregate(
    window: list[dict[str, Value]],
    kinds: Mapping[str, Kind],
    spread: dict[str, Spread] | None = None,
) -> dict[str, Value]:
    """Combine the telegrams of an update window: averages, maxima, any-flags, latest counters
    (energy, counts, texts: the newest telegram's, exact). With ``spread``, the lowest and highest
    reading of each averaged value is put there."""
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
            # Rounded below the meters' resolution: float noise is no new state.
            latest[key] = round(sum(samples) / len(samples), 6)  # type: ignore[arg-type]
            if spread is not None:
                spread[key] = Spread(min(samples), max(samples), len(samples))  # type: ignore[type-var, arg-type]
        elif key in _MAXIMUM_DERIVED:
            latest[key] = max(samples)  # type: ignore[type-var]
    return latest


class MeterPeriod:
    """The meter's period, learned from its own clock (the median of the last steps between the
    timestamps of accepted telegrams, so a lost or repeated telegram does not move it); for a
    meter without a clock, from the times the telegrams arrived."""

    def __init__(self) -> None:
        self._steps: deque[float] = deque(maxlen=9)
        self._arrivals: deque[float] = deque(maxlen=9)
        self._previous: datetime | None = None
        self._arrived: float | None = None

    def add(self, stamp: datetime | None, arrived: float | None = None) -> None:
        """Take the clock of an accepted telegram (and its monotonic arrival time)."""
        if stamp is not None:
            previous, self._previous = self._previous, stamp
            if previous is not None:
                step = (stamp - previous).total_seconds()
                if 0 < step <= 3600:
                    self._steps.append(step)
        if arrived is not None:
            if self._arrived is not None and 0 < arrived - self._arrived <= 3600:
                self._arrivals.append(arrived - self._arrived)
            self._arrived = arrived

    @property
    def seconds(self) -> float | None:
        """The period, once two telegrams a period apart were seen."""
        if self._steps:
            return statistics.median(self._steps)
        if self._previous is None and self._arrivals:  # a meter without a clock
            return statistics.median(self._arrivals)
        return None


def automatic_interval(period: float | None) -> float:
    """The default update window for a meter of this period: :data:`AUTO_WINDOW` for fast meters,
    every telegram for the others (and until the period is known)."""
    if period is not None and period <= AUTO_FAST_PERIOD:
        return AUTO_WINDOW
    return 0.0


class ValueMapper:
    """Turns accepted telegrams into entity values; with an update interval, one set of values per
    interval, averaged over the telegrams it received (nothing is dropped). Without one
    (``None``), the interval follows the meter's period (:func:`automatic_interval`).

    A threshold crossing is never hidden in a window: the telegram that raises an overvoltage,
    overcurrent or overpower flag not raised in the values shown closes the window (its aggregate
    is shown) and is shown at once on its own, its voltages and currents as the meter sent them.

    What the entities could not show, or a hostile stream could grow without end, is counted and
    logged once instead: a number that is not finite or outside its physical range (that value
    only), codes the registry does not know beyond :data:`MAX_UNKNOWN_CODES`, M-Bus channels above
    :data:`MAX_MBUS_CHANNEL`.
    """

    def __init__(self, update_interval: float | None) -> None:
        self.update_interval = update_interval
        """Seconds chosen in the options; None: automatic."""
        self.period = MeterPeriod()
        self._window: list[dict[str, Value]] = []
        self._window_started: float | None = None
        self._flags_shown: frozenset[str] = frozenset()
        self._crossed: float | None = None  # clock of the last crossing shown at once
        self._simultaneous: float | None = None  # kWh imported and exported in the same intervals
        self.dropped_values: dict[str, int] = {}
        """Per entity key: values dropped as not finite or out of their physical range."""
        self.unknown_codes: set[str] = set()
        """Keys of the codes the registry does not know that have an entity."""
        self.ignored_codes: set[str] = set()
        self.ignored_channels: set[int] = set()

    def admit_unknown_codes(self, keys: Iterable[str]) -> None:
        """Count codes that already have an entity (from the registry) against the limit."""
        for key in keys:
            if key.startswith("obis_") and len(self.unknown_codes) < MAX_UNKNOWN_CODES:
                self.unknown_codes.add(key)

    @property
    def interval(self) -> float:
        """The update window in effect, in seconds (0: every telegram)."""
        if self.update_interval is not None:
            return self.update_interval
        return automatic_interval(self.period.seconds)

    def update(self, telegram: Telegram, derived: Derived, clock: float) -> list[Update]:
        """The values to show after this telegram: none while an update window is open, the
        window's aggregate when it closes, and a telegram that crosses a threshold on its own.

        ``clock`` is a monotonic time in seconds.
        """
        self.period.add(telegram.timestamp, clock)
        values, kinds = telegram_values(telegram)
        self._bound(values, kinds)
        derived_ok = self._check(values, kinds)
        derived_dict = derived_values(derived)
        if derived_ok:
            self._check(derived_dict, _DERIVED_KINDS)
        else:  # derived from a value that cannot be: not shown either
            derived_dict = dict.fromkeys(derived_dict)
        values.update(derived_dict)
        simultaneous = derived.energy_simultaneous if derived_ok else None
        if simultaneous is not None:
            if 0.0 <= simultaneous <= MAX_INTERVAL_ENERGY:
                self._simultaneous = (self._simultaneous or 0.0) + simultaneous
            else:
                self._drop("energy_simultaneous", simultaneous)
        if self._simultaneous is not None:
            values["energy_simultaneous"] = round(self._simultaneous, 6)
        raised = frozenset(k for k in _FLAG_DERIVED if values.get(k) is True)
        interval = self.interval
        updates: list[Update] = []
        crossed = self._crossed
        if raised - self._flags_shown and (crossed is None or clock - crossed >= CROSSING_HOLDOFF):
            # A crossing: what the window held so far, then this telegram as the meter sent it.
            self._crossed = clock
            if self._window:
                updates.append(self._close(kinds))
            self._window_started = clock
            updates.append(Update(values, kinds))
        elif interval > 0:
            # At most one update per interval; what arrived in between is averaged, not dropped.
            # (A quarter second early counts: arrival times jitter around the meter's period.)
            self._window.append(values)
            started = self._window_started
            if started is None or clock - started + 0.25 >= interval:
                updates.append(self._close(kinds))
                self._window_started = clock
        else:
            self._window_started = clock
            updates.append(Update(values, kinds))
        if updates:
            last = updates[-1].values
            self._flags_shown = frozenset(k for k in _FLAG_DERIVED if last.get(k) is True)
        return updates

    def _close(self, kinds: dict[str, Kind]) -> Update:
        spread: dict[str, Spread] = {}
        values = aggregate(self._window, kinds, spread)
        self._window = []
        return Update(values, kinds, spread)

    def devices(self, telegram: Telegram) -> dict[int, MbusDevice]:
        """The M-Bus devices of the telegram that get a device (channels 1 to the limit)."""
        return {c: d for c, d in mbus_devices(telegram).items() if 1 <= c <= MAX_MBUS_CHANNEL}

    def _bound(self, values: dict[str, Value], kinds: dict[str, Kind]) -> None:
        """Leave out codes and channels beyond the limits (counted, logged once)."""
        for key in [k for k in values if k.startswith(("obis_", "mbus"))]:
            if key.startswith("obis_"):
                if key in self.unknown_codes:
                    continue
                if len(self.unknown_codes) < MAX_UNKNOWN_CODES and len(key) <= 64:
                    self.unknown_codes.add(key)
                    continue
                if not self.ignored_codes:
                    LOGGER.warning(
                        "The meter sends more than %d codes this integration does not know "
                        "(now %s): the others get no entity; they are counted in the diagnostics",
                        MAX_UNKNOWN_CODES,
                        key,
                    )
                if len(self.ignored_codes) < 10_000:  # counted exactly up to here
                    self.ignored_codes.add(key)
            else:
                match = _MBUS_KEY.match(key)
                if match is None or 1 <= (channel := int(match.group(1))) <= MAX_MBUS_CHANNEL:
                    continue
                if not self.ignored_channels:
                    LOGGER.warning(
                        "The meter sends values of M-Bus channel %d; channels above %d get no "
                        "device; they are counted in the diagnostics",
                        channel,
                        MAX_MBUS_CHANNEL,
                    )
                if len(self.ignored_channels) < 1000:
                    self.ignored_channels.add(channel)
            del values[key]
            kinds.pop(key, None)

    def _check(self, values: dict[str, Value], kinds: Mapping[str, Kind]) -> bool:
        """Drop numbers that are not finite or out of their physical range (that value only);
        False when one was dropped."""
        fine = True
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not plausible(kinds.get(key), value):
                values[key] = None
                self._drop(key, value)
                fine = False
        return fine

    def _drop(self, key: str, value: float) -> None:
        count = self.dropped_values.get(key, 0)
        if not count:
            LOGGER.warning(
                "Dropped %s = %s: not a number a meter can report; counted in the diagnostics "
                "(logged once per value)",
                key,
                value,
            )
        if count or len(self.dropped_values) < 10 * MAX_UNKNOWN_CODES:
            self.dropped_values[key] = count + 1
