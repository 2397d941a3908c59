"""The demo's dashboard and energy preferences, built for the entities the meter's entry has.

Entity ids depend on names (which are translated and may change); the integration's value keys
(``voltage_l1``, ``net_power_l2``...) do not, so the assets are written with keys and resolved
through the registries (:meth:`hass_demo.HassProcess.meter_entities`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DASHBOARD_URL = "p1-dsmr"
DASHBOARD_VIEW = "meter"
DASHBOARD_TITLE = "P1 DSMR"

PHASES = (1, 2, 3)
NOMINAL_LOW = 207.0  # V: EN 50160's lower limit (230 V - 10 %)

# Every key the dashboard shows (the energy counters apart: a total or tariffs): a key missing
# from the default meter's entry is a renamed or lost value.
DASHBOARD_KEYS = (
    *(f"voltage_l{n}" for n in PHASES),
    *(f"overvoltage_l{n}" for n in PHASES),
    "net_power",
    *(f"net_power_l{n}" for n in PHASES),
    *(f"current_l{n}" for n in PHASES),
    *(f"current_l{n}_calculated" for n in PHASES),
    "telegrams_received",
    "telegrams_valid",
    "telegrams_repaired",
    "telegrams_invalid",
    "error_rate",
    "last_repair",
)

# What the simulated meter is, by the generator's style.
METERS = {
    "nl_dsmr5": "a **Dutch DSMR 5 meter** (Iskra) sends a telegram every second, with a gas meter"
    " on its M-Bus and solar panels exporting on L1",
    "nl_dsmr4": "a **Dutch DSMR 4 meter** (Kaifa) sends a telegram every 10 s, with a gas meter on"
    " its M-Bus and solar panels exporting on L1",
    "be_fluvius": "a **Belgian e-MUCS meter** (Fluvius) sends a telegram every second, with a gas"
    " meter on its M-Bus and solar panels exporting on L1",
    "hu_sanxing": "a **Hungarian Sanxing meter** (E.ON/MVM, the one this project began with) sends"
    " a telegram every 10 s, with solar panels exporting on L1",
    "hu_sagemcom": "a **Hungarian Sagemcom meter** (E.ON) sends a telegram every 10 s, with solar"
    " panels exporting on L1",
}


def energy_keys(entities: Mapping[str, str], direction: str) -> list[str]:
    """The meter's energy counters of ``direction`` (import, export): the total, else the
    tariffs (Dutch and Belgian meters send no total)."""
    if f"energy_{direction}" in entities:
        return [f"energy_{direction}"]
    return [
        f"energy_{direction}_t{n}" for n in (1, 2, 3, 4) if f"energy_{direction}_t{n}" in entities
    ]


def energy_prefs(
    entities: Mapping[str, str], gas: str | None = None, unified: bool = False
) -> dict[str, Any]:
    """Energy preferences (``energy/save_prefs``): the meter as grid consumption and return
    (and its gas meter as gas consumption).

    ``unified``: Home Assistant 2026's grid sources, one per import/export pair (tariff 1's
    import and export, tariff 2's...); otherwise the older single grid source with ``flow_from``
    and ``flow_to`` lists, which 2025.x takes and 2026.x only migrates from storage.
    """
    imports = [entities[key] for key in energy_keys(entities, "import")]
    exports = [entities[key] for key in energy_keys(entities, "export")]
    if not imports:
        raise KeyError("the meter has no energy import counter")
    sources: list[dict[str, Any]]
    if unified:
        sources = [
            {
                "type": "grid",
                "stat_energy_from": imports[index] if index < len(imports) else None,
                "stat_energy_to": exports[index] if index < len(exports) else None,
                "cost_adjustment_day": 0,
            }
            for index in range(max(len(imports), len(exports)))
        ]
    else:
        flow_from = [
            {
                "stat_energy_from": stat,
                "stat_cost": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
            for stat in imports
        ]
        flow_to = [
            {
                "stat_energy_to": stat,
                "stat_compensation": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
            for stat in exports
        ]
        sources = [
            {"type": "grid", "flow_from": flow_from, "flow_to": flow_to, "cost_adjustment_day": 0}
        ]
    if gas is not None:
        sources.append(
            {
                "type": "gas",
                "stat_energy_from": gas,
                "stat_cost": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
        )
    return {"energy_sources": sources, "device_consumption": []}


def unified_grid_sources() -> bool:
    """Whether this Home Assistant (the one in this venv, which the demo starts) takes 2026's
    unified grid sources: its energy module keeps the older format only as a legacy type."""
    from homeassistant.components.energy import data

    return hasattr(data, "LegacyGridSourceType")


def grid_statistics(prefs: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The statistics of the grid sources (imported, exported), in either format."""
    imported: list[str] = []
    exported: list[str] = []
    for source in prefs["energy_sources"]:
        if source["type"] != "grid":
            continue
        if "flow_from" in source:
            imported += [flow["stat_energy_from"] for flow in source["flow_from"]]
            exported += [flow["stat_energy_to"] for flow in source["flow_to"]]
        else:
            imported += [source["stat_energy_from"]] if source.get("stat_energy_from") else []
            exported += [source["stat_energy_to"]] if source.get("stat_energy_to") else []
    return imported, exported


def _gauge(entity: str, name: str, threshold: float) -> dict[str, Any]:
    return {
        "type": "gauge",
        "entity": entity,
        "name": name,
        "needle": True,
        "min": 200,
        "max": max(260, round(threshold) + 7),
        "segments": [
            {"from": 0, "color": "var(--error-color)", "label": "under EN 50160's 207 V"},
            {"from": NOMINAL_LOW, "color": "var(--success-color)"},
            {"from": threshold - 5, "color": "var(--warning-color)"},
            {"from": threshold, "color": "var(--error-color)", "label": "overvoltage"},
        ],
        "grid_options": {"columns": 4},
    }


def _section(title: str, *cards: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "type": "grid",
        "cards": [{"type": "heading", "heading": title}, *(c for c in cards if c is not None)],
    }


def dashboard(
    entities: Mapping[str, str],
    threshold: float,
    device_id: str | None = None,
    meter: str = "nl_dsmr5",
) -> dict[str, Any]:
    """The demo's dashboard (Lovelace, storage mode): what P1 DSMR adds to a meter's data.

    Per-phase voltage against the overvoltage threshold, net power per phase, the currents with
    decimals beside the meter's whole amps, the link's quality, and the energy counters.
    """

    def rows(keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return [{"entity": entities[key], "name": name} for key, name in keys if key in entities]

    def graph(title: str, keys: list[tuple[str, str]], hours: float = 1) -> dict[str, Any] | None:
        found = rows(keys)
        if not found:
            return None
        return {"type": "history-graph", "title": title, "hours_to_show": hours, "entities": found}

    def glance(title: str, keys: list[tuple[str, str]]) -> dict[str, Any] | None:
        found = rows(keys)
        if not found:
            return None
        return {"type": "glance", "title": title, "entities": found, "columns": len(found)}

    links = [
        "[Energy dashboard](/energy)",
        "[History](/history)",
        "[Logbook](/logbook)",
        "[The integration](/config/integrations/integration/p1_dsmr)",
    ]
    if device_id:
        links.insert(0, f"[The meter's device page](/config/devices/device/{device_id})")
    about = {
        "type": "markdown",
        "content": "\n".join(
            [
                f"A simulated meter: {METERS.get(meter, meter)}. The line is noisy: now and then"
                " a telegram arrives damaged, and P1 DSMR repairs it (CRC-verified) instead of"
                " dropping it.",
                "",
                f"Overvoltage is flagged above **{threshold:g} V** (the entry's option; EN 50160's"
                " upper limit, where solar inverters trip). Net power is import minus export:"
                " negative while the panels export.",
                "",
                "The graphs here show every change since the start. A value's own graph (click"
                " it) shows Home Assistant's 5-minute statistics: a line from about 10 minutes"
                " after the start on.",
                "",
                " · ".join(links),
            ]
        ),
    }
    phases = [(n, f"L{n}") for n in PHASES]
    voltage = _section(
        "Voltage per phase",
        *(
            _gauge(entities[f"voltage_l{n}"], name, threshold)
            for n, name in phases
            if f"voltage_l{n}" in entities
        ),
        glance(
            f"Overvoltage (above {threshold:g} V)",
            [(f"overvoltage_l{n}", name) for n, name in phases],
        ),
        graph("Voltage", [(f"voltage_l{n}", name) for n, name in phases]),
    )
    power = _section(
        "Net power per phase",
        glance(
            "Import +, export -",
            [*((f"net_power_l{n}", name) for n, name in phases), ("net_power", "Total")],
        ),
        graph("Net power", [(f"net_power_l{n}", name) for n, name in phases], hours=0.5),
        None
        if any(f"net_power_l{n}" in entities for n in PHASES)
        else {
            "type": "markdown",
            "content": "This meter sends its total power only: net power per phase needs a meter"
            " that sends power per phase (DSMR 5, Belgian e-MUCS).",
        },
    )
    current = _section(
        "Current per phase",
        glance("With decimals", [(f"current_l{n}_calculated", name) for n, name in phases]),
        glance("As the meter sends it", [(f"current_l{n}", name) for n, name in phases]),
        graph(
            "L1",
            [("current_l1", "As the meter sends it"), ("current_l1_calculated", "With decimals")],
            hours=0.25,
        ),
    )
    link = _section(
        "Link quality",
        {
            "type": "entities",
            "entities": rows(
                [
                    ("telegrams_received", "Telegrams received"),
                    ("telegrams_valid", "Valid"),
                    ("telegrams_repaired", "Repaired"),
                    ("telegrams_invalid", "Rejected"),
                    ("error_rate", "Error rate (last 500)"),
                    ("last_repair", "Last repair"),
                ]
            ),
        },
    )
    energy_rows = [
        (key, key.replace("energy_", "").replace("_t", " tariff ").capitalize())
        for direction in ("import", "export")
        for key in energy_keys(entities, direction)
    ]
    energy = _section(
        "Energy",
        {
            "type": "statistics-graph",
            "title": "Energy per hour",
            "entities": rows(energy_rows),
            "period": "hour",
            "stat_types": ["change"],
            "chart_type": "bar",
            "days_to_show": 1,
        }
        if energy_rows
        else None,
        {
            "type": "markdown",
            "content": "The [Energy dashboard](/energy) has the meter as grid consumption and"
            " return to grid. The simulated meter's past day is in the long-term statistics;"
            " from now on Home Assistant adds each hour when it is over.",
        },
    )
    return {
        "title": DASHBOARD_TITLE,
        "views": [
            {
                "type": "sections",
                "title": "Meter",
                "path": DASHBOARD_VIEW,
                "icon": "mdi:meter-electric",
                "max_columns": 3,
                "sections": [
                    {"type": "grid", "cards": [about]},
                    voltage,
                    power,
                    current,
                    link,
                    energy,
                ],
            }
        ],
    }


def dashboard_entities(config: Mapping[str, Any]) -> list[str]:
    """Every entity id a dashboard refers to (for checking they all exist)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            entity = node.get("entity")
            if isinstance(entity, str):
                found.append(entity)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found
