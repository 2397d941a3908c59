"""The decoding pipeline: one result per telegram, with status and reason."""

from __future__ import annotations

from p1lib.decoder import Decoder, Status, suspicious_bytes

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
