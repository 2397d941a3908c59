"""Run a real Home Assistant with P1 DSMR: start it, onboard it, add a meter through the config flow.

Used by ``scripts/demo`` and by the end-to-end tests. Standard library only (plus the Home
Assistant in the same virtual environment, started as a separate process).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / "p1_dsmr"
SAMPLE_LOG = COMPONENT / "p1lib" / "samples" / "hu_sanxing_demo.log"
CLIENT_ID = "http://127.0.0.1/"


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HassProcess:
    """A Home Assistant process with its own configuration directory."""

    def __init__(self, config_dir: Path, port: int, frontend: bool = True) -> None:
        self.config_dir = config_dir
        self.port = port
        self.frontend = frontend
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.token: str | None = None
        self.username = "demo"
        self.password = secrets.token_urlsafe(9)

    # --- process ---------------------------------------------------------------------------------

    def write_config(self) -> None:
        """A fresh configuration directory with P1 DSMR installed as a custom integration."""
        if self.config_dir.exists():
            shutil.rmtree(self.config_dir)
        (self.config_dir / "custom_components").mkdir(parents=True)
        shutil.copytree(
            COMPONENT,
            self.config_dir / "custom_components" / "p1_dsmr",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        components = ["frontend:"] if self.frontend else ["api:", "config:", "onboarding:"]
        (self.config_dir / "configuration.yaml").write_text(
            "\n".join(
                [
                    "homeassistant:",
                    "  name: P1 DSMR demo",
                    "  time_zone: Europe/Budapest",
                    "  country: HU",
                    "  unit_system: metric",
                    "  allowlist_external_dirs:",
                    f"    - {self.config_dir}",
                    "http:",
                    "  server_host: 127.0.0.1",
                    f"  server_port: {self.port}",
                    *components,
                    "logger:",
                    "  default: warning",
                    "",
                ]
            )
        )

    def command(self) -> list[str]:
        """``python -m homeassistant`` for this configuration directory.

        In the test venv that ../shared/ha-current/make-venv builds (Home Assistant 2026.x, which
        declares Python >= 3.14, patched to run on this machine's 3.13: it leaves
        ``.py313-patches`` in the venv), Home Assistant's own Python version check would refuse
        to start; there it is skipped, and everything else runs as ``python -m homeassistant``.
        """
        args = ["-c", str(self.config_dir), "--skip-pip"]
        if (Path(sys.prefix) / ".py313-patches").is_dir():
            skip_check = (
                "import sys; from homeassistant import __main__ as main; "
                "main.validate_python = lambda: None; sys.exit(main.main())"
            )
            return [sys.executable, "-c", skip_check, *args]
        return [sys.executable, "-m", "homeassistant", *args]

    def start(self, timeout: float = 180.0) -> None:
        """Start Home Assistant and wait until its HTTP API answers."""
        with (self.config_dir / "hass.out").open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Home Assistant exited; see {self.config_dir / 'hass.out'}")
            try:
                self.request("GET", "/api/onboarding")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise TimeoutError(f"Home Assistant did not answer on {self.url} in {timeout:g} s")

    def stop(self) -> None:
        """Stop Home Assistant."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    # --- HTTP ------------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, form: bool = False
    ) -> Any:
        """A request to the API (JSON, or a form for the token endpoint)."""
        headers = {}
        data = None
        if body is not None and form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def onboard(self) -> None:
        """Create the owner (a local user), finish onboarding, keep an access token."""
        created = self.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": CLIENT_ID,
                "name": "P1 DSMR demo",
                "username": self.username,
                "password": self.password,
                "language": "en",
            },
        )
        tokens = self.request(
            "POST",
            "/auth/token",
            {
                "grant_type": "authorization_code",
                "code": created["auth_code"],
                "client_id": CLIENT_ID,
            },
            form=True,
        )
        self.token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]
        self.request("POST", "/api/onboarding/core_config", {})
        self.request("POST", "/api/onboarding/analytics", {})
        self.request(
            "POST",
            "/api/onboarding/integration",
            {"client_id": CLIENT_ID, "redirect_uri": CLIENT_ID},
        )

    def add_file_meter(self, log: Path, mode: str = "replay", loop: bool = True) -> dict[str, Any]:
        """Add a P1 DSMR entry for a log file through the config flow's HTTP API."""
        flow = self.request("POST", "/api/config/config_entries/flow", {"handler": "p1_dsmr"})
        assert flow["type"] == "menu", flow
        flow = self.request(
            "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", {"next_step_id": "file"}
        )
        assert flow["step_id"] == "file", flow
        result = self.request(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"path": str(log), "mode": mode, "loop": loop},
        )
        assert result["type"] == "create_entry", result
        return dict(result["result"])

    def states(self) -> dict[str, dict[str, Any]]:
        """Every entity's state."""
        return {state["entity_id"]: state for state in self.request("GET", "/api/states")}

    def wait_for_values(self, timeout: float = 120.0) -> dict[str, dict[str, Any]]:
        """Wait until the meter's voltages have values."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.states()
            voltage = states.get("sensor.electricity_meter_voltage_l1")
            if voltage and voltage["state"] not in ("unknown", "unavailable"):
                return states
            time.sleep(1)
        raise TimeoutError("the meter's sensors got no values")


def describe(states: dict[str, dict[str, Any]]) -> list[str]:
    """The meter's main values as lines like ``Voltage L1: 234.3 V``."""
    lines = []
    for entity_id in (
        "sensor.electricity_meter_voltage_l1",
        "sensor.electricity_meter_voltage_l2",
        "sensor.electricity_meter_voltage_l3",
        "sensor.electricity_meter_current_l1_precise",
        "sensor.electricity_meter_current_l2_precise",
        "sensor.electricity_meter_current_l3_precise",
        "sensor.electricity_meter_net_power",
        "sensor.electricity_meter_energy_import",
        "sensor.electricity_meter_energy_export",
        "sensor.electricity_meter_frequency",
        "sensor.electricity_meter_telegrams_received",
        "sensor.electricity_meter_repaired_telegrams",
    ):
        state = states.get(entity_id)
        if state is None:
            continue
        unit = state["attributes"].get("unit_of_measurement", "")
        name = state["attributes"].get("friendly_name", entity_id)
        value = state["state"]
        try:
            number = float(value)
            precision = 2 if unit == "A" else 3 if unit in ("kW", "kWh") else 1
            value = f"{number:.{precision}f}" if unit else str(int(number))
        except ValueError:
            pass
        lines.append(f"  {name}: {value} {unit}".rstrip())
    return lines
