"""The P1 DSMR integration: a smart meter's P1 port, read, verified, repaired and explained."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .archive import Archive
from .const import CONF_ARCHIVE_DAYS, CONF_SOURCE, DEFAULT_ARCHIVE_DAYS, DOMAIN, SOURCE_FILE
from .coordinator import P1Coordinator, entry_key
from .counters import CounterKeeper, async_remove_counters
from .insight import InsightFeed, async_remove_insight
from .services import async_setup_services
from .source import SourceError, create_source

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

type P1ConfigEntry = ConfigEntry[P1Coordinator]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up the integration: its actions are registered here, not per entry."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: P1ConfigEntry) -> bool:
    """Open the source, start reading, set up the platforms."""
    keeper: CounterKeeper | None = None
    key = entry_key(entry)
    if key is not None and entry.data.get(CONF_SOURCE) != SOURCE_FILE:
        keeper = CounterKeeper(hass, entry.entry_id, key)
    counters = await keeper.async_load() if keeper is not None else None
    coordinator = P1Coordinator(hass, entry, create_source(hass, dict(entry.data)), counters)
    coordinator.counter_keeper = keeper
    try:
        await coordinator.async_connect()
    except SourceError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"source": coordinator.source.description, "error": str(err)},
        ) from err
    entry.runtime_data = coordinator
    archive = coordinator.archive = Archive(
        hass, entry.entry_id, int(entry.options.get(CONF_ARCHIVE_DAYS, DEFAULT_ARCHIVE_DAYS))
    )
    entry.async_on_unload(coordinator.add_raw_listener(archive.add))
    insight = coordinator.insight = InsightFeed(
        hass, entry.entry_id, dict(entry.options), coordinator.async_update_listeners
    )
    await insight.async_load()
    coordinator.start()
    # The one place that reloads a loaded entry: after the options flow, or after the reconfigure
    # flow changed the connection (which does not reload by itself, see config_flow._finish).
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: P1ConfigEntry) -> bool:
    """Unload the platforms and close the source."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        coordinator = entry.runtime_data
        await coordinator.async_stop()
        if coordinator.archive is not None:
            await coordinator.archive.async_close()
        if coordinator.insight is not None:
            await coordinator.insight.async_unload()
        if coordinator.counter_keeper is not None:
            await coordinator.counter_keeper.async_unload(dict(coordinator.decoder.counters))
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: P1ConfigEntry) -> None:
    """The entry is deleted: its phase insight's saved evidence and repair issue go too."""
    await async_remove_insight(hass, entry.entry_id)
    await async_remove_counters(hass, entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: P1ConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user remove an M-Bus meter the telegrams no longer mention (a replaced gas meter)."""
    base = entry.unique_id or entry.entry_id
    data = entry.runtime_data.data
    for domain, identifier in device.identifiers:
        if domain != DOMAIN or identifier == base:
            continue
        channel = identifier.rsplit("_mbus", 1)[-1]
        if channel.isdigit() and (data is None or int(channel) not in data.mbus):
            return True
    return False


async def _async_entry_updated(hass: HomeAssistant, entry: P1ConfigEntry) -> None:
    """Options or connection changed: reload so the coordinator and its source run with them."""
    await hass.config_entries.async_reload(entry.entry_id)
