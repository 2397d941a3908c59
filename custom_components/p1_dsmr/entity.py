"""The base class of P1 DSMR entities."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURERS
from .coordinator import P1Coordinator, P1Data, Value
from .p1lib.parsing import Telegram

if TYPE_CHECKING:
    from . import P1ConfigEntry


def add_entities_as_they_appear[DescriptionT: EntityDescription](
    entry: P1ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    present: Callable[[P1Data], Iterable[DescriptionT]],
    factory: Callable[[P1Coordinator, DescriptionT], Entity],
) -> None:
    """Add an entity for each description ``present`` finds, now and whenever new ones appear
    (a gas meter plugged in later); each key once."""
    coordinator = entry.runtime_data
    known: set[str] = set()

    @callback
    def add_new() -> None:
        data = coordinator.data
        if data is None or data.telegram is None:
            return
        new = [d for d in present(data) if d.key not in known]
        if new:
            known.update(d.key for d in new)
            async_add_entities(factory(coordinator, d) for d in new)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(add_new))


class P1Entity(CoordinatorEntity[P1Coordinator]):
    """An entity fed by the coordinator; it writes its state only when its value changed."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: P1Coordinator,
        description: EntityDescription,
        channel: int | None = None,
    ) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        base = entry.unique_id or entry.entry_id
        self._attr_unique_id = f"{base}_{description.key}"
        self._written: tuple[bool, Value] | None = None
        self._attr_device_info = (
            meter_device_info(coordinator)
            if channel is None
            else mbus_device_info(coordinator, channel)
        )

    @property
    def available(self) -> bool:
        """Unavailable while the source is lost."""
        return super().available and self.coordinator.connected

    def current_value(self) -> Value:
        """The entity's value from the coordinator's data."""
        data = self.coordinator.data
        if data is None:
            return None
        return data.values.get(self.entity_description.key)

    def _handle_coordinator_update(self) -> None:
        """Write the state only when the value or the availability changed (cheap per telegram)."""
        self._write_if_changed()

    def _write_if_changed(self) -> bool:
        """Write the state if the value or the availability changed; whether it wrote."""
        state = (self.available, self.current_value())
        if state == self._written:
            return False
        self._written = state
        self.async_write_ha_state()
        return True


# Home Assistant 2026.8 links a device to the device it is connected through by that device's id
# (DeviceInfo.via_device_id) and deprecates the link by its identifiers (via_device, removed in
# 2027.8), which 2025.4 alone knows.
LINK_BY_DEVICE_ID = "via_device_id" in DeviceInfo.__optional_keys__


_DIGIT_RUN = re.compile(r"\d{6,}")


def meter_model(telegram: Telegram) -> str | None:
    """The model the header names (``/ISk5\\2MT382-1000``: ``MT382-1000``), or None where the
    header carries a serial number instead (``/AUX59902759988``, ``/XMX5LGBBFG1009050373``)."""
    ident = telegram.header.ident
    if ident.startswith("\\"):
        ident = ident[2:]  # the escape of IEC 62056-21's enhanced identification
    ident = ident.strip().strip("-_").strip()
    if not ident or _DIGIT_RUN.search(ident):
        return None
    equipment = (telegram.equipment_id or "").replace(" ", "")
    if equipment and ident.replace(" ", "") in equipment:
        return None
    return ident


def meter_software(telegram: Telegram) -> str | None:
    """The P1 standard and version the meter speaks (``DSMR 5.0``, ``e-MUCS 50217``)."""
    dsmr = telegram.get("1-3:0.2.8")
    if dsmr is not None and dsmr.values and dsmr.values[0].raw.isdigit():
        raw = dsmr.values[0].raw
        return f"DSMR {raw[0]}.{raw[1:]}" if len(raw) >= 2 else f"DSMR {raw}"
    emucs = telegram.get("0-0:96.1.4")
    if emucs is not None and emucs.values and emucs.values[0].raw:
        return f"e-MUCS {emucs.values[0].raw}"
    return None


def _name_placeholder(coordinator: P1Coordinator) -> dict[str, str] | None:
    """The entry's title, for every meter but the first of this integration: two meters are two
    devices with their own names (and entity ids), not "Electricity meter" twice."""
    entry = coordinator.config_entry
    entries = coordinator.hass.config_entries.async_entries(DOMAIN)
    if not entries or entries[0].entry_id == entry.entry_id:
        return None
    return {"name": entry.title}


def mbus_device_info(coordinator: P1Coordinator, channel: int) -> DeviceInfo:
    """A gas, water or heat meter on an M-Bus channel, connected through the electricity meter."""
    entry = coordinator.config_entry
    base = entry.unique_id or entry.entry_id
    mbus = coordinator.data.mbus.get(channel) if coordinator.data else None
    kind = mbus.kind if mbus is not None else "gas"
    identifiers = {(DOMAIN, f"{base}_mbus{channel}")}
    translation_key = f"mbus_{kind}" if kind in ("gas", "water", "heat") else "mbus_other"
    placeholders = {"channel": str(channel)}
    if (named := _name_placeholder(coordinator)) is not None:
        translation_key += "_named"
        placeholders.update(named)
    serial_number = mbus.equipment_id if mbus is not None else None
    # The electricity meter is registered first: the link needs its device.
    meter = dr.async_get(coordinator.hass).async_get_or_create(
        config_entry_id=entry.entry_id, **meter_device_info(coordinator)
    )
    # No model: the M-Bus data names no model, and the device's name says what kind it is.
    if LINK_BY_DEVICE_ID:
        return DeviceInfo(  # type: ignore[typeddict-unknown-key, unused-ignore]  # 2025.4: no key
            identifiers=identifiers,
            via_device_id=meter.id,
            translation_key=translation_key,
            translation_placeholders=placeholders,
            serial_number=serial_number,
        )
    return DeviceInfo(  # type: ignore[call-arg, unused-ignore]  # 2026.8+: hidden, deprecated
        identifiers=identifiers,
        via_device=(DOMAIN, base),
        translation_key=translation_key,
        translation_placeholders=placeholders,
        serial_number=serial_number,
    )


def meter_device_info(coordinator: P1Coordinator) -> DeviceInfo:
    """The electricity meter: manufacturer, model and standard from the telegram's header and
    version line, its equipment identifier as the serial number."""
    entry = coordinator.config_entry
    base = entry.unique_id or entry.entry_id
    telegram = coordinator.data.telegram if coordinator.data else None
    info = DeviceInfo(
        identifiers={(DOMAIN, base)},
        translation_key="meter",
        serial_number=entry.unique_id,
    )
    if (named := _name_placeholder(coordinator)) is not None:
        info["translation_key"] = "meter_named"
        info["translation_placeholders"] = named
    if telegram is not None:
        # The equipment identifier; not the header the unique id falls back to without one.
        info["serial_number"] = telegram.equipment_id
        flag = telegram.header.flag.upper()
        if flag in MANUFACTURERS:
            info["manufacturer"] = MANUFACTURERS[flag]
        if (model := meter_model(telegram)) is not None:
            info["model"] = model
        if (software := meter_software(telegram)) is not None:
            info["sw_version"] = software
    return info
