"""Binary sensors: a phase above the voltage or current threshold, power above the limit."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import P1ConfigEntry
from .coordinator import P1Coordinator, P1Data
from .entity import P1Entity, add_entities_as_they_appear

PARALLEL_UPDATES = 0  # push: entities never poll


@dataclass(frozen=True, kw_only=True)
class P1BinarySensorEntityDescription(BinarySensorEntityDescription):
    """A threshold flag derived by the library."""

    phase: int | None = None


BINARY_SENSORS: tuple[P1BinarySensorEntityDescription, ...] = (
    *(
        P1BinarySensorEntityDescription(
            key=f"{flag}_l{phase}",
            translation_key=f"{flag}_l{phase}",
            device_class=BinarySensorDeviceClass.PROBLEM,
            phase=phase,
        )
        for flag in ("overvoltage", "overcurrent")
        for phase in (1, 2, 3)
    ),
    P1BinarySensorEntityDescription(
        key="overpower",
        translation_key="overpower",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_registry_enabled_default=False,
    ),
)

_PHASE_CODES = {1: "1-0:32.7.0", 2: "1-0:52.7.0", 3: "1-0:72.7.0"}
_CURRENT_CODES = {1: "1-0:31.7.0", 2: "1-0:51.7.0", 3: "1-0:71.7.0"}


def present_flags(data: P1Data) -> list[P1BinarySensorEntityDescription]:
    """The flags for the phases (and the total power) the meter measures."""
    telegram = data.telegram
    if telegram is None:
        return []
    found = []
    for description in BINARY_SENSORS:
        phase = description.phase
        if description.key.startswith("overvoltage") and phase is not None:
            code = _PHASE_CODES[phase]
        elif description.key.startswith("overcurrent") and phase is not None:
            code = _CURRENT_CODES[phase]
        else:
            code = "1-0:1.7.0"
        if telegram.get(code) is not None:
            found.append(description)
    return found


async def async_setup_entry(
    hass: HomeAssistant,
    entry: P1ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the flags for the phases the meter measures."""
    add_entities_as_they_appear(entry, async_add_entities, present_flags, P1BinarySensor)


class P1BinarySensor(P1Entity, BinarySensorEntity):
    """On while the condition holds (in the last telegram, or any telegram of an update window)."""

    entity_description: P1BinarySensorEntityDescription

    def __init__(
        self, coordinator: P1Coordinator, description: P1BinarySensorEntityDescription
    ) -> None:
        super().__init__(coordinator, description)

    @property
    def is_on(self) -> bool | None:
        """Whether the threshold is exceeded."""
        value = self.current_value()
        return None if value is None else bool(value)
