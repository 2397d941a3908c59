"""Constants of the P1 DSMR integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "p1_dsmr"
LOGGER = logging.getLogger(__package__)

# Connection (config entry data)
CONF_SOURCE: Final = "source"
SOURCE_SERIAL: Final = "serial"
SOURCE_NETWORK: Final = "network"
SOURCE_FILE: Final = "file"
CONF_DEVICE: Final = "device"
CONF_BAUDRATE: Final = "baudrate"
CONF_BYTESIZE: Final = "bytesize"
CONF_PARITY: Final = "parity"
CONF_FILE_PATH: Final = "path"
CONF_FILE_MODE: Final = "mode"
FILE_MODE_FOLLOW: Final = "follow"
FILE_MODE_REPLAY: Final = "replay"
CONF_LOOP: Final = "loop"
CONF_KEY: Final = "key"  # an encrypted meter's decryption key, 32 hex digits
CONF_AUTH_KEY: Final = "auth_key"  # ... and its optional authentication key

# Options
CONF_UPDATE_INTERVAL: Final = "update_interval"
CONF_VOLTAGE_THRESHOLD: Final = "voltage_threshold"
CONF_CURRENT_THRESHOLD: Final = "current_threshold"
CONF_REPAIR: Final = "repair"
CONF_ARCHIVE_DAYS: Final = "archive_days"
CONF_OVERVOLTAGE_SHARE: Final = "overvoltage_share"

DEFAULT_VOLTAGE_THRESHOLD: Final = 253.0  # V: EN 50160's upper limit, where inverters trip
DEFAULT_CURRENT_THRESHOLD: Final = 25.0  # A
DEFAULT_REPAIR: Final = True
DEFAULT_ARCHIVE_DAYS: Final = 14  # 0: no archive
DEFAULT_OVERVOLTAGE_SHARE: Final = 1.0  # % of a day above the voltage threshold: a repair issue

# Line settings tried in order when setting up a serial port: (baud rate, byte size, parity).
# 115200 8N1 also reads a 115200 7E1 meter (same frame length; the parity bit is masked off).
LINE_SETTINGS: Final = ((115200, 8, "N"), (9600, 7, "E"))

# Timing
TELEGRAM_TIMEOUT: Final = 12.0  # s to wait for a valid telegram while setting up (10 s meters)
WATCHDOG_TIMEOUT: Final = 60.0  # s without an accepted telegram before a stream counts as lost
WATCHDOG_PERIODS: Final = 6  # ... or this many meter periods, for meters slower than 10 s
BACKOFF_INITIAL: Final = 1.0  # s
BACKOFF_MAX: Final = 300.0  # s
FILE_POLL_INTERVAL: Final = 1.0  # s between looks at a followed file
ERROR_RATE_WINDOW: Final = 500  # telegrams over which the link's error rate is measured
ERROR_RATE_ISSUE: Final = 0.05  # raise a repair issue above 5 % ...
ERROR_RATE_CLEAR: Final = 0.01  # ... and clear it below 1 %

MANUFACTURERS: Final = {
    "AUX": "Sanxing",
    "ELL": "Elster",
    "ENE": "Enexis",
    "ESY": "EasyMeter",
    "FLU": "Fluvius",
    "ISK": "Iskra",
    "KAM": "Kamstrup",
    "KFM": "Kaifa",
    "KMP": "Kamstrup",
    "LGF": "Landis+Gyr",
    "LUX": "Luxembourg Smarty",
    "SAG": "Sagemcom",
    "XMX": "Landis+Gyr",
    "ZIV": "ZIV",
}
