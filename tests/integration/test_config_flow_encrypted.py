"""The config flow for a meter that encrypts its telegrams: the key step, over a real TCP stream,
a real serial pty and a log file, with wrong keys and keys that are no keys; reconfigure."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.p1_dsmr.const import (
    CONF_AUTH_KEY,
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_DEVICE,
    CONF_FILE_MODE,
    CONF_FILE_PATH,
    CONF_KEY,
    CONF_LOOP,
    CONF_PARITY,
    CONF_SOURCE,
    DOMAIN,
    FILE_MODE_FOLLOW,
    SOURCE_FILE,
    SOURCE_NETWORK,
    SOURCE_SERIAL,
)
from custom_components.p1_dsmr.p1lib.decoder import Decoder
from tests.lib.sealing import AUTH_KEY, HAVE_CRYPTOGRAPHY, KEY, OTHER_KEY, seal

from .conftest import PtyMeter, TcpMeter, telegrams
from .test_config_flow import start

if not HAVE_CRYPTOGRAPHY:  # pragma: no cover (Home Assistant ships cryptography)
    pytest.skip("the cryptography package is not installed", allow_module_level=True)

KEY_HEX = KEY.hex().upper()
AUTH_HEX = AUTH_KEY.hex().upper()


def frames(count: int = 30, key: bytes = KEY) -> list[bytes]:
    """A Luxembourg Smarty meter's telegrams, each sealed in a frame (counters increasing)."""
    return [seal(t, 5000 + n, key) for n, t in enumerate(telegrams("lu_smarty", count))]


def meter_id() -> str:
    (result,) = Decoder().feed(telegrams("lu_smarty", 1)[0])
    assert result.telegram is not None
    assert result.telegram.equipment_id
    return result.telegram.equipment_id


@pytest.fixture(autouse=True)
async def no_setup(hass: HomeAssistant) -> Any:
    """The flow on its own: creating an entry does not start reading."""
    with (
        patch("custom_components.p1_dsmr.async_setup_entry", return_value=True),
        patch("custom_components.p1_dsmr.async_unload_entry", return_value=True),
    ):
        yield
        for entry in hass.config_entries.async_entries(DOMAIN):
            if entry.state is ConfigEntryState.LOADED:
                assert await hass.config_entries.async_unload(entry.entry_id)


async def key_step(hass: HomeAssistant, flow_id: str, **data: str) -> dict[str, Any]:
    return await hass.config_entries.flow.async_configure(flow_id, data)  # type: ignore[return-value]


async def test_network_asks_for_the_key_and_checks_it(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    meter = await TcpMeter(frames()).start()
    try:
        result = await start(hass, "network")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: meter.port}
        )
        # Encrypted frames, no key: the key step, no error yet.
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "key"
        assert result["errors"] == {}
        flow_id = result["flow_id"]
        # Not a key: the field says so, nothing is tried.
        result = await key_step(hass, flow_id, key="0A1B2C", auth_key="xyz")
        assert result["errors"] == {CONF_KEY: "invalid_key", CONF_AUTH_KEY: "invalid_key"}
        # A key, the wrong one: tried on the meter's frames.
        result = await key_step(hass, flow_id, key=OTHER_KEY.hex())
        assert result["step_id"] == "key"
        assert result["errors"] == {"base": "wrong_key"}
        # The right key with a wrong authentication key: the tag does not verify.
        result = await key_step(hass, flow_id, key=KEY_HEX, auth_key=OTHER_KEY.hex())
        assert result["errors"] == {"base": "wrong_auth_key"}
        # The right key, written as an operator's letter may print it.
        spaced = " ".join(KEY_HEX[i : i + 2] for i in range(0, 32, 2)).lower()
        result = await key_step(hass, flow_id, key=spaced)
    finally:
        await meter.stop()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Luxembourg Smarty {meter_id()}"
    assert result["result"].unique_id == meter_id()
    assert result["data"] == {
        CONF_SOURCE: SOURCE_NETWORK,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: meter.port,
        CONF_KEY: KEY_HEX,
        CONF_AUTH_KEY: None,
    }


async def test_network_with_the_authentication_key(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    meter = await TcpMeter(frames()).start()
    try:
        result = await start(hass, "network")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: meter.port}
        )
        result = await key_step(hass, result["flow_id"], key=KEY_HEX, auth_key=AUTH_HEX)
    finally:
        await meter.stop()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_KEY] == KEY_HEX
    assert result["data"][CONF_AUTH_KEY] == AUTH_HEX


async def test_a_meter_that_went_silent_before_the_key(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    meter = await TcpMeter(frames()).start()
    result = await start(hass, "network")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: meter.port}
    )
    await meter.stop()
    result = await key_step(hass, result["flow_id"], key=KEY_HEX)
    assert result["errors"] == {"base": "cannot_connect"}


async def test_serial_pty_asks_for_the_key(hass: HomeAssistant) -> None:
    meter = PtyMeter(frames(), interval=0.05).start()
    try:
        result = await start(hass, "serial")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DEVICE: "manual"}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DEVICE: meter.path}
        )
        assert result["step_id"] == "key"
        result = await key_step(hass, result["flow_id"], key=OTHER_KEY.hex())
        assert result["errors"] == {"base": "wrong_key"}
        result = await key_step(hass, result["flow_id"], key=KEY_HEX)
    finally:
        meter.stop()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_SOURCE: SOURCE_SERIAL,
        CONF_DEVICE: meter.path,
        CONF_BAUDRATE: 115200,
        CONF_BYTESIZE: 8,
        CONF_PARITY: "N",
        CONF_KEY: KEY_HEX,
        CONF_AUTH_KEY: None,
    }


async def test_file_asks_for_the_key(hass: HomeAssistant, tmp_path: Path) -> None:
    path = tmp_path / "smarty.bin"
    path.write_bytes(b"".join(frames(5)))
    result = await start(hass, "file")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: str(path)}
    )
    assert result["step_id"] == "key"
    result = await key_step(hass, result["flow_id"], key=OTHER_KEY.hex())
    assert result["errors"] == {"base": "wrong_key"}
    result = await key_step(hass, result["flow_id"], key=KEY_HEX)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_SOURCE: SOURCE_FILE,
        CONF_FILE_PATH: str(path),
        CONF_FILE_MODE: FILE_MODE_FOLLOW,
        CONF_LOOP: False,
        CONF_KEY: KEY_HEX,
        CONF_AUTH_KEY: None,
    }


def encrypted_entry(data: dict[str, Any]) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=meter_id(),
        data=data | {CONF_KEY: KEY_HEX, CONF_AUTH_KEY: AUTH_HEX},
    )


async def test_reconfigure_changes_the_key(hass: HomeAssistant, socket_enabled: None) -> None:
    # The grid operator changed the meter's key: the frames now decrypt with OTHER_KEY only.
    meter = await TcpMeter(frames(key=OTHER_KEY)).start()
    entry = encrypted_entry(
        {CONF_SOURCE: SOURCE_NETWORK, CONF_HOST: "127.0.0.1", CONF_PORT: meter.port}
    )
    entry.add_to_hass(hass)
    try:
        result = await entry.start_reconfigure_flow(hass)
        assert result["type"] is FlowResultType.MENU
        assert result["menu_options"] == ["reconfigure_connection", "key"]
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "key"}
        )
        assert result["step_id"] == "key"
        result = await key_step(hass, result["flow_id"], key=KEY_HEX, auth_key=AUTH_HEX)
        assert result["errors"] == {"base": "wrong_key"}
        result = await key_step(hass, result["flow_id"], key=OTHER_KEY.hex())
        await hass.async_block_till_done()
    finally:
        await meter.stop()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_KEY] == OTHER_KEY.hex().upper()
    assert entry.data[CONF_AUTH_KEY] is None  # left empty: the unverified mode
    assert entry.data[CONF_PORT] == meter.port


async def test_reconfigure_the_connection_of_an_encrypted_meter(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    old, new = tmp_path / "old.bin", tmp_path / "new.bin"
    new.write_bytes(b"".join(frames(5)))
    entry = encrypted_entry(
        {
            CONF_SOURCE: SOURCE_FILE,
            CONF_FILE_PATH: str(old),
            CONF_FILE_MODE: FILE_MODE_FOLLOW,
            CONF_LOOP: False,
        }
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "reconfigure_connection"}
    )
    assert result["step_id"] == "file"
    # The entry's keys are tried on the new file: no key step.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: str(new)}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_FILE_PATH] == str(new)
    assert (entry.data[CONF_KEY], entry.data[CONF_AUTH_KEY]) == (KEY_HEX, AUTH_HEX)


async def test_reconfigure_connection_with_keys_that_no_longer_decrypt(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    new = tmp_path / "new.bin"
    new.write_bytes(b"".join(frames(5, key=OTHER_KEY)))
    entry = encrypted_entry(
        {
            CONF_SOURCE: SOURCE_FILE,
            CONF_FILE_PATH: str(tmp_path / "old.bin"),
            CONF_FILE_MODE: FILE_MODE_FOLLOW,
            CONF_LOOP: False,
        }
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "reconfigure_connection"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: str(new)}
    )
    # The stored keys fail on the new meter's frames: asked again, with the reason.
    assert result["step_id"] == "key"
    assert result["errors"] == {"base": "wrong_key"}
    result = await key_step(hass, result["flow_id"], key=OTHER_KEY.hex())
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_FILE_PATH] == str(new)
    assert entry.data[CONF_KEY] == OTHER_KEY.hex().upper()


async def test_a_plain_meter_is_never_asked_for_a_key(
    hass: HomeAssistant, tcp_meter: TcpMeter
) -> None:
    result = await start(hass, "network")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: tcp_meter.port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_KEY not in result["data"]


async def test_a_log_with_one_frame_and_a_wrong_key(hass: HomeAssistant, tmp_path: Path) -> None:
    # A 10-second meter gives one frame within the setup's wait: a key that fails on it is wrong.
    path = tmp_path / "one.bin"
    path.write_bytes(frames(1)[0])
    result = await start(hass, "file")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: str(path)}
    )
    assert result["step_id"] == "key"
    result = await key_step(hass, result["flow_id"], key=OTHER_KEY.hex())
    assert result["errors"] == {"base": "wrong_key"}
    result = await key_step(hass, result["flow_id"], key=KEY_HEX, auth_key=AUTH_HEX)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_noise_shaped_like_a_frame_never_asks_a_plain_meter_for_a_key(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    # Outsider finding F6 at setup: 18 noise bytes that look like a frame header, first on the line.
    noise = bytes.fromhex("20A3DB088705A4FF0E112233820400300102")
    plain = telegrams("nl_dsmr5", 10)
    meter = await TcpMeter([noise + plain[0], *plain[1:]]).start()
    try:
        result = await start(hass, "network")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: meter.port}
        )
    finally:
        await meter.stop()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_KEY not in result["data"]
