"""Diagnostics: the entry, the link's statistics and the last telegram, identifiers redacted."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant

from . import P1ConfigEntry
from .const import CONF_DEVICE, CONF_FILE_PATH
from .p1lib.obis import Kind

REDACTED = "**REDACTED**"
TO_REDACT = {CONF_HOST, CONF_DEVICE, CONF_FILE_PATH, "unique_id", "title", "serial_number"}
# Lines that identify the meter or its owner: equipment ids, serials, logical names, M-Bus ids.
_IDENTIFIER_LINE = re.compile(
    r"^(\d+-\d+:(?:96\.1\.[01]|42\.0\.0|96\.1\.255|0\.0\.0)(?:[*.]\d+)?)\(.*$", re.MULTILINE
)


def redact_telegram(text: str) -> str:
    """The telegram with every identifier's value replaced."""
    return _IDENTIFIER_LINE.sub(lambda m: f"{m.group(1)}({REDACTED})", text)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: P1ConfigEntry
) -> dict[str, Any]:
    """Diagnostics for a config entry."""
    coordinator = entry.runtime_data
    data = coordinator.data
    telegram = data.telegram if data else None
    last = coordinator.last_result
    values: dict[str, Any] = {}
    if data is not None:
        for key, value in data.values.items():
            if data.kinds.get(key) in (Kind.IDENTIFIER, Kind.TEXT):
                values[key] = REDACTED
            elif isinstance(value, datetime):
                values[key] = value.isoformat()
            else:
                values[key] = value
    return {
        "entry": async_redact_data(
            {
                "data": dict(entry.data),
                "options": dict(entry.options),
                "title": entry.title,
                "unique_id": entry.unique_id,
            },
            TO_REDACT,
        ),
        "link": coordinator.diagnostics() | {"source": REDACTED},
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
            "unparsed_lines": list(telegram.unparsed) if telegram else [],
        },
        "values": values,
    }
