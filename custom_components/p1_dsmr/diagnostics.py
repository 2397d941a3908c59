"""Diagnostics: the entry, the link's statistics and the last telegram, identifiers redacted.

Every identifier the meter sends (equipment identifiers, serial numbers, logical device names,
M-Bus identifiers), as sent (often hex) and decoded, and the entry's unique id are replaced wherever
they occur: in the header (some meters put the serial there), the telegram's text, lines that did
not parse, values. Connection details (host, port, paths) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant

from . import P1ConfigEntry
from .const import CONF_AUTH_KEY, CONF_DEVICE, CONF_FILE_PATH, CONF_KEY
from .p1lib.obis import Kind
from .p1lib.parsing import Telegram

REDACTED = "**REDACTED**"
TO_REDACT = {
    CONF_HOST,
    CONF_DEVICE,
    CONF_FILE_PATH,
    CONF_KEY,
    CONF_AUTH_KEY,
    "unique_id",
    "title",
    "serial_number",
    "system_title",
}
# Lines that identify the meter or its owner: equipment ids, serials, logical names, M-Bus ids.
_IDENTIFIER_LINE = re.compile(
    r"^(\d+-\d+:(?:96\.1\.[01]|42\.0\.0|96\.1\.255|0\.0\.0)(?:[*.]\d+)?)\([^\r\n]*", re.MULTILINE
)
_MIN_SECRET = 4  # shorter values are too common to stand for a meter


def redact_telegram(text: str, secrets: Iterable[str] = ()) -> str:
    """The telegram with every identifier's value replaced (line ends kept)."""
    return _redact_text(_IDENTIFIER_LINE.sub(lambda m: f"{m.group(1)}({REDACTED})", text), secrets)


def identifiers(
    telegrams: Iterable[Telegram | None], extra: Iterable[str | None] = ()
) -> list[str]:
    """The identifying values of telegrams, as sent and decoded, longest first."""
    found: set[str] = {value for value in extra if value}
    for telegram in telegrams:
        if telegram is None:
            continue
        for obj in telegram.objects:
            if obj.info is None or obj.info.kind is not Kind.IDENTIFIER:
                continue
            found.add(obj.text.strip("\xff"))
            found.update(value.raw for value in obj.values)
    return sorted(
        (s for s in found if len(s) >= _MIN_SECRET and len(set(s)) > 1),
        key=lambda s: (-len(s), s),
    )


def _redact_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_all(value: Any, secrets: list[str]) -> Any:
    """Every string in a structure with the identifiers replaced."""
    if isinstance(value, str):
        return _redact_text(value, secrets)
    if isinstance(value, dict):
        return {key: _redact_all(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_all(item, secrets) for item in value]
    return value


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: P1ConfigEntry
) -> dict[str, Any]:
    """Diagnostics for a config entry."""
    coordinator = entry.runtime_data
    data = coordinator.data
    telegram = data.telegram if data else None
    last = coordinator.last_result
    # An encrypted meter's system title identifies it too (as sent, and as it reads as text).
    title = coordinator.decoder.cipher.system_title
    titles = (title.hex().upper(), title.decode("latin-1")) if title else ()
    secrets = identifiers((telegram, last.telegram if last else None), (entry.unique_id, *titles))
    values: dict[str, Any] = {}
    if data is not None:
        for key, value in data.values.items():
            if data.kinds.get(key) in (Kind.IDENTIFIER, Kind.TEXT):
                values[key] = REDACTED
            elif isinstance(value, datetime):
                values[key] = value.isoformat()
            else:
                values[key] = value
    archive = coordinator.archive
    result = {
        "entry": async_redact_data(
            {
                "data": dict(entry.data),
                "options": dict(entry.options),
                "title": entry.title,
                "unique_id": entry.unique_id,
            },
            TO_REDACT,
        ),
        "link": async_redact_data(coordinator.diagnostics(), TO_REDACT) | {"source": REDACTED},
        "archive": archive.diagnostics() if archive is not None else None,
        "meter": {
            "header": telegram.header.raw if telegram else None,
            "dialect": str(telegram.dialect) if telegram else None,
            "protocol_version": telegram.protocol_version if telegram else None,
            "mbus_devices": [
                {"channel": d.channel, "kind": d.kind} for d in (data.mbus.values() if data else ())
            ],
        },
        "last_telegram": {
            "status": last.status.value if last else None,
            "repair": last.repair.method if last and last.repair else None,
            "text": redact_telegram(last.data.decode("latin-1")) if last else None,
            "unparsed_lines": [
                [number, redact_telegram(line)]
                for number, line in (telegram.unparsed if telegram else ())
            ],
        },
        "values": values,
    }
    redacted: dict[str, Any] = _redact_all(result, secrets)
    return redacted
