"""A simulated low-voltage feeder behind a meter: known impedances, for validating the insight.

The meter simulator (:mod:`.generator`) normally lets voltages wander on their own. Given a
:class:`Feeder`, each phase's voltage is what the physics makes it instead:

    V_k = E_k - Zp_k * I_k - Zn * (I_1 + I_2 + I_3)        (phasors)

``E_k`` is the source (the transformer's terminal) at 0, -120 and +120 degrees, ``Zp_k`` the phase
conductor, ``Zn`` the neutral, ``I_k`` the household's current on phase k (from its active and
reactive power). The meter reports ``|V_k|``. For an active current ``a_j`` on phase j (resistive
loads), to first order ``|V_k| = |E_k| - sum_j M_kj * a_j`` with ``M_kk = Zp_k + Zn`` (the loop
impedance the issue calls the phase's source impedance) and ``M_kj = -Zn / 2`` for ``k != j`` when
the lines are resistive (the neutral's drop, seen 120 degrees away, raises the other phases).
:meth:`Feeder.truth` computes ``M`` numerically, so it holds for reactive lines too.

What makes real data hard is modelled, each with a knob: the source voltage drifts (a random walk
common to the phases and one per phase), jumps (tap changers, feeder switching), rises at midday
(the neighbours' solar, under the same clouds as this house's panels: a drift correlated with this
house's own current), carries the neighbours' small loads as noise; appliances switch on single
phases and on all three (with power factors below 1 for motors); a meter sometimes reads the
voltage before a step and the current after it (timing skew), and rarely reads a wrong voltage.
"""

from __future__ import annotations

import cmath
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["DEFAULT_APPLIANCES", "Appliance", "Feeder", "FeederState"]

_ROTATION = (1.0 + 0j, cmath.rect(1.0, -2 * math.pi / 3), cmath.rect(1.0, 2 * math.pi / 3))


@dataclass(frozen=True, slots=True)
class Appliance:
    """A load that switches: ``kw`` on each of ``phases`` while on."""

    name: str
    kw: float
    phases: tuple[int, ...]
    """1-based phases it draws from (all three for a three-phase load)."""
    on_minutes: float
    """Mean time it stays on."""
    starts_per_hour: float
    """Mean starts per hour within ``hours``."""
    power_factor: float = 1.0
    hours: tuple[int, int] = (0, 24)
    """Local hours in which it starts."""


DEFAULT_APPLIANCES: tuple[Appliance, ...] = (
    Appliance("kettle", 2.0, (1,), 3.0, 0.8, hours=(6, 23)),
    Appliance("microwave", 1.2, (1,), 2.0, 0.6, 0.95, (7, 22)),
    Appliance("oven element", 2.4, (2,), 1.5, 4.0, hours=(17, 20)),
    Appliance("hob", 1.8, (2,), 4.0, 1.0, hours=(7, 21)),
    Appliance("water heater", 2.4, (3,), 20.0, 0.5),
    Appliance("washing machine", 2.0, (3,), 12.0, 0.3, hours=(8, 22)),
    Appliance("dishwasher", 1.8, (1,), 15.0, 0.2, hours=(12, 23)),
    Appliance("fridge", 0.12, (2,), 12.0, 2.0, 0.7),
    Appliance("heat pump", 1.2, (1, 2, 3), 25.0, 0.6, 0.92),
    Appliance("EV charger", 3.7, (1, 2, 3), 60.0, 0.05, hours=(17, 24)),
    Appliance("iron", 1.5, (3,), 6.0, 0.3, hours=(9, 21)),
)
"""A household: single-phase steps of 1.2 to 2.4 kW on each phase, motors, three-phase loads."""


@dataclass(frozen=True, slots=True)
class Feeder:
    """The network behind the meter and what disturbs it (see the module's description)."""

    impedance: tuple[float, float, float] = (0.2, 0.35, 0.5)
    """Ohm: each phase's loop impedance (phase conductor plus neutral), ``M_kk``."""
    neutral: float = 0.1
    """Ohm: the neutral conductor."""
    x_over_r: float = 0.0
    """The lines' reactance as a share of their resistance (LV cables: 0.1 to 0.5)."""
    nominal: float = 230.0
    offset: tuple[float, float, float] = (3.0, 0.0, 5.0)
    """V: each phase's source voltage above nominal (an unbalanced transformer)."""
    drift: float = 0.03
    """V per root second: random walk of the source voltage, common to the phases."""
    phase_drift: float = 0.01
    """V per root second: random walk of each phase's source voltage on its own."""
    noise: float = 0.06
    """V: the neighbours' small loads, independent per telegram and phase."""
    taps_per_day: float = 6.0
    """Source steps of ``tap_v`` (tap changers, feeder switching), common to the phases."""
    tap_v: float = 1.5
    solar_rise: float = 12.0
    """V: the neighbours' solar raises the source at midday (clear sky)."""
    cloud_share: float = 0.6
    """How much of this house's clouds the neighbours share (0: none, 1: the same clouds)."""
    solar_kw: float = 4.5
    """This house's solar on L1 at midday (when the simulator is asked for solar)."""
    skew: float = 0.02
    """Share of telegrams after a switch whose voltage is read before the switch (timing skew)."""
    glitch: float = 0.0005
    """Share of telegrams with a wrong voltage on one phase."""
    background: tuple[float, float, float] = (0.15, 0.2, 0.1)
    """kW: each phase's base load (slowly wandering)."""
    appliances: tuple[Appliance, ...] = DEFAULT_APPLIANCES

    def __post_init__(self) -> None:
        if min(self.impedance) < self.neutral or self.neutral < 0:
            raise ValueError(
                "each phase's loop impedance includes the neutral: impedance >= neutral"
            )

    def _lines(self) -> tuple[list[complex], complex]:
        ratio = complex(1.0, self.x_over_r)
        return [(z - self.neutral) * ratio for z in self.impedance], self.neutral * ratio

    def voltages(
        self, sources: Sequence[float], active_kw: Sequence[float], reactive_kvar: Sequence[float]
    ) -> list[float]:
        """``|V_k|`` for source voltages ``|E_k|`` and the household's power per phase."""
        phase_z, neutral_z = self._lines()
        sources_c = [e * r for e, r in zip(sources, _ROTATION, strict=True)]
        power = [complex(p, q) * 1000.0 for p, q in zip(active_kw, reactive_kvar, strict=True)]
        volts = list(sources_c)
        for _ in range(4):  # V depends on I = conj(S / V): a few fixed-point steps converge
            currents = [(s / v).conjugate() for s, v in zip(power, volts, strict=True)]
            neutral_drop = neutral_z * sum(currents)
            volts = [
                e - z * i - neutral_drop
                for e, z, i in zip(sources_c, phase_z, currents, strict=True)
            ]
        return [abs(v) for v in volts]

    def truth(self) -> tuple[tuple[float, float, float], ...]:
        """``M`` (ohm): ``-d|V_k| / da_j`` for resistive loads at nominal voltage, row k, column j."""
        base = [self.nominal] * 3
        rows = [[0.0] * 3 for _ in range(3)]
        amps = 1.0
        for j in range(3):
            up = [0.0] * 3
            down = [0.0] * 3
            up[j] = amps * self.nominal / 1000.0
            down[j] = -up[j]
            high = self.voltages(base, up, [0.0] * 3)
            low = self.voltages(base, down, [0.0] * 3)
            for k in range(3):
                rows[k][j] = -(high[k] - low[k]) / (2 * amps)
        return tuple((r[0], r[1], r[2]) for r in rows)

    def start(self, seed: int) -> FeederState:
        """The feeder's running state, seeded."""
        return FeederState(self, random.Random(seed ^ 0x5EED))


@dataclass
class _Switch:
    appliance: Appliance
    on: bool = False
    until: float = 0.0
    """Seconds since the start when it toggles next."""


@dataclass
class FeederState:
    """A running feeder: advances with the meter simulator's clock."""

    feeder: Feeder
    rng: random.Random
    elapsed: float = 0.0
    common: float = 0.0
    per_phase: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    base: list[float] = field(default_factory=list)
    cloud: float = 1.0
    cloud_target: float = 1.0
    cloud_until: float = 0.0
    switches: list[_Switch] = field(default_factory=list)
    previous: tuple[list[float], list[float]] | None = None
    switched: bool = False

    def __post_init__(self) -> None:
        self.base = list(self.feeder.background)
        self.switches = [_Switch(a) for a in self.feeder.appliances]

    def _advance_switches(self, now: datetime, seconds: float) -> None:
        rng = self.rng
        hour = now.hour
        end = self.elapsed + seconds
        self.switched = False
        for switch in self.switches:
            appliance = switch.appliance
            while switch.until <= end:
                if switch.until > 0:
                    first, last = appliance.hours
                    if switch.on or first <= hour < last:
                        switch.on = not switch.on
                        self.switched = True
                if switch.on:
                    duration = rng.expovariate(1.0 / (60.0 * appliance.on_minutes))
                    switch.until += max(20.0, duration)
                else:
                    switch.until += rng.expovariate(appliance.starts_per_hour / 3600.0)

    def step(
        self, now: datetime, seconds: float, with_solar: bool
    ) -> tuple[list[float], float, list[float]]:
        """Advance by ``seconds`` to ``now``: (load kW per phase, solar kW on L1, voltages)."""
        feeder = self.feeder
        rng = self.rng
        self._advance_switches(now, seconds)
        self.elapsed += seconds
        root = math.sqrt(seconds)
        # The source: mean-reverting random walks, tap steps.
        keep = math.exp(-seconds / 3600.0)
        self.common = self.common * keep + rng.gauss(0.0, feeder.drift * root)
        if rng.random() < feeder.taps_per_day * seconds / 86400.0:
            self.common += rng.choice((-1.0, 1.0)) * feeder.tap_v
        for k in range(3):
            self.per_phase[k] = self.per_phase[k] * keep + rng.gauss(0.0, feeder.phase_drift * root)
            self.base[k] = max(
                0.03,
                feeder.background[k]
                + (self.base[k] - feeder.background[k]) * math.exp(-seconds / 600.0)
                + rng.gauss(0.0, 0.002 * root),
            )
        # Clouds: clear and cloudy spells, each change a ramp of about 20 s.
        if self.elapsed >= self.cloud_until:
            self.cloud_target = 1.0 if self.cloud_target < 1.0 else rng.uniform(0.2, 0.5)
            mean = 600.0 if self.cloud_target == 1.0 else 180.0
            self.cloud_until = self.elapsed + rng.expovariate(1.0 / mean)
        self.cloud += max(-seconds / 20.0, min(seconds / 20.0, self.cloud_target - self.cloud))
        hour = now.hour + now.minute / 60.0 + now.second / 3600.0
        sun = max(0.0, 1.0 - abs(hour - 13.0) / 6.0)
        solar = feeder.solar_kw * sun * self.cloud if with_solar else 0.0
        neighbours = 1.0 - feeder.cloud_share * (1.0 - self.cloud)
        rise = feeder.solar_rise * sun * neighbours
        # The household.
        active = list(self.base)
        reactive = [p * 0.2 for p in self.base]
        for switch in self.switches:
            if switch.on:
                appliance = switch.appliance
                tangent = math.tan(math.acos(min(1.0, appliance.power_factor)))
                for phase in appliance.phases:
                    active[phase - 1] += appliance.kw
                    reactive[phase - 1] += appliance.kw * tangent
        net = [active[0] - solar, active[1], active[2]]
        sources = [
            feeder.nominal + feeder.offset[k] + self.common + self.per_phase[k] + rise
            for k in range(3)
        ]
        if self.switched and self.previous is not None and rng.random() < feeder.skew:
            volts = self.feeder.voltages(
                sources, *self.previous
            )  # the voltage read before the step
        else:
            volts = self.feeder.voltages(sources, net, reactive)
        self.previous = (net, reactive)
        volts = [v + rng.gauss(0.0, feeder.noise) for v in volts]
        if rng.random() < feeder.glitch:
            volts[rng.randrange(3)] += rng.choice((-1.0, 1.0)) * rng.uniform(2.0, 8.0)
        return active, solar, volts
