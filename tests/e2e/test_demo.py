"""The demo (scripts/demo.py) as a user runs it: a real Home Assistant process and a simulated meter.

``--check`` on a port another program holds (which must never get a request), and a live demo,
looked at with the credentials it prints and stopped with SIGTERM (which must leave no Home
Assistant behind).
"""

from __future__ import annotations

import importlib.util
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from demo_assets import grid_statistics
from demo_checks import ONBOARDING_DEFAULTS
from hass_demo import CLIENT_ID

from tests.processes import untraced

from .conftest import HassProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo.py"

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/cmdline").exists() or importlib.util.find_spec("hass_frontend") is None,
    reason="needs the frontend (the demo's dashboards) and /proc (to find leftover processes)",
)


def processes_of(config: Path) -> list[int]:
    """Processes whose command line names the configuration directory (the demo, Home
    Assistant)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(config).encode() in cmdline:
            found.append(int(entry.name))
    return found


def wait_until_gone(config: Path, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := processes_of(config)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


@contextmanager
def occupied_port() -> Iterator[tuple[int, list[bytes]]]:
    """A port held by a listening program that records what it is sent."""
    received: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(1.0)
                with suppress(OSError):
                    received.append(connection.recv(4096))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1]), received
    finally:
        stop.set()
        thread.join()
        server.close()


def test_demo_check_on_a_taken_port(tmp_path: Path, socket_enabled: None) -> None:
    config = tmp_path / "config"
    with occupied_port() as (port, received):
        result = subprocess.run(
            [sys.executable, str(DEMO), "--check", "--port", str(port), "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "FAILED" not in out
    # the other program on the port was told nothing; the demo said which port it took
    assert not any(received), received
    assert f"Port {port} is in use" in out
    used = re.search(r"Home Assistant: http://127\.0\.0\.1:(\d+)", out)
    assert used is not None
    assert int(used.group(1)) != port
    for check in (
        "history, logbook, recorder and energy loaded",
        "every integration loaded",
        "no onboarding default integrations",
        "the meter has every value the dashboard shows",
        "the damaged telegram is counted (repaired or rejected)",
        "history has the voltage",
        "the past 24 hours of energy in the statistics (no negative hour)",
        "energy: the meter is grid consumption and return",
        "energy configuration validates",
        "dashboard P1 DSMR (p1-dsmr)",
        "nothing logged at error level",
        "no warning about P1 DSMR or the demo",
    ):
        assert f"ok: {check}" in out, out
    assert wait_until_gone(config) == []


def log_in(config: Path, port: int, username: str, password: str) -> HassProcess:
    """The demo's Home Assistant, logged in as a user would with the printed credentials."""
    hass = HassProcess(config, port)
    flow = hass.request(
        "POST",
        "/auth/login_flow",
        {"client_id": CLIENT_ID, "handler": ["homeassistant", None], "redirect_uri": CLIENT_ID},
    )
    result = hass.request(
        "POST",
        f"/auth/login_flow/{flow['flow_id']}",
        {"client_id": CLIENT_ID, "username": username, "password": password},
    )
    assert result["type"] == "create_entry", result
    tokens = hass.request(
        "POST",
        "/auth/token",
        {"grant_type": "authorization_code", "code": result["result"], "client_id": CLIENT_ID},
        form=True,
    )
    hass.token = tokens["access_token"]
    return hass


def what_a_user_finds(hass: HassProcess) -> None:
    """Checked here, not by the demo's own --check: history, logbook, recorder and energy, the
    meter as the Energy dashboard's grid with a past day of hours, the dashboard, a clean log."""
    assert {"recorder", "history", "logbook", "energy", "frontend"} <= set(
        hass.request("GET", "/api/config")["components"]
    )
    entries = hass.request("GET", "/api/config/config_entries/entry")
    # Only P1 DSMR and what Home Assistant creates by itself (backup; 2026.x adds analytics and
    # marketplace): none of onboarding's default integrations.
    assert not {e["domain"] for e in entries} & ONBOARDING_DEFAULTS
    assert all(e["state"] == "loaded" for e in entries), entries
    (entry,) = [e for e in entries if e["domain"] == "p1_dsmr"]
    keys = hass.meter_entities(entry["entry_id"])
    prefs, dashboards, config = hass.ws(
        {"type": "energy/get_prefs"},
        {"type": "lovelace/dashboards/list"},
        {"type": "lovelace/config", "url_path": "p1-dsmr"},
    )
    imported, exported = grid_statistics(prefs)
    assert imported == [keys["energy_import_t1"], keys["energy_import_t2"]]
    assert exported == [keys["energy_export_t1"], keys["energy_export_t2"]]
    assert "p1-dsmr" in [d["url_path"] for d in dashboards]
    cards = [card for section in config["views"][0]["sections"] for card in section["cards"]]
    assert [card["entity"] for card in cards if card["type"] == "gauge"] == [
        keys[f"voltage_l{n}"] for n in (1, 2, 3)
    ]
    start = (datetime.now(UTC) - timedelta(hours=26)).isoformat()
    deadline = time.monotonic() + 30
    while True:  # the recorder commits every 5 s
        (stats,) = hass.ws(
            {
                "type": "recorder/statistics_during_period",
                "start_time": start,
                "period": "hour",
                "statistic_ids": imported,
                "types": ["change"],
            }
        )
        (history,) = hass.ws(
            {
                "type": "history/history_during_period",
                "start_time": start,
                "entity_ids": [keys["voltage_l1"]],
                "minimal_response": True,
            }
        )
        if (all(len(stats.get(i, [])) >= 22 for i in imported) and history) or (
            time.monotonic() > deadline
        ):
            break
        time.sleep(1)
    for statistic in imported:
        changes = [row["change"] for row in stats[statistic]]
        assert len(changes) >= 22
        assert min(changes) >= 0
    assert history[keys["voltage_l1"]]
    (log,) = hass.ws({"type": "system_log/list"})
    assert [r for r in log if r["level"] in ("ERROR", "CRITICAL")] == []


def test_demo_stops_home_assistant_on_sigterm(tmp_path: Path, socket_enabled: None) -> None:
    config = tmp_path / "config"
    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, str(DEMO), "--port", str(port), "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=untraced(),
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in demo.stdout or ()], daemon=True
    ).start()
    output = []
    try:
        deadline = time.monotonic() + 300
        while not any("Password" in line for line in output):
            assert demo.poll() is None, "".join(output)
            assert time.monotonic() < deadline, "".join(output)
            with suppress(queue.Empty):
                output.append(lines.get(timeout=1))
        assert any(f"http://127.0.0.1:{port}/p1-dsmr/meter" in line for line in output)
        assert len(processes_of(config)) >= 2  # the demo and Home Assistant
        printed = dict(
            line.split(maxsplit=1) for line in output if line.strip().startswith(("User", "Pass"))
        )
        what_a_user_finds(
            log_in(config, port, printed["User"].strip(), printed["Password"].strip())
        )
        later = []
        while not lines.empty():
            later.append(lines.get())
        # the URL and the credentials come last: nothing scrolls them away while it runs
        assert [line for line in later if line.strip() and "Stop" not in line] == []
        output += later
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=120) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    time.sleep(0.5)
    while not lines.empty():
        output.append(lines.get())
    text = "".join(output)
    assert "Stopping Home Assistant" in text
    assert "Stopped." in text
    assert wait_until_gone(config) == [], text
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there any more
