"""M-Bus meters: found by what they measure, whichever channel they are on."""

from __future__ import annotations

import pytest
from p1lib.mbus import MbusMeter, mbus_meters
from p1lib.parsing import Parser, Telegram

from .builders import telegram


def parse(*lines: str, header: str = "/ISK5\\2M550T-1012", crc: bool = True) -> Telegram:
    data = telegram(*lines, header=header, crc=crc)
    parsed = Parser().parse(data[: data.rindex(b"!") + 1])
    assert parsed is not None
    return parsed


def test_an_empty_slot_is_skipped() -> None:
    t = parse(
        "0-1:24.1.0(003)",
        "0-1:96.1.0()",
        "0-1:24.2.1(700101010000W)(00000000)",
        "0-2:24.1.0(003)",
        "0-2:24.2.1(200426223001S)(00246.138*m3)",
    )
    assert mbus_meters(t) == [MbusMeter(2, "gas", "0-2:24.2.1", "m3")]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # a slot whose reading has a unit but is zero at an unset time
        (("0-1:24.1.0(003)", "0-1:24.2.1(700101010000W)(00000.000*m3)"), []),
        # zero at a real time is a reading (a new meter)
        (
            ("0-1:24.1.0(003)", "0-1:24.2.1(230119124005W)(00000.000*m3)"),
            [MbusMeter(1, "gas", "0-1:24.2.1", "m3")],
        ),
        # no device type: the unit tells
        (("0-3:24.2.1(101209112300W)(12785.333*GJ)",), [MbusMeter(3, "heat", "0-3:24.2.1", "GJ")]),
        (("0-2:24.2.1(101209112200W)(12785.222*m3)",), [MbusMeter(2, "gas", "0-2:24.2.1", "m3")]),
        # a device type nobody knows: the unit tells too
        (
            ("0-3:24.1.0(808)", "0-3:24.2.1(201211100906W)(33221.122*MJ)"),
            [MbusMeter(3, "heat", "0-3:24.2.1", "GJ")],
        ),
        (
            ("0-4:24.1.0(101)", "0-4:24.2.1(201211100905S)(11223.322*xyz)"),
            [MbusMeter(4, "other", "0-4:24.2.1", "xyz")],
        ),
        # the device type wins over the unit: water is measured in m3 too
        (
            ("0-2:24.1.0(007)", "0-2:24.2.1(200512134558S)(00872.234*m3)"),
            [MbusMeter(2, "water", "0-2:24.2.1", "m3")],
        ),
        (
            ("0-1:24.1.0(002)", "0-1:24.2.1(101209112100W)(12785.111*kWh)"),
            [MbusMeter(1, "electricity", "0-1:24.2.1", "kWh")],
        ),
        # Belgian gas on 24.2.3, after its valve state
        (
            ("0-1:24.1.0(003)", "0-1:24.4.0(1)", "0-1:24.2.3(230119124616W)(00734.607*m3)"),
            [MbusMeter(1, "gas", "0-1:24.2.3", "m3")],
        ),
        # a reading without unit is no reading
        (("0-1:24.1.0(003)", "0-1:24.2.1(230119124616W)(00734.607)"), []),
    ],
)
def test_kinds(lines: tuple[str, ...], expected: list[MbusMeter]) -> None:
    assert mbus_meters(parse(*lines)) == expected


def test_dsmr22_gas() -> None:
    t = parse(
        "0-2:24.1.0(3)",
        "0-2:24.3.0(211123200000)(00)(60)(1)(0-2:24.2.1)(m3)",
        "(13376.292)",
        header="/ISk5\\2MT382-1003",
        crc=False,
    )
    assert mbus_meters(t) == [MbusMeter(2, "gas", "0-2:24.3.0", "m3")]


def test_meters_come_by_channel() -> None:
    t = parse(
        "0-4:24.1.0(007)",
        "0-4:24.2.1(200512134558S)(00001.000*m3)",
        "0-1:24.1.0(003)",
        "0-1:24.2.1(200512134558S)(00002.000*m3)",
    )
    assert [m.channel for m in mbus_meters(t)] == [1, 4]
