"""Sensors: every value the meter sends, the derived values, and the link's health."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfInformation,
    UnitOfPower,
    UnitOfReactivePower,
    UnitOfTime,
    UnitOfVolume,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from . import P1ConfigEntry
from .coordinator import P1Coordinator
from .entity import P1Entity, add_entities_as_they_appear
from .insight_sensor import P1InsightSensor, insight_descriptions
from .link import Pacer
from .p1lib.derived import ESTIMATED
from .p1lib.obis import Kind
from .presentation import NUMERIC_KINDS, States, enum_states, sent_decimals
from .values import DERIVED_KEYS, P1Data

PARALLEL_UPDATES = 0  # push: entities never poll

SensorValue = StateType | datetime


@dataclass(frozen=True, kw_only=True)
class P1SensorEntityDescription(SensorEntityDescription):
    """A P1 DSMR sensor: how to read its value from the coordinator's data."""

    value_fn: Callable[[P1Data], SensorValue]
    channel: int | None = None
    """M-Bus channel for gas, water and heat meters (their own devices)."""
    scale: float = 1.0
    """The value's library unit to the sensor's unit (for the window's spread attributes)."""


def _value(key: str, scale: float = 1.0) -> Callable[[P1Data], SensorValue]:
    def value_fn(data: P1Data) -> SensorValue:
        value = data.values.get(key)
        if scale != 1.0 and isinstance(value, int | float) and not isinstance(value, bool):
            return value * scale
        return value

    return value_fn


def _link(field: str) -> Callable[[P1Data], SensorValue]:
    def value_fn(data: P1Data) -> SensorValue:
        value: SensorValue = getattr(data.link, field)
        return value

    return value_fn


_E = SensorDeviceClass.ENERGY
_TOTAL = SensorStateClass.TOTAL_INCREASING
_MEASUREMENT = SensorStateClass.MEASUREMENT

# Registry keys shown by default: what a user builds dashboards and automations on.
_ENABLED = frozenset(
    {
        "energy_import",
        "energy_import_t1",
        "energy_import_t2",
        "energy_export",
        "energy_export_t1",
        "energy_export_t2",
        "power_import",
        "power_export",
        "power_import_l1",
        "power_import_l2",
        "power_import_l3",
        "power_export_l1",
        "power_export_l2",
        "power_export_l3",
        "voltage_l1",
        "voltage_l2",
        "voltage_l3",
        "current_l1",
        "current_l2",
        "current_l3",
        "power_factor",
        "power_factor_l1",
        "power_factor_l2",
        "power_factor_l3",
        "frequency",
        "tariff",
        "breaker_state",
        "breaker_state_sanxing",
        "demand_current_quarter",
        "demand_month_peak",
        "power_failures",
        "long_power_failures",
        "mbus_reading",
    }
)
_DIAGNOSTIC_KINDS = frozenset(
    (Kind.IDENTIFIER, Kind.TEXT, Kind.VERSION, Kind.PROFILE, Kind.TIMESTAMP)
)


class _Style(NamedTuple):
    """How a kind of value shows in Home Assistant."""

    device_class: SensorDeviceClass | None = None
    state_class: SensorStateClass | None = None
    unit: str | None = None
    scale: float = 1.0
    """Library unit to Home Assistant unit (kvar to var)."""


try:  # Home Assistant 2026.11 and later: reactive energy is a device class with its units
    from homeassistant.const import UnitOfReactiveEnergy  # type: ignore[attr-defined, unused-ignore]
except ImportError:  # before: a kvarh total without a device class
    _REACTIVE_ENERGY = _Style(None, _TOTAL, "kvarh")
else:
    _REACTIVE_ENERGY = _Style(
        SensorDeviceClass.REACTIVE_ENERGY,  # type: ignore[attr-defined, unused-ignore]
        _TOTAL,
        UnitOfReactiveEnergy.KILO_VOLT_AMPERE_REACTIVE_HOUR,
    )

# Device class, state class and unit for each kind of value (canonical units of the library).
_KIND_STYLES: dict[Kind, _Style] = {
    Kind.ENERGY: _Style(_E, _TOTAL, UnitOfEnergy.KILO_WATT_HOUR),
    Kind.REACTIVE_ENERGY: _REACTIVE_ENERGY,
    Kind.POWER: _Style(SensorDeviceClass.POWER, _MEASUREMENT, UnitOfPower.KILO_WATT),
    Kind.REACTIVE_POWER: _Style(
        SensorDeviceClass.REACTIVE_POWER,
        _MEASUREMENT,
        UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        scale=1000.0,  # kvar to var
    ),
    Kind.VOLTAGE: _Style(SensorDeviceClass.VOLTAGE, _MEASUREMENT, UnitOfElectricPotential.VOLT),
    Kind.CURRENT: _Style(SensorDeviceClass.CURRENT, _MEASUREMENT, UnitOfElectricCurrent.AMPERE),
    Kind.POWER_FACTOR: _Style(SensorDeviceClass.POWER_FACTOR, _MEASUREMENT),
    Kind.FREQUENCY: _Style(SensorDeviceClass.FREQUENCY, _MEASUREMENT, UnitOfFrequency.HERTZ),
    Kind.COUNT: _Style(None, _TOTAL),
    Kind.DURATION: _Style(SensorDeviceClass.DURATION, None, UnitOfTime.SECONDS),
    Kind.TIMESTAMP: _Style(SensorDeviceClass.TIMESTAMP),
}

# The reading of an M-Bus device, by the kind of device.
_MBUS_STYLES: dict[str, _Style] = {
    "water": _Style(SensorDeviceClass.WATER, _TOTAL, UnitOfVolume.CUBIC_METERS),
    "heat": _Style(_E, _TOTAL, UnitOfEnergy.GIGA_JOULE),
    "gas": _Style(SensorDeviceClass.GAS, _TOTAL, UnitOfVolume.CUBIC_METERS),
}


def _enum(key: str, states: States) -> Callable[[P1Data], SensorValue]:
    def value_fn(data: P1Data) -> SensorValue:
        value = data.values.get(key)
        if isinstance(value, str):
            return states.get(value.strip().upper())
        if isinstance(value, int | float) and float(value).is_integer():
            return states.get(int(value))
        return None

    return value_fn


def _enum_description(key: str, data: P1Data) -> P1SensorEntityDescription | None:
    """Tariff and breaker state as translated states, not bare numbers or raw ``ON``."""
    states = enum_states(key, data)
    if states is None:
        return None
    return P1SensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENUM,
        options=sorted(set(states.values()), key=list(states.values()).index),
        value_fn=_enum(key, states),
    )


def telegram_description(key: str, data: P1Data) -> P1SensorEntityDescription:
    """The description of a sensor for a value from the telegram."""
    kind = data.kinds.get(key, Kind.TEXT)
    channel: int | None = None
    translation_key = key
    placeholders: dict[str, str] | None = None
    if key.startswith("mbus") and "_" in key and key[4 : key.index("_")].isdigit():
        channel = int(key[4 : key.index("_")])
        translation_key = key[key.index("_") + 1 :]
        device = data.mbus.get(channel)
        style = (
            _MBUS_STYLES.get(device.kind if device else "gas", _MBUS_STYLES["gas"])
            if kind is Kind.MBUS_READING
            else _KIND_STYLES.get(kind, _Style())
        )
        enabled = kind is Kind.MBUS_READING
    elif key.startswith("obis_"):
        code = key[5:]
        translation_key = "obis_code"
        placeholders = {"code": code}
        style = _Style()
        enabled = False
    else:
        if (enum := _enum_description(key, data)) is not None:
            return enum
        style = _KIND_STYLES.get(kind, _Style())
        enabled = key in _ENABLED
    precision = sent_decimals(data, key, style.scale) if kind in NUMERIC_KINDS else None
    return P1SensorEntityDescription(
        key=key,
        translation_key=translation_key,
        translation_placeholders=placeholders,
        device_class=style.device_class,
        state_class=style.state_class,
        native_unit_of_measurement=style.unit,
        suggested_display_precision=precision,
        entity_category=EntityCategory.DIAGNOSTIC if kind in _DIAGNOSTIC_KINDS else None,
        entity_registry_enabled_default=enabled,
        value_fn=_value(key, style.scale),
        channel=channel,
        scale=style.scale,
    )


_P = SensorDeviceClass.POWER
_I = SensorDeviceClass.CURRENT
_KW = UnitOfPower.KILO_WATT
_A = UnitOfElectricCurrent.AMPERE

DERIVED_SENSORS: tuple[P1SensorEntityDescription, ...] = (
    *(
        P1SensorEntityDescription(
            key=key,
            translation_key=key,
            device_class=_P,
            state_class=_MEASUREMENT,
            native_unit_of_measurement=_KW,
            suggested_display_precision=3,
            entity_registry_enabled_default=not key.startswith("average_"),
            value_fn=_value(key),
        )
        for key in (
            "net_power",
            "net_power_l1",
            "net_power_l2",
            "net_power_l3",
            "simultaneous_power",
            "average_power_import",
            "average_power_export",
            "average_power_net",
        )
    ),
    *(
        P1SensorEntityDescription(
            key=key,
            translation_key=key,
            device_class=_I,
            state_class=_MEASUREMENT,
            native_unit_of_measurement=_A,
            suggested_display_precision=2,
            value_fn=_value(key),
        )
        for key in (
            "current_l1_calculated",
            "current_l2_calculated",
            "current_l3_calculated",
            "signed_current",
            "max_current",
        )
    ),
    # Not an energy device class: the Energy configuration offers it as grid consumption otherwise.
    # Still a kWh total, so its long-term statistics go on.
    P1SensorEntityDescription(
        key="energy_simultaneous",
        translation_key="energy_simultaneous",
        state_class=_TOTAL,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        value_fn=_value("energy_simultaneous"),
    ),
    P1SensorEntityDescription(
        key="max_voltage",
        translation_key="max_voltage",
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=_MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=1,
        value_fn=_value("max_voltage"),
    ),
)

_CALCULATED_CURRENTS = frozenset(f"current_l{n}_calculated" for n in (1, 2, 3))
_ESTIMATE_PRECISION = 1
"""Decimals of an estimated current: the fit's error is tenths of an amp (README, *Currents with
decimals*), its hundredths are noise."""


def current_description(
    description: P1SensorEntityDescription, data: P1Data
) -> P1SensorEntityDescription:
    """A current with decimals named for how it is found: *estimated* from whole amps, *precise*
    where the meter measures it or sends per-phase power."""
    derived = data.derived
    if derived is None or derived.current_method not in ESTIMATED:
        if derived is not None and derived.current_method == "reported":
            phase = description.key[len("current_l")]
            decimals = sent_decimals(data, f"current_l{phase}")
            if decimals is not None:
                return replace(description, suggested_display_precision=decimals)
        return description
    if description.key not in _CALCULATED_CURRENTS:  # the highest of them: only its decimals
        return replace(description, suggested_display_precision=_ESTIMATE_PRECISION)
    return replace(
        description,
        translation_key=description.key.replace("_calculated", "_estimated"),
        suggested_display_precision=_ESTIMATE_PRECISION,
    )


def _phase(key: str) -> Callable[[P1Data], SensorValue]:
    def value_fn(data: P1Data) -> SensorValue:
        value = data.values.get(key)
        return None if value is None else f"l{value}"

    return value_fn


PHASE_SENSORS: tuple[P1SensorEntityDescription, ...] = tuple(
    P1SensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENUM,
        options=["l1", "l2", "l3"],
        value_fn=_phase(key),
    )
    for key in ("max_voltage_phase", "max_current_phase")
)

LINK_SENSORS: tuple[P1SensorEntityDescription, ...] = (
    *(
        P1SensorEntityDescription(
            key=f"telegrams_{field}",
            translation_key=f"telegrams_{field}",
            entity_category=EntityCategory.DIAGNOSTIC,
            state_class=_TOTAL,
            value_fn=_link(field),
        )
        for field in ("received", "valid", "repaired", "invalid")
    ),
    P1SensorEntityDescription(
        key="error_rate",
        translation_key="error_rate",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=_MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=2,
        value_fn=_link("error_rate"),
    ),
    P1SensorEntityDescription(
        key="last_repair",
        translation_key="last_repair",
        entity_category=EntityCategory.DIAGNOSTIC,
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_link("last_repair"),
    ),
)

ARCHIVE_SENSOR = P1SensorEntityDescription(
    key="bytes_not_archived",
    translation_key="bytes_not_archived",
    entity_category=EntityCategory.DIAGNOSTIC,
    device_class=SensorDeviceClass.DATA_SIZE,
    state_class=_TOTAL,
    native_unit_of_measurement=UnitOfInformation.BYTES,
    value_fn=lambda data: None,  # read from the archive (P1ArchiveSensor)
)

_STATIC = {d.key: d for d in (*DERIVED_SENSORS, *PHASE_SENSORS)}
_SKIPPED = frozenset(DERIVED_KEYS.values()) - _STATIC.keys()  # binary sensors, or not sensors


def available_descriptions(data: P1Data) -> list[P1SensorEntityDescription]:
    """Descriptions for every value present in ``data``."""
    descriptions: list[P1SensorEntityDescription] = []
    for key, value in data.values.items():
        if key in _CALCULATED_CURRENTS:
            # Whenever the meter sends the phase's current: unknown while the inputs disagree.
            if value is not None or data.values.get(key.removesuffix("_calculated")) is not None:
                descriptions.append(current_description(_STATIC[key], data))
        elif key == "max_current":
            if value is not None:
                descriptions.append(current_description(_STATIC[key], data))
        elif key in _STATIC:
            if value is not None or key in ("net_power", "max_voltage"):
                descriptions.append(_STATIC[key])
        elif key not in _SKIPPED:
            descriptions.append(telegram_description(key, data))
    return descriptions


async def async_setup_entry(
    hass: HomeAssistant,
    entry: P1ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add sensors for what the meter sends, and more as new values appear (M-Bus devices)."""
    coordinator = entry.runtime_data
    async_add_entities(P1LinkSensor(coordinator, description) for description in LINK_SENSORS)
    if coordinator.archive is not None and coordinator.archive.enabled:
        async_add_entities([P1ArchiveSensor(coordinator, ARCHIVE_SENSOR)])
    add_entities_as_they_appear(entry, async_add_entities, available_descriptions, P1Sensor)
    add_entities_as_they_appear(entry, async_add_entities, insight_descriptions, P1InsightSensor)


ATTR_MINIMUM = "minimum"
ATTR_MAXIMUM = "maximum"
ATTR_TELEGRAMS = "telegrams"


class P1Sensor(P1Entity, SensorEntity):
    """A sensor of the meter (or of one of its M-Bus devices).

    An averaged value shown for an update window of several telegrams carries the window's lowest
    and highest reading and its number of telegrams as attributes, for automations on a spike the
    average smooths (``numeric_state`` with ``attribute: maximum``). They change with every window
    and the long-term statistics keep their own minimum and maximum: not recorded.
    """

    entity_description: P1SensorEntityDescription
    _unrecorded_attributes = frozenset({ATTR_MINIMUM, ATTR_MAXIMUM, ATTR_TELEGRAMS})

    def __init__(self, coordinator: P1Coordinator, description: P1SensorEntityDescription):
        super().__init__(coordinator, description, description.channel)

    def current_value(self) -> SensorValue:
        data = self.coordinator.data
        return None if data is None else self.entity_description.value_fn(data)

    @property
    def native_value(self) -> SensorValue:
        """The value, in the description's unit."""
        return self.current_value()

    @property
    def extra_state_attributes(self) -> dict[str, float | int] | None:
        """The window's spread of an averaged value (none for a single telegram)."""
        data = self.coordinator.data
        spread = None if data is None else data.spread.get(self.entity_description.key)
        if spread is None:
            return None
        scale = self.entity_description.scale
        return {
            ATTR_MINIMUM: spread.minimum * scale,
            ATTR_MAXIMUM: spread.maximum * scale,
            ATTR_TELEGRAMS: spread.telegrams,
        }


class P1LinkSensor(P1Sensor):
    """How healthy the P1 link is (available even while the source is lost); its state is
    written at most once per :data:`~.link.LINK_PACE` (counters that tick with every telegram)."""

    _pacer: Pacer | None = None

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self._pacer = Pacer(self.hass, self._write_if_changed)
        self.async_on_remove(self._pacer.cancel)

    def _handle_coordinator_update(self) -> None:
        if self._pacer is not None:
            self._pacer.request()

    @property
    def available(self) -> bool:
        return True

    def current_value(self) -> SensorValue:
        # The statistics now, also before the first telegram and while only noise arrives.
        return self.entity_description.value_fn(P1Data({}, None, None, self.coordinator.link.stats))


class P1ArchiveSensor(P1LinkSensor):
    """Bytes received that the archive could not keep (a full or read-only disk, a stream faster
    than the disk): zero unless something needs attention."""

    def current_value(self) -> SensorValue:
        archive = self.coordinator.archive
        return archive.bytes_not_archived if archive is not None else None
