"""The telegram archive: every intact record is found again after any damage (a torn write, a full
disk, SIGKILL in a loop), retention does not trust a jumping clock, files are private, a full or
read-only disk is reported for what it is, and nothing is dropped silently."""

from __future__ import annotations

import errno
import gzip
import os
import random
import signal
import stat
import struct
import subprocess
import sys
import time
import zlib
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from hypothesis import given, settings
from hypothesis import strategies as st

from custom_components.p1_dsmr import archive as archive_module
from custom_components.p1_dsmr.archive import JUMP_SETTLE, Archive, archive_files
from custom_components.p1_dsmr.const import CONF_UPDATE_INTERVAL, DOMAIN
from custom_components.p1_dsmr.records import (
    MAGIC,
    ArchiveWriteError,
    append_records,
    compress_file,
    encode_record,
    read_records,
)

from .conftest import HU_ID, telegrams
from .mounts import tmpfs
from .test_init import state, wait_for
from .test_sensor import setup_file
from .test_services import export, live_entry

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=dt_util.UTC)


# --- records: found again after any damage -----------------------------------------------------


def test_torn_last_record(tmp_path: Path) -> None:
    path = tmp_path / "2026-11-26.p1a"
    good = encode_record(NOW, b"/AUX5 first")
    path.write_bytes(good + encode_record(NOW, b"second")[:-3])
    records, torn = read_records(path)
    assert [data for _, data in records] == [b"/AUX5 first"]
    assert torn == 1
    path.write_bytes(good + b"X" * 30)
    assert read_records(path)[1] == 1
    path.write_bytes(good[:-1] + b"\x00")  # damaged CRC
    assert read_records(path) == ([], 1)
    path.write_bytes(good + good[:5])
    assert read_records(path)[1] == 1
    gz = tmp_path / "2026-11-25.p1a.gz"
    gz.write_bytes(gzip.compress(good * 50)[:-10])  # a compressed file cut short
    records, torn = read_records(gz)
    assert torn == 1
    assert len(records) >= 40  # what the cut left decompressible
    assert all(data == b"/AUX5 first" for _, data in records)


def test_records_after_a_torn_one_are_read(tmp_path: Path) -> None:
    # A full disk tore the third record; after space was freed, two more were appended.
    path = tmp_path / "2026-11-26.p1a"
    first = [encode_record(NOW, f"telegram {i}".encode()) for i in range(5)]
    path.write_bytes(b"".join(first[:2]) + first[2][:17] + b"".join(first[3:]))
    records, torn = read_records(path)
    assert [data for _, data in records] == [
        b"telegram 0",
        b"telegram 1",
        b"telegram 3",
        b"telegram 4",
    ]
    assert torn == 1


_DATA = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([MAGIC, b"P1A1", b"P1A", MAGIC * 3, b"\x00" * 40, b"\xff" * 10]),
    st.tuples(st.binary(max_size=40), st.binary(max_size=40)).map(lambda p: p[0] + MAGIC + p[1]),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_DATA, min_size=1, max_size=25),
    st.integers(0, 10**6),
    st.sampled_from(["cut", "zeros", "garbage", "overwrite"]),
    st.integers(1, 5000),
)
def test_every_intact_record_is_found_after_any_damage(
    tmp_path_factory: pytest.TempPathFactory,
    payloads: list[bytes],
    where: int,
    damage: str,
    size: int,
) -> None:
    records = [encode_record(NOW + timedelta(seconds=i), p) for i, p in enumerate(payloads)]
    victim = where % len(records)
    torn = records[victim]
    rng = random.Random(where)
    if damage == "cut":  # a torn write: the record's start, then the next records
        broken = torn[: where % len(torn)]
    elif damage == "zeros":  # a power cut: zeros where the record was
        broken = b"\x00" * size
    elif damage == "garbage":
        broken = torn + rng.randbytes(size)
    else:  # some of its bytes overwritten
        start = where % len(torn)
        broken = (
            torn[:start] + rng.randbytes(min(size, len(torn) - start) or 1) + torn[start + size :]
        )
    path = tmp_path_factory.mktemp("damage") / "day.p1a"
    path.write_bytes(b"".join(records[:victim]) + broken + b"".join(records[victim + 1 :]))
    found, damaged = read_records(path)
    expected = [p for i, p in enumerate(payloads) if i != victim]
    got = [data for _, data in found]
    if damage == "garbage":  # the record itself is intact
        expected = payloads
    # (a record cut in its last bytes, or overwritten with the same bytes, may still check out:
    # its data is then as written)
    assert got == expected or (damage in ("cut", "overwrite") and got == payloads)
    assert damaged <= 1


def test_a_record_torn_in_its_last_byte_does_not_hide_the_next(tmp_path: Path) -> None:
    # The lost last byte equals the next record's first ('P' of its marker): the torn record checks
    # out with it, and the next record is found at its marker inside the torn one.
    records = [encode_record(NOW + timedelta(seconds=i), p) for i, p in enumerate([b"P1A", b""])]
    assert records[0][-1:] == b"P"
    path = tmp_path / "day.p1a"
    path.write_bytes(records[0][:-1] + records[1])
    found, damaged = read_records(path)
    assert [data for _, data in found] == [b"P1A", b""]
    assert damaged == 0


_WRITER = """
import os, struct, sys
from datetime import datetime, UTC
sys.path.insert(0, sys.argv[2])
import records
path, start = records.Path(sys.argv[1]), int(sys.argv[3])
for i in range(start, start + 10**6):
    record = records.encode_record(datetime.now(UTC), struct.pack("<Q", i) * (SIZE // 8))
    print("w", i, flush=True)
    records.append_records(path, [record])
    print("d", i, flush=True)
"""
RECORD_DATA = 2 << 20  # 2 MiB records: a SIGKILL often lands inside their write()


def test_sigkill_loop_loses_at_most_the_record_being_written(tmp_path: Path) -> None:
    # A real process appending records, killed with SIGKILL again and again, most often just
    # as it begins a write, until at least three writes were torn.
    path = tmp_path / "2026-11-26.p1a"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER.replace("SIZE", str(RECORD_DATA)))
    record_size = len(encode_record(NOW, bytes(RECORD_DATA)))
    rng = random.Random(12)
    written: set[int] = set()  # records a writer finished
    kills = tears = 0
    next_number = 0
    while tears < 3 and kills < 40:
        size_before = path.stat().st_size if path.exists() else 0
        arguments = [str(path), str(ROOT / "custom_components" / "p1_dsmr"), str(next_number)]
        child = subprocess.Popen([sys.executable, str(script), *arguments], stdout=subprocess.PIPE)
        assert child.stdout is not None
        lines = [child.stdout.readline(), child.stdout.readline()]  # one record done
        lines.append(child.stdout.readline())  # it begins the next write: now, or a bit later
        if rng.random() < 0.3:
            time.sleep(rng.uniform(0.0, 0.01))
        child.send_signal(signal.SIGKILL)
        lines += child.stdout.read().splitlines()
        child.wait()
        kills += 1
        done = [int(line.split()[1]) for line in lines if line.startswith(b"d ")]
        written.update(done)
        next_number = max(done, default=next_number) + 1
        grown = path.stat().st_size - size_before
        tears += grown % record_size != 0
    if not tears:
        pytest.skip(f"{kills} SIGKILLs never tore a write on this system")
    records, damaged = read_records(path)
    found = [int.from_bytes(data[:8], "little") for _, data in records]
    for _, data in records:
        assert data == data[:8] * (RECORD_DATA // 8)  # never a record that was not written whole
    assert written <= set(found)  # every record a writer finished is there, after any tear
    assert damaged == tears  # each torn write is one damaged stretch, skipped
    print(f"\n{kills} SIGKILLs, {tears} torn writes: {len(found)} records read, all {len(written)}")
    print(f"written whole among them; {damaged} damaged stretches skipped")


# --- retention that does not trust a jumping clock ----------------------------------------------


class Steady:
    """The archive's steady clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _day_file(archive: Archive, day: date, payload: bytes = b"x") -> None:
    archive.directory.mkdir(parents=True, exist_ok=True)
    path = archive.directory / f"{day.isoformat()}.p1a.gz"
    path.write_bytes(gzip.compress(encode_record(NOW, payload)))


async def test_a_clock_jumping_decades_ahead_deletes_nothing(hass: HomeAssistant) -> None:
    archive = Archive(hass, "entry", retention_days=3)
    today = dt_util.as_local(NOW).date()
    for back in (2, 1):
        _day_file(archive, today - timedelta(days=back))
    steady = Steady()
    with patch.object(archive_module, "_steady_seconds", steady):
        archive.add(b"before", NOW)
        steady.now += 1
        archive.add(b"during", NOW + timedelta(days=365 * 50))  # one chunk while the clock jumps
        steady.now += 1
        archive.add(b"after", NOW + timedelta(seconds=2))
        await archive.async_close()
    names = sorted(p.name[:10] for p in await hass.async_add_executor_job(archive.files))
    assert names == [(today - timedelta(days=b)).isoformat() for b in (2, 1, 0)]
    records, _ = await hass.async_add_executor_job(
        read_records, archive.directory / f"{today.isoformat()}.p1a"
    )
    assert [data for _, data in records] == [b"before", b"during", b"after"]
    assert records[1][0] == NOW + timedelta(seconds=1)  # the steady clock's time, not 2076


async def test_retention_follows_the_days_written_not_the_clock(hass: HomeAssistant) -> None:
    archive = Archive(hass, "entry", retention_days=3)
    today = dt_util.as_local(NOW).date()
    for back in (3, 2, 1):
        _day_file(archive, today - timedelta(days=back))
    steady = Steady()
    future = NOW + timedelta(days=365 * 50)
    with patch.object(archive_module, "_steady_seconds", steady):

        async def receive(wall: datetime, seconds: float) -> list[str]:
            steady.now += seconds
            archive.add(b"chunk", wall)
            await archive.async_flush()
            files = await hass.async_add_executor_job(archive.files)
            return sorted({p.name[:10] for p in files})

        assert await receive(NOW, 0) == [(today - timedelta(days=b)).isoformat() for b in (2, 1, 0)]
        # The clock jumps 50 years ahead and stays there: followed once it held.
        await receive(future, 1)
        jumped = await receive(future + timedelta(seconds=JUMP_SETTLE + 2), JUMP_SETTLE + 1)
        future_day = dt_util.as_local(future).date().isoformat()
        assert jumped == [(today - timedelta(days=1)).isoformat(), today.isoformat(), future_day]
        # ... and comes back: nothing more is deleted, and the future day ages out with real days.
        back = NOW + timedelta(seconds=2 * JUMP_SETTLE + 10)
        await receive(back, 1)
        back += timedelta(seconds=JUMP_SETTLE + 2)
        names = await receive(back, JUMP_SETTLE + 1)
        assert future_day in names
        assert today.isoformat() in names
        for days in (1, 2):
            names = await receive(back + timedelta(days=days), 86400)
        assert future_day not in names
        assert names == [(today + timedelta(days=d)).isoformat() for d in (0, 1, 2)]
        await archive.async_close()


async def test_a_day_the_clock_came_back_to_is_added_to_its_compressed_file(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    day = tmp_path / "2026-11-25.p1a"
    day.write_bytes(encode_record(NOW, b"first"))
    await hass.async_add_executor_job(compress_file, day, tmp_path / "2026-11-25.p1a.gz")
    day.write_bytes(encode_record(NOW, b"second"))
    await hass.async_add_executor_job(compress_file, day, tmp_path / "2026-11-25.p1a.gz")
    records, torn = await hass.async_add_executor_job(read_records, tmp_path / "2026-11-25.p1a.gz")
    assert ([data for _, data in records], torn) == ([b"first", b"second"], 0)


async def test_retention_and_compression(hass: HomeAssistant) -> None:
    archive = Archive(hass, "entry", retention_days=3)
    archive.directory.mkdir(parents=True)
    today = date(2026, 11, 26)
    for days in range(6):
        day = today - timedelta(days=days)
        (archive.directory / f"{day.isoformat()}.p1a").write_bytes(encode_record(NOW, b"x"))
    await hass.async_add_executor_job(archive.finish_days, today)
    removed = await hass.async_add_executor_job(archive.prune, today)
    names = sorted(p.name for p in await hass.async_add_executor_job(archive.files))
    assert names == ["2026-11-24.p1a.gz", "2026-11-25.p1a.gz", "2026-11-26.p1a"]
    assert len(removed) == 3
    records, torn = await hass.async_add_executor_job(
        read_records, archive.directory / "2026-11-25.p1a.gz"
    )
    assert (len(records), torn) == (1, 0)


# --- private files ------------------------------------------------------------------------------


async def test_archive_and_exports_are_private(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path, 2)
    archive = entry.runtime_data.archive
    assert archive is not None
    result = await export(hass, config_entry_id=entry.entry_id, include_repaired_log=True)
    await hass.async_add_executor_job(archive.finish_days, date(2099, 1, 1))
    top = Path(hass.config.path(DOMAIN))
    folders = [top, top / "archive", archive.directory, top / "exports"]
    files = [*archive.directory.iterdir(), *(Path(p) for p in result["files"].values())]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {"0o700"}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {"0o600"}
    assert any(p.name.endswith(".p1a.gz") for p in files)
    assert await hass.config_entries.async_unload(entry.entry_id)


# --- full and read-only disks -------------------------------------------------------------------


async def test_disk_guard(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path, 2)
    archive = entry.runtime_data.archive
    assert archive is not None
    await archive.async_flush()
    issues = ir.async_get(hass)
    with (
        patch("custom_components.p1_dsmr.archive.shutil.disk_usage") as usage,
        patch("custom_components.p1_dsmr.archive.DISK_CHECK_INTERVAL", 0.05),
    ):
        usage.return_value = type("Usage", (), {"free": 0})()
        entry.runtime_data.feed(telegrams("hu_sanxing", 7)[6])
        await archive.async_flush()
        assert issues.async_get_issue(DOMAIN, f"archive_disk_full_{entry.entry_id}") is not None
        written = archive.written
        entry.runtime_data.feed(b"more")
        await archive.async_flush()
        assert archive.written == written  # nothing written while the disk is full
        assert archive.bytes_not_archived == len(telegrams("hu_sanxing", 7)[6]) + 4  # but counted
        usage.return_value = type("Usage", (), {"free": 10**12})()
        await wait_for(
            hass,
            lambda: issues.async_get_issue(DOMAIN, f"archive_disk_full_{entry.entry_id}") is None,
        )
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_real_full_disk_loses_only_what_did_not_fit(
    hass: HomeAssistant, tmp_path: Path, config_dir: Path
) -> None:
    data = telegrams("hu_sanxing", 45)
    size = len(data[0])
    assert {len(t) for t in data} == {size}
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    with (
        tmpfs(config_dir / DOMAIN, 64 * 1024),
        patch.object(archive_module, "MIN_FREE_BYTES", 0),  # let the disk really fill up
        patch.object(archive_module, "DISK_CHECK_INTERVAL", 0.05),
    ):
        path = tmp_path / "meter.log"
        path.write_bytes(data[0])
        entry = await setup_file(hass, path, HU_ID)
        coordinator = entry.runtime_data
        archive = coordinator.archive
        assert archive is not None
        issues = ir.async_get(hass)
        issue_id = f"archive_disk_full_{entry.entry_id}"
        filler = config_dir / DOMAIN / "filler"
        filler.write_bytes(b"\x00" * 20 * 1024)
        fed = 0
        for telegram in data[1:41]:
            coordinator.feed(telegram)
            fed += 1
            await archive.async_flush()
            if issues.async_get_issue(DOMAIN, issue_id) is not None:
                break
        assert issues.async_get_issue(DOMAIN, issue_id) is not None  # ENOSPC: the disk is full
        coordinator.feed(data[41])  # received while the disk is full: counted, not archived
        await archive.async_flush()
        filler.unlink()  # space is freed: the archive goes on by itself
        await wait_for(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is None)
        for telegram in data[42:]:  # archived again
            coordinator.feed(telegram)
        fed += 4
        await archive.async_flush()
        result = await export(
            hass,
            config_entry_id=entry.entry_id,
            directory=str(tmp_path / "out"),
            include_repaired_log=True,
        )
    exported = await hass.async_add_executor_job(Path(result["files"]["repaired"]).read_bytes)
    for telegram in data[42:]:  # appended after the torn record: found again
        assert telegram in exported
    lost = archive.bytes_not_archived - size
    assert lost > 0
    # Every telegram but those that did not fit (the one torn by ENOSPC included) and those
    # received while the disk was full, which are counted: none lost silently, none hidden.
    assert lost % size == 0
    assert archive.bytes_not_archived == lost + size
    assert result["telegrams"] == result["valid"] == fed - lost // size - 1
    assert result["torn_records"] <= 1
    assert result["bytes_not_archived"] == lost + size
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_read_only_archive_is_reported_as_such(
    hass: HomeAssistant, tmp_path: Path, config_dir: Path
) -> None:
    with tmpfs(config_dir / DOMAIN, 64 * 1024, readonly=True):
        entry = await live_entry(hass, tmp_path, 2)
        archive = entry.runtime_data.archive
        assert archive is not None
        await archive.async_flush()
        issues = ir.async_get(hass)
        issue = issues.async_get_issue(DOMAIN, f"archive_not_writable_{entry.entry_id}")
        assert issue is not None
        assert "Read-only file system" in (issue.translation_placeholders or {})["error"]
        assert issues.async_get_issue(DOMAIN, f"archive_disk_full_{entry.entry_id}") is None
        assert archive.bytes_not_archived > 0
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_failing_write_is_counted(hass: HomeAssistant, tmp_path: Path) -> None:
    entry = await live_entry(hass, tmp_path, 2)
    archive = entry.runtime_data.archive
    assert archive is not None

    def broken(*args: object) -> int:
        raise OSError(errno.EIO, "Input/output error")

    await archive.async_flush()
    with patch("custom_components.p1_dsmr.archive.append_records", broken):
        entry.runtime_data.feed(b"lost bytes")
        await archive.async_flush()
    assert archive.bytes_not_archived == len(b"lost bytes")
    assert archive.stopped == "not_writable"
    assert await hass.config_entries.async_unload(entry.entry_id)


# --- nothing dropped silently -------------------------------------------------------------------


async def test_a_file_growing_faster_than_the_disk_loses_nothing(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    count = 4000  # about 3.6 MB appended at once: several reads of 1 MiB before a flush
    data = telegrams("nl_dsmr5", count + 1)
    path = tmp_path / "meter.log"
    path.write_bytes(data[0])
    entry = await setup_file(hass, path, "E0044007382246019")
    hass.config_entries.async_update_entry(entry, options={CONF_UPDATE_INTERVAL: 3600})
    await hass.async_block_till_done()
    await wait_for(hass, lambda: entry.state is ConfigEntryState.LOADED and entry.runtime_data.data)
    coordinator = entry.runtime_data
    with path.open("ab") as handle:
        handle.write(b"".join(data[1:]))
    await wait_for(hass, lambda: coordinator.decoder.stats.valid >= count + 1, timeout=60)
    result = await export(hass, config_entry_id=entry.entry_id)
    assert result["telegrams"] == result["valid"] == count  # all appended, none dropped
    assert result["bytes_not_archived"] == 0
    assert await hass.config_entries.async_unload(entry.entry_id)


@patch("custom_components.p1_dsmr.link.LINK_PACE", 0.05)  # the link sensors' pace
async def test_a_stream_faster_than_the_disk_is_counted_where_users_see_it(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    entry = await live_entry(hass, tmp_path, 2)
    coordinator = entry.runtime_data
    archive = coordinator.archive
    assert archive is not None
    noise = os.urandom(4096)
    with (
        patch.object(archive_module, "MAX_PENDING", 64 * 1024),
        patch("custom_components.p1_dsmr.coordinator.LINK_UPDATE_INTERVAL", 0.05),
    ):
        async with archive._write_lock:  # the disk is stuck
            for _ in range(40):
                coordinator.feed(noise)
        await archive.async_flush()
        lost = archive.bytes_not_archived
        assert lost > 0
        sensor = "sensor.electricity_meter_bytes_not_archived"
        await wait_for(hass, lambda: state(hass, sensor) == str(lost))
    result = await export(hass, config_entry_id=entry.entry_id)
    assert result["bytes_not_archived"] == lost
    assert await hass.config_entries.async_unload(entry.entry_id)


def test_archive_files_of_a_missing_directory(tmp_path: Path) -> None:
    assert archive_files(tmp_path / "nowhere") == []


def test_append_records_creates_private_files(tmp_path: Path) -> None:
    path = tmp_path / "day.p1a"
    path.write_bytes(b"")
    path.chmod(0o644)  # written by an older version
    assert append_records(path, [encode_record(NOW, b"x")]) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_records(path)[0][0][1] == b"x"


def test_records_of_the_first_format_and_odd_files(tmp_path: Path) -> None:
    # Records written by the first version (P1A1: one CRC over time, length and data) are read,
    # and found again after damage like the others.
    def first_format(data: bytes) -> bytes:
        head = struct.pack("<4sqI", b"P1A1", int(NOW.timestamp() * 1_000_000), len(data))
        return head + data + struct.pack("<I", zlib.crc32(head[4:] + data))

    path = tmp_path / "old.p1a"
    path.write_bytes(first_format(b"one") + first_format(b"two")[:9] + first_format(b"three"))
    records, torn = read_records(path)
    assert ([data for _, data in records], torn) == ([b"one", b"three"], 1)
    assert records[0][0] == NOW
    # A receive time no clock can show, a length beyond any record: not records.
    absurd = struct.pack("<4sqI", MAGIC, 2**62, 1)
    absurd += struct.pack("<I", zlib.crc32(absurd)) + b"x"
    absurd += struct.pack("<I", zlib.crc32(b"x", zlib.crc32(absurd[:16])))
    path.write_bytes(absurd + first_format(b"four")[:4] + struct.pack("<qI", 0, 1 << 30))
    assert read_records(path) == ([], 1)
    # Two gzip members (a day the clock came back to), then a corrupt one.
    gz = tmp_path / "day.p1a.gz"
    gz.write_bytes(
        gzip.compress(encode_record(NOW, b"a"))
        + gzip.compress(encode_record(NOW, b"b"))
        + b"\x1f\x8bjunk"
    )
    records, torn = read_records(gz)
    assert ([data for _, data in records], torn) == ([b"a", b"b"], 1)


def test_writing_errors(tmp_path: Path) -> None:
    with pytest.raises(ArchiveWriteError) as error:
        append_records(tmp_path / "missing" / "day.p1a", [encode_record(NOW, b"x")])
    assert error.value.written == 0
    with pytest.raises(FileNotFoundError):
        compress_file(tmp_path / "missing.p1a", tmp_path / "missing.p1a.gz")
    assert not list(tmp_path.glob("*.part"))  # no partial file left
