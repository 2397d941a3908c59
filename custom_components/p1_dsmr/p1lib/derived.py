"""Derived values: what users want that the meter does not send directly.

Every formula, with P in kW, U in V, I in A, E in kWh and phases k = 1, 2, 3:

* **Net power** ``P_net = P_import - P_export`` (``1.7.0 - 2.7.0``); per phase
  ``P_net,k = P_import,k - P_export,k`` (``21.7.0 - 22.7.0`` ...) where the meter sends per-phase
  power. Positive means import.
* **Current with decimals** per phase, by the first method that applies:

  1. ``reported``: the meter already sends decimals (Belgian, Swedish meters): its value.
  2. ``p_over_u``: per-phase power exists: ``I_k = 1000 * (P_import,k + P_export,k) / U_k``
     (the active current; it equals the meter's current at power factor 1).
  3. ``power_factor_fit`` (estimate; Hungarian meters: whole amps, truncated, no per-phase power,
     but total power and per-phase power factors): the true current lies in ``[n_k, n_k + 1)``
     for a reading ``n_k``. With ``w_k = U_k * PF_k`` (PF outside (0, 1] taken as 1), the common
     fraction ``f = (1000 * (P_import + P_export) - sum(w_k * n_k)) / sum(w_k)`` is the one that
     makes the phases' active powers add up to the total: ``I_k = n_k + f``. It assumes every
     phase flows the same way and has the same fraction: exact for one loaded phase, off by up to
     the spread of the phases' true fractions otherwise. ``f`` outside ``[0, 1)`` by no more
     than the rounding of the meter's numbers plus ``FIT_TOLERANCE`` is clamped to
     ``[0, 0.999]``; farther (``inputs_disagree``: a phase exports while another imports, so the
     meter's totals are nets; power and currents sampled at different moments) the currents are
     None, never a value pinned to the clamp. A phase with a reading but no voltage leaves its
     power unaccounted for: then ``midpoint``.
  4. ``midpoint`` (estimate; whole amps and nothing else): ``I_k = n_k + 0.5`` for ``n_k > 0``,
     ``0`` for ``n_k = 0``.

* **Signed total current** (the original tool's): ``I_signed = 1000 * P_net / mean(U_k)``, over
  the phases with a voltage above 0.
* **Average power over the interval** between this telegram and the previous accepted one, from the
  energy counters and the meter's timestamps: ``P_avg = (E_now - E_prev) / (t_now - t_prev)``
  (kWh over hours), for import, export and net. ``E`` is ``1.8.0`` (``2.8.0``), or the sum of the
  tariff registers when the meter sends no total.
* **Energy within the interval**: ``dE_import``, ``dE_export`` and the **simultaneous** energy
  ``min(dE_import, dE_export)``: energy exported and imported within the same interval, which
  per-phase billing charges for although it never needed to cross the meter. Where per-phase power
  exists, the instantaneous **simultaneous power** is
  ``min(sum of P_net,k > 0, sum of -P_net,k over P_net,k < 0)``.
* **Peaks**: the highest voltage and current of this telegram and their phase; running maxima since
  the start of the stream, with a flag when a telegram sets a new one.
* **Flags**: per phase ``U_k > voltage threshold`` and ``I_k > current threshold``; and
  ``max(P_import, P_export) > power threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from .telegram import Fields, Telegram

__all__ = ["Derived", "DerivedCalculator", "Thresholds", "PHASES", "FIT_TOLERANCE", "ESTIMATED"]

PHASES = (1, 2, 3)

_VOLTAGE = ("1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0")
_CURRENT = ("1-0:31.7.0", "1-0:51.7.0", "1-0:71.7.0")
_POWER_IMPORT = ("1-0:21.7.0", "1-0:41.7.0", "1-0:61.7.0")
_POWER_EXPORT = ("1-0:22.7.0", "1-0:42.7.0", "1-0:62.7.0")
_POWER_FACTOR = ("1-0:33.7.0", "1-0:53.7.0", "1-0:73.7.0")
_IMPORT_TARIFFS = ("1-0:1.8.1", "1-0:1.8.2", "1-0:1.8.3", "1-0:1.8.4")
_EXPORT_TARIFFS = ("1-0:2.8.1", "1-0:2.8.2", "1-0:2.8.3", "1-0:2.8.4")

ESTIMATED = frozenset(("power_factor_fit", "midpoint", "inputs_disagree"))
"""Current methods that estimate (the meter sends whole amps and no per-phase power)."""

Triple = tuple[float | None, float | None, float | None]

_NONE3: Triple = (None, None, None)
_INPUTS = (
    *_VOLTAGE,
    *_CURRENT,
    *_POWER_IMPORT,
    *_POWER_EXPORT,
    *_POWER_FACTOR,
    "1-0:1.7.0",
    "1-0:2.7.0",
    "1-0:1.8.0",
    *_IMPORT_TARIFFS,
    "1-0:2.8.0",
    *_EXPORT_TARIFFS,
)
_INPUT_FIELDS = Fields(_INPUTS)
_CURRENT_FIELDS = Fields(_CURRENT)
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (hot path)


FIT_TOLERANCE = 0.01
"""How far outside ``[0, 1)`` the fitted fraction may fall, beyond the rounding of the numbers the
meter sends, and still be read as the edge of the interval; farther, the inputs disagree and the
currents are unknown. The rounding: power to 1 W (0.5 W), voltage to 0.1 V (0.05 V per amp),
power factor to 0.001 (0.0005 of each phase's volt-amperes)."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Limits for the stress flags (defaults are the original tool's)."""

    voltage: float = 240.0
    """V, per phase."""
    current: float = 18.0
    """A, per phase."""
    power: float = 11.0
    """kW, import or export."""


class Derived(NamedTuple):
    """Values computed from one telegram and the one before (None: not computable)."""

    net_power: float | None
    net_power_l1: float | None
    net_power_l2: float | None
    net_power_l3: float | None
    current_l1: float | None
    current_l2: float | None
    current_l3: float | None
    current_method: str
    """``reported``, ``p_over_u``, ``power_factor_fit``, ``midpoint``, ``inputs_disagree`` (a fit
    was tried and no fraction explains the total: the currents are None) or empty."""
    current_estimated: bool
    signed_current: float | None
    interval_s: float | None
    avg_power_import: float | None
    avg_power_export: float | None
    avg_power_net: float | None
    energy_import_interval: float | None
    energy_export_interval: float | None
    energy_simultaneous: float | None
    simultaneous_power: float | None
    max_voltage: float | None
    max_voltage_phase: int | None
    max_current: float | None
    max_current_phase: int | None
    peak_voltage: float | None
    peak_current: float | None
    new_peak_voltage: bool
    new_peak_current: bool
    overvoltage_l1: bool
    overvoltage_l2: bool
    overvoltage_l3: bool
    overcurrent_l1: bool
    overcurrent_l2: bool
    overcurrent_l3: bool
    overpower: bool


def _energy(
    total: float | None, t1: float | None, t2: float | None, t3: float | None, t4: float | None
) -> float | None:
    """The total register, or the sum of the tariff registers when the meter sends no total."""
    if total is not None:
        return total
    for part in (t1, t2, t3, t4):
        if part is not None:
            total = part if total is None else total + part
    return total


def _argmax(values: Triple) -> tuple[float | None, int | None]:
    """The highest value and its phase (the first phase on a tie)."""
    v1, v2, v3 = values
    best, phase = (v1, 1) if v1 is not None else (None, None)
    if v2 is not None and (best is None or v2 > best):
        best, phase = v2, 2
    if v3 is not None and (best is None or v3 > best):
        best, phase = v3, 3
    return best, phase


def _estimated_currents(
    readings: Triple,
    voltages: Triple,
    power_factors: Triple,
    total_import: float | None,
    total_export: float | None,
) -> tuple[Triple, str]:
    """Currents with decimals from whole-amp readings (``power_factor_fit`` or ``midpoint``)."""
    if readings == _NONE3:
        return _NONE3, ""
    # The fit needs the voltage of every phase that has a reading: the power of a phase without
    # one cannot be told apart from the others' (a Sanxing meter that drops 32.7.0).
    complete = all(
        r is None or (u is not None and u > 0) for r, u in zip(readings, voltages, strict=True)
    )
    if total_import is not None and complete:
        weights: list[float] = []
        base = 0.0
        rounding = 0.5  # W: the total power's last digit
        for k in range(3):
            u = voltages[k]
            if u is None or readings[k] is None:
                weights.append(0.0)
                continue
            pf = power_factors[k]
            if pf is None or not 0.0 < pf <= 1.0:
                pf = 1.0
            weights.append(u * pf)
            amps = (readings[k] or 0.0) + 1.0
            base += u * pf * (readings[k] or 0.0)
            rounding += amps * (0.05 * pf + 0.0005 * u)
        total_weight = sum(weights)
        if total_weight > 0:
            residual = 1000.0 * (total_import + (total_export or 0.0)) - base
            fraction = residual / total_weight
            tolerance = FIT_TOLERANCE + rounding / total_weight
            if not -tolerance <= fraction < 1.0 + tolerance:
                # No fraction in [0, 1) explains the total: the inputs disagree (a phase exporting
                # while another imports, samples taken at different moments). Unknown, not a guess
                # pinned to the edge of the interval.
                return _NONE3, "inputs_disagree"
            fraction = min(max(fraction, 0.0), 0.999)
            fitted = [None if r is None else r + fraction for r in readings]
            return (fitted[0], fitted[1], fitted[2]), "power_factor_fit"
    mid = [None if r is None else (r + 0.5 if r > 0 else 0.0) for r in readings]
    return (mid[0], mid[1], mid[2]), "midpoint"


class DerivedCalculator:
    """Computes :class:`Derived` for a sequence of telegrams from one meter (state: O(1))."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        self._previous: tuple[datetime, float | None, float | None] | None = None
        self._peak_voltage: float | None = None
        self._peak_current: float | None = None
        self._layout: object = None
        self._reported = False

    def reset(self) -> None:
        """Forget the previous telegram and the running peaks."""
        self._previous = None
        self._peak_voltage = None
        self._peak_current = None

    def update(self, telegram: Telegram) -> Derived:
        """Derive values for ``telegram`` (the next accepted one of the stream)."""
        thresholds = self.thresholds
        # Every input number in one pass (None where the meter does not send it).
        (
            u1, u2, u3, c1, c2, c3, pi1, pi2, pi3, pe1, pe2, pe3, pf1, pf2, pf3,
            total_import, total_export, import_total, i1_, i2_, i3_, i4_,
            export_total, x1_, x2_, x3_, x4_,
        ) = telegram.numbers(_INPUT_FIELDS)  # fmt: skip
        if telegram.layout is not self._layout:
            # Whether the meter sends currents with decimals: the same for the whole layout.
            self._layout = telegram.layout
            self._reported = any("." in text for text in telegram.number_texts(_CURRENT_FIELDS))
        voltages: Triple = (u1, u2, u3)
        net_power = None
        if total_import is not None or total_export is not None:
            net_power = (total_import or 0.0) - (total_export or 0.0)
        n1: float | None = None
        n2: float | None = None
        n3: float | None = None
        simultaneous_power: float | None = None
        per_phase_import = pi1 is not None or pi2 is not None or pi3 is not None
        if per_phase_import or pe1 is not None or pe2 is not None or pe3 is not None:
            imported = exported = 0.0
            if pi1 is not None or pe1 is not None:
                n1 = (pi1 or 0.0) - (pe1 or 0.0)
                if n1 > 0:
                    imported += n1
                else:
                    exported -= n1
            if pi2 is not None or pe2 is not None:
                n2 = (pi2 or 0.0) - (pe2 or 0.0)
                if n2 > 0:
                    imported += n2
                else:
                    exported -= n2
            if pi3 is not None or pe3 is not None:
                n3 = (pi3 or 0.0) - (pe3 or 0.0)
                if n3 > 0:
                    imported += n3
                else:
                    exported -= n3
            simultaneous_power = min(imported, exported)
        currents: Triple
        if self._reported:  # the meter sends decimals
            currents, method = (c1, c2, c3), "reported"
        elif per_phase_import:
            # 1000 * (P_import + P_export) / U per phase; the reading where U or P is missing
            currents = (
                c1 if u1 is None or u1 <= 0 or pi1 is None else 1000.0 * (pi1 + (pe1 or 0.0)) / u1,
                c2 if u2 is None or u2 <= 0 or pi2 is None else 1000.0 * (pi2 + (pe2 or 0.0)) / u2,
                c3 if u3 is None or u3 <= 0 or pi3 is None else 1000.0 * (pi3 + (pe3 or 0.0)) / u3,
            )
            method = "p_over_u"
        else:
            currents, method = _estimated_currents(
                (c1, c2, c3), voltages, (pf1, pf2, pf3), total_import, total_export
            )
        signed_current = None
        if net_power is not None:
            live = 0
            volts: float = 0  # as sum() adds them
            if u1 is not None and u1 > 0:
                live += 1
                volts += u1
            if u2 is not None and u2 > 0:
                live += 1
                volts += u2
            if u3 is not None and u3 > 0:
                live += 1
                volts += u3
            if live:
                signed_current = 1000.0 * net_power * live / volts

        # Interval values from the energy counters and the meter's clock.
        # _energy(), with the two-tariff case of Dutch and Belgian meters inlined (hot path)
        if import_total is None and i1_ is not None and i2_ is not None and i3_ is i4_ is None:
            e_import: float | None = i1_ + i2_
        else:
            e_import = _energy(import_total, i1_, i2_, i3_, i4_)
        if export_total is None and x1_ is not None and x2_ is not None and x3_ is x4_ is None:
            e_export: float | None = x1_ + x2_
        else:
            e_export = _energy(export_total, x1_, x2_, x3_, x4_)
        timestamp = telegram.timestamp
        interval = avg_import = avg_export = avg_net = None
        d_import = d_export = simultaneous = None
        previous = self._previous
        if timestamp is not None and previous is not None:
            seconds = (timestamp - previous[0]).total_seconds()
            if seconds > 0:
                interval = seconds
                hours = seconds / 3600.0
                if e_import is not None and previous[1] is not None and e_import >= previous[1]:
                    d_import = e_import - previous[1] + 0.0  # never -0.0, even from "-0"
                    avg_import = d_import / hours
                if e_export is not None and previous[2] is not None and e_export >= previous[2]:
                    d_export = e_export - previous[2] + 0.0
                    avg_export = d_export / hours
                if d_import is not None or d_export is not None:
                    avg_net = ((d_import or 0.0) - (d_export or 0.0)) / hours
                if d_import is not None and d_export is not None:
                    simultaneous = min(d_import, d_export)
        if timestamp is not None:
            self._previous = (timestamp, e_import, e_export)

        # _argmax(), with max() where every phase has a value (the first phase on a tie, as there)
        if None in voltages:
            max_voltage, max_voltage_phase = _argmax(voltages)
        else:
            max_voltage = max(voltages)  # type: ignore[type-var]
            max_voltage_phase = voltages.index(max_voltage) + 1
        if None in currents:
            max_current, max_current_phase = _argmax(currents)
        else:
            max_current = max(currents)  # type: ignore[type-var]
            max_current_phase = currents.index(max_current) + 1
        new_peak_voltage = max_voltage is not None and (
            self._peak_voltage is None or max_voltage > self._peak_voltage
        )
        if new_peak_voltage:
            self._peak_voltage = max_voltage
        new_peak_current = max_current is not None and (
            self._peak_current is None or max_current > self._peak_current
        )
        if new_peak_current:
            self._peak_current = max_current
        u_max = thresholds.voltage
        i_max = thresholds.current
        i1, i2, i3 = currents
        derived: Derived = _new(
            Derived,
            (
                net_power,
                n1,
                n2,
                n3,
                i1,
                i2,
                i3,
                method,
                method in ESTIMATED,
                signed_current,
                interval,
                avg_import,
                avg_export,
                avg_net,
                d_import,
                d_export,
                simultaneous,
                simultaneous_power,
                max_voltage,
                max_voltage_phase,
                max_current,
                max_current_phase,
                self._peak_voltage,
                self._peak_current,
                new_peak_voltage,
                new_peak_current,
                u1 is not None and u1 > u_max,
                u2 is not None and u2 > u_max,
                u3 is not None and u3 > u_max,
                i1 is not None and i1 > i_max,
                i2 is not None and i2 > i_max,
                i3 is not None and i3 > i_max,
                max(total_import or 0.0, total_export or 0.0) > thresholds.power,
            ),
        )
        return derived
