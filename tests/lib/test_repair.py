"""The repair engine: recovers damaged telegrams, never accepts a wrong one."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from p1lib.crc import crc16
from p1lib.decoder import Decoder, DecodeResult, Status
from p1lib.faults import FAULTS, inject, same_telegram
from p1lib.generator import STYLES, MeterSimulator
from p1lib.parsing import Parser, Telegram
from p1lib.repair import RepairEngine


def stream(style: str, seed: int, count: int = 3) -> list[bytes]:
    return list(MeterSimulator(style, seed=seed, solar=True).telegrams(count))


def decode(*telegrams: bytes) -> list[DecodeResult]:
    decoder = Decoder(repair=RepairEngine())
    results: list[DecodeResult] = []
    for telegram in telegrams:
        results += decoder.feed(telegram)
    return results + decoder.flush()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(STYLES),
    st.sampled_from(sorted(FAULTS)),
    st.integers(0, 10_000),
)
@example("nl_dsmr5", "crc_field", 222)  # "083A" arrives as "83A": the same telegram, accepted
def test_never_accepts_a_wrong_telegram(style: str, fault: str, seed: int) -> None:
    first, original, after = stream(style, seed)
    damaged = inject(original, fault, random.Random(seed))
    results = decode(first, damaged, after)
    for result in results:
        if result.accepted:
            assert any(same_telegram(result.data, sent) for sent in (first, original, after))
    assert results[0].status is Status.VALID
    assert results[-1].data == after  # the next telegram is never swallowed


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    "fault", ["bit_loss", "slash_garbage", "drop", "insert", "duplicate", "line_end", "message"]
)
def test_single_faults_are_recovered(style: str, fault: str) -> None:
    rng = random.Random(f"{style}{fault}")
    recovered = 0
    for seed in range(12):
        first, original, _ = stream(style, seed)
        results = decode(first, inject(original, fault, rng))
        repaired = [r for r in results[1:] if r.accepted]
        if repaired and repaired[0].data == original:
            recovered += 1
            result = repaired[0]
            assert result.status is Status.REPAIRED
            assert result.repair is not None
            assert result.repair.candidates >= 1
            assert result.repair.changes
            assert result.telegram is not None
    assert recovered >= 11


def test_reports_what_was_done() -> None:
    first, original, _ = stream("hu_sanxing", 1)
    position = original.index(b"1-0:32.7.0")
    damaged = original[:position] + b" " + original[position + 1 :]  # '1' lost bits
    result = decode(first, damaged)[1]
    assert result.status is Status.REPAIRED
    assert result.repair is not None
    assert result.repair.method.startswith("align")
    (change,) = result.repair.changes
    assert (change.position, change.before, change.after) == (position, b" ", b"1")
    assert result.reason.startswith("crc mismatch")


def test_header_rebuilt_after_garbage() -> None:
    first, original, _ = stream("hu_sanxing", 2)
    damaged = b"\x20\xa3\xf0\x87\x05\xa4\xff\x0e" + original[1:]
    result = decode(first, damaged)[1]
    assert result.status is Status.REPAIRED
    assert result.data == original
    assert result.repair is not None
    assert result.repair.method == "header"
    assert result.repair.changes[0].before == b"\x20\xa3\xf0\x87\x05\xa4\xff\x0e"


def test_crc_field_repaired() -> None:
    first, original, _ = stream("nl_dsmr5", 3)
    bang = original.rindex(b"!")
    for damaged_field in (b"&" + original[bang + 2 : bang + 5],):
        damaged = original[: bang + 1] + damaged_field + b"\r\n"
        result = decode(first, damaged)[1]
        if result.status is Status.REPAIRED:
            assert result.data == original
            assert result.repair is not None
            assert "crc field" in result.repair.method
        else:
            assert result.status is Status.INVALID


def test_no_template_no_repair() -> None:
    _, original, after = stream("hu_sagemcom", 4)
    damaged = original.replace(b"1-0:1.8.0", b"1-0:1.8.8", 1)
    results = decode(damaged, after)
    assert results[0].status is Status.INVALID
    assert "no good telegram" in results[0].attempts[0]
    assert results[1].status is Status.VALID


def test_unrepairable_is_rejected_with_attempts() -> None:
    first, original, _ = stream("be_fluvius", 5)
    bang = original.index(b"1-0:32.7.0")
    damaged = original[:bang] + b"\x00" * 40 + original[bang + 40 :]
    result = decode(first, damaged)[1]
    assert result.status is Status.INVALID
    assert result.attempts


@pytest.mark.parametrize(
    ("style", "seed", "fault"),
    [
        ("nl_dsmr5", 15, "crc_field"),
        ("hu_sanxing", 64, "crc_field"),
        ("nl_dsmr4", 1491, "crc_field"),
    ],
)
def test_ambiguous_candidates_are_rejected(style: str, seed: int, fault: str) -> None:
    """Cases (found by search) where two different repairs both reproduce the CRC: rejected."""
    first, original, _ = stream(style, seed)
    damaged = inject(original, fault, random.Random(seed))
    result = decode(first, damaged)[1]
    assert result.status is Status.INVALID
    assert any(
        attempt.startswith("ambiguous: 2 different candidates") for attempt in result.attempts
    )


def test_template_follows_the_stream() -> None:
    telegrams = stream("nl_dsmr5", 6, 20)
    decoder = Decoder(repair=RepairEngine())
    for telegram in telegrams[:10]:
        decoder.feed(telegram)
    assert decoder.repair is not None
    assert decoder.repair.period == 1.0
    damaged = telegrams[10].replace(b"(", b"[", 1)
    (result,) = decoder.feed(damaged)
    assert result.status is Status.REPAIRED
    assert result.data == telegrams[10]


def test_repaired_crc_matches() -> None:
    first, original, _ = stream("hu_sagemcom", 7)
    damaged = original.replace(b"*kWh)", b"*kW)", 1)
    result = decode(first, damaged)[1]
    assert result.status is Status.REPAIRED
    body = result.data[: result.data.rindex(b"!") + 1]
    assert crc16(body) == result.crc_sent


def test_real_noisy_telegram(samples: Path) -> None:
    data = (samples / "logs" / "seed_putty_20230502.log").read_bytes()
    results = decode(data)
    assert len(results) == 1100
    assert all(r.accepted for r in results)
    (repaired,) = [r for r in results if r.status is Status.REPAIRED]
    assert b"230502221520S" in repaired.data
    assert repaired.repair is not None
    assert repaired.repair.method == "header"
    assert repaired.crc_sent == 0xD639


def test_stripped_log_repairs_nothing(samples: Path) -> None:
    results = decode((samples / "logs" / "seed_putty_20230427_stripped.log").read_bytes())
    assert not any(r.accepted for r in results)


def parse(data: bytes) -> Telegram:
    telegram = Parser().parse(data[: data.rindex(b"!") + 1])
    assert telegram is not None
    return telegram


def learnt(first: bytes) -> RepairEngine:
    """An engine that has learnt ``first``."""
    engine = RepairEngine()
    engine.learn(first[: first.rindex(b"!") + 1], parse(first))
    return engine


def with_value(data: bytes, code: bytes, value: bytes) -> Telegram:
    """``data`` parsed, with the first value of ``code`` replaced by ``value``."""
    start = data.index(code + b"(") + len(code) + 1
    end = data.index(b")", start)
    return parse(data[:start] + value + data[end:])


def test_plausibility_rules() -> None:
    first, second, _ = stream("hu_sagemcom", 9)
    engine = learnt(first)
    good = parse(second)
    assert engine.plausible(good, {"0-0:1.0.0", "1-0:1.8.0", "1-0:32.7.0"}) is None

    def changed(code: bytes, value: bytes) -> str | None:
        return engine.plausible(with_value(second, code, value), {code.decode()})

    assert changed(b"0-0:1.0.0", b"230502215100S") == "clock moved 70 s" or "clock" in str(
        changed(b"0-0:1.0.0", b"230502225000S")
    )
    assert "no longer reads as a date" in str(changed(b"0-0:1.0.0", b"231302215000S"))
    assert "moved by" in str(changed(b"1-0:1.8.0", b"000000.000*kWh"))
    assert "V" in str(changed(b"1-0:32.7.0", b"180.0*V"))
    assert "Hz" in str(changed(b"1-0:14.7.0", b"45.00*Hz"))
    assert "no longer reads as a number" in str(changed(b"1-0:1.8.0", b"00 000.000*kWh"))
    assert changed(b"1-0:13.7.0", b"7.000") is not None
    assert changed(b"0-0:96.14.0", b"0003") is None  # a tariff may change


def test_other_clocks_never_go_back() -> None:
    first, second, _ = stream("nl_dsmr5", 10)
    telegram = with_value(second, b"0-1:24.2.1", b"220502215000S")
    assert "time moved" in str(learnt(first).plausible(telegram, {"0-1:24.2.1"}))


def test_counts_move_a_little() -> None:
    first, second, _ = stream("nl_dsmr5", 11)
    telegram = with_value(second, b"0-0:96.7.21", b"00099")
    assert "moved by" in str(learnt(first).plausible(telegram, {"0-0:96.7.21"}))


def test_damaged_header_text_is_rebuilt_from_the_blank_line() -> None:
    first, original, _ = stream("nl_dsmr4", 12)
    damaged = b"/KF\x0d5KAIFA-METER" + original[original.index(b"\r\n\r\n") :]
    result = decode(first, damaged)[1]
    assert result.status is Status.REPAIRED
    assert result.data == original


def test_header_missing_entirely() -> None:
    first, original, _ = stream("nl_dsmr4", 13)
    damaged = b"\x0e" + original[original.index(b"1-3:0.2.8") :]
    result = decode(first, damaged)[1]
    assert result.status is Status.INVALID
    assert any("header" in attempt for attempt in result.attempts)


def test_unreadable_crc_field_with_an_intact_body() -> None:
    first, original, _ = stream("hu_sanxing", 14)
    bang = original.rindex(b"!")
    text = original[bang + 1 : bang + 5]
    bad = bytes((text[0] & 0xBF,)) + text[1:]  # a hex letter or digit loses a bit
    if all(chr(c) in "0123456789ABCDEF" for c in bad):
        bad = b"\x00" + text[1:]
    damaged = original[: bang + 1] + bad + b"\r\n"
    result = decode(first, damaged)[1]
    if result.status is Status.REPAIRED:
        assert result.data == original
    else:
        assert any("crc field" in attempt for attempt in result.attempts)


def test_lowercase_crc_field_repaired_in_lowercase() -> None:
    first, original, _ = stream("nl_dsmr5", 15)
    bang = original.rindex(b"!")
    lower = original[: bang + 1] + original[bang + 1 : bang + 5].lower() + b"\r\n"
    body = lower[: bang + 1]
    # Drop one CRC digit: three lowercase hex digits remain.
    damaged = body + lower[bang + 2 : bang + 5] + b"\r\n"
    result = decode(first, damaged)[1]
    if result.status is Status.REPAIRED:
        assert result.data[bang + 1 : bang + 5].lower() == lower[bang + 1 : bang + 5]


def test_budget_is_bounded() -> None:
    first, original, _ = stream("hu_sagemcom", 16)
    engine = RepairEngine(max_candidates=5)
    decoder = Decoder(repair=engine)
    decoder.feed(first)
    damaged = original.replace(b"1-0:1.8.0(0", b"1-0:1.8.0(\x01\x02", 1)
    (result,) = decoder.feed(damaged)
    assert result.status is Status.INVALID
    assert any("budget" in attempt for attempt in result.attempts)


def test_three_unknown_digits_only_in_bounded_fields() -> None:
    rng = random.Random(3)
    recovered = 0
    for seed in range(10):
        first, original, _ = stream("hu_sanxing", 100 + seed)
        at = original.index(b"1-0:1.8.0(") + 16  # three digits of the import counter
        damaged = (
            original[:at] + bytes(rng.randrange(0x80, 0xFF) for _ in range(3)) + original[at + 3 :]
        )
        result = decode(first, damaged)[1]
        assert result.status is Status.INVALID or result.data == original
        recovered += result.status is Status.REPAIRED
    assert recovered >= 5
