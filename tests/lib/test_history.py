"""Reading a meter's past: logs, compressed logs and records CSVs into hourly aggregates."""

from __future__ import annotations

import gzip
import io
import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from p1lib.converter import ConvertOptions, convert_stream
from p1lib.decoder import Decoder
from p1lib.faults import inject
from p1lib.generator import MeterSimulator, putty_header
from p1lib.history import (
    GAS_KEY,
    Cancelled,
    EmptyWindow,
    NoTelegram,
    OtherMeter,
    read_history,
    read_history_file,
)
from p1lib.hourly import HOUR, History

START = datetime(2024, 10, 26, 20, 0, 0)  # CEST, the night before the clocks go back


def make_log(
    style: str = "nl_dsmr5", count: int = 4 * 3600, seed: int = 5, start: datetime = START
) -> bytes:
    sim = MeterSimulator(style, seed=seed, solar=True, start=start)
    return putty_header(sim.now) + b"".join(sim.telegrams(count))


@pytest.fixture(scope="module")
def dsmr5_log() -> bytes:
    """Four hours of a Dutch DSMR 5 meter (a telegram a second, gas every five minutes)."""
    return make_log()


def readings(log: bytes, code: str) -> list[tuple[float, float]]:
    """(time, value) of a code in every accepted telegram, decoded independently."""
    decoder = Decoder()
    out = []
    for result in decoder.feed(log) + decoder.flush():
        telegram = result.telegram
        if result.accepted and telegram is not None and telegram.timestamp is not None:
            value = telegram.number(code)
            if value is not None:
                out.append((telegram.timestamp.timestamp(), value))
    return out


def last_per_hour(points: list[tuple[float, float]]) -> dict[int, float]:
    hours: dict[int, float] = {}
    for when, value in points:
        hours[int(when // HOUR) * HOUR] = value
    return hours


def test_hourly_energy_is_the_counters_difference(dsmr5_log: bytes) -> None:
    history = read_history(io.BytesIO(dsmr5_log))
    for key, code in (("energy_import_t1", "1-0:1.8.1"), ("energy_export_t1", "1-0:2.8.1")):
        truth = last_per_hour(readings(dsmr5_log, code))
        hours = list(history.series[key].counters())
        assert [h.start for h in hours] == sorted(truth)
        first_reading = readings(dsmr5_log, code)[0][1]
        previous_last, previous_sum = first_reading, 0.0
        for hour in hours:
            assert hour.last == truth[hour.start]
            assert hour.sum_last - previous_sum == pytest.approx(hour.last - previous_last)
            previous_last, previous_sum = hour.last, hour.sum_last
    stats = history.stats
    assert stats.meter == "E0044007382246019"
    assert stats.telegrams == stats.valid == stats.aggregated == 4 * 3600
    assert stats.first == datetime(2024, 10, 26, 18, 0, tzinfo=UTC)
    assert history.mbus_kinds == {1: "gas"}
    assert history.series["mbus1_mbus_reading"].counter


def test_measurements_per_hour(dsmr5_log: bytes) -> None:
    history = read_history(io.BytesIO(dsmr5_log))
    points = readings(dsmr5_log, "1-0:32.7.0")
    for hour in history.series["voltage_l1"].means():
        inside = [v for t, v in points if hour.start <= t < hour.start + HOUR]
        assert hour.min == min(inside)
        assert hour.max == max(inside)
        assert hour.mean == pytest.approx(sum(inside) / len(inside), rel=1e-4)
    assert not history.series["voltage_l1"].counter
    for derived in ("derived:net_power", "derived:net_power_l1", "derived:current_l1"):
        assert len(history.series[derived]) == 4


def test_the_night_the_clocks_go_back_has_every_utc_hour_once() -> None:
    # 22:00 CEST to 03:30 CET: the meter's S/W flag places each telegram.
    log = make_log("hu_sanxing", count=6 * 360, start=datetime(2024, 10, 26, 22, 0, 0))
    history = read_history(io.BytesIO(log))
    starts = [h.start for h in history.series["voltage_l1"].means()]
    assert starts == sorted(set(starts))
    assert history.stats.out_of_order == 0


def test_a_compressed_log_gives_the_same(dsmr5_log: bytes, tmp_path: Path) -> None:
    plain = tmp_path / "meter.log"
    plain.write_bytes(dsmr5_log)
    packed = tmp_path / "meter.log.gz"
    packed.write_bytes(gzip.compress(dsmr5_log))
    fractions: list[float] = []
    a = read_history_file(plain)
    b = read_history_file(packed, progress=fractions.append)
    assert b.stats.format == "gzip log"
    assert list(a.series["energy_import_t1"].counters()) == list(
        b.series["energy_import_t1"].counters()
    )
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0


def test_a_compressed_log_cut_short_gives_what_it_had(dsmr5_log: bytes, tmp_path: Path) -> None:
    packed = gzip.compress(dsmr5_log)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(packed[: len(packed) // 2])
    history = read_history_file(path)
    assert history.stats.truncated
    assert 0 < history.stats.aggregated < 4 * 3600


@pytest.mark.parametrize(("delimiter", "decimal"), [(",", "."), (";", ","), ("\t", ".")])
def test_a_records_csv_gives_what_its_log_gives(
    dsmr5_log: bytes, delimiter: str, decimal: str
) -> None:
    records = io.StringIO()
    options = ConvertOptions(delimiter=delimiter, decimal=decimal)
    convert_stream(io.BytesIO(dsmr5_log), "x", records, io.StringIO(), io.StringIO(), None, options)
    from_log = read_history(io.BytesIO(dsmr5_log))
    from_csv = read_history(io.BytesIO(records.getvalue().encode()), records_csv=True)
    assert from_csv.stats.format == "records csv"
    assert from_csv.stats.valid == 4 * 3600
    assert from_csv.stats.meter is None
    for key in ("energy_import_t1", "energy_export_t2"):
        assert list(from_csv.series[key].counters()) == list(from_log.series[key].counters())
    for key in ("voltage_l1", "power_import_l2", "derived:net_power_l1", "derived:current_l3"):
        csv_hours = list(from_csv.series[key].means())
        log_hours = list(from_log.series[key].means())
        assert [h.start for h in csv_hours] == [h.start for h in log_hours]
        for field in ("mean", "min", "max"):  # the CSV's derived values have three decimals
            assert [getattr(h, field) for h in csv_hours] == pytest.approx(
                [getattr(h, field) for h in log_hours], abs=1e-3
            ), (key, field)
    gas = list(from_csv.series[GAS_KEY].counters())
    assert gas == list(from_log.series["mbus1_mbus_reading"].counters())


def test_a_records_csv_file_is_recognised(dsmr5_log: bytes, tmp_path: Path) -> None:
    records = io.StringIO()
    convert_stream(
        io.BytesIO(dsmr5_log[: 200 * 900]),
        "x",
        records,
        io.StringIO(),
        io.StringIO(),
        None,
        ConvertOptions(),
    )
    path = tmp_path / "meter.records.csv.gz"
    # A damaged row and a rejected one are skipped.
    text = records.getvalue() + "garbage,valid\n" + "2024-10-26T22:00:00+02:00,invalid" + "," * 70
    path.write_bytes(gzip.compress(("\ufeff" + text + "\n").encode()))
    history = read_history_file(path, meter="some other meter")  # a CSV names no meter
    assert history.stats.format == "gzip records csv"
    assert history.stats.bad_rows == 1
    assert history.stats.invalid == 1
    assert history.stats.aggregated > 100


def test_damaged_telegrams_are_repaired_and_counted() -> None:
    sim = MeterSimulator("hu_sanxing", seed=9, solar=True, start=START)
    rng = random.Random(9)
    parts = []
    for index, telegram in enumerate(sim.telegrams(2000)):
        parts.append(inject(telegram, "bit_loss", rng) if index % 97 == 50 else telegram)
    history = read_history(io.BytesIO(b"".join(parts)))
    stats = history.stats
    assert stats.repaired + stats.invalid == 21
    assert stats.repaired >= 15
    assert stats.aggregated == stats.accepted == 2000 - stats.invalid
    assert history.series["energy_import"].resets == 0


def test_another_meters_log_is_refused(dsmr5_log: bytes) -> None:
    with pytest.raises(OtherMeter) as raised:
        read_history(io.BytesIO(dsmr5_log), meter="AUX1030302759988")
    assert raised.value.found == "E0044007382246019"
    assert raised.value.expected == "AUX1030302759988"
    # A log that changes meter part way is refused too.
    mixed = dsmr5_log[:100_000] + make_log("hu_sanxing", count=20, start=START + timedelta(hours=5))
    with pytest.raises(OtherMeter):
        read_history(io.BytesIO(mixed), meter="E0044007382246019")


def test_nothing_accepted_and_an_empty_window_are_errors(dsmr5_log: bytes) -> None:
    with pytest.raises(NoTelegram):
        read_history(io.BytesIO(b"=~=~= PuTTY log =~=~=\r\n" + bytes(range(256)) * 50))
    with pytest.raises(NoTelegram):
        read_history(io.BytesIO(b""), records_csv=True)
    later = datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(EmptyWindow):
        read_history(io.BytesIO(dsmr5_log), start=later)
    window = read_history(
        io.BytesIO(dsmr5_log),
        start=datetime(2024, 10, 26, 19, 30, tzinfo=UTC),
        end=datetime(2024, 10, 26, 20, 0, 1, tzinfo=UTC),
    )
    assert [h.start for h in window.series["voltage_l1"].means()] == [
        int(datetime(2024, 10, 26, 19, tzinfo=UTC).timestamp()),
        int(datetime(2024, 10, 26, 20, tzinfo=UTC).timestamp()),
    ]


def test_reading_can_be_cancelled(dsmr5_log: bytes) -> None:
    with pytest.raises(Cancelled):
        read_history(io.BytesIO(dsmr5_log), cancel=lambda: True)


def test_an_unreadable_path_raises(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        read_history_file(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_history_file(tmp_path / "missing.log")
    broken = tmp_path / "broken.log.gz"
    broken.write_bytes(b"\x1f\x8b" + b"\x00" * 100)
    with pytest.raises(OSError):  # noqa: PT011 (BadGzipFile or EOFError: both unreadable)
        read_history_file(broken)


def test_telegrams_without_a_clock_are_counted() -> None:
    from tests.lib.builders import telegram

    log = telegram("1-0:1.8.1(000123.456*kWh)", "1-0:32.7.0(230.0*V)") * 3
    with pytest.raises(NoTelegram):
        read_history(io.BytesIO(log))


def test_the_shared_real_logs_and_telegrams(samples: Path) -> None:
    for path in sorted((samples / "logs").glob("*.log")):
        if "stripped" in path.name:  # the terminal dropped bytes: nothing verifies
            with pytest.raises(NoTelegram):
                read_history_file(path)
            continue
        history = read_history_file(path)
        stats = history.stats
        assert stats.meter == "AUX1030302759988"
        assert stats.aggregated == stats.accepted > 50, path.name
        for series in history.series.values():
            if series.counter:
                hours = list(series.counters())
                assert all(b.sum_last >= a.sum_last for a, b in itertools.pairwise(hours))
    aggregated = 0
    for path in sorted((samples / "telegrams").iterdir()):
        if path.suffix == ".json":
            continue
        try:
            history = read_history_file(path)
        except NoTelegram:
            continue  # no CRC and a damaged line, or no clock (DSMR 2.2, Q3D)
        aggregated += history.stats.aggregated
        assert history.series, path.name
    assert aggregated >= 50


def _history_keys(history: History) -> set[str]:
    return set(history.series)


def test_every_style_gives_its_values() -> None:
    expected = {
        "hu_sanxing": {"energy_import", "energy_import_t4", "power_factor_l2", "frequency"},
        "hu_sagemcom": {"energy_export", "current_limit_l1", "derived:current_l1"},
        "nl_dsmr4": {"energy_import_t2", "mbus1_mbus_reading", "derived:net_power_l3"},
        "be_fluvius": {"demand_current_quarter", "current_l1", "mbus1_mbus_reading"},
    }
    for style, keys in expected.items():
        history = read_history(io.BytesIO(make_log(style, count=50)))
        assert keys <= _history_keys(history), style


def test_a_water_meter_on_its_own_channel() -> None:
    from tests.lib.builders import telegram

    log = b"".join(
        telegram(
            f"0-0:1.0.0(2401081{minute // 60}{minute % 60:02d}00W)",
            "0-0:96.1.1(4530303434303037333832323436303139)",
            f"1-0:1.8.1({1000 + minute / 100:010.3f}*kWh)",
            "0-2:24.1.0(007)",
            f"0-2:24.2.1(2401081{minute // 60}{minute % 60:02d}00W)({12.5 + minute / 1000:09.3f}*m3)",
        )
        for minute in range(0, 120, 5)
    )
    history = read_history(io.BytesIO(log), meter="E0044007382246019")
    assert history.mbus_kinds == {2: "water"}
    hours = list(history.series["mbus2_mbus_reading"].counters())
    assert [h.last for h in hours] == [12.555, 12.615]
    assert hours[-1].sum_last == pytest.approx(0.115)


# --- hostile records CSVs and files (found from outside) -----------------------------------------


def _csv(*rows: str) -> io.BytesIO:
    return io.BytesIO(
        ("timestamp,status,voltage_l1_v\n" + "".join(r + "\n" for r in rows)).encode()
    )


def test_numbers_no_meter_sends_are_bad_rows_not_statistics() -> None:
    history = read_history(
        _csv(
            "2024-01-08T01:10:00+01:00,valid,230",
            "2024-01-08T01:20:00+01:00,valid,nan",
            "2024-01-08T02:20:00+01:00,valid,inf",
            "2024-01-08T03:20:00+01:00,valid,-1e999",
            "2024-01-08T03:30:00+01:00,valid,231",
        ),
        records_csv=True,
    )
    hours = list(history.series["voltage_l1"].means())
    assert [(h.min, h.max) for h in hours] == [(230.0, 230.0), (231.0, 231.0)]
    assert history.stats.bad_rows == 3


def test_a_header_that_is_no_records_csv_is_refused_without_a_traceback() -> None:
    for header in (b'timestamp"status"voltage_l1_v\n', b"timestamp\rstatus\n", b"timestamp\n"):
        with pytest.raises(NoTelegram):
            read_history(
                io.BytesIO(header + b"2024-01-08T01:10:00+01:00,valid,230\n"), records_csv=True
            )


def test_a_line_without_end_costs_a_chunk_not_the_file() -> None:
    # 8 MiB without a line end between two good rows: one bad row, the rows around it read.
    data = (
        b"timestamp,status,voltage_l1_v\n2024-01-08T01:10:00+01:00,valid,230\n"
        + b"2" * (8 << 20)
        + b"\n2024-01-08T02:10:00+01:00,valid,232\n"
    )
    history = read_history(io.BytesIO(data), records_csv=True)
    assert [h.max for h in history.series["voltage_l1"].means()] == [230.0, 232.0]
    assert history.stats.bad_rows == 1


def test_a_time_without_offset_is_the_meters_local_time() -> None:
    data = _csv("2024-01-08 01:10:00,valid,230")
    budapest = read_history(data, records_csv=True, default_zone="Europe/Budapest")
    start = next(budapest.series["voltage_l1"].means()).start
    assert datetime.fromtimestamp(start, UTC) == datetime(2024, 1, 8, 0, 0, tzinfo=UTC)
    data.seek(0)
    london = read_history(data, records_csv=True, default_zone="Europe/London")
    assert next(london.series["voltage_l1"].means()).start == start + 3600


def test_a_pipe_is_refused_at_once(tmp_path: Path) -> None:
    import os

    pipe = tmp_path / "meter.log"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file"):
        read_history_file(pipe)
