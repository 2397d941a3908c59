"""End-to-end: a real Home Assistant process (and a real browser where there is one)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from hass_demo import HassProcess, free_port

from custom_components.p1_dsmr.p1lib.generator import MeterSimulator, putty_header
from tests.ha_reports import problems_in_log


@pytest.fixture
def meter_log(tmp_path: Path) -> Path:
    """A log of a Dutch DSMR 5 meter (one telegram a second)."""
    sim = MeterSimulator("nl_dsmr5", seed=21, solar=True)
    path = tmp_path / "meter.log"
    path.write_bytes(putty_header(sim.now) + b"".join(sim.telegrams(30)))
    return path


def running_hass(tmp_path: Path, frontend: bool) -> Iterator[HassProcess]:
    """Home Assistant as a process; after it stopped, its log must hold no report of a deprecated
    call by p1_dsmr and no error of ours (tests/ha_reports.py)."""
    hass = HassProcess(tmp_path / "config", free_port(), frontend=frontend)
    hass.write_config()
    try:
        hass.start()
        hass.onboard()
        yield hass
    finally:
        hass.stop()
    log = (hass.config_dir / "hass.out").read_text(encoding="utf-8", errors="replace")
    assert "custom integration p1_dsmr" in log  # the log is the one that loaded it
    problems = problems_in_log(log)
    assert not problems, "\n\n".join(problems)


@pytest.fixture
def hass_process(tmp_path: Path, socket_enabled: None) -> Iterator[HassProcess]:
    """Home Assistant started as a process on a free loopback port, onboarded."""
    yield from running_hass(tmp_path, frontend=False)


@pytest.fixture
def hass_with_frontend(tmp_path: Path, socket_enabled: None) -> Iterator[HassProcess]:
    """The same, with the frontend."""
    yield from running_hass(tmp_path, frontend=True)
