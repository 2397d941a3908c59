"""An encrypted meter in Home Assistant: read over TCP with the entry's keys, wrong keys counted and
raised as a repair issue, the export decrypting the archive, diagnostics without keys or title."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.p1_dsmr.const import (
    CONF_AUTH_KEY,
    CONF_FILE_MODE,
    CONF_FILE_PATH,
    CONF_KEY,
    CONF_LOOP,
    CONF_SOURCE,
    DOMAIN,
    FILE_MODE_FOLLOW,
    SOURCE_FILE,
    SOURCE_NETWORK,
)
from custom_components.p1_dsmr.counters import CounterKeeper
from tests.lib.sealing import AUTH_KEY, HAVE_CRYPTOGRAPHY, KEY, OTHER_KEY, TITLE, flip, seal

from .conftest import TcpMeter, telegrams
from .test_config_flow_encrypted import frames, meter_id
from .test_init import wait_for
from .test_services import export

if not HAVE_CRYPTOGRAPHY:  # pragma: no cover (Home Assistant ships cryptography)
    pytest.skip("the cryptography package is not installed", allow_module_level=True)


async def setup(
    hass: HomeAssistant, data: dict[str, Any], key: bytes = KEY, auth_key: bytes | None = None
) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Luxembourg Smarty",
        unique_id=meter_id(),
        data=data
        | {
            CONF_KEY: key.hex().upper(),
            CONF_AUTH_KEY: auth_key.hex().upper() if auth_key else None,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    return entry


def file_data(path: Path) -> dict[str, Any]:
    return {
        CONF_SOURCE: SOURCE_FILE,
        CONF_FILE_PATH: str(path),
        CONF_FILE_MODE: FILE_MODE_FOLLOW,
        CONF_LOOP: False,
    }


@pytest.mark.parametrize("auth_key", [None, AUTH_KEY])
async def test_an_encrypted_meter_over_tcp(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    socket_enabled: None,
    auth_key: bytes | None,
) -> None:
    meter = await TcpMeter(frames(40)).start()
    try:
        entry = await setup(
            hass,
            {CONF_SOURCE: SOURCE_NETWORK, "host": "127.0.0.1", "port": meter.port},
            auth_key=auth_key,
        )
        coordinator = entry.runtime_data
        await wait_for(hass, lambda: coordinator.decoder.stats.valid >= 3)
        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    finally:
        await meter.stop()
    assert coordinator.data is not None
    assert coordinator.data.telegram.equipment_id == meter_id()
    assert coordinator.decoder.stats.invalid == 0
    link = diagnostics["link"]
    encryption = link["encryption"]
    assert encryption["mode"] == ("authenticated" if auth_key else "unverified")
    assert encryption["key_configured"] is True
    assert encryption["problem"] is None
    assert encryption["decrypted"] >= 3
    assert encryption["system_title"] == "**REDACTED**"
    assert diagnostics["entry"]["data"][CONF_KEY] == "**REDACTED**"
    text = json.dumps(diagnostics)
    for secret in (KEY, AUTH_KEY, TITLE):
        assert secret.hex().upper() not in text.upper()
    assert TITLE.decode("latin-1") not in json.loads(text).__repr__()
    assert meter_id() not in text
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_wrong_key_is_counted_logged_once_and_raised(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "smarty.bin"
    path.write_bytes(frames(1)[0])
    entry = await setup(hass, file_data(path), key=OTHER_KEY)
    with path.open("ab") as handle:
        handle.write(b"".join(frames(8)[1:]))
    coordinator = entry.runtime_data
    await wait_for(hass, lambda: coordinator.decoder.stats.invalid >= 7)
    assert coordinator.decoder.stats.valid == 0
    assert coordinator.link.stats.invalid >= 7  # the link statistics count them
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"decryption_failed_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "decryption_failed"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["problem"].startswith("wrong key")
    warnings = [
        r
        for r in caplog.records
        if r.name == "custom_components.p1_dsmr" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1  # once, not per frame
    assert (
        "wrong key: the frame does not decrypt to a telegram with this key" in warnings[0].message
    )
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    assert diagnostics["link"]["encryption"]["problem"].startswith("wrong key")
    assert diagnostics["link"]["telegrams"]["invalid"] >= 7
    assert TITLE.decode("latin-1") not in str(diagnostics)  # the rejected frame's text
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_an_encrypted_meter_without_a_key_raises_an_issue_that_clears(
    hass: HomeAssistant, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An entry made for a plain meter whose meter now encrypts: every frame needs a key.
    path = tmp_path / "smarty.bin"
    path.write_bytes(b"")
    entry = MockConfigEntry(
        domain=DOMAIN, title="meter", unique_id=meter_id(), data=file_data(path)
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    coordinator = entry.runtime_data
    with path.open("ab") as handle:
        handle.write(b"".join(frames(4)))
    await wait_for(hass, lambda: coordinator.decoder.stats.invalid >= 4)
    issue_id = f"decryption_failed_{entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {
        "problem": "no key: this meter encrypts its telegrams: a key is needed"
    }
    assert "this meter encrypts its telegrams: a key is needed" in caplog.text
    # Plain telegrams again: nothing keeps them from being read, the issue goes.
    with path.open("ab") as handle:
        handle.write(b"".join(telegrams("lu_smarty", 3)))
    await wait_for(hass, lambda: coordinator.decoder.stats.valid >= 2)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_export_decrypts_the_archived_frames(hass: HomeAssistant, tmp_path: Path) -> None:
    sealed = frames(8)
    damaged = flip(sealed[5], 40, 0x20)  # a byte of ciphertext: a damaged telegram
    path = tmp_path / "smarty.bin"
    path.write_bytes(sealed[0])
    entry = await setup(hass, file_data(path))
    with path.open("ab") as handle:
        handle.write(b"".join([*sealed[1:5], damaged, *sealed[6:]]))
    coordinator = entry.runtime_data
    # The first frame, in the file before the entry started, is shown too (not archived).
    await wait_for(hass, lambda: coordinator.decoder.stats.telegrams >= 8)
    result = await export(hass, config_entry_id=entry.entry_id)
    # The archive holds the 7 frames received after the start, encrypted as they came.
    assert result["telegrams"] == 7
    assert result["valid"] + result["repaired"] == 7 - result["invalid"]
    assert result["valid"] >= 6
    with open(result["files"]["records"], encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == result["valid"] + result["repaired"]
    assert all(row["voltage_l1_v"] for row in rows)
    window = coordinator.archive.window(None, None)  # type: ignore[union-attr]
    archived = await hass.async_add_executor_job(lambda: b"".join(window))
    assert archived.startswith(b"\xdb\x08" + TITLE)  # not decrypted into the archive
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_counter_replayed_on_the_line_is_rejected(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    sealed = frames(4)
    replayed = seal(telegrams("lu_smarty", 5)[4], 5001)  # an old counter, a fresh telegram
    path = tmp_path / "smarty.bin"
    path.write_bytes(b"")
    entry = await setup(hass, file_data(path))
    with path.open("ab") as handle:
        handle.write(b"".join([*sealed, replayed]))
    coordinator = entry.runtime_data
    await wait_for(hass, lambda: coordinator.decoder.stats.telegrams >= 5)
    assert coordinator.decoder.stats.valid == 4
    assert coordinator.decoder.cipher.by_outcome.get("replayed counter") == 1
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_frame_replayed_after_a_restart_is_rejected(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """The invocation counters outlive the entry (a reload, a restart): a frame captured before
    it and replayed after it is a replay; the meter's next frame is read."""
    sealed = frames(4)
    meter = await TcpMeter([b"".join(sealed[:3])], interval=3600).start()
    data = {CONF_SOURCE: SOURCE_NETWORK, "host": "127.0.0.1", "port": meter.port}
    try:
        entry = await setup(hass, data)
        coordinator = entry.runtime_data
        await wait_for(hass, lambda: coordinator.decoder.stats.valid >= 3)
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await meter.stop()
    meter = await TcpMeter([sealed[1] + sealed[3]], interval=3600).start(meter.port)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        coordinator = entry.runtime_data
        await wait_for(hass, lambda: coordinator.decoder.stats.telegrams >= 2)
        outcomes = dict(coordinator.decoder.cipher.by_outcome)
        valid = coordinator.decoder.stats.valid
    finally:
        assert await hass.config_entries.async_unload(entry.entry_id)
        await meter.stop()
    assert outcomes.get("replayed counter") == 1
    assert valid == 1


async def test_kept_counters_belong_to_their_key(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    """Counters saved under another key (another meter) or damaged are not used."""
    keeper = CounterKeeper(hass, "entry", KEY)
    assert await keeper.async_load() == {}
    keeper.note({TITLE: 5})
    await keeper.async_unload({TITLE: 7})
    assert await CounterKeeper(hass, "entry", KEY).async_load() == {TITLE: 7}
    assert await CounterKeeper(hass, "entry", OTHER_KEY).async_load() == {}
    saved = hass_storage["p1_dsmr.counters.entry"]["data"]
    assert KEY.hex() not in json.dumps(saved).lower()
    saved["counters"] = {"not hex": 1, TITLE.hex(): -1, "00" * 8: "7", "11" * 8: 2**40}
    assert await CounterKeeper(hass, "entry", KEY).async_load() == {}
