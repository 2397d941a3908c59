"""Parsing: the generic OBIS line parser, timestamps, hex text, dialects."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from p1lib.obis import Kind, canonical_number, lookup
from p1lib.parsing import (
    CEST,
    CET,
    Dialect,
    Parser,
    decode_hex_text,
    parse_header,
    parse_line,
    parse_timestamp,
)

from .builders import HU_LINES, telegram


def parse(data: bytes):  # type: ignore[no-untyped-def]
    telegram_ = Parser().parse(data[: data.rindex(b"!") + 1])
    assert telegram_ is not None
    return telegram_


def test_simple_line() -> None:
    obj = parse_line(b"1-0:32.7.0(234.3*V)")
    assert obj is not None
    assert obj.obis == obj.code == "1-0:32.7.0"
    assert obj.number == 234.3
    assert obj.unit == "V"
    assert obj.number_text == "234.3"
    assert obj.key == "voltage_l1"
    assert obj.values[0].raw == "234.3"


@pytest.mark.parametrize(
    ("line", "number", "unit", "text"),
    [
        (b"1-0:1.8.0(006627.966*kWh)", 6627.966, "kWh", "6627.966"),
        (b"1-0:2.7.0(00.000*kW)", 0.0, "kW", "0.000"),
        (b"1-0:31.7.0(009*A)", 9.0, "A", "9"),
        (b"1-0:21.7.0*255(000557.29*W)", 0.55729, "kW", "0.55729"),
        (b"1-0:1.8.0*255(00032549.5061662*kWh)", 32549.5061662, "kWh", "32549.5061662"),
        (b"1-0:16.24.0(-03.618*kW)", -3.618, "kW", "-3.618"),
        (b"0-0:96.14.0(0001)", 1.0, None, "1"),
        (b"1-0:13.7.0(0.998)", 0.998, None, "0.998"),
    ],
)
def test_numbers(line: bytes, number: float, unit: str | None, text: str) -> None:
    obj = parse_line(line)
    assert obj is not None
    assert obj.number == pytest.approx(number)
    assert obj.unit == unit
    assert obj.number_text == text


def test_suffixes_are_normalised() -> None:
    for line in (b"1-0:21.7.0.255(01.111*kW)", b"1-0:21.7.0*255(01.111*kW)"):
        obj = parse_line(line)
        assert obj is not None
        assert obj.code == "1-0:21.7.0"
        assert obj.key == "power_import_l1"


def test_multi_value_and_mbus() -> None:
    obj = parse_line(b"0-2:24.2.1(200426223001S)(00246.138*m3)")
    assert obj is not None
    assert obj.channel == 2
    assert obj.number == 246.138
    assert obj.unit == "m3"
    assert obj.timestamp == datetime(2020, 4, 26, 22, 30, 1, tzinfo=CEST)
    assert obj.key == "mbus_reading"


def test_profile_line() -> None:
    obj = parse_line(
        b"1-0:99.97.0(2)(0-0:96.7.19)(180417201458S)(0000000236*s)(220525094346S)(0000002936*s)"
    )
    assert obj is not None
    assert len(obj.values) == 6
    assert obj.values[1].raw == "0-0:96.7.19"
    assert obj.values[2].timestamp == datetime(2018, 4, 17, 20, 14, 58, tzinfo=CEST)
    assert obj.values[3].unit == "s"


def test_hungarian_month_end_register() -> None:
    obj = parse_line(b"0-0:98.1.0(230501000000S)(006604.981*kWh)(003374.373*kWh)(03.932*kW)")
    assert obj is not None
    assert obj.values[0].timestamp == datetime(2023, 5, 1, tzinfo=CEST)
    assert [v.number for v in obj.values[1:]] == [6604.981, 3374.373, 3.932]


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"garbage",
        b"1-0:32.7.0",
        b"1-0:32.7.0(234.3*V",
        b"1-0:32.7.0((234.3*V)",
        b"1-0:3x.7.0(1)",
    ],
)
def test_not_a_line(line: bytes) -> None:
    assert parse_line(line) is None


def test_number_is_strict() -> None:
    """A value with a unit is a number or the line does not parse: no meter sends ``1e5*V``, and
    damage the CRC missed shows this way (``00.\xa500*kW``: the decoder then looks for the
    telegram the CRC collided with)."""
    parser = Parser()
    for text in (b" 34.3", b"2 4.3", b"1e5", b"nan", b"1_0", b"00.\xa500", b"23.-1"):
        line = b"1-0:32.7.0(" + text + b"*V)"
        assert parse_line(line) is None
        data = b"/ISK5ABC\r\n\r\n" + line + b"\r\n!"
        parsed = parser.parse(data)
        assert parsed is not None
        assert [number for number, _ in parsed.unparsed] == [2]
    # Signed numbers, and numbers with units among several values, still parse.
    obj = parse_line(b"1-0:2.7.0(-00.123*kW)")
    assert obj is not None
    assert obj.number == -0.123
    obj = parse_line(b"0-1:24.2.1(230502224000S)(01235.163*m3)")
    assert obj is not None
    assert obj.number == 1235.163
    assert parse_line(b"0-1:24.2.1(230502224000S)(0123\xa5.163*m3)") is None
    # A text code still parses whatever it says.
    assert parse_line(b"0-0:96.13.0(Call 0800*123)") is not None


def test_timestamps() -> None:
    assert parse_timestamp("230502215000S") == datetime(2023, 5, 2, 21, 50, tzinfo=CEST)
    assert parse_timestamp("230102215000W") == datetime(2023, 1, 2, 21, 50, tzinfo=CET)
    # No DST flag (DSMR 2.2 gas): the European rule decides.
    assert parse_timestamp("230702120000").utcoffset().total_seconds() == 7200  # type: ignore[union-attr]
    assert parse_timestamp("231202120000").utcoffset().total_seconds() == 3600  # type: ignore[union-attr]
    assert parse_timestamp("231302120000S") is None


def test_timestamps_within_a_cached_minute() -> None:
    assert parse_timestamp("240229235900W") == datetime(2024, 2, 29, 23, 59, tzinfo=CET)
    # The minute is cached now; the seconds still have to be valid.
    assert parse_timestamp("240229235959W") == datetime(2024, 2, 29, 23, 59, 59, tzinfo=CET)
    assert parse_timestamp("240229235960W") is None
    assert parse_timestamp("2402292359x1W") is None
    assert parse_timestamp("2402292359\u00b21W") is None  # superscript two: a digit, not decimal
    # A flag that contradicts the date changes nothing: the zone's rules decide.
    assert parse_timestamp("240229235907S") == datetime(2024, 2, 29, 23, 59, 7, tzinfo=CET)


def test_hex_text() -> None:
    assert decode_hex_text("4530303434303037333832323436303139") == "E0044007382246019"
    assert decode_hex_text("9902759988") == "9902759988"  # not printable when decoded
    assert decode_hex_text("AUX1030302759988") == "AUX1030302759988"
    assert decode_hex_text("") == ""


def test_header() -> None:
    header = parse_header(b"/ISk5\\2MT382-1004")
    assert header is not None
    assert (header.flag, header.baud, header.ident) == ("ISk", "5", "\\2MT382-1004")
    header = parse_header(b"/NWA-WARMTELINK")
    assert header is not None
    assert (header.flag, header.baud, header.ident) == ("NWA", "", "-WARMTELINK")
    assert parse_header(b"AUX5") is None
    assert parse_header(b"/A") is None


def test_sanxing_telegram() -> None:
    t = parse(telegram(*HU_LINES, header="/AUX59902759988"))
    assert t.dialect is Dialect.HU
    assert not t.unparsed
    assert len(t.objects) == len(HU_LINES)
    assert t.timestamp == datetime(2023, 5, 2, 21, 50, tzinfo=CEST)
    assert t.equipment_id == "AUX1030302759988"
    message = t.get("0-0:96.13.0")
    assert message is not None
    assert message.values[0].raw == "\xff" * 1024
    assert t.number("1-0:14.7.0") == 50.02


def test_unknown_codes_are_kept() -> None:
    t = parse(telegram("1-0:99.99.9(42*xyz)", "1-0:1.7.0(00.100*kW)"))
    unknown = t.get("1-0:99.99.9")
    assert unknown is not None
    assert unknown.info is None
    assert unknown.number == 42.0
    assert unknown.unit == "xyz"


def test_unparsed_lines_are_kept() -> None:
    t = parse(telegram("1-0:1.7.0(00.100*kW)", "this is not obis"))
    assert t.unparsed == ((3, "this is not obis"),)


def test_duplicate_code_keeps_both_and_indexes_the_first() -> None:
    t = parse(telegram("0-0:1.0.0(230817171430S)", "0-0:1.0.0(230817171440S)"))
    assert len(t.objects) == 2
    assert t.timestamp == datetime(2023, 8, 17, 17, 14, 30, tzinfo=CEST)


def test_dsmr22_gas_on_next_line() -> None:
    t = parse(
        telegram(
            "0-1:24.1.0(3)",
            "0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)",
            "(00001.001)",
            "0-1:24.4.0(1)",
            header="/ISk5\\2MT382-1004",
            crc=False,
        )
    )
    gas = t.get("0-1:24.3.0")
    assert gas is not None
    assert gas.number == 1.001
    assert gas.unit == "m3"
    assert gas.timestamp is not None
    assert not t.unparsed
    assert set(t.mbus_channels()) == {1}


def test_protocol_version_and_dialects() -> None:
    nl = parse(telegram("1-3:0.2.8(50)", "0-0:96.1.1(4530)", header="/ISK5\\2M550T-1012"))
    assert nl.dialect is Dialect.NL
    assert nl.protocol_version == "5.0"
    be = parse(telegram("0-0:96.1.4(50217)", header="/FLU5\\253769484_A"))
    assert (be.dialect, be.protocol_version) == (Dialect.BE, "5.0217")
    assert parse(telegram("1-0:1.8.0*255(1*kWh)", header="/ESY5Q3DA1004 V3.04")).dialect is (
        Dialect.Q3D
    )
    assert parse(telegram("1-0:1.7.0(1*kW)", header="/ISk5\\2MIE5T-200")).dialect is Dialect.IE
    assert parse(telegram("1-3:0.2.8(42)", header="/Lux5\\ABC")).dialect is Dialect.LU
    assert parse(telegram("1-0:23.7.0(0*kVAr)", header="/KAM5")).dialect is Dialect.SE
    sag = parse(telegram("0-0:42.0.0(53)", "1-0:14.7.0(50*Hz)", header="/SAG5SAG-METER"))
    assert sag.dialect is Dialect.HU
    assert parse(telegram("1-0:1.7.0(1*kW)", header="/XYZ5")).dialect is Dialect.GENERIC


def test_parser_reuses_unchanged_lines() -> None:
    parser = Parser()
    first = telegram(*HU_LINES, header="/AUX59902759988")
    lines = list(HU_LINES)
    lines[7] = "1-0:32.7.0(235.0*V)"
    second = telegram(*lines, header="/AUX59902759988")
    a = parser.parse(first[: first.rindex(b"!") + 1])
    b = parser.parse(second[: second.rindex(b"!") + 1])
    assert a is not None
    assert b is not None
    assert b.number("1-0:32.7.0") == 235.0
    assert a.number("1-0:32.7.0") == 234.3
    assert b.layout is a.layout  # the second matched the first one's layout
    assert a.objects[1] is b.objects[1]  # a repeated line's object is reused
    assert b.objects == Parser().parse(second[: second.rindex(b"!") + 1]).objects  # type: ignore[union-attr]
    # A changed layout is parsed in full.
    c_data = telegram(*HU_LINES[:5], header="/AUX59902759988")
    c = parser.parse(c_data[: c_data.rindex(b"!") + 1])
    assert c is not None
    assert len(c.objects) == 5


def test_registry() -> None:
    info = lookup("0-3:24.2.1")
    assert info is not None
    assert info.kind is Kind.MBUS_READING
    assert lookup("1-0:32.7.0.255") is not None
    assert lookup("9-9:9.9.9") is None
    assert canonical_number(1500.0, "W") == (1.5, "kW")
    assert canonical_number(2.0, "kVArh") == (2.0, "kvarh")
    assert canonical_number(2.0, None) == (2.0, None)
    assert canonical_number(2.0, "m3") == (2.0, "m3")


def test_reuse_falls_back_to_a_full_parse() -> None:
    parser = Parser()
    base = ["1-0:1.7.0(00.100*kW)", "1-0:32.7.0(230.0*V)"]

    def run(*lines: str):  # type: ignore[no-untyped-def]
        data = telegram(*lines)
        return parser.parse(data[: data.rindex(b"!") + 1])

    run(*base)
    broken = run("1-0:1.7.0(00.100*kW)", "1-0:32.7.0 230.0")  # same layout, a line no longer parses
    assert broken is not None
    assert broken.unparsed == ((3, "1-0:32.7.0 230.0"),)
    moved = run("1-0:1.7.0(00.100*kW)", "1-0:52.7.0(231.0*V)")  # another code in the same place
    assert moved is not None
    assert moved.number("1-0:52.7.0") == 231.0
    again = run(*base)
    assert again is not None
    assert again.number("1-0:32.7.0") == 230.0


def test_accessors_without_values() -> None:
    t = parse(telegram("1-0:1.7.0(00.100*kW)", "0-0:96.13.0(48656C6C6F)", header="/XYZ5"))
    assert t.timestamp is None
    assert t.equipment_id is None
    assert t.protocol_version is None
    assert t.get("0-0:96.13.0").text == "Hello"  # type: ignore[union-attr]
    assert t.get("1-0:1.7.0").text == "00.100"  # type: ignore[union-attr]
    assert t.get("1-0:1.7.0").timestamp is None  # type: ignore[union-attr]
    odd = parse(telegram("1-3:0.2.8(x5)", header="/XYZ5"))
    assert odd.protocol_version == "x5"


def test_continuation_that_is_not_a_number() -> None:
    t = parse(
        telegram(
            "0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)",
            "(abc)",
            "((x)",
            header="/ISk5\\2MT382-1004",
            crc=False,
        )
    )
    assert [line for _, line in t.unparsed] == ["(abc)", "((x)"]


def test_caches_are_bounded() -> None:
    parser = Parser(cache_size=4)
    for n in range(20):
        data = telegram(f"1-0:{n}.7.0({n:03d}.000*kW)", f"1-0:1.8.{n}(1*kWh)")
        assert parser.parse(data[: data.rindex(b"!") + 1]) is not None
    assert len(parser._codes) <= 4
    assert len(parser._objects) <= 4


# --- clocks in the meter's zone --------------------------------------------------------------


def body(data: bytes) -> bytes:
    return data[: data.rindex(b"!") + 1]


def test_lower_case_flags_in_lines() -> None:
    obj = parse_line(b"0-0:1.0.0(150701190000s)")
    assert obj is not None
    assert obj.values[0].timestamp == datetime(2015, 7, 1, 19, tzinfo=CEST)
    parser = Parser()
    for second in ("00", "10"):  # the second one through the layout
        t = parser.parse(body(telegram(f"0-0:1.0.0(1507011900{second}s)", "1-0:1.7.0(1*kW)")))
        assert t is not None
        assert t.timestamp == datetime(2015, 7, 1, 19, 0, int(second), tzinfo=CEST)
        assert not t.unparsed


def test_an_empty_mbus_slot_has_no_time() -> None:
    obj = parse_line(b"0-1:24.2.1(700101010000W)(00000000)")
    assert obj is not None
    assert obj.timestamp is None
    assert obj.values[0].timestamp is None
    assert (obj.number, obj.unit) == (None, None)  # no reading either


def test_a_clock_without_flag_on_the_clock_line() -> None:
    """Iskra IE meters (Wallonia) send their clock without S/W flag."""
    parser = Parser()
    for minute in ("31", "32"):
        t = parser.parse(
            body(
                telegram(
                    f"0-0:1.0.0(23040421{minute}04)", "1-0:1.7.0(1*kW)", header="/ISk5\\2MIE5T-200"
                )
            )
        )
        assert t is not None
        assert t.dialect is Dialect.IE
        assert t.clock.name == "Europe/Brussels"
        assert t.timestamp == datetime(2023, 4, 4, 21, int(minute), 4, tzinfo=CEST)
    other = parse_line(b"1-0:1.8.0(230404213104)")  # twelve digits elsewhere are a number
    assert other is not None
    assert other.number == 230404213104.0


@pytest.mark.parametrize(
    ("header", "lines", "dialect", "zone"),
    [
        ("/ISK5\\2M550T-1012", ("1-3:0.2.8(50)",), Dialect.NL, "Europe/Amsterdam"),
        ("/FLU5\\253769484_A", ("0-0:96.1.4(50217)",), Dialect.BE, "Europe/Brussels"),
        ("/Lux5\\253663629_D", ("1-3:0.2.8(42)",), Dialect.LU, "Europe/Luxembourg"),
        ("/KAM5", ("1-0:23.7.0(0*kvar)",), Dialect.SE, "Europe/Stockholm"),
        ("/ESO5\\000000000_A", ("1-0:23.7.0(0*kvar)",), Dialect.LT, "Europe/Vilnius"),
        ("/AUX59902759988", ("0-0:96.50.68(ON)",), Dialect.HU, "Europe/Budapest"),
        ("/EST5\\253710000_A", ("1-3:0.2.8(50)",), Dialect.AT, "Europe/Vienna"),
        ("/KFM5KAIFA-METER", ("1-3:0.2.8(50)", "1-0:3.8.1(1*kvarh)"), Dialect.AT, "Europe/Vienna"),
        ("/ESY5Q3DA1004 V3.04", ("1-0:96.5.5(80)",), Dialect.Q3D, "Europe/Berlin"),
        ("/XYZ5", ("1-0:1.7.0(1*kW)",), Dialect.GENERIC, "Europe/Amsterdam"),
    ],
)
def test_each_dialect_reads_its_zone(
    header: str, lines: tuple[str, ...], dialect: Dialect, zone: str
) -> None:
    t = Parser().parse(body(telegram("0-0:1.0.0(240214101735W)", *lines, header=header)))
    assert t is not None
    assert t.dialect is dialect
    assert t.clock.name == zone
    expected = datetime(2024, 2, 14, 10, 17, 35, tzinfo=ZoneInfo(zone))
    assert t.timestamp == expected


def test_zones_given_to_the_parser() -> None:
    generic = body(telegram("0-0:1.0.0(240701101735S)", "1-0:1.7.0(1*kW)", header="/XYZ5"))
    dutch = body(telegram("0-0:1.0.0(240701101735S)", "1-3:0.2.8(50)", header="/ISK5"))
    # Home Assistant's zone: for a dialect that implies none.
    t = Parser(default_zone="Europe/Dublin").parse(generic)
    assert t is not None
    assert t.timestamp == datetime(2024, 7, 1, 9, 17, 35, tzinfo=UTC)
    t = Parser(default_zone="Europe/Dublin").parse(dutch)
    assert t is not None
    assert t.timestamp == datetime(2024, 7, 1, 8, 17, 35, tzinfo=UTC)
    # The converter's --timezone: for every telegram.
    t = Parser(zone="Europe/Dublin").parse(dutch)
    assert t is not None
    assert t.timestamp == datetime(2024, 7, 1, 9, 17, 35, tzinfo=UTC)
    assert Parser(zone=ZoneInfo("Europe/Helsinki")).clock.name == "Europe/Helsinki"


def test_a_meter_of_another_zone_is_read_again_in_it() -> None:
    parser = Parser()
    dutch = body(telegram("0-0:1.0.0(240214101735W)", "1-3:0.2.8(50)", header="/ISK5"))
    lithuanian = body(
        telegram("0-0:1.0.0(240214101735W)", "1-0:23.7.0(0*kvar)", header="/ESO5\\000000000_A")
    )
    for data, hours in ((dutch, 9), (lithuanian, 8), (lithuanian, 8), (dutch, 9)):
        t = parser.parse(data)
        assert t is not None
        assert t.timestamp == datetime(2024, 2, 14, hours, 17, 35, tzinfo=UTC)
        assert t.objects[0].values[0].timestamp == t.timestamp


# --- lines of real meters -------------------------------------------------------------------


def test_a_wrapped_text_message_is_joined() -> None:
    message = "303132333435363738393A3B3C3D3E3F" * 4
    lines = (
        "0-0:1.0.0(240214101735W)",
        f"0-0:96.13.0({message[:40]}",
        message[40:100],
        f"{message[100:]})",
        "1-0:1.7.0(00.100*kW)",
    )
    parser = Parser()
    first = parser.parse(body(telegram(*lines)))
    second = parser.parse(body(telegram(*lines[:-1], "1-0:1.7.0(00.200*kW)")))
    for t, power in ((first, 0.1), (second, 0.2)):
        assert t is not None
        assert not t.unparsed
        obj = t.get("0-0:96.13.0")
        assert obj is not None
        assert obj.values[0].raw == message
        assert obj.text == "0123456789:;<=>?" * 4
        assert t.number("1-0:1.7.0") == power
        assert len(t.objects) == 3
    assert second is not None
    assert first is not None
    assert second.layout is first.layout  # the wrapped message repeats: the layout is reused


@pytest.mark.parametrize(
    "lines",
    [
        ("0-0:96.13.0(3031", "3233"),  # never closed
        ("0-0:96.13.0(3031", "(3233)"),  # a '(' on a continuation line
        ("0-0:96.13.0(3031", "32)33"),  # text after the ')'
        ("0-0:96.13.0(3031", ""),  # an empty line ends it
        ("1-0:32.7.0(234.3", "*V)"),  # only text codes wrap
    ],
)
def test_what_is_not_a_wrapped_message_stays_unparsed(lines: tuple[str, ...]) -> None:
    t = parse(telegram(*lines))
    assert t.unparsed
    assert t.get("1-0:32.7.0") is None


def test_hex_identifiers_lose_their_padding() -> None:
    t = parse(telegram("0-0:96.1.1(204B413655303031363630323937393132)", header="/ISK5"))
    assert t.equipment_id == "KA6U001660297912"
    assert t.get("0-0:96.1.1").text == "KA6U001660297912"  # type: ignore[union-attr]
    message = parse(telegram("0-0:96.13.0(2048656C6C6F20)")).get("0-0:96.13.0")
    assert message is not None
    assert message.text == " Hello "  # a text message keeps its spaces


def test_registers_on_channel_1() -> None:
    lines = ("1-1:1.8.0(001234.567*kWh)", "1-1:2.8.0(000012.345*kWh)", "1-0:2.8.0(9*kWh)")
    parser = Parser()
    for t in (parser.parse(body(telegram(*lines))), parser.parse(body(telegram(*lines)))):
        assert t is not None
        obj = t.get("1-1:1.8.0")
        assert obj is not None
        assert obj.key == "energy_import"
        assert obj.unit == "kWh"
        assert t.number("1-0:1.8.0") == 1234.567  # found under 1-0: too
        assert t.number("1-0:2.8.0") == 9  # a 1-0: line of its own wins
    limit = parse_line(b"1-1:31.4.0(040*A)(-040*A)")
    assert limit is not None
    assert (limit.key, limit.number, limit.unit) == ("current_limit", 40.0, "A")


@pytest.mark.parametrize(
    ("line", "key", "number", "unit"),
    [
        (b"0-1:96.3.10(0)", "mbus_breaker_state", 0.0, None),
        (b"0-3:96.3.10(1)", "mbus_breaker_state", 1.0, None),
        (b"0-0:96.13.2()", "text_message_2", None, None),
        (b"0-0:96.13.5(4869)", "text_message_5", 4869.0, None),
        (b"1-0:9.7.0(00.913*kVA)", "apparent_power_import", 0.913, "kVA"),
        (b"1-0:10.7.0(00913*VA)", "apparent_power_export", 0.913, "kVA"),
        (b"1-0:3.8.1(000000747*varh)", "reactive_energy_import_t1", 0.747, "kvarh"),
        (b"1-0:3.8.2(000002.494*kvarh)", "reactive_energy_import_t2", 2.494, "kvarh"),
        (b"1-0:4.8.1(002692848*varh)", "reactive_energy_export_t1", 2692.848, "kvarh"),
        (b"1-0:4.8.2(001204878*varh)", "reactive_energy_export_t2", 1204.878, "kvarh"),
        (b"0-2:24.2.1(101209112500W)(00012345*dm3)", "mbus_reading", 12.345, "m3"),
        (b"0-3:24.2.1(201211100906W)(33221.122*MJ)", "mbus_reading", 33.221122, "GJ"),
        (b"0-1:24.2.1(201211100906W)(12.5*L)", "mbus_reading", 0.0125, "m3"),
    ],
)
def test_codes_of_real_meters_are_known(
    line: bytes, key: str, number: float | None, unit: str | None
) -> None:
    for obj in (parse_line(line), Parser().parse(body(telegram(line.decode()))).objects[0]):  # type: ignore[union-attr]
        assert obj is not None
        assert obj.key == key
        assert obj.number == (None if number is None else pytest.approx(number))
        assert obj.unit == unit


def test_dsmr22_gas_in_dm3() -> None:
    t = parse(
        telegram(
            "0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(dm3)",
            "(01234567)",
            header="/ISk5\\2MT382-1004",
            crc=False,
        )
    )
    gas = t.get("0-1:24.3.0")
    assert gas is not None
    assert (gas.number, gas.unit, gas.number_text) == (1234.567, "m3", "1234.567")
    assert gas.timestamp == datetime(2016, 11, 7, 19, tzinfo=CET)


@pytest.mark.parametrize("unit", ["m3", "dm3"])
def test_dsmr22_gas_on_the_same_line(unit: str) -> None:
    """F15: the reading on its header's line (as the DSMR 2.2/3 examples of other readers have
    it) is read as when it comes on the next line."""
    lines = ["0-1:24.1.0(3)", f"0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)({unit})"]
    same = telegram(
        *lines[:1],
        lines[1] + "(01001.001)",
        "0-1:24.4.0(1)",
        crc=False,
        header="/ISk5\\2MT382-1004",
    )
    apart = telegram(*lines, "(01001.001)", "0-1:24.4.0(1)", crc=False, header="/ISk5\\2MT382-1004")
    gas, expected = parse(same).get("0-1:24.3.0"), parse(apart).get("0-1:24.3.0")
    assert gas is not None
    assert expected is not None
    assert gas.number == expected.number == (1001.001 if unit == "m3" else 1.001001)
    assert gas.unit == "m3"
    assert gas.timestamp == expected.timestamp
    assert gas.timestamp is not None
    assert not parse(same).unparsed
    assert parse_line(lines[1].encode() + b"(01001.001)") == gas


def test_a_24_3_0_line_without_a_reading_is_left_as_it_is() -> None:
    line = b"0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)"
    obj = parse_line(line)
    assert obj is not None
    assert obj.number is None
    other = parse_line(b"0-1:24.2.1(161107190000)(00)(m3)(5)")  # not the DSMR 2.2 code
    assert other is not None
    assert other.number is None
