"""What ``scripts/demo --check`` checks: everything a new user relies on, and a clean log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from demo_assets import (
    DASHBOARD_KEYS,
    DASHBOARD_TITLE,
    DASHBOARD_URL,
    dashboard_entities,
    energy_keys,
    grid_statistics,
)
from demo_meter import DEFAULT_METER, HISTORY_HOURS
from hass_demo import HISTORY_COMPONENTS

if TYPE_CHECKING:
    from demo import Demo

# What onboarding sets up when its core_config step is finished through the API (their packages
# are not installed: they would fail).
ONBOARDING_DEFAULTS = frozenset({"google_translate", "met", "radio_browser", "shopping_list"})

# Warnings every custom integration, or the way the demo runs Home Assistant, causes; listed as
# notes, not failures (the demo installs nothing at runtime, so it passes --skip-pip).
_EXPECTED_WARNINGS = (
    "We found a custom integration p1_dsmr which has not been tested by Home Assistant",
    "Skipping pip installation of required modules",
)


def run_checks(demo: Demo, wait: bool) -> list[tuple[str, str | None]]:
    """(what, problem or None) for everything a new user relies on."""
    results: list[tuple[str, str | None]] = []

    def check(what: str, problem: str | None) -> None:
        results.append((what, problem))

    hass = demo.hass
    if wait:
        demo.wait(
            90,
            lambda: (
                demo.number("telegrams_received") >= 3
                and demo.number("telegrams_repaired") + demo.number("telegrams_invalid") >= 1
            ),
        )
        demo.wait(15, lambda: bool(history_states(demo)))  # the recorder commits every 5 s
    demo.wait(15, lambda: all(imported_hours(demo).values()))  # the import is queued
    components = set(hass.request("GET", "/api/config")["components"])
    missing = [c for c in (*HISTORY_COMPONENTS, "frontend", "p1_dsmr") if c not in components]
    check(
        "history, logbook, recorder and energy loaded",
        f"not loaded: {', '.join(missing)}" if missing else None,
    )
    entries = hass.request("GET", "/api/config/config_entries/entry")
    failed = [f"{e['domain']} ({e['state']})" for e in entries if e["state"] != "loaded"]
    check("every integration loaded", f"failed: {', '.join(failed)}" if failed else None)
    defaults = sorted({e["domain"] for e in entries} & ONBOARDING_DEFAULTS)
    check(
        "no onboarding default integrations",
        f"set up: {', '.join(defaults)}" if defaults else None,
    )
    if demo.style == DEFAULT_METER:
        lacking = [key for key in DASHBOARD_KEYS if key not in demo.entities]
        check(
            "the meter has every value the dashboard shows",
            f"no entity for {', '.join(lacking)}" if lacking else None,
        )
    states = hass.states()
    check("telegrams received", None if demo.number("telegrams_received") >= 1 else "none")
    if wait:
        counted = demo.number("telegrams_repaired") + demo.number("telegrams_invalid")
        check(
            "the damaged telegram is counted (repaired or rejected)",
            None if counted >= 1 else "not counted after 90 s",
        )
    check("history has the voltage", None if history_states(demo) else "no history")
    bad_hours = {
        entity: hours
        for entity, hours in imported_hours(demo).items()
        if len(hours) < HISTORY_HOURS - 2 or min(hours, default=-1) < 0
    }
    check(
        f"the past {HISTORY_HOURS} hours of energy in the statistics (no negative hour)",
        f"{bad_hours}" if bad_hours else None,
    )
    prefs, validation, dashboards, config, issues, log = hass.ws(
        {"type": "energy/get_prefs"},
        {"type": "energy/validate"},
        {"type": "lovelace/dashboards/list"},
        {"type": "lovelace/config", "url_path": DASHBOARD_URL},
        {"type": "repairs/list_issues"},
        {"type": "system_log/list"},
    )
    grid = [s for s in prefs["energy_sources"] if s["type"] == "grid"]
    imported, exported = grid_statistics(prefs)
    wanted = [
        [demo.entities.get(key) for key in energy_keys(demo.entities, direction)]
        for direction in ("import", "export")
    ]
    check(
        "energy: the meter is grid consumption and return",
        None if [imported, exported] == wanted and imported else f"grid sources {grid}",
    )
    problems = [issue for source in validation["energy_sources"] for issue in source]
    check("energy configuration validates", f"{problems}" if problems else None)
    urls = [d["url_path"] for d in dashboards]
    unknown = [e for e in dashboard_entities(config) if e not in states]
    check(
        f"dashboard {DASHBOARD_TITLE} ({DASHBOARD_URL})",
        "missing"
        if DASHBOARD_URL not in urls
        else f"unknown entities: {', '.join(unknown)}"
        if unknown
        else None,
    )
    ours = [i for i in issues["issues"] if i["domain"] == "p1_dsmr"]
    check("no repair issue", f"{ours}" if ours else None)
    errors, warnings, notes = classify_log(log, set(demo.entities.values()))
    check("nothing logged at error level", "; ".join(errors) if errors else None)
    check("no warning about P1 DSMR or the demo", "; ".join(warnings) if warnings else None)
    for note in notes:
        check(f"(other warning: {note})", None)
    return results


def history_states(demo: Demo) -> list[Any]:
    entity = demo.entities.get("voltage_l1") or demo.entities.get("telegrams_received")
    if entity is None:
        return []
    start = datetime.now(UTC) - timedelta(hours=1)
    (history,) = demo.hass.ws(
        {
            "type": "history/history_during_period",
            "start_time": start.isoformat(),
            "entity_ids": [entity],
            "minimal_response": True,
            "no_attributes": True,
        }
    )
    return list(history.get(entity, []))


def imported_hours(demo: Demo) -> dict[str, list[float]]:
    """The hourly energy of the imported hours, by statistic."""
    if not demo.energy or demo.recorded_from is None:
        return {}
    start = demo.recorded_from - timedelta(hours=HISTORY_HOURS + 1)
    (found,) = demo.hass.ws(
        {
            "type": "recorder/statistics_during_period",
            "start_time": start.isoformat(),
            "end_time": demo.recorded_from.isoformat(),
            "period": "hour",
            "statistic_ids": demo.energy,
            "types": ["change"],
        }
    )
    return {
        entity: [row["change"] for row in found.get(entity, []) if row.get("change") is not None]
        for entity in demo.energy
    }


def classify_log(
    log: list[dict[str, Any]], entity_ids: set[str]
) -> tuple[list[str], list[str], list[str]]:
    """Home Assistant's log (``system_log/list``) as errors (every one fails the check), warnings
    about P1 DSMR or the demo's entities (fail) and other warnings (notes)."""
    errors: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    for record in log:
        message = " ".join(record.get("message", []))
        text = f"{record['name']}: {message}"[:300]
        if record["level"] in ("ERROR", "CRITICAL"):
            errors.append(text)
            continue
        if any(expected in message for expected in _EXPECTED_WARNINGS):
            notes.append(text[:120])
            continue
        where = f"{record['name']} {message} {' '.join(map(str, record.get('source', [])))}"
        if "p1_dsmr" in where or any(entity in message for entity in entity_ids):
            warnings.append(text)
        else:
            notes.append(text[:120])
    return errors, warnings, notes
