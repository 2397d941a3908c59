"""A meter simulator: realistic telegram streams with valid CRCs, for tests, benchmarks and demos.

Styles (each with the line set, field widths and period of its real counterpart):

* ``hu_sanxing``: Hungarian E.ON/MVM Sanxing (``/AUX5``), 10 s, 1024-byte 0xFF provider message;
* ``hu_sagemcom``: Hungarian E.ON Sagemcom (``/SAG5``), 10 s, hex-encoded identifiers;
* ``nl_dsmr5``: Dutch DSMR 5.0 (``/ISK5``), 1 s, per-phase power, gas on M-Bus channel 1;
* ``nl_dsmr4``: Dutch DSMR 4.2 (``/KFM5``), 10 s, gas;
* ``be_fluvius``: Belgian e-MUCS (``/FLU5``), 1 s, currents with decimals, capacity tariff, gas.

Loads follow a seeded random walk (with solar export on one phase for some styles), counters
integrate the power, so consecutive telegrams are physically consistent. With a
:class:`~.feeder.Feeder`, appliances switch on the phases and each phase's voltage follows from the
feeder's known impedances instead (for validating the phase insight).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .crc import crc16
from .feeder import Feeder

__all__ = ["STYLES", "MeterSimulator", "demo_log", "putty_header"]

STYLES = ("hu_sanxing", "hu_sagemcom", "nl_dsmr5", "nl_dsmr4", "be_fluvius")

_PERIOD = {"hu_sanxing": 10, "hu_sagemcom": 10, "nl_dsmr5": 1, "nl_dsmr4": 10, "be_fluvius": 1}


def putty_header(when: datetime) -> bytes:
    """The line PuTTY writes at the top of a session log."""
    stamp = when.strftime("%Y.%m.%d %H:%M:%S")
    return f"=~=~=~=~=~=~=~=~=~=~=~= PuTTY log {stamp} =~=~=~=~=~=~=~=~=~=~=~=\r\n".encode()


def _ts(when: datetime) -> str:
    """Meter timestamp; the simulated meters run in Central European time (S from April to Oct)."""
    flag = "S" if 4 <= when.month <= 10 else "W"
    return when.strftime("%y%m%d%H%M%S") + flag


def _hex(text: str) -> str:
    return text.encode("ascii").hex().upper()


@dataclass
class _State:
    import_t: list[float] = field(default_factory=lambda: [3382.147, 3245.819, 0.0, 0.0])
    export_t: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    reactive: list[float] = field(default_factory=lambda: [641.558, 1573.009])
    load: list[float] = field(default_factory=lambda: [0.3, 2.0, 0.2])  # kW per phase
    solar: float = 0.0  # kW exported on phase 1
    voltage: list[float] = field(default_factory=lambda: [234.3, 230.4, 236.0])
    gas: float = 1234.567
    failures: int = 5


class MeterSimulator:
    """Produces successive telegrams of one meter style."""

    def __init__(
        self,
        style: str = "hu_sanxing",
        seed: int = 0,
        start: datetime | None = None,
        solar: bool = False,
        feeder: Feeder | None = None,
    ) -> None:
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
        self.style = style
        self.period = _PERIOD[style]
        self.rng = random.Random(seed)
        self.now = start or datetime(2023, 5, 2, 21, 50, 0)
        self.state = _State()
        self.with_solar = solar
        self._tariff = 1
        self._gas_reading: tuple[datetime, float] | None = None
        self.feeder = feeder
        self._feeder = feeder.start(seed) if feeder is not None else None

    def _step(self) -> None:
        rng = self.rng
        state = self.state
        for phase in range(3):
            state.load[phase] = min(
                11.0, max(0.02, state.load[phase] + rng.gauss(0, 0.05) * (1 + state.load[phase]))
            )
            if rng.random() < 0.01:  # a kettle, an oven, an EV charger
                state.load[phase] = rng.choice((0.05, 0.4, 2.0, 3.5, 7.4))
            state.voltage[phase] = min(252.0, max(215.0, state.voltage[phase] + rng.gauss(0, 0.25)))
        if self.with_solar:
            hour = self.now.hour + self.now.minute / 60
            peak = max(0.0, 1 - abs(hour - 13) / 6) * 4.5
            state.solar = max(0.0, peak + rng.gauss(0, 0.1))
        if self._feeder is not None:  # appliances and the feeder's physics decide instead
            state.load, state.solar, state.voltage = self._feeder.step(
                self.now, self.period, self.with_solar
            )
        hours = self.period / 3600
        net = self._phase_net()
        imported = sum(p for p in net if p > 0) * hours
        exported = -sum(p for p in net if p < 0) * hours
        self._tariff = 1 if 6 <= self.now.hour < 22 else 2
        state.import_t[self._tariff - 1] += imported
        state.export_t[self._tariff - 1] += exported
        state.reactive[0] += imported * 0.09
        state.reactive[1] += imported * 0.23
        state.gas += rng.random() * 0.0004 * self.period

    def _phase_net(self) -> list[float]:
        net = list(self.state.load)
        net[0] -= self.state.solar
        return net

    def telegram(self) -> bytes:
        """The next telegram: ``/`` ... ``!CRC`` CRLF."""
        self._step()
        body = getattr(self, f"_lines_{self.style}")()
        text = "\r\n".join(body) + "\r\n!"
        data = text.encode("latin-1")
        self.now += timedelta(seconds=self.period)
        return data + f"{crc16(data):04X}\r\n".encode("ascii")

    def telegrams(self, count: int) -> Iterator[bytes]:
        """``count`` successive telegrams."""
        for _ in range(count):
            yield self.telegram()

    # --- per style -------------------------------------------------------------------------

    def _common_values(self) -> dict[str, str]:
        state = self.state
        net = self._phase_net()
        imp = [max(p, 0.0) for p in net]
        exp = [max(-p, 0.0) for p in net]
        amps = [abs(p) * 1000 / u for p, u in zip(net, state.voltage, strict=True)]
        return {
            "ts": _ts(self.now),
            "p_imp": f"{sum(imp):06.3f}",
            "p_exp": f"{sum(exp):06.3f}",
            **{f"u{k}": f"{state.voltage[k - 1]:05.1f}" for k in (1, 2, 3)},
            **{f"i{k}": f"{int(amps[k - 1]):03d}" for k in (1, 2, 3)},
            **{f"id{k}": f"{amps[k - 1]:06.2f}" for k in (1, 2, 3)},
            **{f"pi{k}": f"{imp[k - 1]:06.3f}" for k in (1, 2, 3)},
            **{f"pe{k}": f"{exp[k - 1]:06.3f}" for k in (1, 2, 3)},
            **{f"e{k}": f"{state.import_t[k - 1]:010.3f}" for k in (1, 2, 3, 4)},
            **{f"x{k}": f"{state.export_t[k - 1]:010.3f}" for k in (1, 2, 3, 4)},
            "e0": f"{sum(state.import_t):010.3f}",
            "x0": f"{sum(state.export_t):010.3f}",
        }

    def _hungarian_common(self, v: dict[str, str], ints: bool) -> list[str]:
        state = self.state
        pf = [min(1.0, 0.85 + 0.15 * min(1.0, p / 2)) for p in state.load]
        total_pf = sum(pf) / 3
        q = [f"{state.reactive[0]:010.3f}", f"{state.reactive[1]:010.3f}"]
        reactive_power = sum(state.load) * 0.08
        return [
            f"1-0:1.8.0({v['e0']}*kWh)",
            *(f"1-0:1.8.{k}({v[f'e{k}']}*kWh)" for k in (1, 2, 3, 4)),
            f"1-0:2.8.0({v['x0']}*kWh)",
            *(f"1-0:2.8.{k}({v[f'x{k}']}*kWh)" for k in (1, 2, 3, 4)),
            f"1-0:3.8.0({q[0]}*kvarh)",
            f"1-0:4.8.0({q[1]}*kvarh)",
            f"1-0:5.8.0({q[0]}*kvarh)",
            "1-0:6.8.0(000000.000*kvarh)",
            "1-0:7.8.0(000000.000*kvarh)",
            f"1-0:8.8.0({q[1]}*kvarh)",
            f"1-0:15.8.0({float(v['e0']) + float(v['x0']):010.3f}*kWh)",
            *(f"1-0:{c}.7.0({v[f'u{k}']}*V)" for k, c in ((1, 32), (2, 52), (3, 72))),
            *(f"1-0:{c}.7.0({v[f'i{k}']}*A)" for k, c in ((1, 31), (2, 51), (3, 71))),
            f"1-0:13.7.0({total_pf:.3f})",
            *(f"1-0:{c}.7.0({pf[k - 1]:.3f})" for k, c in ((1, 33), (2, 53), (3, 73))),
            f"1-0:14.7.0({50 + self.rng.gauss(0, 0.02):05.2f}*Hz)",
            f"1-0:1.7.0({v['p_imp']}*kW)",
            f"1-0:2.7.0({v['p_exp']}*kW)",
            f"1-0:5.7.0({reactive_power:06.3f}*kvar)",
            "1-0:6.7.0(00.000*kvar)",
            "1-0:7.7.0(00.000*kvar)",
            f"1-0:8.7.0({reactive_power * 3:06.3f}*kvar)",
        ]

    def _month_end(self) -> str:
        first = self.now.replace(day=1, hour=0, minute=0, second=0)
        regs = "".join(f"({x:010.3f}*kWh)" for x in (6604.981, 3374.373, 3230.608, 0, 0, 0))
        return f"0-0:98.1.0({_ts(first)}){regs}(000639.101*kvarh)(001569.667*kvarh)"

    def _lines_hu_sanxing(self) -> list[str]:
        v = self._common_values()
        return [
            "/AUX59902759988",
            "",
            f"0-0:1.0.0({v['ts']})",
            "0-0:42.0.0(AUX1030302759988)",
            "0-0:96.1.0(9902759988)",
            f"0-0:96.14.0({self._tariff:04d})",
            "0-0:96.50.68(ON)",
            "0-0:17.0.0(90.000*kW)",
            *self._hungarian_common(v, ints=True),
            self._month_end(),
            "0-0:96.13.0(" + "\xff" * 1024 + ")",
        ]

    def _lines_hu_sagemcom(self) -> list[str]:
        v = self._common_values()
        return [
            "/SAG5SAG-METER",
            "",
            f"0-0:1.0.0({v['ts']})",
            f"0-0:42.0.0({_hex('SAG1030700123456')})",
            f"0-0:96.1.0({_hex('9900123456')})",
            f"0-0:96.14.0({self._tariff:04d})",
            "0-0:96.3.10(1)",
            "0-0:17.0.0(90.000*kW)",
            *self._hungarian_common(v, ints=True),
            "1-0:31.4.0(200.00*A)",
            "1-0:51.4.0(200.00*A)",
            "1-0:71.4.0(200.00*A)",
            self._month_end(),
            "0-0:96.13.0()",
        ]

    def _dutch_power(self, v: dict[str, str]) -> list[str]:
        return [
            *(f"1-0:{c}.7.0({v[f'pi{k}']}*kW)" for k, c in ((1, 21), (2, 41), (3, 61))),
            *(f"1-0:{c}.7.0({v[f'pe{k}']}*kW)" for k, c in ((1, 22), (2, 42), (3, 62))),
        ]

    def _dutch_energy(self, v: dict[str, str]) -> list[str]:
        return [
            *(f"1-0:1.8.{k}({v[f'e{k}']}*kWh)" for k in (1, 2)),
            *(f"1-0:2.8.{k}({v[f'x{k}']}*kWh)" for k in (1, 2)),
            f"0-0:96.14.0({self._tariff:04d})",
            f"1-0:1.7.0({v['p_imp']}*kW)",
            f"1-0:2.7.0({v['p_exp']}*kW)",
        ]

    def _gas_line(self, code: str) -> str:
        """The gas meter's last reading and its capture time: hourly (DSMR 4), every 5 minutes
        (DSMR 5, e-MUCS); the line changes only when a new reading is captured."""
        minutes = 60 if self.style == "nl_dsmr4" else 5
        capture = self.now.replace(minute=self.now.minute // minutes * minutes, second=0)
        if self._gas_reading is None or self._gas_reading[0] != capture:
            self._gas_reading = (capture, self.state.gas)
        return f"0-1:{code}({_ts(capture)})({self._gas_reading[1]:09.3f}*m3)"

    def _quality(self) -> list[str]:
        return [
            f"0-0:96.7.21({self.state.failures:05d})",
            "0-0:96.7.9(00003)",
            "1-0:99.97.0(1)(0-0:96.7.19)(190326095015W)(0000002014*s)",
            *(f"1-0:{c}.32.0(00001)" for c in (32, 52, 72)),
            *(f"1-0:{c}.36.0(00001)" for c in (32, 52, 72)),
        ]

    def _lines_nl_dsmr5(self) -> list[str]:
        v = self._common_values()
        return [
            "/ISK5\\2M550T-1012",
            "",
            "1-3:0.2.8(50)",
            f"0-0:1.0.0({v['ts']})",
            f"0-0:96.1.1({_hex('E0044007382246019')})",
            *self._dutch_energy(v),
            *self._quality(),
            "0-0:96.13.0()",
            *(f"1-0:{c}.7.0({v[f'u{k}']}*V)" for k, c in ((1, 32), (2, 52), (3, 72))),
            *(f"1-0:{c}.7.0({v[f'i{k}']}*A)" for k, c in ((1, 31), (2, 51), (3, 71))),
            *self._dutch_power(v),
            "0-1:24.1.0(003)",
            f"0-1:96.1.0({_hex('G0039001936990619')})",
            self._gas_line("24.2.1"),
        ]

    def _lines_nl_dsmr4(self) -> list[str]:
        v = self._common_values()
        return [
            "/KFM5KAIFA-METER",
            "",
            "1-3:0.2.8(42)",
            f"0-0:1.0.0({v['ts']})",
            f"0-0:96.1.1({_hex('E0026000024716516')})",
            *self._dutch_energy(v),
            *self._quality(),
            "0-0:96.13.1()",
            "0-0:96.13.0()",
            *(f"1-0:{c}.7.0({v[f'i{k}']}*A)" for k, c in ((1, 31), (2, 51), (3, 71))),
            *self._dutch_power(v),
            "0-1:24.1.0(003)",
            f"0-1:96.1.0({_hex('G0026000024716516')})",
            self._gas_line("24.2.1"),
        ]

    def _lines_be_fluvius(self) -> list[str]:
        v = self._common_values()
        demand = sum(self.state.load) * 0.9
        return [
            "/FLU5\\253769484_A",
            "",
            "0-0:96.1.4(50217)",
            f"0-0:96.1.1({_hex('1SAG1100000292')})",
            f"0-0:1.0.0({v['ts']})",
            *self._dutch_energy(v),
            f"1-0:1.4.0({demand:06.3f}*kW)",
            f"1-0:1.6.0({_ts(self.now.replace(hour=1, minute=15, second=0))})(04.329*kW)",
            "0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(230101000000W)(221206183000W)(06.677*kW)"
            "(230201000000W)(230118174500W)(05.380*kW)",
            *self._dutch_power(v),
            *(f"1-0:{c}.7.0({v[f'u{k}']}*V)" for k, c in ((1, 32), (2, 52), (3, 72))),
            *(f"1-0:{c}.7.0({v[f'id{k}']}*A)" for k, c in ((1, 31), (2, 51), (3, 71))),
            "0-0:96.3.10(1)",
            "0-0:17.0.0(999.9*kW)",
            "1-0:31.4.0(999*A)",
            "0-0:96.13.0()",
            "0-1:24.1.0(003)",
            f"0-1:96.1.1({_hex('37464C4F32313233')})",
            "0-1:24.4.0(1)",
            self._gas_line("24.2.3"),
        ]


def demo_log(count: int = 180, seed: int = 2023) -> bytes:
    """The bundled sample log: a PuTTY session of a Hungarian Sanxing meter with solar export
    on L1, a few bytes of line noise between some telegrams and a few damaged telegrams, like the
    original user's line (``scripts/make-sample-log`` writes it)."""
    from .faults import inject

    sim = MeterSimulator("hu_sanxing", seed=seed, start=datetime(2023, 5, 2, 12, 0, 0), solar=True)
    rng = random.Random(seed)
    damaged = {17: "slash_garbage", 61: "bit_loss", 104: "line_end", 149: "bit_loss"}
    parts = [putty_header(sim.now)]
    for number, telegram in enumerate(sim.telegrams(count)):
        if number in damaged:
            telegram = inject(telegram, damaged[number], rng)
        elif rng.random() < 0.03:
            parts.append(bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 6))))
        parts.append(telegram)
    return b"".join(parts)
