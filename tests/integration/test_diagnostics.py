"""Diagnostics, with identifiers redacted."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.p1_dsmr.diagnostics import redact_telegram

from .conftest import telegrams
from .test_sensor import setup_file


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
    tmp_path: Path,
) -> None:
    path = tmp_path / "meter.log"
    path.write_bytes(b"".join(telegrams("nl_dsmr5", 2)))
    entry = await setup_file(hass, path, "E0044007382246019")
    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert "E0044007382246019" not in str(result)
    assert "4530303434303037333832323436303139" not in str(result)
    assert str(path) not in str(result)
    assert result == snapshot(exclude=props("last_telegram_at", "entry_id"))
    assert await hass.config_entries.async_unload(entry.entry_id)


def test_redact_telegram() -> None:
    text = "/ISK5\r\n\r\n0-0:96.1.1(4530)\r\n1-0:1.7.0(00.1*kW)\r\n0-1:96.1.0(4730)\r\n!"
    redacted = redact_telegram(text)
    assert "4530" not in redacted
    assert "4730" not in redacted
    assert "1-0:1.7.0(00.1*kW)" in redacted
