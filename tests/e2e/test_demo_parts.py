"""The demo's parts without Home Assistant: the simulated meter and its past day, the dashboard and
energy preferences, the log's verdict, the port choice."""

from __future__ import annotations

import itertools
import socket
import sys
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from demo import choose_port
from demo_assets import (
    DASHBOARD_KEYS,
    dashboard,
    dashboard_entities,
    energy_keys,
    energy_prefs,
    grid_statistics,
)
from demo_checks import classify_log
from demo_meter import LiveMeter, counters
from hass_demo import HassProcess, _watching_parent, port_in_use

from custom_components.p1_dsmr.p1lib.crc import crc16
from custom_components.p1_dsmr.p1lib.generator import MeterSimulator


def test_counters_by_the_integrations_keys() -> None:
    dutch = counters(MeterSimulator("nl_dsmr5", seed=1).telegram())
    assert set(dutch) == {
        "energy_import_t1",
        "energy_import_t2",
        "energy_export_t1",
        "energy_export_t2",
        "mbus1_mbus_reading",
    }
    hungarian = counters(MeterSimulator("hu_sanxing", seed=1).telegram())
    assert {"energy_import", "energy_export", "energy_import_t1"} <= set(hungarian)
    assert "mbus1_mbus_reading" not in hungarian


@pytest.mark.parametrize("style", ["hu_sanxing", "nl_dsmr4"])
def test_the_past_day_and_the_live_meter_are_one_counter(style: str, tmp_path: Path) -> None:
    meter = LiveMeter(tmp_path / "meter.log", style, seed=3, history_hours=5)
    hours = [when for when, _ in meter.history]
    assert len(hours) in (5, 6)
    assert {later - earlier for earlier, later in itertools.pairwise(hours)} == {timedelta(hours=1)}
    last = hours[-1]
    rows = meter.statistics("energy_import_t1", last)
    assert len(rows) == len(hours) - 1
    base = meter.history[0][1]["energy_import_t1"]
    sums = [row["sum"] for row in rows]
    assert sums == sorted(sums)
    assert sums[0] >= 0
    assert all(round(row["state"] - row["sum"], 3) == base for row in rows)
    # the hour that is not over yet is left to Home Assistant
    assert meter.statistics("energy_import_t1", hours[-2]) == rows[:-1]
    # the live telegrams go on from the last hour's counter: Home Assistant's sums, adjusted by
    # (first live value - base), continue the imported ones without a step
    for _ in range(3):
        meter._due = 0.0
        assert meter.tick()
    live = counters(meter.path.read_bytes().split(b"!")[0] + b"!")
    # in Wh: 3408.321 - 3382.154 is 26.166999... in binary floating point, not 26.167
    grown = round(1000 * (live["energy_import_t1"] - base)) - round(1000 * sums[-1])
    assert grown >= 0
    # and by no more than the generator's loads (3 x 11 kW at most) give in under an hour
    assert grown < 33_000


def test_the_live_meter_writes_telegrams_and_damages_one_early(tmp_path: Path) -> None:
    meter = LiveMeter(tmp_path / "meter.log", "hu_sanxing", seed=5, history_hours=1)
    assert meter.first_damaged == 3
    for _ in range(meter.first_damaged):
        meter._due = 0.0
        assert meter.tick()
    assert not meter.tick()  # the next one is not due yet
    data = meter.path.read_bytes()
    assert data.startswith(b"=~=~=~=~=~=~=~=~=~=~=~= PuTTY log ")
    frames = [b"/" + part for part in data.split(b"/")[1:] if b"!" in part]
    valid = [
        frame
        for frame in frames
        if frame[frame.index(b"!") + 1 : frame.index(b"!") + 5]
        == f"{crc16(frame[: frame.index(b'!') + 1]):04X}".encode()
    ]
    assert meter.damaged == 1
    assert len(valid) == meter.first_damaged - 1


def test_energy_prefs_use_the_total_or_the_tariffs_and_the_gas_meter() -> None:
    dutch = {
        "energy_import_t1": "sensor.i1",
        "energy_import_t2": "sensor.i2",
        "energy_export_t1": "sensor.e1",
        "energy_export_t2": "sensor.e2",
    }
    prefs = energy_prefs(dutch, gas="sensor.gas")
    grid, gas = prefs["energy_sources"]
    assert [f["stat_energy_from"] for f in grid["flow_from"]] == ["sensor.i1", "sensor.i2"]
    assert [f["stat_energy_to"] for f in grid["flow_to"]] == ["sensor.e1", "sensor.e2"]
    assert gas == {
        "type": "gas",
        "stat_energy_from": "sensor.gas",
        "stat_cost": None,
        "entity_energy_price": None,
        "number_energy_price": None,
    }
    hungarian = {**dutch, "energy_import": "sensor.i", "energy_export": "sensor.e"}
    assert energy_keys(hungarian, "import") == ["energy_import"]
    grid = energy_prefs(hungarian)["energy_sources"][0]
    assert [f["stat_energy_from"] for f in grid["flow_from"]] == ["sensor.i"]
    with pytest.raises(KeyError):
        energy_prefs({"voltage_l1": "sensor.v"})


def test_energy_prefs_in_home_assistant_2026s_grid_format() -> None:
    dutch = {
        "energy_import_t1": "sensor.i1",
        "energy_import_t2": "sensor.i2",
        "energy_export_t1": "sensor.e1",
    }
    prefs = energy_prefs(dutch, unified=True)
    assert prefs["energy_sources"] == [
        {
            "type": "grid",
            "stat_energy_from": "sensor.i1",
            "stat_energy_to": "sensor.e1",
            "cost_adjustment_day": 0,
        },
        {
            "type": "grid",
            "stat_energy_from": "sensor.i2",
            "stat_energy_to": None,
            "cost_adjustment_day": 0,
        },
    ]
    assert grid_statistics(prefs) == (["sensor.i1", "sensor.i2"], ["sensor.e1"])
    assert grid_statistics(energy_prefs(dutch)) == (["sensor.i1", "sensor.i2"], ["sensor.e1"])


def test_the_dashboard_shows_what_the_meter_has() -> None:
    entities = {key: f"sensor.x_{key}" for key in DASHBOARD_KEYS}
    entities |= {"energy_import": "sensor.x_ei", "energy_export": "sensor.x_ee"}
    config = dashboard(entities, 253.0, "device1")
    shown = set(dashboard_entities(config))
    assert shown == set(entities.values())
    text = str(config)
    assert "/config/devices/device/device1" in text
    assert "above 253 V" in text
    gauges = [c for s in config["views"][0]["sections"] for c in s["cards"] if c["type"] == "gauge"]
    assert [g["name"] for g in gauges] == ["L1", "L2", "L3"]
    assert all(
        {"from": 253.0, "color": "var(--error-color)"}.items() <= g["segments"][-1].items()
        for g in gauges
    )
    assert "sends its total power only" not in text
    # a Hungarian meter has no per-phase power: the dashboard says so, and refers to nothing missing
    hungarian = {k: v for k, v in entities.items() if not k.startswith("net_power_l")}
    config = dashboard(hungarian, 250.0, None, "hu_sanxing")
    assert set(dashboard_entities(config)) == set(hungarian.values())
    assert "sends its total power only" in str(config)
    assert "Hungarian Sanxing" in str(config)


def test_the_log_verdict() -> None:
    def record(level: str, name: str, message: str) -> dict[str, object]:
        return {"level": level, "name": name, "message": [message], "source": ["x.py", 1]}

    errors, warnings, notes = classify_log(
        [
            record("ERROR", "homeassistant.components.met", "Error setting up entry"),
            record(
                "WARNING",
                "homeassistant.loader",
                "We found a custom integration p1_dsmr which has not been tested by Home "
                "Assistant. This component might cause stability problems",
            ),
            record("WARNING", "custom_components.p1_dsmr.coordinator", "lost the source"),
            record(
                "WARNING",
                "homeassistant.components.sensor.recorder",
                "Entity sensor.meter_energy has state class total_increasing, but its state is "
                "not strictly increasing",
            ),
            record("WARNING", "homeassistant.components.http", "something else"),
        ],
        {"sensor.meter_energy"},
    )
    assert errors == ["homeassistant.components.met: Error setting up entry"]
    assert [w.split(":")[0] for w in warnings] == [
        "custom_components.p1_dsmr.coordinator",
        "homeassistant.components.sensor.recorder",
    ]
    assert len(notes) == 2


def test_a_taken_port_is_seen_and_another_is_chosen(
    socket_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert port_in_use(port)
        chosen = choose_port(port)
    assert chosen != port
    assert not port_in_use(chosen)
    assert f"Port {port} is in use" in capsys.readouterr().out
    assert choose_port(chosen) == chosen


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_home_assistant_runs_watching_its_parent() -> None:
    python = sys.executable
    command = _watching_parent([python, "-m", "homeassistant", "-c", "/config"])
    assert command[0] == python
    assert command[1] == "-c"
    assert "prctl(1, signal.SIGTERM)" in command[2]
    assert "runpy.run_module('homeassistant', run_name='__main__', alter_sys=True)" in command[2]
    assert command[3:] == ["-c", "/config"]
    patched = _watching_parent([python, "-c", "import sys; run()", "-c", "/config"])
    assert patched[2].endswith("import sys; run()")
    assert patched[3:] == ["-c", "/config"]


def test_a_directory_it_did_not_make_is_never_replaced(tmp_path: Path) -> None:
    real = tmp_path / "homeassistant"
    real.mkdir()
    (real / "configuration.yaml").write_text("default_config:\n")
    with pytest.raises(FileExistsError, match="not a configuration directory this made"):
        HassProcess(real, 8123).write_config()
    assert (real / "configuration.yaml").read_text() == "default_config:\n"
    made = tmp_path / "demo"
    HassProcess(made, 8123).write_config()
    (made / "extra").write_text("x")
    HassProcess(made, 8123).write_config()  # its own: made afresh
    assert not (made / "extra").exists()
    assert (made / "configuration.yaml").exists()
