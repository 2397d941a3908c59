"""Which entity of the entry each imported value becomes the statistics of, in which unit."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.recorder import is_entity_recorded
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from .const import DOMAIN
from .history_statistics import converter_for
from .p1lib.history import DERIVED_PREFIX, GAS_KEY
from .p1lib.hourly import History, HourlyCounter, Series
from .p1lib.obis import Kind


@dataclass(slots=True)
class Target:
    """An entity whose statistics a value's hours become."""

    key: str
    entity_id: str
    series: Series
    convert: Callable[[float], float]
    unit: str | None
    device_class: str | None


def entity_key(key: str) -> str:
    """The entity key of a value key (derived values have entity keys of their own)."""
    if key.startswith(DERIVED_PREFIX):
        from .coordinator import DERIVED_KEYS

        return DERIVED_KEYS.get(key[len(DERIVED_PREFIX) :], key)
    return key


_MBUS_READING = re.compile(r"mbus(\d+)_mbus_reading(_dsmr22)?")


def targets(
    hass: HomeAssistant, entry: ConfigEntry, history: History
) -> tuple[list[Target], dict[str, str]]:
    """The entities the values go to; why the others are not imported."""
    from .coordinator import LinkStats, P1Data
    from .sensor import DERIVED_SENSORS, telegram_description
    from .values import MbusDevice

    registry = er.async_get(hass)
    base = entry.unique_id or entry.entry_id
    gas_entity: str | None = None
    for known in er.async_entries_for_config_entry(registry, entry.entry_id):
        suffix = known.unique_id.removeprefix(f"{base}_")
        if _MBUS_READING.fullmatch(suffix) and known.original_device_class == "gas":
            gas_entity = gas_entity or suffix
    static = {d.key: d for d in DERIVED_SENSORS}
    found: list[Target] = []
    skipped: dict[str, str] = {}
    for key, series in sorted(history.series.items()):
        key_of_entity = gas_entity if key == GAS_KEY and gas_entity else entity_key(key)
        entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"{base}_{key_of_entity}")
        reg = registry.async_get(entity_id) if entity_id else None
        if entity_id is None or reg is None:
            skipped[key] = "no entity"
            continue
        state_class = (reg.capabilities or {}).get("state_class")
        if reg.disabled_by is not None:
            skipped[entity_id] = "disabled"
            continue
        if not is_entity_recorded(hass, entity_id):
            skipped[entity_id] = "not recorded"
            continue
        if (series.counter and state_class not in ("total", "total_increasing")) or (
            not series.counter and state_class != "measurement"
        ):
            skipped[entity_id] = "no statistics"
            continue
        description = static.get(key_of_entity)
        if description is None:
            match = _MBUS_READING.fullmatch(key_of_entity)
            mbus = {}
            if match:
                channel = int(match.group(1))
                kind = history.mbus_kinds.get(channel, "gas")
                mbus = {channel: MbusDevice(channel, kind, None)}
            kinds = {key_of_entity: series.kind or Kind.MBUS_READING}
            description = telegram_description(
                key_of_entity, P1Data({}, None, None, LinkStats(), mbus, kinds)
            )
        probe = description.value_fn(P1Data({key_of_entity: 1.0}, None, None, LinkStats()))
        scale = float(probe) if isinstance(probe, int | float) else 1.0
        state = hass.states.get(entity_id)
        attributes = state.attributes if state is not None else {}
        native = description.native_unit_of_measurement
        unit = attributes.get(ATTR_UNIT_OF_MEASUREMENT, reg.unit_of_measurement or native)
        device_class = attributes.get(ATTR_DEVICE_CLASS) or reg.device_class
        device_class = device_class or reg.original_device_class
        convert = converter_for(device_class, native, unit)
        if convert is None:
            skipped[entity_id] = f"unit {unit} is not {native}"
            continue
        found.append(Target(key, entity_id, series, _scaled(convert, scale), unit, device_class))
    return found, skipped


def _scaled(convert: Callable[[float], float], scale: float) -> Callable[[float], float]:
    if scale == 1.0:
        return convert
    return lambda value: convert(value * scale)


def counter_hours(target: Target, before: int) -> list[HourlyCounter]:
    """A counter's hours before ``before``, in the statistic's unit."""
    convert = target.convert
    return [
        HourlyCounter(
            h.start, convert(h.first), convert(h.last), convert(h.sum_first), convert(h.sum_last)
        )
        for h in target.series.counters()
        if h.start < before
    ]


def chained(
    first: Callable[[float], float], then: Callable[[float], float]
) -> Callable[[float], float]:
    """``then`` after ``first``."""
    return lambda value: then(first(value))
