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

from .conftest import HU_ID, telegrams
from .test_coordinator import with_lines
from .test_init import wait_for
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
    assert redacted.count("\r\n") == text.count("\r\n")


async def test_every_identifier_is_redacted_wherever_it_is(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, tmp_path: Path
) -> None:
    # A Hungarian Sanxing meter carries its serial in the header (/AUX59902759988) too; a line
    # that does not parse may hold identifiers as well.
    data = telegrams("hu_sanxing", 2)
    odd = with_lines(data[1], add=b"9902759988 AUX1030302759988 unparsed")
    path = tmp_path / "meter.log"
    path.write_bytes(data[0] + odd)
    entry = await setup_file(hass, path, HU_ID)
    await wait_for(hass, lambda: entry.runtime_data.last_result is not None)
    result = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = str(result)
    for secret in ("9902759988", "AUX1030302759988", HU_ID, "41555831303330"):
        assert secret not in text
    assert result["meter"]["header"] == "/AUX5**REDACTED**"
    last = result["last_telegram"]
    assert last["text"].count("\r\n") == odd.count(b"\r\n")  # line ends kept
    assert last["unparsed_lines"] == [
        [last["unparsed_lines"][0][0], "**REDACTED** **REDACTED** unparsed"]
    ]
    assert await hass.config_entries.async_unload(entry.entry_id)
