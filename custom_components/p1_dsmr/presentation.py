"""How values show: the decimals the meter sends, and the states of its enumerations."""

from __future__ import annotations

import math
from collections.abc import Mapping

from .p1lib.obis import Kind, canonical_number
from .p1lib.telegram import CosemObject, Dialect
from .values import P1Data, mbus_key, unknown_key

# Kinds shown as numbers with the decimals the meter sends.
NUMERIC_KINDS = frozenset(
    (
        Kind.ENERGY,
        Kind.REACTIVE_ENERGY,
        Kind.POWER,
        Kind.REACTIVE_POWER,
        Kind.VOLTAGE,
        Kind.CURRENT,
        Kind.POWER_FACTOR,
        Kind.FREQUENCY,
        Kind.MBUS_READING,
    )
)


def object_key(obj: CosemObject) -> str:
    """The entity key of a telegram line (as the values are keyed)."""
    info = obj.info
    if info is None:
        return unknown_key(obj.code)
    if obj.code.startswith("0-") and not obj.code.startswith("0-0:"):
        return mbus_key(obj.channel, info.key)
    return info.key


def decimals(text: str) -> int:
    """Digits after the decimal point of a number as sent."""
    text = text.strip()
    return len(text) - text.index(".") - 1 if "." in text else 0


def sent_decimals(data: P1Data, key: str, scale: float = 1.0) -> int | None:
    """The decimals the meter sends for ``key``, in the entity's unit (``3.61`` of ``03.610*kW``
    shows as ``3.610``; ``015*A`` as ``15``; ``00.185*kvar`` in var as ``185``)."""
    telegram = data.telegram
    if telegram is None:
        return None
    for obj in telegram.objects:
        if object_key(obj) != key:
            continue
        for value in obj.values:
            if value.unit is not None and value.number is not None:
                factor = canonical_number(1.0, value.unit)[0]  # W -> kW: 0.001
                shift = round(-math.log10(factor)) if factor > 0 else 0
                return max(0, decimals(value.raw) + shift - round(math.log10(scale)))
        if len(obj.values) == 1 and obj.values[0].number is not None:
            return decimals(obj.values[0].raw)
        return None
    return None


# Enumerations: the telegram's value -> the state, translated (entity.sensor.<key>.state).
States = Mapping[int | str, str]
BREAKER_STATES: States = {
    0: "disconnected",
    1: "connected",
    2: "ready_for_reconnection",
    "ON": "connected",
    "OFF": "disconnected",
}
# Tariff 1 and 2 are low and normal in the Netherlands (and Luxembourg, on DSMR), day and night
# in Belgium; other countries number their tariffs.
TARIFF_NAMES: Mapping[Dialect, States] = {
    Dialect.NL: {1: "low", 2: "normal"},
    Dialect.LU: {1: "low", 2: "normal"},
    Dialect.BE: {1: "day", 2: "night"},
    Dialect.IE: {1: "day", 2: "night"},
}
NUMBERED_TARIFFS: States = {n: f"tariff_{n}" for n in (1, 2, 3, 4)}


def enum_states(key: str, data: P1Data) -> States | None:
    """The translated states of ``key``'s values (tariff, breaker state), or None: not an enum.
    A tariff is named by the meter's country (``data``'s dialect)."""
    if key in ("breaker_state", "breaker_state_sanxing"):
        return BREAKER_STATES
    if key == "tariff":
        telegram = data.telegram
        if telegram is not None:
            return TARIFF_NAMES.get(telegram.dialect, NUMBERED_TARIFFS)
        return NUMBERED_TARIFFS
    return None
