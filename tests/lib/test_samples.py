"""Real-world telegrams and logs from ../shared/samples (skipped when absent)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from p1lib.converter import ConvertOptions, convert_stream
from p1lib.decoder import Decoder, Status
from p1lib.export import RECORD_COLUMNS


def decode(data: bytes) -> list:  # type: ignore[type-arg]
    decoder = Decoder()
    return decoder.feed(data) + decoder.flush()


def test_every_crc_ok_telegram_verifies_and_parses_every_line(samples: Path) -> None:
    manifest = json.loads((samples / "telegrams" / "MANIFEST.json").read_text())
    checked = 0
    for name, kind in manifest.items():
        if kind != "crc-ok":
            continue
        data = (samples / "telegrams" / name).read_bytes()
        (result,) = [r for r in decode(data) if r.frame.has_header]
        assert result.status is Status.VALID, name
        telegram = result.telegram
        assert telegram is not None
        body = data[data.index(b"/") : data.rindex(b"!")].split(b"\r\n")
        lines = [line for line in body[1:] if line]
        assert not telegram.unparsed, (name, telegram.unparsed)
        assert len(telegram.objects) == len(lines), name  # no line lost
        checked += 1
    assert checked >= 60


def test_no_crc_telegrams_are_unverified_when_complete(samples: Path) -> None:
    manifest = json.loads((samples / "telegrams" / "MANIFEST.json").read_text())
    accepted = 0
    for name, kind in manifest.items():
        if kind != "no-crc":
            continue
        for result in decode((samples / "telegrams" / name).read_bytes()):
            assert result.status in (Status.VALID, Status.UNVERIFIED, Status.INVALID), name
            accepted += result.accepted
    assert accepted >= 18


def test_streams(samples: Path) -> None:
    results = decode(
        (samples / "telegrams" / "kazhu_hu_AUX_benchmark_STREAM_10_telegrams.txt").read_bytes()
    )
    assert [r.status for r in results] == [Status.VALID] * 10
    results = decode(
        (samples / "telegrams" / "nielsbasjes_ttyUSB0_mini_capture_STREAM.txt").read_bytes()
    )
    assert [r.status for r in results] == [
        Status.INVALID,
        Status.VALID,
        Status.VALID,
        Status.INVALID,
    ]


def test_putty_log_lf_only(samples: Path) -> None:
    results = decode((samples / "logs" / "seed_putty_20230502_lf.log").read_bytes())
    assert len(results) == 1100
    assert sum(r.status is Status.VALID for r in results) == 1099


def test_putty_log_crlf(samples: Path) -> None:
    results = decode((samples / "logs" / "seed_putty_20230502.log").read_bytes())
    assert len(results) == 1100
    assert sum(r.status is Status.VALID for r in results) == 1099
    (bad,) = [r for r in results if r.status is not Status.VALID]
    assert b"230502221520S" in bad.frame.data


def test_stripped_log_yields_nothing_valid(samples: Path) -> None:
    results = decode((samples / "logs" / "seed_putty_20230427_stripped.log").read_bytes())
    assert len(results) > 1000
    assert not any(r.accepted for r in results)


def test_solar_log(samples: Path) -> None:
    results = decode((samples / "logs" / "seed_solar_20230824.log").read_bytes())
    assert [r.status for r in results] == [Status.VALID] * 54


# --- every sample telegram read as an independent reading reads it ---------------------------

_LINE = re.compile(rb"(\d+-\d+:\d+\.\d+\.\d+)(?:[*.]\d+)?((?:\([^()\r\n]*\))+)")
_GROUP = re.compile(rb"\(([^()]*)\)")
_NUMBER = re.compile(rb"[-+]?\d+(?:\.\d+)?")
# Units as a reader would convert them, written here from the units' definitions.
_UNITS = {
    "w": ("kW", 1e-3),
    "kw": ("kW", 1.0),
    "wh": ("kWh", 1e-3),
    "kwh": ("kWh", 1.0),
    "var": ("kvar", 1e-3),
    "kvar": ("kvar", 1.0),
    "varh": ("kvarh", 1e-3),
    "kvarh": ("kvarh", 1.0),
    "va": ("kVA", 1e-3),
    "kva": ("kVA", 1.0),
    "dm3": ("m3", 1e-3),
    "m3": ("m3", 1.0),
    "mj": ("GJ", 1e-3),
    "gj": ("GJ", 1.0),
}


def independent(body: bytes) -> tuple[dict[str, tuple[float, str | None]], dict[str, bytes]]:
    """Numbers (in canonical units) and raw first values of a telegram's lines, by code, read
    with a regular expression: the first line of each code."""
    numbers: dict[str, tuple[float, str | None]] = {}
    firsts: dict[str, bytes] = {}
    for line in body.split(b"\r\n"):
        match = _LINE.fullmatch(line)
        if match is None:
            continue
        code = match[1].decode()
        if code in firsts:
            continue
        groups = _GROUP.findall(match[2])
        firsts[code] = groups[0]
        for group in groups:
            if b"*" in group:
                digits, unit = group.split(b"*", 1)
                if _NUMBER.fullmatch(digits):
                    canonical, scale = _UNITS.get(unit.decode().lower(), (unit.decode(), 1.0))
                    numbers[code] = (float(digits) * scale, canonical)
                break
        else:
            bare = len(groups) == 1 and len(groups[0]) <= 12 and _NUMBER.fullmatch(groups[0])
            if bare and code != "0-0:1.0.0":  # a clock without flag is a time, not a number
                numbers[code] = (float(groups[0]), None)
    return numbers, firsts


def expected_time(raw: bytes, zone: str) -> datetime | None:
    """A meter clock text as local time in ``zone``; the flag picks the repeated autumn hour. An
    impossible date, or a year from 70 on (a clock never set), is no time."""
    text = raw.decode()
    try:
        wall = datetime.strptime(text[:12], "%y%m%d%H%M%S")
    except ValueError:
        return None
    if wall.year >= 2070:
        return None
    first, second = (wall.replace(tzinfo=ZoneInfo(zone), fold=fold) for fold in (0, 1))
    if first.utcoffset() != second.utcoffset() and text[12:].upper() == "W":
        return second
    return first


def sample_telegrams(samples: Path) -> list[tuple[str, bytes]]:
    manifest = json.loads((samples / "telegrams" / "MANIFEST.json").read_text())
    return [(name, (samples / "telegrams" / name).read_bytes()) for name in sorted(manifest)]


def test_every_sample_telegram_reads_as_an_independent_reading(samples: Path) -> None:
    checked = values = 0
    for name, data in sample_telegrams(samples):
        for result in decode(data):
            telegram = result.telegram
            if telegram is None or not result.accepted:
                continue
            numbers, firsts = independent(result.data)
            for code, (number, unit) in numbers.items():
                obj = telegram.get(code)
                assert obj is not None, (name, code)
                assert obj.number == pytest.approx(number, rel=1e-12), (name, code)
                assert obj.unit == unit, (name, code)
                values += 1
            clock = firsts.get("0-0:1.0.0")
            if clock is not None and len(clock) in (12, 13):
                assert telegram.timestamp == expected_time(clock, telegram.clock.name), name
            for code in ("0-0:96.1.1", "0-0:42.0.0", "0-0:96.1.0"):
                raw = firsts.get(code, b"")
                if raw and len(raw) % 2 == 0 and re.fullmatch(rb"[0-9A-Fa-f]+", raw):
                    text = bytes.fromhex(raw.decode()).decode("latin-1")
                    if text.isprintable():
                        assert telegram.get(code).text == text.strip(), (name, code)  # type: ignore[union-attr]
            checked += 1
    assert checked >= 90
    assert values >= 2000


def test_every_sample_telegrams_records_row_holds_its_values(samples: Path) -> None:
    columns = {c.name: c.obis for c in RECORD_COLUMNS if c.obis is not None}
    for name, data in sample_telegrams(samples):
        streams = io.StringIO(), io.StringIO(), io.StringIO()
        convert_stream(io.BytesIO(data), name, *streams, None, ConvertOptions())
        rows = list(csv.DictReader(io.StringIO(streams[0].getvalue())))
        accepted = [r for r in decode(data) if r.accepted and r.telegram is not None]
        assert len(rows) == len(accepted), name
        for row, result in zip(rows, accepted, strict=True):
            numbers, firsts = independent(result.data)
            for column, code in columns.items():
                if code in numbers:
                    assert float(row[column]) == pytest.approx(numbers[code][0]), (name, column)
                elif code not in firsts:
                    assert row[column] == "", (name, column)
            # The gas meter: the first channel whose device type is 3 and whose reading is a
            # volume; empty slots and water meters are not gas.
            gas = ""
            for channel in range(1, 5):
                device = firsts.get(f"0-{channel}:24.1.0", b"")
                reading = next(
                    (
                        numbers[f"0-{channel}:24.2.{e}"]
                        for e in (1, 3)
                        if f"0-{channel}:24.2.{e}" in numbers
                    ),
                    None,
                )
                if device.lstrip(b"0") == b"3" and reading is not None and reading[1] == "m3":
                    gas = f"{reading[0]:.3f}"
                    break
            if gas:
                assert f"{float(row['gas_m3']):.3f}" == gas, name
                assert row["gas_time"], name
