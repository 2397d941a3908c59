"""The P1 DSMR integration: a smart meter's P1 port, read, verified, repaired and explained."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN
from .coordinator import P1Coordinator
from .source import SourceError, create_source

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

type P1ConfigEntry = ConfigEntry[P1Coordinator]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the integration (its actions are registered here, not per entry)."""
    return True


async def async_setup_entry(hass: HomeAssistant, entry: P1ConfigEntry) -> bool:
    """Open the source, start reading, set up the platforms."""
    coordinator = P1Coordinator(hass, entry, create_source(hass, dict(entry.data)))
    try:
        await coordinator.async_connect()
    except SourceError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"source": coordinator.source.description, "error": str(err)},
        ) from err
    entry.runtime_data = coordinator
    coordinator.start()
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: P1ConfigEntry) -> bool:
    """Unload the platforms and close the source."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.async_stop()
    return unloaded


async def _async_options_updated(hass: HomeAssistant, entry: P1ConfigEntry) -> None:
    """Options changed: reload so the coordinator runs with them."""
    await hass.config_entries.async_reload(entry.entry_id)
