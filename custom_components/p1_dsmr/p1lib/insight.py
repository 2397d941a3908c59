"""Phase and voltage insight: impedances, voltage statistics and which phase a load belongs on.

:class:`PhaseInsight` is fed every accepted telegram of one meter, in order (O(1) each, memory
constant: the converter's ``report`` and the Home Assistant integration use it alike). At any time:

* :meth:`PhaseInsight.snapshot`: per-phase source impedance with its 95 % interval and the neutral
  coupling (:mod:`.impedance`), per-phase voltage statistics (:mod:`.voltage_stats`), the latest
  voltages and their headroom below the threshold, today's share of time above it;
* :meth:`PhaseInsight.what_if`: for a load of P kW (negative: a generator), the expected voltage
  change on each phase if it runs on L1, L2 or L3 (``dU_k = -M_kj * 1000 P / U_j``), the minutes
  each phase would have spent above the threshold over the analysed time had the load run all of
  it, and the phase that minimises that time (summed over the phases; on a tie, the one that leaves
  the highest 99th percentile lowest).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from .impedance import Estimate, Event, ImpedanceEstimator, ImpedanceSnapshot, Reading
from .telegram import Fields, Telegram
from .voltage_stats import EN50160_HIGH, PhaseVoltage, VoltageStatistics, days_from_list

__all__ = [
    "InsightSnapshot",
    "LoadOption",
    "PhaseInsight",
    "WhatIf",
    "reading",
]

Triple = tuple[float | None, float | None, float | None]

_FIELDS = Fields(
    (
        "1-0:32.7.0",
        "1-0:52.7.0",
        "1-0:72.7.0",
        "1-0:31.7.0",
        "1-0:51.7.0",
        "1-0:71.7.0",
        "1-0:21.7.0",
        "1-0:41.7.0",
        "1-0:61.7.0",
        "1-0:22.7.0",
        "1-0:42.7.0",
        "1-0:62.7.0",
        "1-0:1.7.0",
        "1-0:2.7.0",
    )
)


_LIMIT = 1e6
"""Beyond this (and for inf or nan) a value is no measurement: left out."""
MAX_VOLTS = 1000.0
"""A voltage above this is no low-voltage supply's: left out (no meter sends it; a damaged
telegram that passed its CRC can)."""


def reading(telegram: Telegram) -> Reading | None:
    """What the estimator needs from a telegram (None without the meter's clock; a value no meter
    can send, infinite or absurd, is left out as if the meter had not sent it)."""
    timestamp = telegram.timestamp
    if timestamp is None:
        return None
    numbers = telegram.numbers(_FIELDS)
    if not all(x is None or -_LIMIT < x < _LIMIT for x in numbers):  # inf, nan, absurd: none
        numbers = tuple(x if x is None or -_LIMIT < x < _LIMIT else None for x in numbers)
    u1, u2, u3, c1, c2, c3, i1, i2, i3, e1, e2, e3, total_in, total_out = numbers
    u1, u2, u3 = (None if u is None or u > MAX_VOLTS else u for u in (u1, u2, u3))
    voltage: Triple = (u1, u2, u3)
    active: Triple | None = None
    if i1 is not None or i2 is not None or i3 is not None or e1 is not None:

        def signed(
            volts: float | None, imported: float | None, exported: float | None
        ) -> float | None:
            if volts is None or volts <= 0 or (imported is None and exported is None):
                return None
            return 1000.0 * ((imported or 0.0) - (exported or 0.0)) / volts

        active = (signed(u1, i1, e1), signed(u2, i2, e2), signed(u3, i3, e3))
    net = None
    if total_in is not None or total_out is not None:
        net = (total_in or 0.0) - (total_out or 0.0)
    return Reading(timestamp.timestamp(), voltage, active, net, (c1, c2, c3))


@dataclass(frozen=True, slots=True)
class LoadOption:
    """The load on one phase."""

    phase: int
    """1-3: where the load runs."""
    current: float
    """A: its current there (import positive)."""
    delta_v: Triple
    """V per phase: the expected change of each phase's voltage (None where unknown)."""
    delta_v_range: tuple[tuple[float, float] | None, ...]
    """V per phase: the change over the impedance's or coupling's 95 % interval (None where the
    coupling is not supported and taken as 0)."""
    minutes_above: Triple
    """Minutes each phase would have spent above the threshold."""
    p99: Triple
    """Each phase's 99th percentile, shifted."""
    complete: bool
    """Every phase with a voltage has its change (the load's phase has an impedance)."""

    @property
    def total_minutes(self) -> float | None:
        """Minutes above the threshold summed over the phases (None unless complete)."""
        known = [m for m in self.minutes_above if m is not None]
        return math.fsum(known) if self.complete else None

    @property
    def worst_p99(self) -> float | None:
        """The highest shifted 99th percentile (None unless complete)."""
        known = [p for p in self.p99 if p is not None]
        return max(known) if self.complete and known else None


@dataclass(frozen=True, slots=True)
class WhatIf:
    """A load of ``load_kw`` on each phase in turn."""

    load_kw: float
    threshold: float
    baseline_minutes: Triple
    """Minutes each phase spent above the threshold as measured."""
    options: tuple[LoadOption, ...]
    """One per phase with a voltage."""
    best_phase: int | None
    """The phase that minimises the time above the threshold; None when it cannot be told."""
    reason: str
    """Why there is no best phase (empty when there is one)."""


@dataclass(frozen=True, slots=True)
class InsightSnapshot:
    """Everything at one moment."""

    threshold: float
    impedance: ImpedanceSnapshot
    voltage: tuple[PhaseVoltage | None, PhaseVoltage | None, PhaseVoltage | None]
    latest: Triple
    """The newest telegram's voltages."""
    headroom: Triple
    """V below the threshold, now (negative: above it)."""
    today: date | None
    share_above_today: Triple
    """Share of today's observed time each phase was above the threshold."""


class PhaseInsight:
    """Impedances, voltage statistics and the what-if of one meter's telegram stream."""

    def __init__(
        self,
        threshold: float = EN50160_HIGH,
        *,
        estimator: ImpedanceEstimator | None = None,
        keep_windows: int | None = 7 * 144,
        max_days: int = 400,
        rebase_after: int | None = None,
    ) -> None:
        self.threshold = threshold
        self.estimator = estimator or ImpedanceEstimator()
        self.voltage = VoltageStatistics(
            threshold, keep_windows=keep_windows, max_days=max_days, rebase_after=rebase_after
        )
        self.telegrams = 0
        self.accepted: tuple[tuple[datetime, Triple], ...] = ()
        """The readings the last telegram let into the voltage statistics (see
        :meth:`.VoltageStatistics.add`: a clock that jumps ahead waits for the next telegram)."""

    def update(self, telegram: Telegram) -> Event | None:
        """Take the next accepted telegram; returns the load event it completed, if any."""
        found = reading(telegram)
        if found is None:
            return None
        return self.add(found, telegram.timestamp)

    def add(self, found: Reading, when: datetime | None = None) -> Event | None:
        """Take the next reading (``when``: its aware datetime; from its seconds otherwise)."""
        self.telegrams += 1
        if when is None:
            when = datetime.fromtimestamp(found.seconds, UTC)
        voltage = self.voltage
        behind = voltage.out_of_order
        self.accepted = voltage.add(when, found.voltage)
        if voltage.out_of_order != behind and not self.accepted:
            return None  # an earlier clock (an overlapping log): no new evidence either
        return self.estimator.add(found)

    def flush(self) -> tuple[tuple[datetime, Triple], ...]:
        """The end of the stream (a log): see :meth:`.VoltageStatistics.flush`."""
        self.accepted = self.voltage.flush()
        return self.accepted

    def snapshot(self) -> InsightSnapshot:
        """The estimates and statistics now."""
        latest = self.voltage.latest
        headroom = tuple(None if u is None or u <= 0 else self.threshold - u for u in latest)
        today = self.voltage.today()
        shares = (
            (None, None, None)
            if today is None
            else tuple(
                today.share_above(k) if latest[k - 1] is not None else None for k in (1, 2, 3)
            )
        )
        return InsightSnapshot(
            self.threshold,
            self.estimator.snapshot(),
            (self.voltage.phase(1), self.voltage.phase(2), self.voltage.phase(3)),
            latest,
            (headroom[0], headroom[1], headroom[2]),
            None if today is None else today.day,
            (shares[0], shares[1], shares[2]),
        )

    def what_if(self, load_kw: float) -> WhatIf:
        """A load of ``load_kw`` (kW; negative for a generator) on L1, L2 or L3."""
        impedance = self.estimator.snapshot()
        matrix = impedance.matrix()
        stats = [self.voltage.phase(k) for k in (1, 2, 3)]
        # Phases with a voltage a load can run on (a mean under 50 V is no supply).
        live = [k for k in range(3) if (phase := stats[k]) is not None and phase.mean >= 50.0]
        baseline: list[float | None] = [
            None if stats[k] is None else self.voltage.minutes_above_if(k + 1, 0.0)
            for k in range(3)
        ]
        options: list[LoadOption] = []
        for j in live:
            phase_stats = stats[j]
            assert phase_stats is not None
            current = 1000.0 * load_kw / phase_stats.mean
            deltas: list[float | None] = []
            ranges: list[tuple[float, float] | None] = []
            minutes: list[float | None] = []
            p99: list[float | None] = []
            for k in range(3):
                k_stats = stats[k]
                coefficient = matrix[k][j]
                estimate: Estimate | None = (
                    impedance.impedance[k] if k == j else impedance.coupling[k][j]
                )
                if k_stats is None or coefficient is None:
                    deltas.append(None)
                    ranges.append(None)
                    minutes.append(None)
                    p99.append(None)
                    continue
                delta = -coefficient * current + 0.0  # never -0.0
                deltas.append(delta)
                if estimate is None:
                    ranges.append(None)
                else:
                    ends = (-estimate.low * current, -estimate.high * current)
                    ranges.append((min(ends), max(ends)))
                minutes.append(self.voltage.minutes_above_if(k + 1, delta))
                p99.append(k_stats.p99 + delta)
            options.append(
                LoadOption(
                    j + 1,
                    current,
                    (deltas[0], deltas[1], deltas[2]),
                    tuple(ranges),
                    (minutes[0], minutes[1], minutes[2]),
                    (p99[0], p99[1], p99[2]),
                    all(deltas[k] is not None for k in live),
                )
            )
        best: int | None = None
        reason = ""
        unknown = [f"L{k + 1}" for k in live if impedance.impedance[k] is None]
        if len(live) < 2:
            reason = "the meter has fewer than two phases with a voltage"
        elif unknown:
            reason = f"no impedance estimate for {', '.join(unknown)}"
        else:
            ranked = sorted(
                options,
                key=lambda o: (round(o.total_minutes or 0.0, 6), o.worst_p99 or 0.0, o.phase),
            )
            best = ranked[0].phase
        return WhatIf(
            load_kw,
            self.threshold,
            (baseline[0], baseline[1], baseline[2]),
            tuple(options),
            best,
            reason,
        )

    def best_phase(self, load_kw: float) -> int | None:
        """The phase a load of ``load_kw`` belongs on (None when it cannot be told)."""
        return self.what_if(load_kw).best_phase

    def as_dict(self, days: int = 2) -> dict[str, Any]:
        """The impedance evidence and the newest ``days`` days' time above the threshold,
        JSON-ready, to keep across restarts (the rest of the voltage statistics describe a period
        and start afresh). Fresh objects: safe to serialise in another thread."""
        return {
            "version": 1,
            "impedance": self.estimator.as_dict(),
            "days": {"threshold": self.threshold, "records": self.voltage.days_as_list(days)},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`as_dict` saved, before the first telegram (ignored when its
        version is unknown; the days only when saved with this threshold). Raises ValueError,
        TypeError, KeyError or IndexError for what :meth:`as_dict` cannot have made; nothing is
        taken then."""
        if state.get("version") != 1:
            return
        days = state.get("days") or {}
        records = days["records"] if days.get("threshold") == self.threshold else []
        parsed = days_from_list(records)
        self.estimator.restore(state["impedance"])
        self.voltage.restore_days(parsed)
