"""An encrypted meter's invocation counters, kept across restarts.

A DLMS meter numbers its frames (the invocation counter) and never repeats a number under one key:
a frame whose counter is not above the last one accepted is a replay (:mod:`.p1lib.cipher`). The
decoder keeps the last counter per system title while it runs; this keeps it in a
:class:`~homeassistant.helpers.storage.Store` per entry, so that a frame captured before a restart
and replayed after it is a replay too. Live sources only (a serial port, the network): a log file
is read again on purpose (replay mode, the newest telegram when a followed file is opened).

Saved at most once a minute while frames arrive, when the entry unloads and when Home Assistant
stops: a crash loses at most the last minute's counters (frames of that minute replayed after it
would be taken). Saved with a fingerprint of the key: another key (another meter) starts afresh.
"""

from __future__ import annotations

import hashlib
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store

from .const import DOMAIN, LOGGER

__all__ = ["CounterKeeper", "async_remove_counters"]

STORAGE_VERSION = 1
SAVE_EVERY = 60.0
"""Seconds between two saves while frames arrive."""
SAVE_DELAY = 5.0
"""Seconds from a change to its save (Home Assistant's store coalesces writes)."""
MAX_TITLES = 16
"""System titles kept (the decoder keeps as many)."""


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.counters.{entry_id}")


def _fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"p1_dsmr counters " + key).hexdigest()[:16]


async def async_remove_counters(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is removed: its counters go."""
    await _store(hass, entry_id).async_remove()


class CounterKeeper:
    """Loads the counters for a new decoder and saves the decoder's counters as they move."""

    def __init__(self, hass: HomeAssistant, entry_id: str, key: bytes) -> None:
        self.hass = hass
        self._store = _store(hass, entry_id)
        self._fingerprint = _fingerprint(key)
        self._counters: dict[bytes, int] = {}
        self._saved: dict[bytes, int] = {}
        self._scheduled = -SAVE_EVERY

    async def async_load(self) -> dict[bytes, int]:
        """The counters saved with this key ({} when none, or unreadable: logged)."""
        try:
            saved = await self._store.async_load()
        except (HomeAssistantError, ValueError) as err:
            LOGGER.warning(
                "The saved invocation counters are unreadable (%s): starting afresh", err
            )
            return {}
        counters: dict[bytes, int] = {}
        if isinstance(saved, dict) and saved.get("key") == self._fingerprint:
            titles = saved.get("counters")
            if isinstance(titles, dict):
                for title, counter in list(titles.items())[:MAX_TITLES]:
                    try:
                        raw = bytes.fromhex(title)
                    except (TypeError, ValueError):
                        continue
                    if len(raw) == 8 and type(counter) is int and 0 <= counter < 1 << 32:
                        counters[raw] = counter
        self._counters = dict(counters)
        self._saved = dict(counters)
        return counters

    @callback
    def note(self, counters: dict[bytes, int]) -> None:
        """The decoder's counters after a batch of frames: saved within a minute if they moved."""
        if counters == self._saved:
            return
        self._counters = dict(counters)
        now = self.hass.loop.time()
        if now - self._scheduled >= SAVE_EVERY:
            self._scheduled = now
            self._store.async_delay_save(self._data, SAVE_DELAY)

    async def async_unload(self, counters: dict[bytes, int]) -> None:
        """Save ``counters`` (the decoder's, once its reader stopped) now: the entry is unloaded or
        reloaded."""
        self._counters = dict(counters)
        if self._counters != self._saved:
            await self._store.async_save(self._data())

    @callback
    def _data(self) -> dict[str, Any]:
        self._saved = dict(self._counters)
        return {
            "key": self._fingerprint,
            "counters": {title.hex(): counter for title, counter in self._counters.items()},
        }
