"""A meter simulator: realistic telegram streams with valid CRCs, for tests, benchmarks and demos.

Styles (each with the line set, field widths and period of its real counterpart):

* ``hu_sanxing``: Hungarian E.ON/MVM Sanxing (``/AUX5``), 10 s, 1024-byte 0xFF provider message;
* ``hu_sagemcom``: Hungarian E.ON Sagemcom (``/SAG5``), 10 s, hex-encoded identifiers;
* ``nl_dsmr5``: Dutch DSMR 5.0 (``/ISK5``), 1 s, per-phase power, gas on M-Bus channel 1;
* ``nl_dsmr4``: Dutch DSMR 4.2 (``/KFM5``), 10 s, gas;
* ``be_fluvius``: Belgian e-MUCS (``/FLU5``), 1 s, currents with decimals, capacity tariff, gas.

:data:`MORE_STYLES` adds the other dialects (not in :data:`STYLES`, which the repair tests and
benchmarks iterate):

* ``at_sagemcom``: Austrian Sagemcom T210-D (``/EST5``), 1 s, values in W, Wh, var and varh,
  reactive energy per tariff;
* ``lu_smarty``: Luxembourg Smarty (``/Lux5``), 10 s, apparent power in kVA, the current limit on
  channel 1 (``1-1:31.4.0``), breaker states of the M-Bus channels, text messages 2 to 5, gas;
* ``be_iskra_ie``: Iskra IE.5 (``/ISk5\\2MIE5T-200``, Wallonia), 1 s, a clock without S/W flag;
* ``nl_two_mbus``: Dutch Iskra AM550 (``/ISK5``), 1 s, an empty M-Bus slot on channel 1, its gas
  meter on channel 2 and a water meter (in dm3) on channel 3.

Loads follow a seeded random walk (with solar export on one phase for some styles), counters
integrate the power, so consecutive telegrams are physically consistent. The meters' clocks are
their zones' local time, with the S/W flag right in the hour that repeats in autumn. With a
:class:`~.feeder.Feeder`, appliances switch on the phases and each phase's voltage follows from the
feeder's known impedances instead (for validating the phase insight).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .clock import zone
from .crc import crc16
from .feeder import Feeder

__all__ = ["ALL_STYLES", "MORE_STYLES", "STYLES", "MeterSimulator", "demo_log", "putty_header"]

STYLES = ("hu_sanxing", "hu_sagemcom", "nl_dsmr5", "nl_dsmr4", "be_fluvius")
MORE_STYLES = ("at_sagemcom", "lu_smarty", "be_iskra_ie", "nl_two_mbus")
ALL_STYLES = STYLES + MORE_STYLES

_PERIOD = {
    "hu_sanxing": 10,
    "hu_sagemcom": 10,
    "nl_dsmr5": 1,
    "nl_dsmr4": 10,
    "be_fluvius": 1,
    "at_sagemcom": 1,
    "lu_smarty": 10,
    "be_iskra_ie": 1,
    "nl_two_mbus": 1,
}
_ZONE = {
    "hu_sanxing": "Europe/Budapest",
    "hu_sagemcom": "Europe/Budapest",
    "be_fluvius": "Europe/Brussels",
    "be_iskra_ie": "Europe/Brussels",
    "at_sagemcom": "Europe/Vienna",
    "lu_smarty": "Europe/Luxembourg",
}


def putty_header(when: datetime) -> bytes:
    """The line PuTTY writes at the top of a session log."""
    stamp = when.strftime("%Y.%m.%d %H:%M:%S")
    return f"=~=~=~=~=~=~=~=~=~=~=~= PuTTY log {stamp} =~=~=~=~=~=~=~=~=~=~=~=\r\n".encode()


_CET = zone("Europe/Amsterdam")


def _ts(when: datetime, fold: int = 0) -> str:
    """Meter timestamp of a local time (the simulated meters' zones all keep Central European
    time): S in summer time, W in winter time; ``fold`` 1 is the second of a repeated hour."""
    offset = when.replace(tzinfo=_CET, fold=fold).utcoffset()
    return when.strftime("%y%m%d%H%M%S") + ("S" if offset == timedelta(hours=2) else "W")


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
    reactive_t: list[float] = field(default_factory=lambda: [0.747, 383.1, 2692.848, 1204.878])
    """Reactive energy import tariffs 1 and 2, export tariffs 1 and 2 (kvarh)."""
    water: float = 87.654


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
        if style not in ALL_STYLES:
            raise ValueError(f"unknown style {style!r}; choose one of {', '.join(ALL_STYLES)}")
        self.style = style
        self.period = _PERIOD[style]
        self.zone = _ZONE.get(style, "Europe/Amsterdam")
        """The meter's time zone (Central European time, whose rules all styles share)."""
        self.rng = random.Random(seed)
        self.now = start or datetime(2023, 5, 2, 21, 50, 0)
        """The meter's clock: local time (naive)."""
        self._utc = self.now.replace(tzinfo=_CET).astimezone(UTC)
        self._fold = 0
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
        state.reactive_t[self._tariff - 1] += imported * 0.09
        state.reactive_t[self._tariff + 1] += imported * 0.23
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
        self._utc += timedelta(seconds=self.period)
        local = self._utc.astimezone(_CET)
        self.now, self._fold = local.replace(tzinfo=None, fold=0), local.fold
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
        # A meter measures the current the load draws: its active power over the voltage and the
        # power factor (the Hungarian styles send the factors; the others are taken as 1).
        pf = self._power_factors() if self.style.startswith("hu_") else [1.0, 1.0, 1.0]
        amps = [abs(p) * 1000 / (u * f) for p, u, f in zip(net, state.voltage, pf, strict=True)]
        return {
            "ts": _ts(self.now, self._fold),
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

    def _power_factors(self) -> list[float]:
        return [min(1.0, 0.85 + 0.15 * min(1.0, p / 2)) for p in self.state.load]

    def _hungarian_common(self, v: dict[str, str], ints: bool) -> list[str]:
        state = self.state
        pf = self._power_factors()
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
        return f"0-1:{code}({_ts(capture, self._fold)})({self._gas_reading[1]:09.3f}*m3)"

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

    def _lines_at_sagemcom(self) -> list[str]:
        """Energienetze Steiermark's Sagemcom T210-D: W, Wh, var and varh as whole numbers."""
        state = self.state
        v = self._common_values()
        wh = [round(1000 * x) for x in (*state.import_t[:2], *state.export_t[:2])]
        varh = [round(1000 * x) for x in state.reactive_t]
        p_imp, p_exp = (round(1000 * float(v[key])) for key in ("p_imp", "p_exp"))
        reactive = round(sum(state.load) * 80)
        return [
            "/EST5\\253710000_A",
            "",
            "1-3:0.2.8(50)",
            f"0-0:1.0.0({v['ts']})",
            f"1-0:1.8.0({wh[0] + wh[1]:09d}*Wh)",
            f"1-0:1.8.1({wh[0]:09d}*Wh)",
            f"1-0:1.8.2({wh[1]:09d}*Wh)",
            f"1-0:1.7.0({p_imp:09d}*W)",
            f"1-0:2.8.0({wh[2] + wh[3]:09d}*Wh)",
            f"1-0:2.8.1({wh[2]:09d}*Wh)",
            f"1-0:2.8.2({wh[3]:09d}*Wh)",
            f"1-0:2.7.0({p_exp:09d}*W)",
            f"1-0:3.8.0({varh[0] + varh[1]:09d}*varh)",
            f"1-0:3.8.1({varh[0]:09d}*varh)",
            f"1-0:3.8.2({varh[1]:09d}*varh)",
            f"1-0:3.7.0({reactive:09d}*var)",
            f"1-0:4.8.0({varh[2] + varh[3]:09d}*varh)",
            f"1-0:4.8.1({varh[2]:09d}*varh)",
            f"1-0:4.8.2({varh[3]:09d}*varh)",
            "1-0:4.7.0(000000000*var)",
        ]

    def _lines_lu_smarty(self) -> list[str]:
        """Luxembourg's Smarty (Sagemcom): apparent power, the current limit on channel 1, the M-Bus
        channels' breakers, text messages 2 to 5."""
        state = self.state
        v = self._common_values()
        apparent = [float(v[key]) / 0.93 for key in ("p_imp", "p_exp")]
        reactive = sum(state.load) * 0.08
        return [
            "/Lux5\\253663629_D",
            "",
            "1-3:0.2.8(42)",
            f"0-0:1.0.0({v['ts']})",
            f"0-0:42.0.0({_hex('SAG1030700012701')})",
            f"1-0:1.8.0({v['e0']}*kWh)",
            f"1-0:2.8.0({v['x0']}*kWh)",
            f"1-0:3.8.0({state.reactive[0]:010.3f}*kvarh)",
            f"1-0:4.8.0({state.reactive[1]:010.3f}*kvarh)",
            f"1-0:1.7.0({v['p_imp']}*kW)",
            f"1-0:2.7.0({v['p_exp']}*kW)",
            f"1-0:3.7.0({reactive:06.3f}*kvar)",
            "1-0:4.7.0(00.000*kvar)",
            "0-0:17.0.0(027.6*kVA)",
            f"1-0:9.7.0({apparent[0]:06.3f}*kVA)",
            f"1-0:10.7.0({apparent[1]:06.3f}*kVA)",
            "1-1:31.4.0(040*A)(-040*A)",
            "0-0:96.3.10(1)",
            "0-1:96.3.10(0)",
            "0-2:96.3.10(0)",
            f"0-0:96.7.21({state.failures:05d})",
            *(f"1-0:{c}.32.0(00014)" for c in (32, 52, 72)),
            *(f"1-0:{c}.36.0(00000)" for c in (32, 52, 72)),
            "0-0:96.13.0()",
            *(f"0-0:96.13.{k}()" for k in (2, 3, 4, 5)),
            *(f"1-0:{c}.7.0({v[f'u{k}']}*V)" for k, c in ((1, 32), (2, 52), (3, 72))),
            *(f"1-0:{c}.7.0({v[f'i{k}']}*A)" for k, c in ((1, 31), (2, 51), (3, 71))),
            *self._dutch_power(v),
            *(f"1-0:{c}.7.0({reactive / 3:06.3f}*kvar)" for c in (23, 43, 63)),
            *(f"1-0:{c}.7.0(00.000*kvar)" for c in (24, 44, 64)),
            "0-1:24.1.0(003)",
            f"0-1:96.1.0({_hex('FLO1823701203501')})",
            self._gas_line("24.2.1"),
            "0-1:24.4.0(1)",
        ]

    def _lines_be_iskra_ie(self) -> list[str]:
        """Iskra IE.5 in Wallonia: no version line, a clock without S/W flag."""
        v = self._common_values()
        return [
            "/ISk5\\2MIE5T-200",
            "",
            "1-0:0.0.0(00000000)",
            "0-0:96.1.0(89547619)",
            f"0-0:1.0.0({v['ts'][:12]})",
            *(f"1-0:1.8.{k}({v[f'e{k}']}*kWh)" for k in (1, 2)),
            *(f"1-0:2.8.{k}({v[f'x{k}']}*kWh)" for k in (1, 2)),
            f"0-0:96.14.0({self._tariff:04d})",
            f"1-0:1.7.0({v['p_imp']}*kW)",
            f"1-0:2.7.0({v['p_exp']}*kW)",
            *self._dutch_power(v),
            *(f"1-0:{c}.7.0({v[f'u{k}']}*V)" for k, c in ((1, 32), (2, 52), (3, 72))),
            *(f"1-0:{c}.7.0({v[f'i{k}']}*A)" for k, c in ((1, 31), (2, 51), (3, 71))),
            "0-0:96.3.10(1)",
            "0-0:96.13.0()",
            "0-1:96.1.1()",
        ]

    def _lines_nl_two_mbus(self) -> list[str]:
        """An Iskra AM550 whose M-Bus channel 1 is an empty slot: gas on channel 2, water (dm3)
        on channel 3."""
        lines = self._lines_nl_dsmr5()[:-3]  # without its gas meter on channel 1
        if self.now.second == 0:
            self.state.water += self.rng.random() * 0.01
        return [
            *lines,
            "0-1:24.1.0(003)",
            "0-1:96.1.0()",
            "0-1:24.2.1(700101010000W)(00000000)",
            "0-2:24.1.0(003)",
            f"0-2:96.1.0({_hex('G0039001936990619')})",
            self._gas_line("24.2.1").replace("0-1:", "0-2:", 1),
            "0-3:24.1.0(007)",
            f"0-3:96.1.0({_hex('W0051003719620')})",
            f"0-3:24.2.1({_ts(self.now.replace(second=0), self._fold)})"
            f"({round(self.state.water * 1000):08d}*dm3)",
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
