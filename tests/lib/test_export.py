"""The records CSV, the validity CSV and the error log."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib.decoder import Decoder
from p1lib.derived import DerivedCalculator
from p1lib.export import (
    RECORD_COLUMNS,
    VALIDITY_COLUMNS,
    ErrorLogWriter,
    RecordsWriter,
    ValidityWriter,
)
from p1lib.generator import MeterSimulator, putty_header

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
