"""The config flow, options flow and reconfigure flow (every error followed by a retry)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.p1_dsmr.const import (
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_CURRENT_THRESHOLD,
    CONF_DEVICE,
    CONF_FILE_MODE,
    CONF_FILE_PATH,
    CONF_LOOP,
    CONF_PARITY,
    CONF_REPAIR,
    CONF_SOURCE,
    CONF_UPDATE_INTERVAL,
    CONF_VOLTAGE_THRESHOLD,
    DOMAIN,
    FILE_MODE_REPLAY,
    SOURCE_FILE,
    SOURCE_NETWORK,
    SOURCE_SERIAL,
)

from .conftest import HU_ID, PtyMeter, TcpMeter, telegrams


@pytest.fixture(autouse=True)
async def no_setup(hass: HomeAssistant) -> Any:
    """The flow is tested on its own: creating an entry does not start reading, and the entries
    it created are unloaded the same way (tests/integration/test_init.py sets entries up)."""
    with (
        patch("custom_components.p1_dsmr.async_setup_entry", return_value=True) as setup,
        patch("custom_components.p1_dsmr.async_unload_entry", return_value=True),
    ):
        yield setup
        for entry in hass.config_entries.async_entries(DOMAIN):
            if entry.state is ConfigEntryState.LOADED:
                assert await hass.config_entries.async_unload(entry.entry_id)


class FakePort:
    """What serial.tools.list_ports reports."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.description = "FT232R USB UART"
        self.manufacturer = "FTDI"


async def start(hass: HomeAssistant, choice: str) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["serial", "network", "file"]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": choice}
    )


def suggested(result: Any, key: str) -> Any:
    """The value a form shows in its field ``key`` (what the user typed, after an error)."""
    for marker in result["data_schema"].schema:
        if marker == key:
            return (marker.description or {}).get("suggested_value")
    raise KeyError(key)


def ports(*devices: str) -> Any:
    return patch(
        "custom_components.p1_dsmr.config_flow.serial.tools.list_ports.comports",
        return_value=[FakePort(d) for d in devices],
    )


async def test_serial_detects_115200_8n1(hass: HomeAssistant, pty_meter: PtyMeter) -> None:
    with ports(pty_meter.path):
        result = await start(hass, "serial")
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "serial"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DEVICE: pty_meter.path}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Sanxing {HU_ID}"
    assert result["result"].unique_id == HU_ID
    assert result["data"] == {
        CONF_SOURCE: SOURCE_SERIAL,
        CONF_DEVICE: pty_meter.path,
        CONF_BAUDRATE: 115200,
        CONF_BYTESIZE: 8,
        CONF_PARITY: "N",
    }


async def test_serial_detects_7e1(hass: HomeAssistant) -> None:
    meter = PtyMeter(telegrams("nl_dsmr4", 10), parity_bits=True).start()
    try:
        with ports():
            result = await start(hass, "serial")
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: "manual"}
            )
            assert result["step_id"] == "serial_manual"
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: meter.path}
            )
    finally:
        meter.stop()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert (result["data"][CONF_BYTESIZE], result["data"][CONF_PARITY]) == (7, "E")


async def test_serial_errors_then_success(hass: HomeAssistant, tmp_path: Path) -> None:
    silent = PtyMeter([b"\x00\xff noise without telegrams \r\n"]).start()
    meter = PtyMeter(telegrams("hu_sanxing", 10)).start()
    try:
        with ports(silent.path, meter.path):
            result = await start(hass, "serial")
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: "manual"}
            )
            typed = str(tmp_path / "ttyUSB9")
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: typed}
            )
            # Said of the port, with why; the typed path stays in the field.
            assert result["errors"] == {CONF_DEVICE: "cannot_open_port"}
            placeholders = result["description_placeholders"]
            assert placeholders["device"] == typed
            assert placeholders["error"] == f"{typed} does not exist"
            assert suggested(result, CONF_DEVICE) == typed
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: silent.path}
            )
            assert result["errors"] == {"base": "no_telegram_serial"}
            assert suggested(result, CONF_DEVICE) == silent.path
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: meter.path}
            )
    finally:
        silent.stop()
        meter.stop()
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_serial_list_errors_then_success(hass: HomeAssistant, tmp_path: Path) -> None:
    meter = PtyMeter(telegrams("hu_sanxing", 10)).start()
    missing = str(tmp_path / "gone")
    try:
        with ports(missing, meter.path):
            result = await start(hass, "serial")
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: missing}
            )
            assert result["errors"] == {CONF_DEVICE: "cannot_open_port"}
            assert result["description_placeholders"]["device"] == missing
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: meter.path}
            )
    finally:
        meter.stop()
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def configure_serial_with_by_id(
    hass: HomeAssistant, meter: PtyMeter, by_id: Path
) -> dict[str, Any]:
    """Run the serial step for ``meter`` with ``by_id`` standing in for /dev/serial/by-id."""
    try:
        with ports(meter.path), patch("custom_components.p1_dsmr.config_flow.Path") as fake:
            fake.side_effect = lambda p: by_id if p == "/dev/serial/by-id" else Path(p)
            result = await start(hass, "serial")
            return await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: meter.path}
            )
    finally:
        meter.stop()


async def test_serial_stores_the_by_id_path(hass: HomeAssistant, tmp_path: Path) -> None:
    meter = PtyMeter(telegrams("hu_sanxing", 10)).start()
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    link = by_id / "usb-FTDI_FT232R_USB_UART_A1B2C3-if00-port0"
    link.symlink_to(meter.path)
    result = await configure_serial_with_by_id(hass, meter, by_id)
    assert result["data"][CONF_DEVICE] == str(link)


async def test_network(hass: HomeAssistant, tcp_meter: TcpMeter) -> None:
    result = await start(hass, "network")
    assert result["step_id"] == "network"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: tcp_meter.port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_SOURCE: SOURCE_NETWORK,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: tcp_meter.port,
    }


async def test_network_errors_then_success(hass: HomeAssistant, socket_enabled: None) -> None:
    noise = await TcpMeter([b"\x00 no telegram here \r\n"]).start()
    closed = await TcpMeter([b""]).start()
    closed_port = closed.port
    await closed.stop()
    meter = await TcpMeter(telegrams("nl_dsmr5", 10)).start()
    try:
        result = await start(hass, "network")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: closed_port}
        )
        assert result["errors"] == {"base": "cannot_connect"}
        assert result["description_placeholders"]["error"]  # why: refused
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: noise.port}
        )
        assert result["errors"] == {"base": "no_telegram_network"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: 70000}
        )
        # A form error the user sees, not a schema error (HTTP 400 the form does not show).
        assert result["errors"] == {CONF_PORT: "invalid_port"}
        assert suggested(result, CONF_PORT) == 70000
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: meter.port}
        )
    finally:
        await noise.stop()
        await meter.stop()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Iskra E0044007382246019"


async def test_file_errors_then_success(
    hass: HomeAssistant, tmp_path: Path, log_file: Path
) -> None:
    garbage = tmp_path / "garbage.log"
    garbage.write_bytes(b"nothing to see\r\n" * 100)
    result = await start(hass, "file")
    assert result["step_id"] == "file"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: str(tmp_path / "missing.log")}
    )
    assert result["errors"] == {CONF_FILE_PATH: "invalid_path"}
    assert result["description_placeholders"]["path"] == str(tmp_path / "missing.log")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: str(tmp_path)}
    )
    assert result["errors"] == {CONF_FILE_PATH: "invalid_path"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: str(garbage)}
    )
    assert result["errors"] == {"base": "no_telegram_file"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_FILE_PATH: f" {log_file} ", CONF_FILE_MODE: FILE_MODE_REPLAY, CONF_LOOP: True},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_SOURCE: SOURCE_FILE,
        CONF_FILE_PATH: str(log_file),
        CONF_FILE_MODE: FILE_MODE_REPLAY,
        CONF_LOOP: True,
    }


async def test_already_configured(
    hass: HomeAssistant, file_entry: MockConfigEntry, log_file: Path
) -> None:
    file_entry.add_to_hass(hass)
    result = await start(hass, "file")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: str(log_file)}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_network(hass: HomeAssistant, tcp_meter: TcpMeter) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=HU_ID,
        data={CONF_SOURCE: SOURCE_NETWORK, CONF_HOST: "127.0.0.1", CONF_PORT: 1},
    )
    entry.add_to_hass(hass)
    other = await TcpMeter(telegrams("nl_dsmr5", 5)).start()
    try:
        result = await entry.start_reconfigure_flow(hass)
        assert result["step_id"] == "network"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: other.port}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_meter"
        result = await entry.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: tcp_meter.port}
        )
        await hass.async_block_till_done()
    finally:
        await other.stop()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PORT] == tcp_meter.port


async def test_reconfigure_serial(hass: HomeAssistant, pty_meter: PtyMeter) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=HU_ID,
        data={CONF_SOURCE: SOURCE_SERIAL, CONF_DEVICE: "/dev/ttyUSB7", CONF_BAUDRATE: 9600},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "serial_manual"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: pty_meter.path}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert (entry.data[CONF_DEVICE], entry.data[CONF_BAUDRATE]) == (pty_meter.path, 115200)


async def test_reconfigure_file(
    hass: HomeAssistant, file_entry: MockConfigEntry, tmp_path: Path, log_file: Path
) -> None:
    file_entry.add_to_hass(hass)
    moved = tmp_path / "moved.log"
    moved.write_bytes(log_file.read_bytes())
    result = await file_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "file"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: str(moved)}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert file_entry.data[CONF_FILE_PATH] == str(moved)


async def test_options_flow(hass: HomeAssistant, file_entry: MockConfigEntry) -> None:
    file_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(file_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    options = {
        CONF_UPDATE_INTERVAL: 30,
        CONF_VOLTAGE_THRESHOLD: 250.0,
        CONF_CURRENT_THRESHOLD: 20.0,
        CONF_REPAIR: False,
        "archive_days": 30,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], options)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert file_entry.options == options
    await hass.async_block_till_done()


@pytest.mark.parametrize("choice", ["serial", "network", "file"])
async def test_every_form_has_descriptions(hass: HomeAssistant, choice: str) -> None:
    with ports():
        result = await start(hass, choice)
    assert result["type"] is FlowResultType.FORM


async def test_file_with_a_damaged_telegram_first(hass: HomeAssistant, tmp_path: Path) -> None:
    data = telegrams("nl_dsmr5", 2)
    path = tmp_path / "m.log"
    path.write_bytes(data[0].replace(b"1-0:1.7.0", b"1-0:1.7.1") + data[1])
    result = await start(hass, "file")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: str(path)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_serial_by_id_without_a_match(hass: HomeAssistant, tmp_path: Path) -> None:
    meter = PtyMeter(telegrams("hu_sanxing", 10)).start()
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    (by_id / "usb-other-device").symlink_to(tmp_path)
    result = await configure_serial_with_by_id(hass, meter, by_id)
    assert result["data"][CONF_DEVICE] == meter.path


async def test_a_relative_log_path_is_read_in_the_configuration_folder(
    hass: HomeAssistant, config_dir: Path, tmp_path: Path
) -> None:
    (config_dir / "logs").mkdir()
    (config_dir / "logs" / "meter.log").write_bytes(b"".join(telegrams("nl_dsmr5", 2)))
    result = await start(hass, "file")
    assert result["description_placeholders"]["config_dir"] == str(config_dir)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: "logs/missing.log"}
    )
    assert result["errors"] == {CONF_FILE_PATH: "invalid_path"}
    assert result["description_placeholders"]["path"] == str(config_dir / "logs" / "missing.log")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_FILE_PATH: "logs/meter.log"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_FILE_PATH] == str(config_dir / "logs" / "meter.log")


async def test_the_serial_list_offers_a_translated_manual_choice(hass: HomeAssistant) -> None:
    with ports("/dev/ttyUSB0"):
        result = await start(hass, "serial")
    config = result["data_schema"].schema[CONF_DEVICE].config
    assert config["translation_key"] == "serial_device"
    assert [o["value"] for o in config["options"]] == ["/dev/ttyUSB0", "manual"]
    assert config["options"][0]["label"] == "/dev/ttyUSB0 - FT232R USB UART, FTDI"
    for language in ("en", "hu", "nl"):
        texts = translations(language)
        label = texts["selector"]["serial_device"]["options"]["manual"]
        assert label
        assert label != "manual"
        # The help text names the choice as it is shown.
        assert label in texts["config"]["step"]["serial"]["data_description"]["device"]


def translations(language: str) -> dict[str, Any]:
    root = Path(__file__).resolve().parents[2] / "custom_components" / DOMAIN / "translations"
    return json.loads((root / f"{language}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("language", ["en", "hu", "nl"])
def test_every_flow_error_has_its_own_text(language: str) -> None:
    """Each error the flow can show is translated, names only the placeholders the flow gives,
    and each source's no-telegram advice is about that source."""
    source = (
        Path(__file__).resolve().parents[2] / "custom_components" / DOMAIN / "config_flow.py"
    ).read_text(encoding="utf-8")
    used = set(re.findall(r'errors\[[^]]+\] = "(\w+)"', source))
    # the key step's errors come from the decryption's outcome (KeyRejected.error)
    used |= set(re.findall(r'"(wrong_key|wrong_auth_key|not_p1)"', source))
    used |= {f"no_telegram_{kind}" for kind in ("serial", "network", "file")}
    assert used >= {"cannot_open_port", "no_telegram_serial", "no_telegram_network"}
    errors = translations(language)["config"]["error"]
    assert used <= errors.keys()
    assert errors.keys() <= used, "a text no error uses"
    placeholders = {
        "cannot_open_port": {"error"},
        "cannot_connect": {"error"},
        "invalid_path": {"path"},
    }
    for key, text in errors.items():
        assert set(re.findall(r"{(\w+)}", text)) == placeholders.get(key, set()), key
    assert "115200" in errors["no_telegram_serial"]
    assert "ser2net" in errors["no_telegram_network"]
    assert "32 MB" in errors["no_telegram_file"]
    assert "115200" not in errors["no_telegram_file"]
    assert "baud" not in errors["no_telegram_serial"].lower()
