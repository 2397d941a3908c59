"""What Home Assistant logs when code uses an API it deprecated, recognised for the tests.

Home Assistant reports a deprecated call with a log record, not a Python warning:
- helpers/frame.py ``report_usage``: "Detected that custom integration 'p1_dsmr' calls ... This will
  stop working in Home Assistant 2026.12.0, please report it to the author of the 'p1_dsmr' custom
  integration"; a call from code outside any integration (a test) is "Detected code that ...";
- helpers/deprecation.py: "... was used from p1_dsmr, this is a deprecated constant which will be
  removed in HA Core ...".
The integration tests fail on such a record (tests/integration/conftest.py), the end-to-end tests
on such a line in the log of the ``hass`` process (tests/e2e/conftest.py).
"""

from __future__ import annotations

import logging
import re

DOMAIN = "p1_dsmr"
_DEPRECATION_WORDS = re.compile(
    r"deprecat|will stop working|stop working in|will be removed|no longer supported", re.I
)
# A record in Home Assistant's log: "2026-11-29 11:01:03.848 WARNING (MainThread) [logger] text"
_LOG_RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ (?P<level>[A-Z]+) \([^)]*\) \[(?P<logger>[^\]]+)\] ",
    re.M,
)


def is_deprecation_report(logger: str, level: int, message: str) -> bool:
    """Whether a log record reports a deprecated call by this integration or by a test."""
    if level < logging.WARNING or logger.startswith(f"custom_components.{DOMAIN}"):
        return False
    if message.startswith("Detected code that"):
        return True
    return DOMAIN in message and (
        message.startswith("Detected that custom integration")
        or _DEPRECATION_WORDS.search(message) is not None
    )


def is_error_of_ours(logger: str, level: int, message: str) -> bool:
    """Whether a log record is an error raised in, or about, this integration."""
    return level >= logging.ERROR and (
        logger.startswith(f"custom_components.{DOMAIN}")
        or f"custom_components/{DOMAIN}/" in message
        or f"for {DOMAIN}" in message
    )


def problems_in_log(text: str) -> list[str]:
    """The records of a Home Assistant log that report a deprecated call or an error of ours."""
    problems = []
    starts = list(_LOG_RECORD.finditer(text))
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        message = text[match.end() : end].rstrip()
        level = logging.getLevelName(match["level"])
        level = level if isinstance(level, int) else logging.ERROR
        if is_deprecation_report(match["logger"], level, message) or is_error_of_ours(
            match["logger"], level, message
        ):
            problems.append(text[match.start() : end].rstrip())
    return problems
