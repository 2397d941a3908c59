"""The guard that fails a test on Home Assistant's deprecation reports, against the real reports."""

from __future__ import annotations

import logging

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import frame
from homeassistant.loader import async_get_integration

from custom_components.p1_dsmr.const import DOMAIN
from tests.ha_reports import is_deprecation_report, problems_in_log

from .conftest import _REPORTS


async def test_home_assistants_reports_are_caught(
    hass: HomeAssistant, request: pytest.FixtureRequest
) -> None:
    """Both kinds of report, as this Home Assistant release words them, fail the test."""
    await async_get_integration(hass, DOMAIN)
    guard = request.node.stash[_REPORTS]
    frame.report_usage(
        "calls `an_api_that_went_away`",
        breaks_in_ha_version="2099.1.0",
        core_behavior=frame.ReportBehavior.LOG,
        integration_domain=DOMAIN,
    )
    frame.report_usage("calls `another_api_that_went_away`", core_behavior=frame.ReportBehavior.LOG)
    assert len(guard.reports) == 2, guard.reports
    assert guard.reports[0].startswith("Detected that custom integration 'p1_dsmr' calls `an_api")
    assert guard.reports[1].startswith("Detected code that calls `another_api")
    guard.reports.clear()  # caught: this test itself passes


@pytest.mark.parametrize(
    ("logger", "message", "reported"),
    [
        ("homeassistant.helpers.frame", "Detected that custom integration 'p1_dsmr' calls x", True),
        ("homeassistant.helpers.frame", "Detected that custom integration 'other' calls x", False),
        ("homeassistant.helpers.frame", "Detected code that calls x. Please report this", True),
        (
            "homeassistant.helpers.deprecation",
            "UNIT was used from p1_dsmr, this is a deprecated constant which will be removed",
            True,
        ),
        (
            "homeassistant.loader",
            "We found a custom integration p1_dsmr which has not been tested by Home Assistant",
            False,
        ),
        ("custom_components.p1_dsmr", "Lost serial port: the device was removed", False),
    ],
)
def test_which_records_are_reports(logger: str, message: str, reported: bool) -> None:
    assert is_deprecation_report(logger, logging.WARNING, message) is reported
    assert not is_deprecation_report(logger, logging.INFO, message)


def test_problems_in_a_hass_log() -> None:
    log = (
        "2026-11-29 11:01:03.851 WARNING (SyncWorker_0) [homeassistant.loader] We found a custom"
        " integration p1_dsmr which has not been tested by Home Assistant.\n"
        "2026-11-29 11:01:04.722 ERROR (ImportExecutor_0) [homeassistant.components.camera] Error"
        ' loading libturbojpeg\nTraceback (most recent call last):\n  File "camera.py"\n'
        "2026-11-29 11:01:05.100 WARNING (MainThread) [homeassistant.helpers.frame] Detected that"
        " custom integration 'p1_dsmr' calls `x` at custom_components/p1_dsmr/entity.py, line 3\n"
        "2026-11-29 11:01:06.000 ERROR (MainThread) [homeassistant.config_entries] Error setting up"
        " entry Iskra for p1_dsmr\nTraceback (most recent call last):\n"
        '  File "/c/custom_components/p1_dsmr/__init__.py", line 9, in async_setup_entry\n'
        "2026-11-29 11:01:07.000 WARNING (MainThread) [custom_components.p1_dsmr] Lost 1.2.3.4\n"
    )
    problems = problems_in_log(log)
    assert len(problems) == 2
    assert "calls `x`" in problems[0]
    assert problems[1].endswith("in async_setup_entry")
