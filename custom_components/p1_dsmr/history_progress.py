"""An import's progress: ``p1_dsmr_import_progress`` events and a persistent notification, in
Home Assistant's language."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .const import DOMAIN

if TYPE_CHECKING:
    from .history_import import ImportRequest

EVENT_IMPORT_PROGRESS = f"{DOMAIN}_import_progress"
READ_SHARE = 70
"""Percent of the progress given to reading the file (the rest: writing statistics)."""


@dataclass(slots=True)
class ImportJob:
    """One running import: where it is, and how it is told."""

    hass: HomeAssistant
    entry: ConfigEntry
    request: ImportRequest
    translations: dict[str, str] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)
    percent: int = -1
    stage: str = "reading"
    written: int = 0
    to_write: int = 1

    @property
    def notification_id(self) -> str:
        return f"{DOMAIN}_import_{self.entry.entry_id}"

    def text(self, key: str, **placeholders: Any) -> str:
        template = self.translations.get(f"component.{DOMAIN}.exceptions.{key}.message", key)
        try:
            return template.format(**placeholders)
        except (KeyError, IndexError, ValueError):
            return template

    def report(self, stage: str, fraction: float) -> None:
        """Progress (event loop): an event per percent, the notification every ten."""
        share = READ_SHARE if stage == "reading" else 100 - READ_SHARE
        base = 0 if stage == "reading" else READ_SHARE
        percent = min(99, int(base + share * fraction))
        if percent == self.percent and stage == self.stage:
            return
        notify = percent // 10 != self.percent // 10 or stage != self.stage
        self.percent, self.stage = percent, stage
        self.hass.bus.async_fire(
            EVENT_IMPORT_PROGRESS,
            {
                "config_entry_id": self.entry.entry_id,
                "path": self.request.path,
                "stage": stage,
                "percent": percent,
            },
        )
        if notify:
            self.notify(
                self.text(
                    "import_progress",
                    path=self.request.path,
                    percent=percent,
                    stage=self.text(f"import_stage_{stage}"),
                )
            )

    def failed(self, error: HomeAssistantError) -> None:
        """Say why in the notification (in Home Assistant's language)."""
        key = error.translation_key
        message = self.text(key, **(error.translation_placeholders or {})) if key else str(error)
        self.notify(message)
        self.hass.bus.async_fire(
            EVENT_IMPORT_PROGRESS,
            {
                "config_entry_id": self.entry.entry_id,
                "path": self.request.path,
                "stage": "failed",
                "percent": max(self.percent, 0),
                "error": message,
            },
        )

    def notify(self, message: str) -> None:
        persistent_notification.async_create(
            self.hass,
            message,
            title=self.text("import_title", title=self.entry.title),
            notification_id=self.notification_id,
        )

    def progress_from_thread(self, stage: str) -> Callable[[float], None]:
        """A progress callback for the executor (only whole percents reach the event loop)."""
        last = [-1]

        def progress(fraction: float) -> None:
            percent = int(100 * fraction)
            if percent != last[0]:
                last[0] = percent
                self.hass.loop.call_soon_threadsafe(self.report, stage, fraction)

        return progress
