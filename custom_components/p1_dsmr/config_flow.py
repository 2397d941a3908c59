"""Config flow: a serial port, a TCP stream or a log file; tested before the entry is created."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import serial.tools.list_ports
import voluptuous as vol
from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import selector
from homeassistant.util import dt as dt_util

from .const import (
    CONF_ARCHIVE_DAYS,
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_CURRENT_THRESHOLD,
    CONF_DEVICE,
    CONF_FILE_MODE,
    CONF_FILE_PATH,
    CONF_LOOP,
    CONF_OVERVOLTAGE_SHARE,
    CONF_PARITY,
    CONF_REPAIR,
    CONF_SOURCE,
    CONF_UPDATE_INTERVAL,
    CONF_VOLTAGE_THRESHOLD,
    DEFAULT_ARCHIVE_DAYS,
    DEFAULT_CURRENT_THRESHOLD,
    DEFAULT_OVERVOLTAGE_SHARE,
    DEFAULT_REPAIR,
    DEFAULT_UPDATE_INTERVAL,
    DEFAULT_VOLTAGE_THRESHOLD,
    DOMAIN,
    FILE_MODE_FOLLOW,
    FILE_MODE_REPLAY,
    LINE_SETTINGS,
    MANUFACTURERS,
    SOURCE_FILE,
    SOURCE_NETWORK,
    SOURCE_SERIAL,
    TELEGRAM_TIMEOUT,
)
from .p1lib.decoder import Decoder, Status
from .p1lib.parsing import Telegram
from .source import NetworkSource, P1Source, SerialSource, SourceError

CONF_MANUAL = "manual"
_SEVEN_BITS = bytes(b & 0x7F for b in range(256))
_FILE_SCAN_LIMIT = 32 * 1024 * 1024  # bytes of a log file read while looking for a telegram


class CannotConnect(Exception):
    """The source cannot be opened."""


class NoTelegram(Exception):
    """Nothing that verifies arrived in time."""


class InvalidPath(Exception):
    """The file does not exist or cannot be read."""


@dataclass(slots=True)
class Found:
    """A verified telegram and the line settings it arrived with."""

    telegram: Telegram
    bytesize: int = 8
    parity: str = "N"


async def _first_telegram(source: P1Source, seven_bit_too: bool = False) -> Found:
    """Open ``source`` and wait for a telegram that verifies (also as 7E1 read as 8N1)."""
    try:
        await source.open()
    except SourceError as err:
        raise CannotConnect(str(err)) from err
    decoders = {(8, "N"): Decoder()}
    if seven_bit_too:
        decoders[(7, "E")] = Decoder()
    try:
        async with asyncio.timeout(TELEGRAM_TIMEOUT):
            while True:
                chunk = await source.read()
                for (bits, parity), decoder in decoders.items():
                    data = chunk.translate(_SEVEN_BITS) if bits == 7 else chunk
                    for result in decoder.feed(data):
                        if result.status in (Status.VALID, Status.UNVERIFIED) and result.telegram:
                            return Found(result.telegram, bits, parity)
    except (TimeoutError, SourceError) as err:
        raise NoTelegram from err
    finally:
        await source.close()


def _scan_file(path: str) -> Telegram:
    """The first telegram in a log file that verifies (runs in the executor)."""
    file = Path(path)
    if not file.is_file() or not os.access(file, os.R_OK):
        raise InvalidPath
    decoder = Decoder()
    with file.open("rb") as handle:
        read = 0
        while read < _FILE_SCAN_LIMIT and (chunk := handle.read(1 << 20)):
            read += len(chunk)
            for result in decoder.feed(chunk):
                if result.status in (Status.VALID, Status.UNVERIFIED) and result.telegram:
                    return result.telegram
    raise NoTelegram


def _stable_path(device: str) -> str:
    """The /dev/serial/by-id link of a device when there is one (survives re-plugging)."""
    by_id = Path("/dev/serial/by-id")
    if by_id.is_dir():
        real = os.path.realpath(device)
        for link in sorted(by_id.iterdir()):
            if os.path.realpath(link) == real:
                return str(link)
    return device


def _list_ports() -> dict[str, str]:
    ports = {}
    for port in serial.tools.list_ports.comports():
        label = port.device
        details = ", ".join(p for p in (port.description, port.manufacturer) if p and p != "n/a")
        ports[port.device] = f"{label} - {details}" if details else label
    return ports


def _unique_id(telegram: Telegram) -> str:
    return telegram.equipment_id or telegram.header.raw.lstrip("/")


def _title(telegram: Telegram) -> str:
    flag = telegram.header.flag.upper()
    return f"{MANUFACTURERS.get(flag, flag)} {telegram.equipment_id or telegram.header.ident}"


class P1ConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a P1 meter."""

    VERSION = 1

    def __init__(self) -> None:
        self._ports: dict[str, str] = {}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> P1OptionsFlow:
        """The options flow."""
        return P1OptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Where the meter is connected."""
        return self.async_show_menu(step_id="user", menu_options=["serial", "network", "file"])

    # --- serial ------------------------------------------------------------------------------

    async def async_step_serial(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick a serial port."""
        errors: dict[str, str] = {}
        if user_input is not None:
            if user_input[CONF_DEVICE] == CONF_MANUAL:
                return await self.async_step_serial_manual()
            result = await self._try_serial(user_input[CONF_DEVICE], errors)
            if result is not None:
                return result
        self._ports = await self.hass.async_add_executor_job(_list_ports)
        options = {**self._ports, CONF_MANUAL: CONF_MANUAL}
        return self.async_show_form(
            step_id="serial",
            data_schema=vol.Schema({vol.Required(CONF_DEVICE): vol.In(options)}),
            errors=errors,
        )

    async def async_step_serial_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Type a serial port's path."""
        errors: dict[str, str] = {}
        if user_input is not None:
            result = await self._try_serial(user_input[CONF_DEVICE], errors)
            if result is not None:
                return result
        return self.async_show_form(
            step_id="serial_manual",
            data_schema=vol.Schema({vol.Required(CONF_DEVICE): str}),
            errors=errors,
        )

    async def _try_serial(self, device: str, errors: dict[str, str]) -> ConfigFlowResult | None:
        """Detect the line settings by trying each until a telegram verifies."""
        connected = False
        for baudrate, bytesize, parity in LINE_SETTINGS:
            source = SerialSource(device, baudrate, bytesize, parity)
            try:
                found = await _first_telegram(source, seven_bit_too=bytesize == 8)
            except CannotConnect:
                continue
            except NoTelegram:
                connected = True
                continue
            path = await self.hass.async_add_executor_job(_stable_path, device)
            data = {
                CONF_SOURCE: SOURCE_SERIAL,
                CONF_DEVICE: path,
                CONF_BAUDRATE: baudrate,
                CONF_BYTESIZE: found.bytesize,
                CONF_PARITY: found.parity,
            }
            return await self._finish(found.telegram, data)
        errors["base"] = "no_telegram" if connected else "cannot_connect"
        return None

    # --- network -----------------------------------------------------------------------------

    async def async_step_network(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A raw TCP P1 stream."""
        errors: dict[str, str] = {}
        if user_input is not None:
            host, port = user_input[CONF_HOST], int(user_input[CONF_PORT])
            try:
                found = await _first_telegram(NetworkSource(host, port))
            except CannotConnect:
                errors["base"] = "cannot_connect"
            except NoTelegram:
                errors["base"] = "no_telegram"
            else:
                data = {CONF_SOURCE: SOURCE_NETWORK, CONF_HOST: host, CONF_PORT: port}
                return await self._finish(found.telegram, data)
        return self.async_show_form(
            step_id="network",
            data_schema=self.add_suggested_values_to_schema(_NETWORK_SCHEMA, user_input),
            errors=errors,
        )

    # --- file --------------------------------------------------------------------------------

    async def async_step_file(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A log file, followed or replayed."""
        errors: dict[str, str] = {}
        if user_input is not None:
            path = user_input[CONF_FILE_PATH].strip()
            try:
                telegram = await self.hass.async_add_executor_job(_scan_file, path)
            except InvalidPath:
                errors[CONF_FILE_PATH] = "invalid_path"
            except NoTelegram:
                errors["base"] = "no_telegram"
            else:
                data = {
                    CONF_SOURCE: SOURCE_FILE,
                    CONF_FILE_PATH: path,
                    CONF_FILE_MODE: user_input.get(CONF_FILE_MODE, FILE_MODE_FOLLOW),
                    CONF_LOOP: bool(user_input.get(CONF_LOOP, False)),
                }
                return await self._finish(telegram, data)
        return self.async_show_form(
            step_id="file",
            data_schema=self.add_suggested_values_to_schema(_FILE_SCHEMA, user_input),
            errors=errors,
        )

    # --- reconfigure ---------------------------------------------------------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the port, host or path of the same meter; the entities stay.

        The form is the one of the entry's kind of source, filled in; it is handled by that step.
        """
        entry = self._get_reconfigure_entry()
        kind = entry.data[CONF_SOURCE]
        if kind == SOURCE_SERIAL:
            return self.async_show_form(
                step_id="serial_manual",
                data_schema=self.add_suggested_values_to_schema(
                    vol.Schema({vol.Required(CONF_DEVICE): str}), dict(entry.data)
                ),
            )
        schema = _NETWORK_SCHEMA if kind == SOURCE_NETWORK else _FILE_SCHEMA
        return self.async_show_form(
            step_id=kind,
            data_schema=self.add_suggested_values_to_schema(schema, dict(entry.data)),
        )

    async def _finish(self, telegram: Telegram, data: dict[str, Any]) -> ConfigFlowResult:
        await self.async_set_unique_id(_unique_id(telegram))
        if self.source == SOURCE_RECONFIGURE:
            self._abort_if_unique_id_mismatch(reason="wrong_meter")
            return self._update_and_reload_once(self._get_reconfigure_entry(), data)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(title=_title(telegram), data=data)

    def _update_and_reload_once(
        self, entry: ConfigEntry, data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Store the new connection and reload the entry exactly once.

        A loaded entry has an update listener that reloads it when its data changes; reloading
        here too (``async_update_reload_and_abort``) set it up twice, and Home Assistant refuses
        that from 2026.12. An entry that is not loaded (its old port vanished: setup retry) has
        no listener, so it is reloaded here, at once rather than at its next retry.
        """
        changed = self.hass.config_entries.async_update_entry(entry, data={**entry.data, **data})
        if not (changed and entry.update_listeners):
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_abort(reason="reconfigure_successful")


_NETWORK_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): str,
        vol.Required(CONF_PORT): vol.All(vol.Coerce(int), vol.Range(min=1, max=65535)),
    }
)
_FILE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_FILE_PATH): str,
        vol.Required(CONF_FILE_MODE, default=FILE_MODE_FOLLOW): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=[FILE_MODE_FOLLOW, FILE_MODE_REPLAY], translation_key="file_mode"
            )
        ),
        vol.Required(CONF_LOOP, default=False): bool,
    }
)


def _number(minimum: float, maximum: float, step: float, unit: str) -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement=unit,
            mode=selector.NumberSelectorMode.BOX,
        )
    )


class P1OptionsFlow(OptionsFlow):
    """How often to update, the thresholds, repair on or off; and importing old logs."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The options form (with a folded section that imports a log into the statistics)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            history = user_input.pop(SECTION_IMPORT_HISTORY, None) or {}
            error = await _async_start_history_import(self.hass, self.config_entry, history)
            if error is None:
                return self.async_create_entry(data=user_input)
            errors["base"] = error
            user_input[SECTION_IMPORT_HISTORY] = history
        options = self.config_entry.options
        schema = vol.Schema(
            {
                vol.Required(
                    CONF_UPDATE_INTERVAL,
                    default=options.get(CONF_UPDATE_INTERVAL, DEFAULT_UPDATE_INTERVAL),
                ): _number(0, 3600, 1, "s"),
                vol.Required(
                    CONF_VOLTAGE_THRESHOLD,
                    default=options.get(CONF_VOLTAGE_THRESHOLD, DEFAULT_VOLTAGE_THRESHOLD),
                ): _number(200, 300, 0.1, "V"),
                vol.Required(
                    CONF_CURRENT_THRESHOLD,
                    default=options.get(CONF_CURRENT_THRESHOLD, DEFAULT_CURRENT_THRESHOLD),
                ): _number(1, 200, 0.1, "A"),
                vol.Required(
                    CONF_REPAIR, default=options.get(CONF_REPAIR, DEFAULT_REPAIR)
                ): selector.BooleanSelector(),
                vol.Required(
                    CONF_ARCHIVE_DAYS,
                    default=options.get(CONF_ARCHIVE_DAYS, DEFAULT_ARCHIVE_DAYS),
                ): _number(0, 3650, 1, "d"),
                # Optional, shown with its value: an entry saved before it existed keeps the
                # default (phase insight's repair issue; 0 never raises it).
                vol.Optional(
                    CONF_OVERVOLTAGE_SHARE,
                    description={
                        "suggested_value": options.get(
                            CONF_OVERVOLTAGE_SHARE, DEFAULT_OVERVOLTAGE_SHARE
                        )
                    },
                ): _number(0, 100, 0.1, "%"),
                vol.Optional(SECTION_IMPORT_HISTORY): section(
                    _IMPORT_HISTORY_SCHEMA, {"collapsed": not errors}
                ),
            }
        )
        if user_input is not None:
            schema = self.add_suggested_values_to_schema(schema, user_input)
        return self.async_show_form(step_id="init", data_schema=schema, errors=errors)


SECTION_IMPORT_HISTORY = "import_history"
_IMPORT_HISTORY_SCHEMA = vol.Schema(
    {
        vol.Optional("path"): selector.TextSelector(),
        vol.Optional("start"): selector.DateTimeSelector(),
        vol.Optional("end"): selector.DateTimeSelector(),
        vol.Optional("overwrite", default=False): selector.BooleanSelector(),
    }
)


async def _async_start_history_import(
    hass: HomeAssistant, entry: ConfigEntry, fields: dict[str, Any]
) -> str | None:
    """Start importing the log the options form names (nothing when no path is given); the
    form's error key when it cannot start. Progress and the outcome show in a notification."""
    path = str(fields.get("path") or "").strip()
    if not path:
        return None
    from .history_import import ImportRequest, async_start_import, async_validate, aware

    start, end = (
        aware(dt_util.parse_datetime(fields[key])) if fields.get(key) else None
        for key in ("start", "end")
    )  # the form's selector has checked the times
    request = ImportRequest(path, start, end, bool(fields.get("overwrite", False)))
    try:
        await async_validate(hass, entry, request)
    except ServiceValidationError as err:
        return err.translation_key or "import_unreadable"
    async_start_import(hass, entry, request)
    return None
