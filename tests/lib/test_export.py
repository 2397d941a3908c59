"""The records CSV, the validity CSV and the error log."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib.converter import ConvertOptions, convert_stream
from p1lib.decoder import Decoder
from p1lib.derived import DerivedCalculator
from p1lib.export import RECORD_COLUMNS, RecordsWriter
from p1lib.generator import MeterSimulator, putty_header
from p1lib.validity import VALIDITY_COLUMNS, ErrorLogWriter, ValidityWriter

from .builders import hungarian, telegram


def run(log: bytes, delimiter: str = ",", decimal: str = ".") -> tuple[str, str, str]:
    decoder = Decoder()
    derived = DerivedCalculator()
    records, validity, errors = io.StringIO(), io.StringIO(), io.StringIO()
    rw = RecordsWriter(records, delimiter, decimal)
    vw = ValidityWriter(validity, delimiter)
    ew = ErrorLogWriter(errors, "test.log")
    for result in decoder.feed(log) + decoder.flush():
        vw.write(result)
        ew.write(result)
        if result.accepted and result.telegram is not None:
            rw.write(result, derived.update(result.telegram))
    ew.trailer(decoder.stats, decoder.framer.noise_bytes, decoder.framer.bytes_in, 0.5)
    return records.getvalue(), validity.getvalue(), errors.getvalue()


def test_records_header_units_and_values() -> None:
    sim = MeterSimulator("nl_dsmr5", seed=5)
    records, _, _ = run(b"".join(sim.telegrams(3)))
    rows = list(csv.DictReader(io.StringIO(records)))
    assert len(rows) == 3
    header = next(csv.reader(io.StringIO(records)))
    assert header[:2] == ["timestamp", "status"]
    assert header[-2:] == ["gas_m3", "gas_time"]
    assert len(header) == len(RECORD_COLUMNS) + 4
    assert len(set(header)) == len(header)
    row = rows[1]
    assert row["timestamp"].endswith("+02:00")
    assert row["status"] == "valid"
    assert float(row["voltage_l1_v"]) > 200
    assert row["current_method"] == "p_over_u"
    assert float(row["gas_m3"]) > 1000
    assert row["gas_time"].startswith("2023-05-02T")
    assert row["interval_s"] == "1"
    assert row["energy_import_kwh"] == ""  # NL sends tariffs only


def test_values_are_the_meters_digits() -> None:
    records, _, _ = run(hungarian())
    row = next(csv.DictReader(io.StringIO(records)))
    assert row["energy_import_kwh"] == "6627.966"
    assert row["voltage_l2_v"] == "230.4"
    assert row["current_l2_a"] == "9"
    assert row["power_import_kw"] == "2.476"
    assert row["overvoltage_l1"] == "0"


def test_hungarian_excel_locale() -> None:
    records, validity, _ = run(hungarian(), delimiter=";", decimal=",")
    header, row = records.splitlines()[:2]
    assert ";" in header
    cells = dict(zip(header.split(";"), row.split(";"), strict=True))
    assert cells["energy_import_kwh"] == "6627,966"
    assert cells["timestamp"] == "2023-05-02T21:50:00+02:00"
    assert validity.splitlines()[0] == ";".join(VALIDITY_COLUMNS)


@pytest.mark.parametrize(("delimiter", "decimal"), [("-", "."), (".", ","), (":", ","), ("T", ".")])
def test_any_delimiter_is_quoted_where_a_cell_holds_it(delimiter: str, decimal: str) -> None:
    """Delimiters that can occur in a cell (times hold '-', ':' and 'T') go through csv quoting."""
    log = b"".join(MeterSimulator("nl_dsmr5", seed=2).telegrams(3))
    plain_records, plain_validity, _ = run(log)
    records, validity, _ = run(log, delimiter, decimal)
    for got, plain in ((records, plain_records), (validity, plain_validity)):
        rows = list(csv.reader(io.StringIO(got), delimiter=delimiter))
        expected = list(csv.reader(io.StringIO(plain)))
        assert [[cell.replace(decimal, ".") for cell in row] for row in rows] == expected


def test_delimiter_and_decimal_must_differ() -> None:
    with pytest.raises(ValueError, match="differ"):
        RecordsWriter(io.StringIO(), ",", ",")


def test_validity_row_per_telegram() -> None:
    good = hungarian()
    bad = good.replace(b"234.3", b"2\x134.3")
    _, validity, _ = run(good + bad + good[:500])
    rows = list(csv.DictReader(io.StringIO(validity)))
    assert [r["status"] for r in rows] == ["valid", "invalid", "invalid"]
    assert rows[0]["crc_sent"] == rows[0]["crc_computed"]
    assert rows[1]["crc_sent"] != rows[1]["crc_computed"]
    assert rows[1]["timestamp"] == "2023-05-02T21:50:00+02:00"
    assert rows[1]["detail"].startswith("crc mismatch")
    assert rows[2]["detail"].startswith("truncated")
    assert int(rows[1]["offset"]) == len(good)


def test_error_log() -> None:
    good = hungarian()
    bad = good.replace(b"234.3", b"2\x134.3")
    log = putty_header(MeterSimulator().now) + good + b"\xa3\xf0" + bad
    _, _, errors = run(log)
    assert "a PuTTY log header" in errors
    assert "invalid - crc mismatch" in errors
    assert "suspicious byte 0x13" in errors
    assert "outcome: rejected" in errors
    assert "2 byte(s) of noise: A3 F0" in errors
    assert "telegrams found: 2" in errors
    assert "invalid: 1 (50.000%)" in errors
    assert "rejected for crc mismatch: 1" in errors


def test_unverified_rows_are_written() -> None:
    data = telegram("1-0:1.8.1(00001.001*kWh)", crc=False, header="/ISk5\\2MT382-1004")
    records, validity, _ = run(data)
    assert "unverified" in records
    assert "unverified" in validity


_FLOAT = st.one_of(
    st.none(),
    st.just(0.0),
    st.just(-0.0),
    st.floats(-1e6, 1e6, allow_nan=False),
)


_INTERVAL = st.one_of(st.none(), st.just(0.0), st.floats(-1e6, 1e6, allow_nan=False)).map(
    lambda value: value if value is None else value + 0.0  # as DerivedCalculator makes them
)


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.tuples(_INTERVAL, _FLOAT, _FLOAT, _FLOAT, st.booleans()), max_size=6))
def test_every_derived_cell_is_its_value_formatted(
    values: list[tuple[float | None, float | None, float | None, float | None, bool]],
) -> None:
    """Repeating derived values are looked up, the others formatted: a row reads the same."""
    result = Decoder().feed(hungarian())[0]
    assert result.telegram is not None
    derived = DerivedCalculator().update(result.telegram)
    stream = io.StringIO()
    writer = RecordsWriter(stream)
    expected = []
    for avg, peak, current, max_voltage, flag in values * 2:  # again: values seen before
        row = derived._replace(
            avg_power_net=avg,
            peak_current=peak,
            current_l1=current,
            max_voltage=max_voltage,
            overpower=flag,
        )
        writer.write(result, row)
        expected.append(
            (
                "" if avg is None else f"{avg:.4f}",
                "" if peak is None else f"{peak:.3f}",
                "" if current is None else f"{current:.3f}",
                "" if max_voltage is None else f"{max_voltage:.1f}",
                str(int(flag)),
            )
        )
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    got = [
        (
            r["avg_power_net_kw"],
            r["peak_current_a"],
            r["current_l1_calc_a"],
            r["max_voltage_v"],
            r["overpower"],
        )
        for r in rows
    ]
    assert got == expected


# --- M-Bus meters in the records CSV -------------------------------------------------------

ISKRA_TWO_CHANNELS = (
    "1-3:0.2.8(50)",
    "0-0:1.0.0(200426223325S)",
    "0-0:96.1.1(4530303434303037333832323436303139)",
    "1-0:1.8.1(002130.115*kWh)",
    "1-0:1.8.2(000245.467*kWh)",
    "1-0:2.8.1(000000.000*kWh)",
    "1-0:2.8.2(000000.000*kWh)",
    "0-0:96.14.0(0001)",
    "1-0:1.7.0(00.111*kW)",
    "1-0:2.7.0(00.000*kW)",
    "1-0:32.7.0(229.9*V)",
    "1-0:31.7.0(000*A)",
    "0-1:24.1.0(003)",
    "0-1:96.1.0()",
    "0-1:24.2.1(700101010000W)(00000000)",
    "0-2:24.1.0(003)",
    "0-2:96.1.0(4730303339303031393336393930363139)",
    "0-2:24.2.1(200426223001S)(00246.138*m3)",
)


def iskra(*changes: tuple[int, str]) -> bytes:
    lines = list(ISKRA_TWO_CHANNELS)
    for index, line in changes:
        lines[index] = line
    return telegram(*lines, header="/ISK5\\2M550T-1012")


def test_gas_on_channel_2_behind_an_empty_slot() -> None:
    records, _, _ = run(iskra() + iskra((1, "0-0:1.0.0(200426223326S)")))
    rows = list(csv.DictReader(io.StringIO(records)))
    assert [(r["gas_m3"], r["gas_time"]) for r in rows] == [
        ("246.138", "2020-04-26T22:30:01+02:00")
    ] * 2
    assert list(rows[0])[-2:] == ["gas_m3", "gas_time"]  # no column for the empty slot


def test_several_meters_of_a_kind_and_of_other_kinds() -> None:
    lines = (
        "0-0:96.1.4(50217)",
        "0-0:1.0.0(230119124638W)",
        "1-0:1.8.1(004423.770*kWh)",
        "0-1:24.1.0(003)",
        "0-1:24.2.3(230119124616W)(00734.607*m3)",
        "0-2:24.1.0(007)",
        "0-2:24.2.1(230119124005W)(00012.300*m3)",
        "0-3:24.1.0(003)",
        "0-3:24.2.3(230119124005W)(00000.000*m3)",
        "0-4:24.1.0(004)",
        "0-4:24.2.1(230119120000W)(01234.500*MJ)",
    )
    records, _, _ = run(telegram(*lines, header="/FLU5\\253769484_A"))
    (row,) = csv.DictReader(io.StringIO(records))
    assert list(row)[-8:] == [
        "gas_m3",
        "gas_time",
        "water_m3",
        "water_time",
        "gas2_m3",
        "gas2_time",
        "heat_gj",
        "heat_time",
    ]
    assert (row["gas_m3"], row["water_m3"], row["gas2_m3"], row["heat_gj"]) == (
        "734.607",
        "12.300",  # the meter's digits
        "0.000",
        "1.2345",  # MJ made GJ
    )
    assert row["gas2_time"] == "2023-01-19T12:40:05+01:00"


def test_a_reading_in_dm3_is_converted() -> None:
    sim = MeterSimulator("nl_two_mbus", seed=4)
    records, _, _ = run(b"".join(sim.telegrams(70)))
    rows = list(csv.DictReader(io.StringIO(records)))
    assert list(rows[0])[-4:] == ["gas_m3", "gas_time", "water_m3", "water_time"]
    water = [float(r["water_m3"]) for r in rows]
    assert 80 < water[0] <= water[-1] < 100  # dm3 read as m3
    assert rows[0]["gas_m3"] == "1234.567"


def test_a_meter_that_appears_later_is_noted() -> None:
    without = telegram("0-0:1.0.0(230119124638W)", "1-0:1.8.1(1*kWh)", header="/ISK5")
    with_water = telegram(
        "0-0:1.0.0(230119124648W)",
        "1-0:1.8.1(1*kWh)",
        "0-1:24.1.0(007)",
        "0-1:24.2.1(230119124005W)(00012.300*m3)",
        header="/ISK5",
    )
    records, validity, errors = io.StringIO(), io.StringIO(), io.StringIO()
    convert_stream(
        io.BytesIO(without + with_water), "x", records, validity, errors, None, ConvertOptions()
    )
    rows = list(csv.DictReader(io.StringIO(records.getvalue())))
    assert len(rows) == 2
    assert "water_m3" not in rows[0]
    assert "M-Bus channel 1 (water, 0-1:24.2.1) appeared after the records CSV's columns" in (
        errors.getvalue()
    )


def test_the_header_of_a_log_without_telegrams() -> None:
    stream = io.StringIO()
    writer = RecordsWriter(stream)
    assert stream.getvalue() == ""
    writer.finish()
    writer.finish()
    assert stream.getvalue().splitlines() == [
        ",".join(["timestamp", "status", *(c.name for c in RECORD_COLUMNS), "gas_m3", "gas_time"])
    ]


def test_a_belgian_peak_history_is_read_in_belgian_time() -> None:
    history = (
        "0-0:98.1.0(3)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kW)"
        "(200401000000S)(200305122139S)(05.980*kW)(200301000000S)(200210035421W)(04.318*kW)"
    )
    result = Decoder().feed(
        telegram("0-0:96.1.4(50217)", "0-0:1.0.0(200512135409S)", history, header="/FLU5")
    )[0]
    assert result.telegram is not None
    obj = result.telegram.get("0-0:98.1.0")
    assert obj is not None
    stamps = [v.timestamp.isoformat() for v in obj.values if v.timestamp is not None]
    assert stamps == [
        "2020-05-01T00:00:00+02:00",
        "2020-04-23T19:25:38+02:00",
        "2020-04-01T00:00:00+02:00",
        "2020-03-05T12:21:39+01:00",  # flagged S, but 5 March is winter time
        "2020-03-01T00:00:00+01:00",  # the same
        "2020-02-10T03:54:21+01:00",
    ]


# --- bounded outputs -----------------------------------------------------------------------


def test_runs_of_small_noise_frames_share_a_validity_row() -> None:
    good = hungarian()
    # noise frames: a header after garbage and a line end each (without a line end: noise)
    log = good + b"x/ABC\r\n" * 500 + good + b"x/ABC\r\n" * 3
    decoder = Decoder()
    validity = io.StringIO()
    writer = ValidityWriter(validity)
    results = decoder.feed(log) + decoder.flush()
    for result in results:
        writer.write(result)
    writer.finish()
    rows = list(csv.DictReader(io.StringIO(validity.getvalue())))
    assert [r["status"] for r in rows] == [
        "valid",
        "invalid",
        "invalid",
        "valid",
        "invalid",
        "invalid",
    ]
    assert rows[2]["detail"].startswith(f"{len(results) - 6} small rejected frame(s) in a row")
    assert int(rows[2]["length"]) > 2000
    assert rows[5]["detail"].startswith("2 small rejected frame(s) in a row")
    assert [int(r["index"]) for r in rows] == [
        1,
        2,
        3,
        len(results) - 3,
        len(results) - 2,
        len(results) - 1,
    ]


def test_the_error_log_describes_damaged_telegrams_but_sums_up_noise() -> None:
    good = hungarian()
    bad = good.replace(b"234.3", b"2\x134.3")
    _, _, errors = run(good + bad * 15 + b"x/ABC\r\n" * 100 + good)
    assert errors.count("invalid - crc mismatch") == 15  # telegrams: every one described
    assert errors.count("invalid - truncated") <= 1
    assert "more rejected frame(s) in a row, not described (truncated: " in errors


def test_the_error_log_describes_a_bounded_number(monkeypatch: pytest.MonkeyPatch) -> None:
    import p1lib.validity as validity

    monkeypatch.setattr(validity, "DESCRIBED", 3)
    good = hungarian()
    bad = good.replace(b"234.3", b"2\x134.3")
    _, _, errors = run(good + bad * 6)
    assert errors.count("invalid - crc mismatch") == 3
    assert "3 damaged telegrams described; the others are counted in the summary" in errors
    assert "invalid: 6" in errors


@pytest.mark.parametrize("delimiter", ['"', "\n", "\r", "\x00", "7", ";;", ""])
def test_delimiters_that_cannot_work_are_refused(delimiter: str) -> None:
    with pytest.raises(ValueError, match="delimiter"):
        RecordsWriter(io.StringIO(), delimiter)
    with pytest.raises(ValueError, match="delimiter"):
        ValidityWriter(io.StringIO(), delimiter)


@pytest.mark.parametrize("decimal", ["1", ";", "", ".."])
def test_decimal_marks_other_than_point_and_comma_are_refused(decimal: str) -> None:
    with pytest.raises(ValueError, match="decimal mark"):
        RecordsWriter(io.StringIO(), ";", decimal)


def test_a_rejected_telegram_is_timed_in_the_meters_zone() -> None:
    good = telegram("0-0:1.0.0(240122083011W)", "1-0:23.7.0(00.000*kvar)", header="/ESO5\\0_A")
    bad = good.replace(b"083011W", b"083021W").replace(b"00.000", b"0\x13.000")
    records, validity, errors = io.StringIO(), io.StringIO(), io.StringIO()
    convert_stream(io.BytesIO(good + bad), "x", records, validity, errors, None, ConvertOptions())
    rows = list(csv.DictReader(io.StringIO(validity.getvalue())))
    assert [(r["status"], r["timestamp"]) for r in rows] == [
        ("valid", "2024-01-22T08:30:11+02:00"),
        ("invalid", "2024-01-22T08:30:21+02:00"),  # Lithuanian time, as the meter's valid ones
    ]
    assert "(2024-01-22T08:30:21+02:00): invalid" in errors.getvalue()


def test_the_validity_writers_are_still_found_in_export() -> None:
    import p1lib.export as export
    import p1lib.validity as validity

    assert export.ValidityWriter is validity.ValidityWriter
    assert export.ErrorLogWriter is validity.ErrorLogWriter
    assert export.telegram_time_text is validity.telegram_time_text
    with pytest.raises(AttributeError):
        export.NoSuchThing  # noqa: B018
