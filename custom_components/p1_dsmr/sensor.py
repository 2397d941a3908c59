"""Sensors: every value the meter sends, the derived values, and the link's health."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from .p1lib.obis import Kind
from .values import DERIVED_KEYS, P1Data

PARALLEL_UPDATES = 0  # push: entities never poll

SensorValue = StateType | datetime


@dataclass(frozen=True, kw_only=True)
class P1SensorEntityDescription(SensorEntityDescription):
    """A P1 DSMR sensor: how to read its value from the coordinator's data."""

    value_fn: Callable[[P1Data], SensorValue]
    channel: int | None = None
    """M-Bus channel for gas, water and heat meters (their own devices)."""


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
        style = _KIND_STYLES.get(kind, _Style())
        enabled = key in _ENABLED
    return P1SensorEntityDescription(
        key=key,
        translation_key=translation_key,
        translation_placeholders=placeholders,
        device_class=style.device_class,
        state_class=style.state_class,
        native_unit_of_measurement=style.unit,
        entity_category=EntityCategory.DIAGNOSTIC if kind in _DIAGNOSTIC_KINDS else None,
        entity_registry_enabled_default=enabled,
        value_fn=_value(key, style.scale),
        channel=channel,
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
    P1SensorEntityDescription(
        key="energy_simultaneous",
        translation_key="energy_simultaneous",
        device_class=_E,
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
        value_fn=_value("max_voltage"),
    ),
)


def _phase(key: str) -> Callable[[P1Data], SensorValue]:
    def value_fn(data: P1Data) -> SensorValue:
        value = data.values.get(key)
        return None if value is None else str(value)

    return value_fn


PHASE_SENSORS: tuple[P1SensorEntityDescription, ...] = tuple(
    P1SensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENUM,
        options=["1", "2", "3"],
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
        if key in _STATIC:
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


class P1Sensor(P1Entity, SensorEntity):
    """A sensor of the meter (or of one of its M-Bus devices)."""

    entity_description: P1SensorEntityDescription

    def __init__(self, coordinator: P1Coordinator, description: P1SensorEntityDescription):
        super().__init__(coordinator, description, description.channel)

    def current_value(self) -> SensorValue:
        data = self.coordinator.data
        return None if data is None else self.entity_description.value_fn(data)

    @property
    def native_value(self) -> SensorValue:
        """The value, in the description's unit."""
        return self.current_value()


class P1LinkSensor(P1Sensor):
    """How healthy the P1 link is (available even while the source is lost)."""

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
