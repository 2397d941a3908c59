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
    CONF_AUTH_KEY,
    CONF_BAUDRATE,
    CONF_BYTESIZE,
    CONF_CURRENT_THRESHOLD,
    CONF_DEVICE,
    CONF_FILE_MODE,
    CONF_FILE_PATH,
    CONF_KEY,
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
from .p1lib.cipher import Outcome, parse_key
from .p1lib.decoder import Decoder, Status
from .p1lib.encrypted import EncryptedDecoder
from .p1lib.parsing import Telegram
from .source import NetworkSource, P1Source, SerialSource, SourceError, create_source
from .values import automatic_interval

CONF_MANUAL = "manual"
_SEVEN_BITS = bytes(b & 0x7F for b in range(256))
_FILE_SCAN_LIMIT = 32 * 1024 * 1024  # bytes of a log file read while looking for a telegram


class CannotConnect(Exception):
    """The source cannot be opened."""


class NoTelegram(Exception):
    """Nothing that verifies arrived in time."""


class InvalidPath(Exception):
    """The file does not exist or cannot be read."""


class NeedsKey(Exception):
    """The meter encrypts its telegrams, and no key was given."""


class KeyRejected(Exception):
    """The meter's frames do not decrypt with the keys given: ``error`` is the form's error."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error


@dataclass(frozen=True, slots=True)
class Keys:
    """An encrypted meter's keys (none for a plain meter)."""

    key: bytes | None = None
    auth_key: bytes | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Keys:
        """The keys a config entry's data holds (32 hexadecimal digits each)."""
        key, auth_key = data.get(CONF_KEY), data.get(CONF_AUTH_KEY)
        return cls(
            bytes.fromhex(key) if key else None,
            bytes.fromhex(auth_key) if key and auth_key else None,
        )

    def data(self) -> dict[str, Any]:
        """For the entry's data: nothing for a plain meter; the authentication key's None
        replaces one stored before."""
        if self.key is None:
            return {}
        auth_key = self.auth_key.hex().upper() if self.auth_key else None
        return {CONF_KEY: self.key.hex().upper(), CONF_AUTH_KEY: auth_key}


_KEY_ERRORS = {
    Outcome.WRONG_KEY: "wrong_key",
    Outcome.DAMAGED: "wrong_key",
    Outcome.NOT_TELEGRAM: "not_p1",
}


def _check_keys(decoder: EncryptedDecoder, final: bool) -> None:
    """Raise :class:`NeedsKey` or :class:`KeyRejected` when the meter's frames say so: on two
    frames (one may be damaged, or noise shaped like a frame), or on the only one when no telegram
    arrived in time (``final``)."""
    outcome = decoder.cipher.last_outcome
    if outcome is None or not decoder.problem:
        return
    if not final and decoder.cipher.frames < 2:
        return
    if outcome is Outcome.NO_KEY:
        raise NeedsKey
    if outcome is Outcome.AUTHENTICATION_FAILED:
        # The key decrypted the frames: the authentication key is the wrong one.
        raise KeyRejected(
            "wrong_auth_key" if decoder.key_decrypts else "wrong_key", decoder.problem
        )
    raise KeyRejected(_KEY_ERRORS.get(outcome, "wrong_key"), decoder.problem)


@dataclass(slots=True)
class Found:
    """A verified telegram and the line settings it arrived with."""

    telegram: Telegram
    bytesize: int = 8
    parity: str = "N"


async def _first_telegram(
    source: P1Source, seven_bit_too: bool = False, keys: Keys = Keys()
) -> Found:
    """Open ``source`` and wait for a telegram that verifies (also as 7E1 read as 8N1); encrypted
    frames are decrypted with ``keys`` (:class:`NeedsKey`, :class:`KeyRejected` if they do not)."""
    try:
        await source.open()
    except SourceError as err:
        raise CannotConnect(str(err)) from err
    encrypted = EncryptedDecoder(key=keys.key, auth_key=keys.auth_key)
    decoders: dict[tuple[int, str], Decoder] = {(8, "N"): encrypted}
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
                _check_keys(encrypted, final=False)
    except (TimeoutError, SourceError) as err:
        _check_keys(encrypted, final=True)
        raise NoTelegram from err
    finally:
        await source.close()


def _scan_file(path: str, keys: Keys = Keys()) -> Telegram:
    """The first telegram in a log file that verifies (runs in the executor); encrypted frames
    are decrypted with ``keys``."""
    file = Path(path)
    if not file.is_file() or not os.access(file, os.R_OK):
        raise InvalidPath
    decoder = EncryptedDecoder(key=keys.key, auth_key=keys.auth_key)
    with file.open("rb") as handle:
        read = 0
        while read < _FILE_SCAN_LIMIT and (chunk := handle.read(1 << 20)):
            read += len(chunk)
            for result in decoder.feed(chunk):
                if result.status in (Status.VALID, Status.UNVERIFIED) and result.telegram:
                    return result.telegram
            _check_keys(decoder, final=False)
    decoder.flush()
    _check_keys(decoder, final=True)
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
        self._placeholders: dict[str, str] = {}
        """What an error names: the port and why it failed, the path as resolved."""
        self._keys = Keys()  # the keys the connection is tried with (the entry's, reconfiguring)
        self._pending: dict[str, Any] = {}  # an encrypted meter's connection, waiting for its key

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
        options = [
            selector.SelectOptionDict(value=device, label=label)
            for device, label in self._ports.items()
        ]
        # Its label is translated (selector.serial_device.options.manual); a port's is its own.
        options.append(selector.SelectOptionDict(value=CONF_MANUAL, label=CONF_MANUAL))
        return self.async_show_form(
            step_id="serial",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_DEVICE): selector.SelectSelector(
                        selector.SelectSelectorConfig(
                            options=options,
                            translation_key="serial_device",
                            mode=selector.SelectSelectorMode.LIST,
                        )
                    )
                }
            ),
            errors=errors,
            description_placeholders=self._placeholders,
        )

    async def async_step_serial_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Type a serial port's path."""
        errors: dict[str, str] = {}
        if user_input is not None:
            result = await self._try_serial(user_input[CONF_DEVICE].strip(), errors)
            if result is not None:
                return result
        return self.async_show_form(
            step_id="serial_manual",
            # What was typed stays in the field after an error.
            data_schema=self.add_suggested_values_to_schema(_SERIAL_MANUAL_SCHEMA, user_input),
            errors=errors,
            description_placeholders=self._placeholders,
        )

    async def _try_serial(self, device: str, errors: dict[str, str]) -> ConfigFlowResult | None:
        """Detect the line settings by trying each until a telegram verifies."""
        connected = False
        failure = ""
        for baudrate, bytesize, parity in LINE_SETTINGS:
            source = SerialSource(device, baudrate, bytesize, parity)
            try:
                found = await _first_telegram(source, bytesize == 8, self._keys)
            except CannotConnect as err:
                failure = str(err)
                continue
            except NoTelegram:
                connected = True
                continue
            except (NeedsKey, KeyRejected) as err:
                # Encrypted frames arrive with these line settings: the key decides.
                path = await self.hass.async_add_executor_job(_stable_path, device)
                return await self.async_step_key(None, self._ask_key(err, _serial(path, baudrate)))
            path = await self.hass.async_add_executor_job(_stable_path, device)
            data = _serial(path, baudrate, found.bytesize, found.parity) | self._keys.data()
            return await self._finish(found.telegram, data)
        if connected:
            errors["base"] = "no_telegram_serial"
        else:
            errors[CONF_DEVICE] = "cannot_open_port"
            self._placeholders = {"device": device, "error": failure or "?"}
        return None

    # --- network -----------------------------------------------------------------------------

    async def async_step_network(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A raw TCP P1 stream."""
        errors: dict[str, str] = {}
        if user_input is not None:
            host, number = user_input[CONF_HOST].strip(), float(user_input[CONF_PORT])
            port = int(number)
            if port != number or not 1 <= port <= 65535:
                # Checked here, not by the schema: a schema error is an HTTP 400 the form does
                # not show.
                errors[CONF_PORT] = "invalid_port"
            else:
                data = {CONF_SOURCE: SOURCE_NETWORK, CONF_HOST: host, CONF_PORT: port}
                try:
                    found = await _first_telegram(NetworkSource(host, port), keys=self._keys)
                except CannotConnect as err:
                    errors["base"] = "cannot_connect"
                    self._placeholders = {"error": str(err) or "?"}
                except NoTelegram:
                    errors["base"] = "no_telegram_network"
                except (NeedsKey, KeyRejected) as err:
                    return await self.async_step_key(None, self._ask_key(err, data))
                else:
                    return await self._finish(found.telegram, data | self._keys.data())
        return self.async_show_form(
            step_id="network",
            data_schema=self.add_suggested_values_to_schema(_NETWORK_SCHEMA, user_input),
            errors=errors,
            description_placeholders=self._placeholders,
        )

    # --- file --------------------------------------------------------------------------------

    async def async_step_file(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A log file, followed or replayed."""
        errors: dict[str, str] = {}
        if user_input is not None:
            # A relative path is read in the configuration folder, not in the working directory
            # Home Assistant happens to run in.
            path = self.hass.config.path(os.path.expanduser(user_input[CONF_FILE_PATH].strip()))
            self._placeholders = {"path": path}
            data = {
                CONF_SOURCE: SOURCE_FILE,
                CONF_FILE_PATH: path,
                CONF_FILE_MODE: user_input.get(CONF_FILE_MODE, FILE_MODE_FOLLOW),
                CONF_LOOP: bool(user_input.get(CONF_LOOP, False)),
            }
            try:
                telegram = await self.hass.async_add_executor_job(_scan_file, path, self._keys)
            except InvalidPath:
                errors[CONF_FILE_PATH] = "invalid_path"
            except NoTelegram:
                errors["base"] = "no_telegram_file"
            except (NeedsKey, KeyRejected) as err:
                return await self.async_step_key(None, self._ask_key(err, data))
            else:
                return await self._finish(telegram, data | self._keys.data())
        return self.async_show_form(
            step_id="file",
            data_schema=self.add_suggested_values_to_schema(_FILE_SCHEMA, user_input),
            errors=errors,
            description_placeholders={**self._placeholders, "config_dir": self.hass.config.path()},
        )

    # --- reconfigure ---------------------------------------------------------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the port, host or path of the same meter; the entities stay.

        The form is the one of the entry's kind of source, filled in; it is handled by that step.
        """
        entry = self._get_reconfigure_entry()
        self._keys = Keys.of(entry.data)
        if self._keys.key is not None:  # an encrypted meter: its connection, or its keys
            self._pending = {k: v for k, v in entry.data.items() if k not in _KEY_FIELDS}
            return self.async_show_menu(
                step_id="reconfigure", menu_options=["reconfigure_connection", "key"]
            )
        return await self.async_step_reconfigure_connection()

    async def async_step_reconfigure_connection(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The reconfigure form of the entry's kind of source, filled in."""
        entry = self._get_reconfigure_entry()
        kind = entry.data[CONF_SOURCE]
        if kind == SOURCE_SERIAL:
            return self.async_show_form(
                step_id="serial_manual",
                data_schema=self.add_suggested_values_to_schema(
                    _SERIAL_MANUAL_SCHEMA, dict(entry.data)
                ),
            )
        schema = _NETWORK_SCHEMA if kind == SOURCE_NETWORK else _FILE_SCHEMA
        return self.async_show_form(
            step_id=kind,
            data_schema=self.add_suggested_values_to_schema(schema, dict(entry.data)),
            description_placeholders={"config_dir": self.hass.config.path()},
        )

    # --- encrypted meters ------------------------------------------------------------------------

    def _ask_key(self, err: NeedsKey | KeyRejected, data: dict[str, Any]) -> dict[str, str]:
        """Keep the connection for the key step; the key step's errors (none when asked first)."""
        self._pending = data
        return {"base": err.error} if isinstance(err, KeyRejected) else {}

    async def async_step_key(
        self, user_input: dict[str, Any] | None = None, errors: dict[str, str] | None = None
    ) -> ConfigFlowResult:
        """The meter encrypts its telegrams: its key (and, optionally, authentication key), tried
        on a live frame before the entry is created or changed."""
        errors = dict(errors or {})
        if user_input is not None:
            keys = _parse_keys(user_input, errors)
            if keys is not None:
                try:
                    telegram = await self._try_keys(keys)
                except CannotConnect as err:
                    errors["base"] = "cannot_connect"
                    self._placeholders = {"error": str(err) or "?"}
                except NoTelegram:
                    errors["base"] = f"no_telegram_{self._pending[CONF_SOURCE]}"
                except NeedsKey:  # pragma: no cover (a key was given)
                    errors["base"] = "wrong_key"
                except KeyRejected as err:
                    errors["base"] = err.error
                else:
                    self._keys = keys
                    return await self._finish(telegram, self._pending | keys.data())
        return self.async_show_form(
            step_id="key",
            data_schema=self.add_suggested_values_to_schema(_KEY_SCHEMA, user_input),
            errors=errors,
            description_placeholders=self._placeholders,
        )

    async def _try_keys(self, keys: Keys) -> Telegram:
        """A telegram from the pending connection, decrypted with ``keys``."""
        data = self._pending
        if data[CONF_SOURCE] == SOURCE_FILE:
            try:
                return await self.hass.async_add_executor_job(
                    _scan_file, data[CONF_FILE_PATH], keys
                )
            except InvalidPath as err:
                raise CannotConnect from err
        source = create_source(self.hass, data)
        return (await _first_telegram(source, keys=keys)).telegram

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


_SERIAL_MANUAL_SCHEMA = vol.Schema({vol.Required(CONF_DEVICE): str})


def _serial(device: str, baudrate: int, bytesize: int = 8, parity: str = "N") -> dict[str, Any]:
    return {
        CONF_SOURCE: SOURCE_SERIAL,
        CONF_DEVICE: device,
        CONF_BAUDRATE: baudrate,
        CONF_BYTESIZE: bytesize,
        CONF_PARITY: parity,
    }


def _parse_keys(user_input: Mapping[str, Any], errors: dict[str, str]) -> Keys | None:
    """The keys typed in (32 hexadecimal digits each; spaces and colons allowed), or None with
    the fields that are not keys in ``errors``."""
    parsed: dict[str, bytes | None] = {}
    for name in _KEY_FIELDS:
        text = str(user_input.get(name) or "").strip()
        if not text and name == CONF_AUTH_KEY:
            parsed[name] = None
            continue
        try:
            parsed[name] = parse_key(text, name)
        except ValueError:
            errors[name] = "invalid_key"
    if errors:
        return None
    return Keys(parsed[CONF_KEY], parsed[CONF_AUTH_KEY])


_KEY_FIELDS = (CONF_KEY, CONF_AUTH_KEY)
_SECRET = selector.TextSelector(
    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
)
_KEY_SCHEMA = vol.Schema({vol.Required(CONF_KEY): _SECRET, vol.Optional(CONF_AUTH_KEY): _SECRET})
_NETWORK_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): str,
        # Any number: the step says when it is not a port (1-65535).
        vol.Required(CONF_PORT): selector.NumberSelector(
            selector.NumberSelectorConfig(mode=selector.NumberSelectorMode.BOX, step=1)
        ),
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
        """The options form (with a folded section that imports a log into the statistics). An
        empty update interval is the automatic choice (stored as no value): the meter's own period
        decides (:func:`.values.automatic_interval`)."""
        errors: dict[str, str] = {}
        if user_input is not None:
            history = user_input.pop(SECTION_IMPORT_HISTORY, None) or {}
            error = await _async_start_history_import(self.hass, self.config_entry, history)
            if error is None:
                return self.async_create_entry(data=user_input)
            errors["base"] = error
            user_input[SECTION_IMPORT_HISTORY] = history
        options = self.config_entry.options
        interval = options.get(CONF_UPDATE_INTERVAL)
        schema = vol.Schema(
            {
                vol.Optional(
                    CONF_UPDATE_INTERVAL,
                    description={"suggested_value": interval} if interval is not None else None,
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
        return self.async_show_form(
            step_id="init",
            data_schema=schema,
            errors=errors,
            description_placeholders=self._pace(),
        )

    def _pace(self) -> dict[str, str]:
        """What the update interval in effect means, for the form's description."""
        entry = self.config_entry
        coordinator = getattr(entry, "runtime_data", None)
        mapper = getattr(coordinator, "mapper", None)
        if mapper is not None:
            period, window = mapper.period.seconds, mapper.interval
        else:  # not running: what the setting means, the meter's period unknown
            period = None
            chosen = entry.options.get(CONF_UPDATE_INTERVAL)
            window = automatic_interval(None) if chosen is None else float(chosen)
        slowest = max(window, period or 0.0)  # a window shorter than the period: each telegram
        return {
            "period": "?" if period is None else f"{period:g}",
            "window": f"{window:g}",
            "per_minute": f"{60.0 / slowest:.3g}" if slowest else "?",
        }


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
