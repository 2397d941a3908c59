"""Real-world telegrams and logs from ../shared/samples (skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

from p1lib.decoder import Decoder, Status


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
