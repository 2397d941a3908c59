"""Event-loop cost per telegram in Home Assistant, all-in (run by scripts/bench-ha, not by CI).

A 2.3 kB Hungarian Sanxing telegram is handed to the coordinator as the source would hand it:
framing, CRC, parsing, derived values, the archive queue, and the state writes of every enabled
entity, all in the event loop. Prints the median and the 99th percentile.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.p1_dsmr.const import (
    CONF_FILE_MODE,
    CONF_FILE_PATH,
    CONF_SOURCE,
    DOMAIN,
    FILE_MODE_FOLLOW,
    SOURCE_FILE,
)
from custom_components.p1_dsmr.p1lib.generator import MeterSimulator

COUNT = 2000


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load the custom integration."""


async def test_event_loop_cost_per_telegram(hass: HomeAssistant, tmp_path: Path) -> None:
    hass.config.config_dir = str(tmp_path)
    sim = MeterSimulator("hu_sanxing", seed=7, solar=True)
    telegrams = list(sim.telegrams(COUNT + 1))
    log = tmp_path / "meter.log"
    log.write_bytes(telegrams[0])
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="AUX1030302759988",
        data={CONF_SOURCE: SOURCE_FILE, CONF_FILE_PATH: str(log), CONF_FILE_MODE: FILE_MODE_FOLLOW},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    entities = len(hass.states.async_all())
    # The phase insight's hook, timed inside the same run (its share of the whole).
    insight = coordinator.insight
    assert insight is not None
    hook_times: list[float] = []
    update = insight.update

    def timed_update(telegram: Any) -> None:
        started = time.perf_counter()
        update(telegram)
        hook_times.append(time.perf_counter() - started)

    insight.update = timed_update  # type: ignore[method-assign]
    times = []
    for telegram in telegrams[1:]:
        started = time.perf_counter()
        coordinator.feed(telegram)
        times.append(time.perf_counter() - started)
    await hass.async_block_till_done()
    times.sort()
    size = len(telegrams[1])
    print(
        f"\nevent-loop cost per {size}-byte Hungarian telegram, {entities} entities, "
        f"{COUNT} telegrams: median {1000 * statistics.median(times):.3f} ms, "
        f"p99 {1000 * times[int(0.99 * len(times))]:.3f} ms (target: median < 1 ms)"
    )
    print(
        f"phase insight hook: {1e6 * statistics.median(hook_times):.1f} us median per telegram, "
        f"{100 * sum(hook_times) / sum(times):.1f} % of the event-loop cost"
    )
    assert coordinator.decoder.stats.valid == COUNT + 1
    assert await hass.config_entries.async_unload(entry.entry_id)
