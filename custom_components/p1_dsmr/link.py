"""The P1 link's health: telegram counters, the error rate, and the noisy-link repair issue."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, ERROR_RATE_CLEAR, ERROR_RATE_ISSUE, ERROR_RATE_WINDOW
from .p1lib.decoder import DecodeResult, DecoderStats, Status


@dataclass(frozen=True, slots=True)
class LinkStats:
    """How healthy the P1 link is."""

    received: int = 0
    valid: int = 0
    repaired: int = 0
    invalid: int = 0
    unverified: int = 0
    error_rate: float | None = None
    """Percentage of the last telegrams that arrived damaged (repaired or rejected)."""
    last_repair: datetime | None = None
    last_repair_method: str | None = None


class LinkMonitor:
    """Counts what the decoder made of each telegram; raises the noisy-link issue above
    :data:`ERROR_RATE_ISSUE` and clears it below :data:`ERROR_RATE_CLEAR`."""

    def __init__(self, hass: HomeAssistant, entry_id: str, counters: DecoderStats) -> None:
        self.hass = hass
        self.issue_id = f"high_error_rate_{entry_id}"
        self.counters = counters
        self._recent: deque[bool] = deque(maxlen=ERROR_RATE_WINDOW)
        self._damaged = 0  # damaged telegrams in _recent
        self._issue = False
        self._last_repair: datetime | None = None
        self._last_repair_method: str | None = None

    @property
    def stats(self) -> LinkStats:
        """The statistics now."""
        counters = self.counters
        recent = len(self._recent)
        return LinkStats(
            counters.telegrams,
            counters.valid,
            counters.repaired,
            counters.invalid,
            counters.unverified,
            round(100.0 * self._damaged / recent, 2) if recent else None,
            self._last_repair,
            self._last_repair_method,
        )

    @callback
    def record(self, result: DecodeResult, now: datetime) -> None:
        """Count one decoded telegram (cheap: a hostile stream may bring thousands a second)."""
        damaged = result.status is Status.REPAIRED or result.status is Status.INVALID
        recent = self._recent
        if len(recent) == recent.maxlen:
            self._damaged -= recent[0]
        recent.append(damaged)
        self._damaged += damaged
        if result.repair is not None:
            self._last_repair, self._last_repair_method = now, result.repair.method
        if len(recent) >= 100:
            self._check_error_rate(100.0 * self._damaged / len(recent))

    @callback
    def _check_error_rate(self, rate: float) -> None:
        if not self._issue and rate > 100 * ERROR_RATE_ISSUE:
            self._issue = True
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="high_error_rate",
                translation_placeholders={"rate": f"{rate:.1f}", "window": str(len(self._recent))},
            )
        elif self._issue and rate < 100 * ERROR_RATE_CLEAR:
            self._issue = False
            ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
