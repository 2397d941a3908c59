"""Phase insight in Home Assistant: the library's :class:`~.p1lib.insight.PhaseInsight`, fed every
accepted telegram, kept across restarts, and a repair issue for a phase near overvoltage.

Per telegram (the coordinator's one hook, :meth:`InsightFeed.update`) the library takes the
telegram's voltages and currents, O(1). The estimates the sensors show (impedances, the best phase
for a load) are recomputed every :data:`REFRESH_INTERVAL`; the headroom is read from the newest
telegram.

What is kept (a :class:`~homeassistant.helpers.storage.Store` per entry, written a few minutes
after a change, at unload and when Home Assistant stops): the impedance evidence (the load events'
histograms) and the newest days' time above the threshold. The voltage distribution starts afresh
at each start: the best phase for a load is judged over the time since.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store

from .const import (
    CONF_OVERVOLTAGE_SHARE,
    CONF_VOLTAGE_THRESHOLD,
    DEFAULT_OVERVOLTAGE_SHARE,
    DEFAULT_VOLTAGE_THRESHOLD,
    DOMAIN,
    LOGGER,
)
from .p1lib.impedance import Estimate
from .p1lib.insight import InsightSnapshot, PhaseInsight

if TYPE_CHECKING:
    from .p1lib.telegram import Telegram

__all__ = ["InsightFeed", "async_remove_insight"]

STORAGE_VERSION = 1
SAVE_DELAY = 300.0
"""Seconds between a change and its save (Home Assistant also saves when it stops)."""
REFRESH_INTERVAL = 60.0
"""Seconds between recomputations of the estimates, the best phase and the repair issue (each
takes milliseconds: a load event waits for the next one rather than stalling the event loop)."""
LOAD_KW = 2.0
"""The load whose best phase the sensor names (a kettle, an oven element, a charger)."""
MIN_OBSERVED = 3600.0
"""Seconds a day must have been observed before its share above the threshold counts."""
REBASE_AFTER = 30
"""Telegrams in a row behind the newest clock that make a new timeline (a replayed log that
starts again, a meter clock set back): see :class:`~.p1lib.voltage_stats.VoltageStatistics`."""
RESTORE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.insight.{entry_id}")


def issue_id(entry_id: str) -> str:
    """The repair issue of an entry's phases near overvoltage."""
    return f"overvoltage_{entry_id}"


async def async_remove_insight(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is removed: its kept evidence and its repair issue go."""
    await _store(hass, entry_id).async_remove()
    ir.async_delete_issue(hass, DOMAIN, issue_id(entry_id))


class InsightFeed:
    """One meter's phase insight in Home Assistant."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        options: dict[str, Any],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.hass = hass
        self.on_change = on_change
        """Called when an estimate changed (the sensors show it even while the coordinator's
        update interval holds the telegram's values back)."""
        self.entry_id = entry_id
        self.threshold = float(options.get(CONF_VOLTAGE_THRESHOLD, DEFAULT_VOLTAGE_THRESHOLD))
        self.share_limit = (
            float(options.get(CONF_OVERVOLTAGE_SHARE, DEFAULT_OVERVOLTAGE_SHARE)) / 100.0
        )
        """Share of a day above the threshold that raises the repair issue (0: never)."""
        self.insight = self._fresh()
        self.snapshot: InsightSnapshot = self.insight.snapshot()
        self.best_phase: int | None = None
        self.best_reason = ""
        self.issue_phases: tuple[int, ...] = ()
        self._issue: tuple[tuple[int, ...], int | None] | None = None
        """What the repair issue says (None: not checked since the start; a kept issue is
        cleared at the first check when no phase is above the limit any more)."""
        self._store = _store(hass, entry_id)
        self._refreshed = -math.inf
        self._failed = False
        self._unloaded = False

    def _fresh(self) -> PhaseInsight:
        return PhaseInsight(self.threshold, keep_windows=144, rebase_after=REBASE_AFTER)

    async def async_load(self) -> None:
        """Take back what the last run kept (a damaged store is logged and left behind)."""
        try:
            saved = await self._store.async_load()
        except (HomeAssistantError, ValueError) as err:
            LOGGER.warning("Phase insight starts afresh: its saved state is unreadable (%s)", err)
            saved = None
        if isinstance(saved, dict):
            try:
                self.insight.restore(saved)
            except RESTORE_ERRORS as err:
                LOGGER.warning("Phase insight starts afresh: its saved state is damaged (%r)", err)
                self.insight = self._fresh()
        self.refresh()

    async def async_unload(self) -> None:
        """Save now (the entry is unloaded or reloaded); a refresh on its way is dropped."""
        self._unloaded = True
        await self._store.async_save(self._data())

    @callback
    def _data(self) -> dict[str, Any]:
        return self.insight.as_dict()

    # --- per telegram -----------------------------------------------------------------------

    @callback
    def update(self, telegram: Telegram) -> None:
        """An accepted telegram (the coordinator's hook: O(1), about 20-90 us; once a minute it
        schedules :meth:`refresh`, a few milliseconds)."""
        try:
            self.insight.update(telegram)
        except Exception:  # a bug here must not stop the telegram's values: said once
            if not self._failed:
                LOGGER.exception("Phase insight could not take a telegram; it skips such ones")
                self._failed = True
            return
        now = self.hass.loop.time()
        if now - self._refreshed >= REFRESH_INTERVAL:
            # In a turn of the event loop of its own: a refresh (and the sensors it moves) never
            # adds to the handling of a burst of telegrams.
            self._refreshed = now
            self.hass.loop.call_soon(self._refresh_due)

    @callback
    def _refresh_due(self) -> None:
        if not self._unloaded:
            self.refresh()

    @callback
    def refresh(self, now: float | None = None) -> None:
        """Recompute the estimates, the best phase and the repair issue (every minute)."""
        self._refreshed = self.hass.loop.time() if now is None else now
        insight = self.insight
        before = (self.snapshot.impedance, self.best_phase)
        self.snapshot = insight.snapshot()
        what_if = insight.what_if(LOAD_KW)
        self.best_phase, self.best_reason = what_if.best_phase, what_if.reason
        self._check_overvoltage()
        if (self.snapshot.impedance, self.best_phase) != before:
            self.on_change()
        if insight.telegrams:
            self._store.async_delay_save(self._data, SAVE_DELAY)

    # --- what the sensors show --------------------------------------------------------------

    def impedance(self, phase: int) -> Estimate | None:
        """Phase ``phase``'s (1-3) source impedance; None until the evidence is enough."""
        return self.snapshot.impedance.impedance[phase - 1]

    def load_events(self, phase: int) -> int:
        """Load events seen on phase ``phase`` (1-3)."""
        return self.snapshot.impedance.events[phase - 1]

    def headroom(self, phase: int) -> float | None:
        """Volts phase ``phase`` (1-3) is below the threshold now (negative: above it)."""
        volts = self.insight.voltage.latest[phase - 1]
        return None if volts is None or volts <= 0 else round(self.threshold - volts, 1)

    def share_above_today(self, phase: int) -> float | None:
        """Share of today's observed time phase ``phase`` (1-3) was above the threshold."""
        today = self.insight.voltage.today()
        return None if today is None else today.share_above(phase)

    # --- the repair issue -------------------------------------------------------------------

    @callback
    def _check_overvoltage(self) -> None:
        """Raise the issue while a phase spent more than the limit above the threshold on the
        newest day or the one before it (each observed for an hour at least); clear it when
        neither did."""
        days = list(self.insight.voltage.days.values())[-2:]
        if len(days) == 2 and (days[1].day - days[0].day).days > 1:
            days = days[1:]  # the day before was not yesterday
        shares = [0.0, 0.0, 0.0]
        for day in days:
            if day.seconds < MIN_OBSERVED:
                continue
            for k in (1, 2, 3):
                share = day.share_above(k) or 0.0
                shares[k - 1] = max(shares[k - 1], share)
        phases = (
            tuple(k for k in (1, 2, 3) if shares[k - 1] > self.share_limit)
            if self.share_limit > 0
            else ()
        )
        best = self.best_phase
        if (phases, best) == self._issue:
            return
        self._issue = (phases, best)
        self.issue_phases = phases
        if not phases:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id(self.entry_id))
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id(self.entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="overvoltage" if best is not None else "overvoltage_no_advice",
            translation_placeholders={
                "phases": ", ".join(f"L{k}" for k in phases),
                "share": f"{100 * max(shares):.1f}",
                "threshold": f"{self.threshold:g}",
                "limit": f"{100 * self.share_limit:g}",
                "best": "" if best is None else f"L{best}",
                "load": f"{LOAD_KW:g}",
            },
        )
