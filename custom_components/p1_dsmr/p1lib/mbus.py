"""M-Bus meters: which channel measures what, and which line holds its reading.

A meter's M-Bus channels (``0-1`` to ``0-4``) hold gas, water, heat ... meters, in any order and
with gaps: an Iskra AM550 sends an unused slot on channel 1 (``0-1:24.2.1(700101010000W)(00000000)``,
no unit) and its gas meter on channel 2. A meter is found by what it measures:

* its reading is the first ``24.2.1``, ``24.2.3``, ``24.2.2`` or (DSMR 2.2) ``24.3.0`` line of the
  channel with a number and a unit; a slot whose reading has no unit, or is zero with an unset
  time, is empty;
* its kind is its device type (``0-n:24.1.0``: 3 gas, 7 water, 4 heat ... see
  :data:`~.obis.MBUS_DEVICE_TYPES`), or, where the device type is missing or unknown, its unit
  (a volume is gas, an energy is heat).
"""

from __future__ import annotations

from typing import NamedTuple

from .obis import MBUS_DEVICE_TYPES
from .telegram import Telegram

__all__ = ["READING_CODES", "MbusMeter", "mbus_meters"]

READING_CODES = ("24.2.1", "24.2.3", "24.2.2", "24.3.0")
"""The C.D.E of the lines that hold an M-Bus meter's reading."""

_BY_UNIT = {"m3": "gas", "GJ": "heat", "kWh": "heat", "MWh": "heat"}


class MbusMeter(NamedTuple):
    """One meter on the M-Bus."""

    channel: int
    kind: str
    """``gas``, ``water``, ``heat``, ``cooling``, ``warm_water``, ``electricity`` or ``other``."""
    code: str
    """The code of its reading (``0-2:24.2.1``)."""
    unit: str
    """The reading's canonical unit (``m3``, ``GJ`` ...)."""


def mbus_meters(telegram: Telegram) -> list[MbusMeter]:
    """The meters on ``telegram``'s M-Bus channels that send a reading, by channel."""
    meters: list[MbusMeter] = []
    for channel, objects in sorted(telegram.mbus_channels().items()):
        reading = None
        for obj in objects:
            if obj.code[obj.code.index(":") + 1 :] in READING_CODES:
                if obj.number is None or obj.unit is None:
                    continue
                time = obj.values[0] if len(obj.values) > 1 else None
                unset = time is not None and time.timestamp is None and len(time.raw) >= 12
                if unset and obj.number == 0:
                    continue
                reading = obj
                break
        if reading is None or reading.unit is None:
            continue
        device = telegram.get(f"0-{channel}:24.1.0")
        kind = None
        if device is not None and device.number is not None and device.number.is_integer():
            kind = MBUS_DEVICE_TYPES.get(int(device.number))
        if kind is None:
            kind = _BY_UNIT.get(reading.unit, "other")
        meters.append(MbusMeter(channel, kind, reading.code, reading.unit))
    return meters
