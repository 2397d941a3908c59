"""The phase insight's sensors: grid impedance and voltage headroom per phase, the best phase for a
load (see :mod:`.insight`). Added by the sensor platform once the meter's phases are known."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfElectricPotential
from homeassistant.helpers.typing import StateType

from .coordinator import P1Coordinator
from .entity import P1Entity
from .insight import LOAD_KW, InsightFeed
from .values import P1Data

OHM = "Ω"


@dataclass(frozen=True, kw_only=True)
class P1InsightSensorEntityDescription(SensorEntityDescription):
    """A phase insight sensor: its value and attributes from the :class:`InsightFeed`."""

    value_fn: Callable[[InsightFeed], StateType]
    attributes_fn: Callable[[InsightFeed], dict[str, Any]] = lambda feed: {}
    phase: int
    """The phase whose voltage the sensor needs (1-3)."""


def _impedance(phase: int) -> Callable[[InsightFeed], StateType]:
    def value_fn(feed: InsightFeed) -> StateType:
        estimate = feed.impedance(phase)
        return None if estimate is None else round(estimate.value, 4)

    return value_fn


def _impedance_attributes(phase: int) -> Callable[[InsightFeed], dict[str, Any]]:
    def attributes_fn(feed: InsightFeed) -> dict[str, Any]:
        estimate = feed.impedance(phase)
        return {
            "confidence": None if estimate is None else estimate.confidence,
            "interval_low": None if estimate is None else round(estimate.low, 4),
            "interval_high": None if estimate is None else round(estimate.high, 4),
            "load_events": feed.load_events(phase),
        }

    return attributes_fn


def _headroom(phase: int) -> Callable[[InsightFeed], StateType]:
    return lambda feed: feed.headroom(phase)


def _headroom_attributes(phase: int) -> Callable[[InsightFeed], dict[str, Any]]:
    def attributes_fn(feed: InsightFeed) -> dict[str, Any]:
        share = feed.share_above_today(phase)
        return {
            "threshold": feed.threshold,
            "share_above_today": None if share is None else round(100 * share, 2),
        }

    return attributes_fn


def _best_phase(feed: InsightFeed) -> StateType:
    return None if feed.best_phase is None else f"l{feed.best_phase}"


INSIGHT_SENSORS: tuple[P1InsightSensorEntityDescription, ...] = (
    *(
        P1InsightSensorEntityDescription(
            key=f"grid_impedance_l{phase}",
            translation_key=f"grid_impedance_l{phase}",
            entity_category=EntityCategory.DIAGNOSTIC,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=OHM,
            suggested_display_precision=3,
            value_fn=_impedance(phase),
            attributes_fn=_impedance_attributes(phase),
            phase=phase,
        )
        for phase in (1, 2, 3)
    ),
    *(
        P1InsightSensorEntityDescription(
            key=f"voltage_headroom_l{phase}",
            translation_key=f"voltage_headroom_l{phase}",
            entity_category=EntityCategory.DIAGNOSTIC,
            device_class=SensorDeviceClass.VOLTAGE,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=UnitOfElectricPotential.VOLT,
            suggested_display_precision=1,
            # The voltage seen from the threshold: a row for every voltage row if recorded, so
            # off until wanted (the overvoltage binary sensors and the repair issue are on).
            entity_registry_enabled_default=False,
            value_fn=_headroom(phase),
            attributes_fn=_headroom_attributes(phase),
            phase=phase,
        )
        for phase in (1, 2, 3)
    ),
    P1InsightSensorEntityDescription(
        key="best_phase_for_load",
        translation_key="best_phase_for_load",
        entity_category=EntityCategory.DIAGNOSTIC,
        device_class=SensorDeviceClass.ENUM,
        options=["l1", "l2", "l3"],  # as the phase with the highest voltage
        value_fn=_best_phase,
        attributes_fn=lambda feed: {"load_kw": LOAD_KW},
        phase=3,  # a three-phase meter's
    ),
)


def insight_descriptions(data: P1Data) -> list[P1InsightSensorEntityDescription]:
    """The insight sensors of the phases whose voltage the meter sends."""
    phases = {k for k in (1, 2, 3) if data.values.get(f"voltage_l{k}") is not None}
    return [d for d in INSIGHT_SENSORS if d.phase in phases]


class P1InsightSensor(P1Entity, SensorEntity):
    """A phase insight sensor (its attributes move with the evidence, not only its value)."""

    entity_description: P1InsightSensorEntityDescription

    def __init__(
        self, coordinator: P1Coordinator, description: P1InsightSensorEntityDescription
    ) -> None:
        super().__init__(coordinator, description)
        self._shown: tuple[bool, StateType, tuple[tuple[str, Any], ...]] | None = None

    def current_value(self) -> StateType:
        feed = self.coordinator.insight
        return None if feed is None else self.entity_description.value_fn(feed)

    @property
    def native_value(self) -> StateType:
        """The value, in the description's unit (None until there is one)."""
        return self.current_value()

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        feed = self.coordinator.insight
        return {} if feed is None else self.entity_description.attributes_fn(feed)

    def _handle_coordinator_update(self) -> None:
        """Write the state when the value, the availability or an attribute changed."""
        state = (self.available, self.current_value(), tuple(self.extra_state_attributes.items()))
        if state == self._shown:
            return
        self._shown = state
        self.async_write_ha_state()
