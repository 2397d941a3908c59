"""The demo: a real Home Assistant with P1 DSMR and a simulated meter (see scripts/demo).

Home Assistant (frontend, recorder, history, logbook, energy) starts with a fresh configuration
directory on 127.0.0.1 (port 8123, or a free one when 8123 is taken), is onboarded with a local
user, and gets a P1 DSMR entry through the config flow. A simulated meter (the library's
generator; a Dutch DSMR 5 meter by default, solar export on L1) appends its telegrams to a log
the entry follows, with line noise and now and then a damaged telegram. The meter's past day is
imported into the long-term statistics, it is the Energy dashboard's grid consumption and return
(its gas meter the gas consumption), and a dashboard shows what the integration adds. Ctrl-C or
SIGTERM stops Home Assistant too.

--check: the same, headless; waits for values and a damaged telegram, checks that history,
logbook, recorder and energy are loaded, the energy preferences, statistics and the dashboard are
set, every integration loaded and nothing was logged that the demo or P1 DSMR caused; prints the
results and exits (1 when a check failed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_assets import (
    DASHBOARD_TITLE,
    DASHBOARD_URL,
    DASHBOARD_VIEW,
    dashboard,
    energy_keys,
    energy_prefs,
    unified_grid_sources,
)
from demo_checks import run_checks
from demo_meter import DEFAULT_METER, HISTORY_HOURS, TIME_ZONES, LiveMeter
from hass_demo import ROOT, HassProcess, PortInUse, free_port, port_in_use

RESTART_EXIT_CODE = 100  # Home Assistant's, when its Restart button is pressed


class Stop(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C does."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


# --- setting up ----------------------------------------------------------------------------------


def choose_port(wanted: int) -> int:
    """``wanted`` when it is free, else the next free one after it (or any free one), said."""
    if not port_in_use(wanted):
        return wanted
    port = next((p for p in range(wanted + 1, wanted + 11) if not port_in_use(p)), None)
    port = port or free_port()
    print(
        f"Port {wanted} is in use (another Home Assistant?): this demo uses port {port}"
        " (--port N chooses another).",
        flush=True,
    )
    return port


def voltage_threshold(hass: HassProcess, entry_id: str) -> float:
    """The entry's overvoltage threshold, as its options form shows it (the form is closed)."""
    flow = hass.request("POST", "/api/config/config_entries/options/flow", {"handler": entry_id})
    try:
        for field in flow.get("data_schema", []):
            if field["name"] == "voltage_threshold" and "default" in field:
                return float(field["default"])
    finally:
        hass.request("DELETE", f"/api/config/config_entries/options/flow/{flow['flow_id']}")
    raise RuntimeError("the options form has no voltage threshold")


class Demo:
    """Home Assistant, the meter, the entry, its energy preferences, statistics and dashboard."""

    def __init__(self, config_dir: Path, port: int, meter: str, say: Callable[[str], None]) -> None:
        self.say = say
        self.config_dir = config_dir
        self.style = meter
        self.hass = self._hass(port)
        self.meter: LiveMeter | None = None
        self._building: threading.Thread | None = None
        self._built: LiveMeter | Exception | None = None
        self.entry: dict[str, Any] = {}
        self.entities: dict[str, str] = {}
        self.device_id: str | None = None
        self.dashboard: dict[str, Any] = {}
        self.threshold = 0.0
        self.energy: list[str] = []
        """The energy dashboard's statistics (entity ids)."""
        self.recorded_from: datetime | None = None
        """The hour Home Assistant began recording the meter (its statistics go on from there)."""
        self.adjustments: dict[str, tuple[float, str]] = {}
        """Sum adjustments (and their units) still to apply once Home Assistant's own statistics
        exist, so that its sums continue the imported ones."""

    def _hass(self, port: int) -> HassProcess:
        hass = HassProcess(self.config_dir, port, frontend=True, history=True)
        hass.country, hass.time_zone = TIME_ZONES[self.style]
        return hass

    def start(self) -> None:
        """Start and onboard Home Assistant (another free port when the port is taken), while
        the meter's past is simulated."""
        self._building = threading.Thread(target=self._build_meter, daemon=True)
        self._building.start()
        for attempt in range(3):
            self.hass.write_config()
            self.say(f"Starting Home Assistant on port {self.hass.port} in {self.config_dir} ...")
            started = time.monotonic()
            try:
                self.hass.start()
                break
            except PortInUse as err:
                if attempt == 2:
                    raise
                port = free_port()
                self.say(f"{err}: trying port {port}")
                self.hass = self._hass(port)
        self.hass.onboard()
        self.say(
            f"Home Assistant is up ({time.monotonic() - started:.0f} s), onboarded with the"
            f" user {self.hass.username}."
        )

    def _build_meter(self) -> None:
        """The simulated meter and its past day (10 to 20 s for a 1-second meter)."""
        try:
            self._built = LiveMeter(self.config_dir / "p1_meter.log", self.style)
        except Exception as err:  # reported by add_meter
            self._built = err

    def add_meter(self) -> None:
        """The simulated meter, its entry, energy preferences, statistics and dashboard."""
        assert self._building is not None
        self._building.join()
        if not isinstance(self._built, LiveMeter):
            raise RuntimeError(f"the simulated meter failed: {self._built!r}")
        meter = self.meter = self._built
        meter.tick()
        self.entry = self.hass.add_file_meter(meter.path, mode="follow", loop=False)
        entry_id = self.entry["entry_id"]
        self.say(
            f"Added the P1 DSMR entry {self.entry['title']}, following {meter.path.name}, where a"
            f" simulated meter ({self.style}) writes a telegram every {meter.period} s."
        )
        if not self.wait(120, lambda: self.number("telegrams_received", refresh=True) >= 1):
            raise TimeoutError("the meter's sensors got no values in 120 s")
        self.wait(3 * meter.period, lambda: False)  # every value of a telegram has its entity
        self.entities = self.hass.meter_entities(entry_id)
        device = self.hass.meter_device(entry_id)
        self.device_id = device["id"] if device else None
        self.set_energy()
        self.threshold = voltage_threshold(self.hass, entry_id)
        self.dashboard = dashboard(self.entities, self.threshold, self.device_id, self.style)
        self.hass.ws(
            {
                "type": "lovelace/dashboards/create",
                "url_path": DASHBOARD_URL,
                "title": DASHBOARD_TITLE,
                "icon": "mdi:meter-electric",
                "show_in_sidebar": True,
                "require_admin": False,
            },
            {"type": "lovelace/config/save", "url_path": DASHBOARD_URL, "config": self.dashboard},
        )
        self.say(f"Dashboard: {DASHBOARD_TITLE}, in the sidebar.")

    def set_energy(self) -> None:
        """The meter as the Energy dashboard's grid (and gas), with its past day's statistics."""
        assert self.meter is not None
        states = self.hass.states()
        gas = next(
            (
                entity
                for key, entity in self.entities.items()
                if re.fullmatch(r"mbus\d+_mbus_reading", key)
                and states.get(entity, {}).get("attributes", {}).get("device_class") == "gas"
            ),
            None,
        )
        prefs = energy_prefs(self.entities, gas, unified_grid_sources())
        self.hass.ws({"type": "energy/save_prefs", **prefs})
        keys = [*energy_keys(self.entities, "import"), *energy_keys(self.entities, "export")]
        keys += [k for k, entity in self.entities.items() if entity == gas]
        self.energy = [self.entities[key] for key in keys]
        first: dict[str, tuple[float, datetime]] = {}

        def recorded() -> bool:  # the recorder commits every 5 s
            first.update(self.first_states(self.energy))
            return len(first) == len(self.energy)

        if not self.wait(30, recorded):
            raise RuntimeError("the recorder has no state of the energy counters after 30 s")
        self.recorded_from = min(when for _, when in first.values()).replace(
            minute=0, second=0, microsecond=0
        )
        imports = []
        for key in keys:
            entity = self.entities[key]
            rows = self.meter.statistics(key, self.recorded_from)
            base = self.meter.history[0][1].get(key) if self.meter.history else None
            if entity not in first or not rows or base is None:
                continue
            unit = states[entity]["attributes"].get("unit_of_measurement")
            metadata = {
                "has_mean": False,
                "has_sum": True,
                "name": None,
                "source": "recorder",
                "statistic_id": entity,
                "unit_of_measurement": unit,
            }
            imports.append(
                {"type": "recorder/import_statistics", "metadata": metadata, "stats": rows}
            )
            # Home Assistant's own sums start at 0 at the first state it records
            self.adjustments[entity] = (round(first[entity][0] - base, 3), unit)
        if imports:
            self.hass.ws(*imports)
        self.say(
            "Energy dashboard: the meter is grid consumption and return to grid"
            + (", its gas meter gas consumption" if gas else "")
            + f"; its past {HISTORY_HOURS} hours are in the long-term statistics."
        )

    def first_states(self, entities: list[str]) -> dict[str, tuple[float, datetime]]:
        """The first recorded number of each entity and its time."""
        start = datetime.now(UTC) - timedelta(hours=1)
        (history,) = self.hass.ws(
            {
                "type": "history/history_during_period",
                "start_time": start.isoformat(),
                "entity_ids": entities,
                "minimal_response": True,
                "no_attributes": True,
            }
        )
        first: dict[str, tuple[float, datetime]] = {}
        for entity, states in history.items():
            for state in states:
                try:
                    value = float(state.get("s", state.get("state")))
                except (TypeError, ValueError):
                    continue
                when = state.get("lu", state.get("last_updated"))
                stamp = (
                    datetime.fromtimestamp(when, UTC)
                    if isinstance(when, int | float)
                    else datetime.fromisoformat(str(when))
                )
                first[entity] = (value, stamp)
                break
        return first

    def adjust_sums(self) -> None:
        """Once Home Assistant compiled its first statistics of a counter (every 5 minutes), shift
        its sums from the first recorded hour on so that they continue the imported ones."""
        if not self.adjustments or self.recorded_from is None:
            return
        start = self.recorded_from.isoformat()
        (found,) = self.hass.ws(
            {
                "type": "recorder/statistics_during_period",
                "start_time": start,
                "period": "5minute",
                "statistic_ids": list(self.adjustments),
                "types": ["sum"],
            }
        )
        commands = []
        for entity, rows in found.items():
            if rows and entity in self.adjustments:
                adjustment, unit = self.adjustments.pop(entity)
                commands.append(
                    {
                        "type": "recorder/adjust_sum_statistics",
                        "statistic_id": entity,
                        "start_time": start,
                        "adjustment": adjustment,
                        "adjustment_unit_of_measurement": unit,
                    }
                )
        if commands:
            self.hass.ws(*commands)

    @property
    def dashboard_url(self) -> str:
        return f"{self.hass.url}/{DASHBOARD_URL}/{DASHBOARD_VIEW}"

    def tick(self) -> None:
        """Keep the meter going; start Home Assistant again when its Restart button stopped it;
        fail when it stopped otherwise."""
        process = self.hass.process
        if process is not None and process.poll() is not None:
            if process.returncode != RESTART_EXIT_CODE:
                raise RuntimeError(f"Home Assistant stopped (exit code {process.returncode})")
            self.say("\nHome Assistant restarts (its Restart button) ...")
            self.hass.start()
            self.say("Home Assistant is up again.")
        if self.meter is not None:
            self.meter.tick()

    def wait(self, seconds: float, until: Callable[[], bool]) -> bool:
        """Keep the meter going until ``until()`` holds (checked every 2 s) or time runs out."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until():
                return True
            for _ in range(4):
                self.tick()
                time.sleep(0.5)
        return until()

    def number(self, key: str, refresh: bool = False) -> float:
        """A sensor's number (0 while it has none)."""
        if refresh and self.entry:
            self.entities = self.hass.meter_entities(self.entry["entry_id"])
        state = self.hass.states().get(self.entities.get(key, ""), {}).get("state")
        try:
            return float(state) if state is not None else 0.0
        except ValueError:
            return 0.0


# --- output --------------------------------------------------------------------------------------


def describe(states: Mapping[str, Mapping[str, Any]], entities: Mapping[str, str]) -> list[str]:
    """The meter's main values as lines like ``Voltage L1: 234.3 V``."""
    lines = []
    for key in (
        "voltage_l1",
        "voltage_l2",
        "voltage_l3",
        "current_l1_calculated",
        "current_l2_calculated",
        "current_l3_calculated",
        "net_power",
        "net_power_l1",
        "net_power_l2",
        "net_power_l3",
        "telegrams_received",
        "telegrams_repaired",
        "telegrams_invalid",
    ):
        state = states.get(entities.get(key, ""))
        if state is not None:
            name = state["attributes"].get("friendly_name", state["entity_id"])
            lines.append(f"  {name}: {_value(state)}")
    return lines


def _value(state: Mapping[str, Any]) -> str:
    unit = state["attributes"].get("unit_of_measurement", "")
    try:
        number = float(state["state"])
    except ValueError:
        return f"{state['state']} {unit}".rstrip()
    digits = 2 if unit == "A" else 3 if unit in ("kW", "kWh") else 1 if unit else 0
    return f"{number:.{digits}f} {unit}".rstrip()


def status_line(states: Mapping[str, Mapping[str, Any]], entities: Mapping[str, str]) -> str:
    """One line of the live values: time, voltages, net power, the link's counters."""

    def number(key: str) -> float | None:
        state = states.get(entities.get(key, ""))
        try:
            return float(state["state"]) if state else None
        except ValueError:
            return None

    parts = [datetime.now().strftime("%H:%M:%S")]
    volts = [v for v in (number(f"voltage_l{n}") for n in (1, 2, 3)) if v is not None]
    if volts:
        parts.append(" / ".join(f"{v:.1f}" for v in volts) + " V")
    net = number("net_power")
    if net is not None:
        parts.append(f"net {net:+.3f} kW")
    received, repaired, rejected = (
        number(f"telegrams_{k}") for k in ("received", "repaired", "invalid")
    )
    if received is not None:
        parts.append(
            f"telegrams {received:.0f}, repaired {repaired or 0:.0f}, rejected {rejected or 0:.0f}"
        )
    return "   ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Real Home Assistant with P1 DSMR and a simulated meter.",
        epilog="Stop it with Ctrl-C (or SIGTERM): Home Assistant stops with it.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="headless: wait for values, check the demo, print the results, exit",
    )
    parser.add_argument(
        "--port", type=int, default=8123, help="port (default 8123; a free one when it is taken)"
    )
    parser.add_argument(
        "--meter",
        choices=list(TIME_ZONES),
        default=DEFAULT_METER,
        help=f"the simulated meter (default {DEFAULT_METER})",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=ROOT / ".demo" / "config",
        help="Home Assistant's configuration directory (made afresh; default .demo/config)",
    )
    args = parser.parse_args()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started ignoring it
    live = sys.stdout.isatty() and not args.check

    def say(text: str) -> None:
        print(text, flush=True)

    demo = Demo(args.config.resolve(), choose_port(args.port), args.meter, say)
    try:
        demo.start()
        demo.add_meter()
        if args.check:
            results = run_checks(demo, wait=True)
            print("\n".join(describe(demo.hass.states(), demo.entities)))
            for what, problem in results:
                print(f"  {'ok' if problem is None else 'FAILED'}: {what}", end="")
                print(f": {problem}" if problem else "")
            print(f"\nHome Assistant: {demo.hass.url}  (checked, stopping)", flush=True)
            return 1 if any(problem for _, problem in results) else 0
        for what, problem in run_checks(demo, wait=False):
            if problem is not None:
                say(f"Warning: {what}: {problem}")
        print(
            "\n".join(
                [
                    "",
                    f"  Open      {demo.dashboard_url}",
                    f"  User      {demo.hass.username}",
                    f"  Password  {demo.hass.password}",
                    f"  Stop      Ctrl-C here (or kill {os.getpid()}): Home Assistant stops too",
                    "",
                ]
            ),
            flush=True,
        )
        shown = adjusted = 0.0
        while True:
            demo.tick()
            if demo.adjustments and time.monotonic() - adjusted >= 30:
                adjusted = time.monotonic()
                try:
                    demo.adjust_sums()
                except OSError:  # busy: the next round
                    pass
                except RuntimeError as err:  # the demo goes on; only the Energy dashboard suffers
                    demo.adjustments.clear()
                    say(f"\nWarning: the energy statistics could not be joined: {err}")
            if live and time.monotonic() - shown >= 10:
                shown = time.monotonic()
                width = shutil.get_terminal_size((100, 20)).columns - 3
                with contextlib.suppress(OSError):  # busy: the next round
                    line = status_line(demo.hass.states(), demo.entities)
                    print(f"\r\x1b[K  {line[:width]}", end="", flush=True)
            time.sleep(0.5)
    except (KeyboardInterrupt, Stop):
        return 0
    except Exception as err:
        print(f"\ndemo: {err}", file=sys.stderr)
        if demo.hass.process is not None:
            print(f"(Home Assistant's output: {demo.config_dir / 'hass.out'})", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if demo.hass.running:
            print("\nStopping Home Assistant ...", flush=True)
            demo.hass.stop()
            print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
