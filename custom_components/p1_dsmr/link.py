"""The P1 link's health: telegram counters, the error rate, and the noisy-link repair issue."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later

from .const import DOMAIN, ERROR_RATE_CLEAR, ERROR_RATE_ISSUE, ERROR_RATE_WINDOW
from .p1lib.decoder import DecodeResult, DecoderStats, Status

LINK_PACE = 60.0
"""Seconds between state writes of a link sensor: its counters tick with every telegram, and a
person reads them, not a graph (a 1-second meter would add a database row a second each)."""


class Pacer:
    """Calls ``write`` at most once per ``pace`` seconds: at once when the last write is older,
    else once at the end of the pace, with what is newest then. ``write`` says whether it wrote
    (an unchanged state is not a write and does not start a pace)."""

    def __init__(
        self, hass: HomeAssistant, write: Callable[[], bool], pace: float | None = None
    ) -> None:
        self.hass = hass
        self.pace = pace
        """Seconds; None: :data:`LINK_PACE`."""
        self._write = write
        self._last: float | None = None
        self._pending: CALLBACK_TYPE | None = None

    @callback
    def request(self) -> None:
        """Something changed: write now or at the end of the pace."""
        if self._pending is not None:
            return
        now = self.hass.loop.time()
        pace = LINK_PACE if self.pace is None else self.pace
        if self._last is None or now - self._last >= pace:
            if self._write():
                self._last = now
            return
        self._pending = async_call_later(self.hass, self._last + pace - now, self._due)

    @callback
    def _due(self, _now: datetime) -> None:
        self._pending = None
        if self._write():  # the newest state, at the end of the pace
            self._last = self.hass.loop.time()

    @callback
    def cancel(self) -> None:
        """Stop (the entity is removed)."""
        if self._pending is not None:
            self._pending()
            self._pending = None


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
