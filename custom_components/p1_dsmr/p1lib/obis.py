"""The registry of known OBIS codes: what each means, in which unit, for which dialects.

Codes are written ``A-B:C.D.E``. ``B`` is ``n`` for M-Bus channel codes (``0-n:24.2.1`` matches
``0-1:24.2.1``, ``0-2:24.2.1`` ...). A register some meters send on electricity channel 1
(``1-1:1.8.0``, Swiss Landis+Gyr and Luxembourg meters) is the ``1-0:`` register unless the table
has the ``1-1:`` code itself. Unknown codes are never dropped by the parser; they simply have no
entry here. Units are canonical: a value a meter sends in W, Wh, VA, dm3 or MJ is converted to kW,
kWh, kVA, m3 or GJ by :func:`canonical_number`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Kind", "ObisInfo", "REGISTRY", "lookup", "canonical_number", "MBUS_DEVICE_TYPES"]


class Kind(StrEnum):
    """What sort of quantity a code carries."""

    ENERGY = "energy"
    REACTIVE_ENERGY = "reactive_energy"
    POWER = "power"
    REACTIVE_POWER = "reactive_power"
    APPARENT_POWER = "apparent_power"
    VOLTAGE = "voltage"
    CURRENT = "current"
    POWER_FACTOR = "power_factor"
    FREQUENCY = "frequency"
    COUNT = "count"
    DURATION = "duration"
    TIMESTAMP = "timestamp"
    IDENTIFIER = "identifier"
    TEXT = "text"
    STATE = "state"
    VERSION = "version"
    PROFILE = "profile"
    GAS = "gas"
    WATER = "water"
    HEAT = "heat"
    MBUS_READING = "mbus_reading"


@dataclass(frozen=True, slots=True)
class ObisInfo:
    """Meaning of one OBIS code."""

    code: str
    key: str
    """Stable machine name, e.g. ``voltage_l1``; used as CSV column and translation key stem."""
    description: str
    unit: str | None
    kind: Kind
    dialects: str = "all"
    """Where the code is seen: ``all`` or a comma list of NL, BE, LU, SE, LT, HU, AT, Q3D, IE."""


_UNIT_SCALE = {
    "w": ("kW", 0.001),
    "kw": ("kW", 1.0),
    "mw": ("kW", 1000.0),
    "wh": ("kWh", 0.001),
    "kwh": ("kWh", 1.0),
    "mwh": ("kWh", 1000.0),
    "var": ("kvar", 0.001),
    "kvar": ("kvar", 1.0),
    "varh": ("kvarh", 0.001),
    "kvarh": ("kvarh", 1.0),
    "va": ("kVA", 0.001),
    "kva": ("kVA", 1.0),
    "vah": ("kVAh", 0.001),
    "kvah": ("kVAh", 1.0),
    "m3": ("m3", 1.0),
    "dm3": ("m3", 0.001),
    "l": ("m3", 0.001),
    "gj": ("GJ", 1.0),
    "mj": ("GJ", 0.001),
}

MBUS_DEVICE_TYPES = {
    2: "electricity",
    3: "gas",
    4: "heat",
    6: "warm_water",
    7: "water",
    10: "cooling",
    11: "cooling",
    12: "heat",
    13: "heat",
    21: "warm_water",
    22: "water",
}
"""M-Bus device type numbers (``0-n:24.1.0``, EN 13757-3) and what they measure."""


def canonical_number(value: float, unit: str | None) -> tuple[float, str | None]:
    """Convert a value to its canonical unit: W, Wh, var, varh, VA and MW (any case) to kW, kWh,
    kvar, kvarh, kVA; dm3 and l to m3; MJ to GJ. Other units are left alone."""
    if unit is None:
        return value, None
    scale = _UNIT_SCALE.get(unit.lower())
    if scale is None:
        return value, unit
    return value * scale[1], scale[0]


_E = Kind.ENERGY
_RE = Kind.REACTIVE_ENERGY
_P = Kind.POWER
_RP = Kind.REACTIVE_POWER
_AP = Kind.APPARENT_POWER

_TABLE: tuple[tuple[str, str, str, str | None, Kind, str], ...] = (
    # General
    ("1-3:0.2.8", "dsmr_version", "DSMR version", None, Kind.VERSION, "NL,LU"),
    ("0-0:96.1.4", "emucs_version", "e-MUCS version", None, Kind.VERSION, "BE"),
    ("0-0:1.0.0", "timestamp", "Telegram timestamp", None, Kind.TIMESTAMP, "all"),
    ("0-0:96.1.1", "equipment_id", "Equipment identifier", None, Kind.IDENTIFIER, "all"),
    ("0-0:96.1.0", "serial_number", "Meter serial number", None, Kind.IDENTIFIER, "HU,BE,IE"),
    ("0-0:42.0.0", "logical_device_name", "Logical device name", None, Kind.IDENTIFIER, "HU,LU"),
    ("1-0:0.0.0", "meter_id", "Meter identifier", None, Kind.IDENTIFIER, "Q3D,IE"),
    ("0-0:96.1.255", "meter_serial_q3d", "Meter serial (Q3D)", None, Kind.IDENTIFIER, "Q3D"),
    ("1-0:96.5.5", "status_q3d", "Status word (Q3D)", None, Kind.STATE, "Q3D"),
    ("0-0:96.14.0", "tariff", "Active tariff", None, Kind.STATE, "all"),
    ("0-0:96.3.10", "breaker_state", "Breaker state", None, Kind.STATE, "BE,HU,LU"),
    ("0-0:96.50.68", "breaker_state_sanxing", "Breaker state (Sanxing)", None, Kind.STATE, "HU"),
    ("0-0:17.0.0", "limiter_threshold", "Power limiter threshold", "kW", _P, "all"),
    ("0-0:96.13.0", "text_message", "Text message", None, Kind.TEXT, "all"),
    ("0-0:96.13.1", "message_code", "Message code", None, Kind.TEXT, "NL"),
    ("0-0:96.13.2", "text_message_2", "Text message 2", None, Kind.TEXT, "LU"),
    ("0-0:96.13.3", "text_message_3", "Text message 3", None, Kind.TEXT, "LU"),
    ("0-0:96.13.4", "text_message_4", "Text message 4", None, Kind.TEXT, "LU"),
    ("0-0:96.13.5", "text_message_5", "Text message 5", None, Kind.TEXT, "LU"),
    # Energy
    ("1-0:1.8.0", "energy_import", "Active energy import", "kWh", _E, "all"),
    ("1-0:1.8.1", "energy_import_t1", "Active energy import, tariff 1", "kWh", _E, "all"),
    ("1-0:1.8.2", "energy_import_t2", "Active energy import, tariff 2", "kWh", _E, "all"),
    ("1-0:1.8.3", "energy_import_t3", "Active energy import, tariff 3", "kWh", _E, "HU"),
    ("1-0:1.8.4", "energy_import_t4", "Active energy import, tariff 4", "kWh", _E, "HU"),
    ("1-0:2.8.0", "energy_export", "Active energy export", "kWh", _E, "all"),
    ("1-0:2.8.1", "energy_export_t1", "Active energy export, tariff 1", "kWh", _E, "all"),
    ("1-0:2.8.2", "energy_export_t2", "Active energy export, tariff 2", "kWh", _E, "all"),
    ("1-0:2.8.3", "energy_export_t3", "Active energy export, tariff 3", "kWh", _E, "HU"),
    ("1-0:2.8.4", "energy_export_t4", "Active energy export, tariff 4", "kWh", _E, "HU"),
    ("1-0:3.8.0", "reactive_energy_import", "Reactive energy import", "kvarh", _RE, "HU,LU,SE,AT"),
    (
        "1-0:3.8.1",
        "reactive_energy_import_t1",
        "Reactive energy import, tariff 1",
        "kvarh",
        _RE,
        "AT,LT",
    ),
    (
        "1-0:3.8.2",
        "reactive_energy_import_t2",
        "Reactive energy import, tariff 2",
        "kvarh",
        _RE,
        "AT,LT",
    ),
    ("1-0:4.8.0", "reactive_energy_export", "Reactive energy export", "kvarh", _RE, "HU,LU,SE,AT"),
    (
        "1-0:4.8.1",
        "reactive_energy_export_t1",
        "Reactive energy export, tariff 1",
        "kvarh",
        _RE,
        "AT,LT",
    ),
    (
        "1-0:4.8.2",
        "reactive_energy_export_t2",
        "Reactive energy export, tariff 2",
        "kvarh",
        _RE,
        "AT,LT",
    ),
    ("1-0:5.8.0", "reactive_energy_q1", "Reactive energy QI", "kvarh", _RE, "HU"),
    ("1-0:6.8.0", "reactive_energy_q2", "Reactive energy QII", "kvarh", _RE, "HU"),
    ("1-0:7.8.0", "reactive_energy_q3", "Reactive energy QIII", "kvarh", _RE, "HU"),
    ("1-0:8.8.0", "reactive_energy_q4", "Reactive energy QIV", "kvarh", _RE, "HU"),
    ("1-0:15.8.0", "energy_combined", "Combined active energy |+A|+|-A|", "kWh", _E, "HU"),
    # Power
    ("1-0:1.7.0", "power_import", "Active power import", "kW", _P, "all"),
    ("1-0:2.7.0", "power_export", "Active power export", "kW", _P, "all"),
    ("1-0:3.7.0", "reactive_power_import", "Reactive power import", "kvar", _RP, "LU,SE,AT"),
    ("1-0:4.7.0", "reactive_power_export", "Reactive power export", "kvar", _RP, "LU,SE,AT"),
    ("1-0:9.7.0", "apparent_power_import", "Apparent power import", "kVA", _AP, "LU,LT"),
    ("1-0:10.7.0", "apparent_power_export", "Apparent power export", "kVA", _AP, "LU,LT"),
    ("1-0:5.7.0", "reactive_power_q1", "Reactive power QI", "kvar", _RP, "HU"),
    ("1-0:6.7.0", "reactive_power_q2", "Reactive power QII", "kvar", _RP, "HU"),
    ("1-0:7.7.0", "reactive_power_q3", "Reactive power QIII", "kvar", _RP, "HU"),
    ("1-0:8.7.0", "reactive_power_q4", "Reactive power QIV", "kvar", _RP, "HU"),
    ("1-0:21.7.0", "power_import_l1", "Active power import L1", "kW", _P, "all"),
    ("1-0:41.7.0", "power_import_l2", "Active power import L2", "kW", _P, "all"),
    ("1-0:61.7.0", "power_import_l3", "Active power import L3", "kW", _P, "all"),
    ("1-0:22.7.0", "power_export_l1", "Active power export L1", "kW", _P, "all"),
    ("1-0:42.7.0", "power_export_l2", "Active power export L2", "kW", _P, "all"),
    ("1-0:62.7.0", "power_export_l3", "Active power export L3", "kW", _P, "all"),
    ("1-0:23.7.0", "reactive_power_import_l1", "Reactive power import L1", "kvar", _RP, "SE,LU"),
    ("1-0:43.7.0", "reactive_power_import_l2", "Reactive power import L2", "kvar", _RP, "SE,LU"),
    ("1-0:63.7.0", "reactive_power_import_l3", "Reactive power import L3", "kvar", _RP, "SE,LU"),
    ("1-0:24.7.0", "reactive_power_export_l1", "Reactive power export L1", "kvar", _RP, "SE,LU"),
    ("1-0:44.7.0", "reactive_power_export_l2", "Reactive power export L2", "kvar", _RP, "SE,LU"),
    ("1-0:64.7.0", "reactive_power_export_l3", "Reactive power export L3", "kvar", _RP, "SE,LU"),
    # Voltage, current, power factor, frequency
    ("1-0:32.7.0", "voltage_l1", "Voltage L1", "V", Kind.VOLTAGE, "all"),
    ("1-0:52.7.0", "voltage_l2", "Voltage L2", "V", Kind.VOLTAGE, "all"),
    ("1-0:72.7.0", "voltage_l3", "Voltage L3", "V", Kind.VOLTAGE, "all"),
    ("1-0:31.7.0", "current_l1", "Current L1", "A", Kind.CURRENT, "all"),
    ("1-0:51.7.0", "current_l2", "Current L2", "A", Kind.CURRENT, "all"),
    ("1-0:71.7.0", "current_l3", "Current L3", "A", Kind.CURRENT, "all"),
    ("1-0:13.7.0", "power_factor", "Power factor", None, Kind.POWER_FACTOR, "HU"),
    ("1-0:33.7.0", "power_factor_l1", "Power factor L1", None, Kind.POWER_FACTOR, "HU"),
    ("1-0:53.7.0", "power_factor_l2", "Power factor L2", None, Kind.POWER_FACTOR, "HU"),
    ("1-0:73.7.0", "power_factor_l3", "Power factor L3", None, Kind.POWER_FACTOR, "HU"),
    ("1-0:14.7.0", "frequency", "Frequency", "Hz", Kind.FREQUENCY, "HU"),
    ("1-0:31.4.0", "current_limit_l1", "Current limit L1", "A", Kind.CURRENT, "BE,HU"),
    ("1-1:31.4.0", "current_limit", "Current limit (import, export)", "A", Kind.CURRENT, "LU"),
    ("1-0:51.4.0", "current_limit_l2", "Current limit L2", "A", Kind.CURRENT, "HU"),
    ("1-0:71.4.0", "current_limit_l3", "Current limit L3", "A", Kind.CURRENT, "HU"),
    # Power quality
    ("0-0:96.7.21", "power_failures", "Power failures", None, Kind.COUNT, "NL,LU"),
    ("0-0:96.7.9", "long_power_failures", "Long power failures", None, Kind.COUNT, "NL,LU"),
    ("1-0:99.97.0", "power_failure_log", "Power failure event log", None, Kind.PROFILE, "NL,LU"),
    ("1-0:32.32.0", "voltage_sags_l1", "Voltage sags L1", None, Kind.COUNT, "NL,LU"),
    ("1-0:52.32.0", "voltage_sags_l2", "Voltage sags L2", None, Kind.COUNT, "NL,LU"),
    ("1-0:72.32.0", "voltage_sags_l3", "Voltage sags L3", None, Kind.COUNT, "NL,LU"),
    ("1-0:32.36.0", "voltage_swells_l1", "Voltage swells L1", None, Kind.COUNT, "NL,LU"),
    ("1-0:52.36.0", "voltage_swells_l2", "Voltage swells L2", None, Kind.COUNT, "NL,LU"),
    ("1-0:72.36.0", "voltage_swells_l3", "Voltage swells L3", None, Kind.COUNT, "NL,LU"),
    # Capacity tariff (BE) and month-end registers (HU)
    ("1-0:1.4.0", "demand_current_quarter", "Current quarter-hour average demand", "kW", _P, "BE"),
    ("1-0:1.6.0", "demand_month_peak", "Peak quarter-hour demand this month", "kW", _P, "BE"),
    (
        "0-0:98.1.0",
        "monthly_history",
        "Monthly history (BE peaks, HU month-end registers)",
        None,
        Kind.PROFILE,
        "BE,HU",
    ),
    # M-Bus channels (0-n)
    ("0-n:24.1.0", "mbus_device_type", "M-Bus device type", None, Kind.STATE, "all"),
    ("0-n:96.1.0", "mbus_equipment_id", "M-Bus equipment identifier", None, Kind.IDENTIFIER, "all"),
    ("0-n:96.1.1", "mbus_equipment_id", "M-Bus equipment identifier", None, Kind.IDENTIFIER, "BE"),
    ("0-n:24.2.1", "mbus_reading", "M-Bus reading", None, Kind.MBUS_READING, "NL,LU"),
    (
        "0-n:24.2.3",
        "mbus_reading",
        "M-Bus reading (non-temperature-corrected)",
        None,
        Kind.MBUS_READING,
        "BE",
    ),
    (
        "0-n:24.3.0",
        "mbus_reading_dsmr22",
        "Gas reading (DSMR 2.2/3.0)",
        None,
        Kind.MBUS_READING,
        "NL",
    ),
    ("0-n:24.4.0", "mbus_valve_state", "M-Bus valve state", None, Kind.STATE, "NL,BE"),
    ("0-n:96.3.10", "mbus_breaker_state", "M-Bus breaker or valve state", None, Kind.STATE, "LU"),
)

REGISTRY: dict[str, ObisInfo] = {
    code: ObisInfo(code, key, description, unit, kind, dialects)
    for code, key, description, unit, kind, dialects in _TABLE
}


def lookup(code: str) -> ObisInfo | None:
    """Return what is known of ``code`` (``A-B:C.D.E``, an optional ``*F`` or ``.F`` ignored)."""
    star = code.find("*")
    if star >= 0:
        code = code[:star]
    elif code.count(".") > 2:
        code = code[: code.rfind(".")]
    info = REGISTRY.get(code)
    if info is not None:
        return info
    if code.startswith("0-") and not code.startswith("0-0:"):
        colon = code.find(":")
        if colon > 0:
            return REGISTRY.get("0-n" + code[colon:])
    if code.startswith("1-1:"):
        return REGISTRY.get("1-0:" + code[4:])
    return None
