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

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        self.hass = hass
        self.issue_id = f"high_error_rate_{entry_id}"
        self.stats = LinkStats()
        self._recent: deque[bool] = deque(maxlen=ERROR_RATE_WINDOW)
        self._damaged = 0  # damaged telegrams in _recent
        self._issue = False

    @callback
    def record(self, result: DecodeResult, counters: DecoderStats, now: datetime) -> LinkStats:
        """Count one decoded telegram; the new statistics."""
        damaged = result.status in (Status.REPAIRED, Status.INVALID)
        if len(self._recent) == self._recent.maxlen:
            self._damaged -= self._recent[0]
        self._recent.append(damaged)
        self._damaged += damaged
        rate = 100.0 * self._damaged / len(self._recent)
        last_repair, method = self.stats.last_repair, self.stats.last_repair_method
        if result.repair is not None:
            last_repair, method = now, result.repair.method
        self.stats = LinkStats(
            counters.telegrams,
            counters.valid,
            counters.repaired,
            counters.invalid,
            counters.unverified,
            round(rate, 2),
            last_repair,
            method,
        )
        self._check_error_rate(rate)
        return self.stats

    @callback
    def _check_error_rate(self, rate: float) -> None:
        if len(self._recent) < 100:
            return
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
