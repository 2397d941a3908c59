"""Build telegrams for tests (our own fixtures, valid CRCs)."""

from __future__ import annotations

from p1lib.crc import crc16


def telegram(
    *lines: str,
    header: str = "/TST5 test-meter",
    crc: bool = True,
    lower: bool = False,
    short: bool = False,
) -> bytes:
    """A telegram from data lines: header, empty line, lines, '!' and the CRC."""
    body = "\r\n".join([header, "", *lines]) + "\r\n!"
    data = body.encode("latin-1")
    if not crc:
        return data + b"\r\n"
    value = crc16(data)
    text = f"{value:X}" if short else f"{value:04X}"
    if lower:
        text = text.lower()
    return data + text.encode() + b"\r\n"


HU_LINES = (
    "0-0:1.0.0(230502215000S)",
    "0-0:42.0.0(AUX1030302759988)",
    "0-0:96.1.0(9902759988)",
    "0-0:96.14.0(0001)",
    "0-0:96.50.68(ON)",
    "1-0:1.8.0(006627.966*kWh)",
    "1-0:2.8.0(000000.000*kWh)",
    "1-0:32.7.0(234.3*V)",
    "1-0:52.7.0(230.4*V)",
    "1-0:72.7.0(236.0*V)",
    "1-0:31.7.0(000*A)",
    "1-0:51.7.0(009*A)",
    "1-0:71.7.0(000*A)",
    "1-0:33.7.0(0.913)",
    "1-0:53.7.0(0.997)",
    "1-0:73.7.0(0.918)",
    "1-0:14.7.0(50.02*Hz)",
    "1-0:1.7.0(02.476*kW)",
    "1-0:2.7.0(00.000*kW)",
    "0-0:96.13.0(" + "\xff" * 1024 + ")",
)


def hungarian(**kwargs: bool) -> bytes:
    """A Sanxing-style Hungarian telegram with the 1024-byte 0xFF provider message."""
    return telegram(*HU_LINES, header="/AUX59902759988", **kwargs)
