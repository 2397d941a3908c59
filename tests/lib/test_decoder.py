"""The decoding pipeline: one result per telegram, with status and reason."""

from __future__ import annotations

from p1lib.decoder import Decoder, Status, suspicious_bytes
from p1lib.repair import RepairEngine

from .builders import HU_LINES, hungarian, telegram

NL22 = telegram(
    "0-0:96.1.1(00000000000000)",
    "1-0:1.8.1(00001.001*kWh)",
    "0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)",
    "(00001.001)",
    header="/ISk5\\2MT382-1004",
    crc=False,
)


def decode(data: bytes) -> list:  # type: ignore[type-arg]
    decoder = Decoder()
    return decoder.feed(data) + decoder.flush()


def test_valid() -> None:
    data = hungarian()
    (result,) = decode(data)
    assert result.status is Status.VALID
    assert result.accepted
    assert result.data == data
    assert result.crc_sent == result.crc_computed
    assert result.telegram is not None


def test_lf_only_log_is_restored_byte_exact() -> None:
    data = hungarian()
    (result,) = decode(data.replace(b"\r\n", b"\n"))
    assert result.status is Status.VALID
    assert result.data == data


def test_unverified_only_when_every_line_parses() -> None:
    (ok,) = decode(NL22)
    assert ok.status is Status.UNVERIFIED
    assert ok.telegram is not None
    bad = NL22.replace(b"1-0:1.8.1(", b"1-0:1.8.1 (")
    (result,) = decode(bad)
    assert result.status is Status.INVALID
    assert result.reason.startswith("unparseable")


def test_missing_crc_on_a_crc_dialect_is_invalid() -> None:
    data = telegram(*HU_LINES, header="/AUX59902759988", crc=False)
    (result,) = decode(data)
    assert result.status is Status.INVALID
    assert result.reason.startswith("crc missing")
    dsmr5 = telegram("1-3:0.2.8(50)", "1-0:1.7.0(00.100*kW)", crc=False)
    assert decode(dsmr5)[0].status is Status.INVALID


def test_no_crc_after_verified_telegrams_is_invalid() -> None:
    good = telegram("1-0:1.7.0(00.100*kW)")
    results = decode(good + telegram("1-0:1.7.0(00.200*kW)", crc=False))
    assert [r.status for r in results] == [Status.VALID, Status.INVALID]
    assert results[1].reason.startswith("crc missing")


def test_crc_mismatch_reports_suspicious_bytes() -> None:
    data = hungarian().replace(b"1-0:52.7.0(230.4", b"1-0:52.7.0(2\x90.4")
    (result,) = decode(data)
    assert result.status is Status.INVALID
    assert result.reason.startswith("crc mismatch")
    assert result.crc_sent != result.crc_computed
    assert any(byte == 0x90 for _, byte in result.suspicious)
    assert all(byte != 0xFF for _, byte in result.suspicious)  # the provider message is fine


def test_truncated_and_headerless() -> None:
    data = hungarian()
    results = decode(data[100:] + data + data[:300])
    assert [r.status for r in results] == [Status.INVALID, Status.VALID, Status.INVALID]
    assert results[0].reason.startswith("no header")
    assert results[2].reason.startswith("truncated")


def test_crc_field_damaged() -> None:
    data = telegram("1-0:1.7.0(00.100*kW)")
    damaged = data[:-6] + b"&" + data[-5:]
    (result,) = decode(damaged)
    assert result.status is Status.INVALID
    assert result.reason.startswith("crc field damaged")


def test_valid_crc_but_no_header_line() -> None:
    from p1lib.crc import crc16

    body = b"/A\r\n\r\n1-0:1.7.0(00.100*kW)\r\n!"
    (result,) = decode(body + f"{crc16(body):04X}\r\n".encode())
    assert result.status is Status.INVALID
    assert result.reason == "unparseable: header"


def test_stats() -> None:
    decoder = Decoder()
    data = hungarian()
    decoder.feed(data + data[:-6] + b"0000\r\n" + NL22)
    decoder.flush()
    stats = decoder.stats
    assert (stats.telegrams, stats.valid, stats.invalid, stats.unverified) == (3, 1, 2, 0)
    assert stats.by_reason == {"crc mismatch": 1, "crc missing": 1}


def test_suspicious_bytes() -> None:
    assert suspicious_bytes(b"/AB\r\nx\ny\rz\x00") == ((6, 10), (8, 13), (10, 0))
    assert suspicious_bytes(bytes(100), limit=3) == ((0, 0), (1, 0), (2, 0))


def _collision_lines(power: float, volt: float, colon: bool = True) -> tuple[str, ...]:
    return (
        "1-3:0.2.8(50)",
        "0-0:1.0.0(230502215001S)",
        "0-0:96.1.1(4530303434303037333832323436303139)",
        f"1-0:1.7.0({power:06.3f}*kW)",
        f"1-0:32.7.0({volt:05.1f}*V)",
        "1-0:2.8.1(000024.218*kWh)" if colon else "1-02.8.1(000024.218*kWh)",
    )


def test_crc_collision_given_away_by_the_structure() -> None:
    """One damaged telegram in 65,536 still matches its CRC: here a lost ':' (values searched so
    that the damaged bytes have the original's CRC). A meter whose lines all parsed until now
    does not start sending '1-02.8.1': the one repair that parses and reproduces the CRC wins."""
    header = "/ISK5\\2M550T-1012"
    first = telegram(*(line.replace("5001S", "5000S") for line in _collision_lines(1.2, 210.0)),
                     header=header)  # fmt: skip
    original = telegram(*_collision_lines(0.085, 207.1), header=header)
    damaged = telegram(*_collision_lines(0.085, 207.1, colon=False), header=header)
    assert damaged.endswith(original[original.rindex(b"!") :])  # same CRC: a true collision

    plain = Decoder()
    assert plain.feed(first + damaged)[1].status is Status.VALID  # without repair: as received

    decoder = Decoder(repair=RepairEngine())
    results = decoder.feed(first + damaged) + decoder.flush()
    assert results[1].status is Status.REPAIRED
    assert results[1].data == original
    assert results[1].reason.startswith("crc collision")
    assert results[1].telegram is not None
    assert not results[1].telegram.unparsed


def test_a_new_unparsed_line_without_a_repair_is_accepted_as_sent() -> None:
    """A meter may start sending a line this parser does not know: no repair, accepted."""
    first = telegram("0-0:1.0.0(230502215000S)", "1-0:1.8.1(000024.218*kWh)")
    second = telegram("0-0:1.0.0(230502215001S)", "1-0:1.8.1(000024.218*kWh)", "odd line")
    decoder = Decoder(repair=RepairEngine())
    results = decoder.feed(first + second)
    assert len(results) == 1  # a CRC collision is possible: decided with the next telegram
    results += decoder.flush()
    assert results[1].status is Status.VALID
    assert [line for _, line in results[1].telegram.unparsed] == ["odd line"]


def test_without_repair_nothing_waits() -> None:
    data = hungarian()
    decoder = Decoder()
    damaged = data.replace(b"1-0:52.7.0(230.4", b"1-0:52.7.0(2\x90.4")
    (result,) = decoder.feed(damaged)
    assert result.status is Status.INVALID
    assert decoder.pending == 0


def test_meters_without_crc_are_not_held_back() -> None:
    decoder = Decoder(repair=RepairEngine())
    assert [r.status for r in decoder.feed(NL22 + NL22)] == [Status.UNVERIFIED] * 2
    assert decoder.pending == 0


def test_results_in_stream_order_around_a_damaged_telegram() -> None:
    first = telegram("0-0:1.0.0(230502215000S)", "1-0:1.8.1(000024.218*kWh)")
    second = telegram("0-0:1.0.0(230502215010S)", "1-0:1.8.1(000024.219*kWh)")
    third = telegram("0-0:1.0.0(230502215020S)", "1-0:1.8.1(000024.220*kWh)")
    damaged = second.replace(b"1-0:1.8.1(", b"1-0:1.8.1 (")
    decoder = Decoder(repair=RepairEngine())
    assert [r.data for r in decoder.feed(first)] == [first]
    assert decoder.feed(damaged) == []
    assert decoder.pending == 1
    results = decoder.feed(third)
    assert [r.status for r in results] == [Status.REPAIRED, Status.VALID]
    assert [r.data for r in results] == [second, third]
    stats = decoder.stats
    assert (stats.telegrams, stats.valid, stats.repaired) == (3, 2, 1)


def test_unparseable_header_with_a_matching_crc_while_repairing() -> None:
    from p1lib.crc import crc16

    body = b"/A\r\n\r\n1-0:1.7.0(00.100*kW)\r\n!"
    decoder = Decoder(repair=RepairEngine())
    (result,) = decoder.feed(body + f"{crc16(body):04X}\r\n".encode())
    assert result.reason == "unparseable: header"


def test_flush_reports_a_truncated_tail_after_what_waits() -> None:
    first = telegram("0-0:1.0.0(230502215000S)", "1-0:1.8.1(000024.218*kWh)")
    second = telegram("0-0:1.0.0(230502215010S)", "1-0:1.8.1(000024.219*kWh)")
    decoder = Decoder(repair=RepairEngine())
    decoder.feed(first)
    assert decoder.feed(second[:-6] + b"00\r\n") == []  # a CRC digit lost and one wrong
    decoder.feed(second[:40])
    results = decoder.flush()
    assert [r.status for r in results] == [Status.INVALID, Status.INVALID]
    assert results[1].reason.startswith("truncated")
    assert results[0].frame.offset < results[1].frame.offset


def test_a_rejected_frame_does_not_cut_the_wait_short() -> None:
    from p1lib.crc import crc16

    first = telegram("0-0:1.0.0(230502215000S)", "1-0:1.8.1(000024.218*kWh)")
    second = telegram("0-0:1.0.0(230502215010S)", "1-0:1.8.1(000024.219*kWh)")
    third = telegram("0-0:1.0.0(230502215020S)", "1-0:1.8.1(000024.220*kWh)")
    odd = b"/A\r\n\r\n1-0:1.7.0(00.100*kW)\r\n!"
    odd += f"{crc16(odd):04X}\r\n".encode()
    decoder = Decoder(repair=RepairEngine())
    decoder.feed(first)
    assert decoder.feed(second.replace(b"1-0:1.8.1(", b"1-0:1.8.1 (")) == []
    assert decoder.feed(odd) == []  # in order: after the damaged one, which still waits
    results = decoder.feed(third)
    assert [r.status for r in results] == [Status.REPAIRED, Status.INVALID, Status.VALID]
    assert results[0].data == second
    assert results[1].reason == "unparseable: header"


def test_every_dialect_that_sends_a_crc_is_known() -> None:
    """F8: a Lithuanian (ESO) or Austrian (EST) telegram whose CRC was lost is damaged, not a
    meter without CRC (its digits may be damaged too: 9360.152 kWh for 360.152); so is any
    telegram with a DSMR version line, whatever its digits say."""
    lines = ("0-0:1.0.0(240214101735W)", "1-0:1.8.0(009360.152*kWh)", "1-0:32.7.0(230.1*V)")
    for header in ("/ESO5\\000000000_A", "/EST5\\253710000_A"):
        (result,) = decode(telegram(*lines, header=header, crc=False))
        assert result.status is Status.INVALID, header
        assert result.reason.startswith("crc missing")
    (result,) = decode(telegram("1-3:0.2.8(10)", *lines, crc=False))
    assert result.status is Status.INVALID
    # Meters that send none: DSMR 2.2/3.0 (no version line) and Q3D stay unverified.
    assert decode(NL22)[0].status is Status.UNVERIFIED
    q3d_lines = ("1-0:1.8.0(00001234.5678*kWh)", "1-0:96.5.5(80)")
    q3d = telegram(*q3d_lines, header="/ESY5Q3DA1004 V3.04", crc=False)
    assert decode(q3d)[0].status is Status.UNVERIFIED
