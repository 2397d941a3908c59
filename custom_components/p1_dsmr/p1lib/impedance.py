"""Per-phase source impedance from a stream of readings: what a load step does to each voltage.

Model. Each phase's voltage at the meter is the source's voltage minus the drop the household's
currents cause across the line and the neutral:

    U_k = U0_k - sum_j M_kj * a_j

``a_j`` is phase j's signed active current (import positive, export negative), ``M_kk`` the phase's
source (loop) impedance ``Z_k`` and ``M_kj`` (k != j) the coupling through the neutral: a current on
phase j drops the neutral's voltage, which raises the other phases (``M_kj`` about ``-Z_n / 2`` for a
resistive neutral ``Z_n``). ``U0_k`` drifts (the grid, the neighbours), but slowly compared with a
kettle switching on between two telegrams 1 or 10 s apart.

Method. Between consecutive telegrams, a **load event** is a change of current bounded by quiet
steps on both sides (every phase's current moved less than ``quiet_a``) and short (one telegram
apart, or up to ``event_seconds``: a switch a 1 s meter splits over two telegrams); ramps (clouds
over solar panels, chargers ramping up) are longer and are left out. An event whose change is on
one phase j (at least ``min_step_a``, the others' changes together at most ``dominance`` of it)
gives, for each phase k, one ratio ``-dU_k / da_j``: an observation of ``M_kj``. The estimate of
``M_kj`` is the **weighted median** of its ratios, weights ``|da_j|``: exactly the least absolute
deviations regression of ``dU_k`` on ``da_j`` through the origin (grid drift is as likely up as
down between two telegrams), which a tap change or a misread telegram cannot drag away. Its 95 %
interval is the weighted quantiles at ``0.5 -+ 1.96 / (2 sqrt(n))``, n the effective number of
events (Kish): the distribution-free interval of a median. Ratios are kept in fixed bins of
0.001 ohm from -1 to 2 ohm: memory is constant, an update O(1), a snapshot O(bins).

Currents. ``da`` is exact where the meter sends per-phase power (Dutch, Belgian, ...):
``a_k = 1000 P_net,k / U_k``; other phases' small simultaneous changes are then subtracted with the
current estimates. Meters that send only the total power and whole amps (Hungarian) give
``da = 1000 dP_net / U_j`` (1 W resolution) once the event is **attributed** to phase j: its whole
amps changed (by at least one, and consistently with ``dP / U_j`` for a power factor of 0.5 to 1)
while the other phases' amps did not (or by one, for events of 5 A and more). The whole amps bound
what is attributed wrongly: a phase whose reading did not change moved by less than 1 A each way.
The current is ``P / U`` before and after with the phase's load before from its amps, and the other
phases' loads following their voltages' change are corrected for as constant currents (what that
leaves uncertain widens the interval).

The source must stay put during an event: the other phases' changes, less what the coupling
explains, estimate how far it moved; an event during which they moved together by more than
``common_sigmas`` times their usual spread is left out (the neighbours' solar under the same cloud
as the house's panels, a tap change).

No estimate is given from fewer than ``min_events`` events, or when the interval is wider than
``max_relative`` of the value: no estimate rather than a wrong one.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, NamedTuple

__all__ = [
    "Estimate",
    "Event",
    "ImpedanceEstimator",
    "ImpedanceSnapshot",
    "RatioHistogram",
    "Reading",
]

Triple = tuple[float | None, float | None, float | None]

BIN_OHM = 0.001
LOW_OHM = -1.0
HIGH_OHM = 2.0
_BINS = round((HIGH_OHM - LOW_OHM) / BIN_OHM)
_Z95 = 1.959963984540054
_TRIANGLE = tuple(
    -1 + math.sqrt(2 * p) if p < 0.5 else 1 - math.sqrt(2 * (1 - p))
    for p in ((i + 0.5) / 16 for i in range(16))
)
"""Sixteen points that split a triangular distribution on (-1, 1) into equal shares."""
VOLTAGE_STEP = 0.1
"""V: the voltage's resolution on every meter we know of (DSMR: 0.1 V)."""
NOMINAL_V = 230.0


class Reading(NamedTuple):
    """What one telegram tells the estimator."""

    seconds: float
    """The meter's clock (POSIX seconds)."""
    voltage: Triple
    """V per phase (None where the meter sends none)."""
    active: Triple | None
    """Signed active current per phase (A, import positive), where the meter sends per-phase
    power; None otherwise."""
    net_power: float | None
    """kW, import minus export, all phases."""
    amps: Triple
    """The currents as the meter sends them (whole amps on Dutch and Hungarian meters)."""


class Event(NamedTuple):
    """A load event attributed to one phase."""

    seconds: float
    """When it ended."""
    phase: int
    """1-3: the phase whose current changed."""
    current: float
    """A: the change of that phase's active current."""
    voltage: Triple
    """V: each phase's voltage change (corrected for the other phases' small changes where those
    are known)."""
    method: str
    """``per_phase_power`` or ``total_power``."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """An estimated coefficient (ohm) with its 95 % interval."""

    value: float
    low: float
    high: float
    events: int
    """Events it rests on."""

    @property
    def half_width(self) -> float:
        """Half the interval's width."""
        return (self.high - self.low) / 2

    @property
    def relative(self) -> float:
        """The half width as a share of the value (inf for a value of 0)."""
        return self.half_width / abs(self.value) if self.value else math.inf

    @property
    def confidence(self) -> str:
        """``high`` (within 10 %), ``medium`` (within 25 %) or ``low``."""
        if self.relative <= 0.10:
            return "high"
        return "medium" if self.relative <= 0.25 else "low"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: value, low, high (rounded to 0.1 milliohm), events, confidence."""
        return {
            "value": round(self.value, 4),
            "low": round(self.low, 4),
            "high": round(self.high, 4),
            "events": self.events,
            "confidence": self.confidence,
        }


class RatioHistogram:
    """Weighted ratios in fixed bins of 0.001 ohm from -1 to 2 ohm (outside: counted, not placed)."""

    __slots__ = (
        "_cumulative",
        "above",
        "below",
        "count",
        "squares",
        "systematic",
        "total",
        "weights",
    )

    def __init__(self) -> None:
        self.weights = array("d", bytes(8 * _BINS))
        self.below = 0.0
        self.above = 0.0
        self.count = 0
        self.total = 0.0
        self.squares = 0.0
        self.systematic = 0.0
        self._cumulative: list[float] | None = None

    def add(
        self, ratio: float, weight: float, spread: float = 0.0, systematic: float = 0.0
    ) -> None:
        """One ratio with its weight, spread over ``ratio -+ spread`` (a triangle: the error of a
        difference of two rounded readings), so that the median of ratios that the meter's
        rounding makes discrete is not stuck on one of their few values. ``systematic``: the
        ratio's relative uncertainty that no number of events averages away (it widens the
        interval by its weighted mean)."""
        weights = self.weights
        for offset in _TRIANGLE if spread > 0 else (0.0,):
            index = math.floor((ratio + offset * spread - LOW_OHM) / BIN_OHM)
            part = weight / len(_TRIANGLE) if spread > 0 else weight
            if index < 0:
                self.below += part
            elif index >= _BINS:
                self.above += part
            else:
                weights[index] += part
        self.count += 1
        self.systematic += weight * systematic
        self.total += weight
        self.squares += weight * weight
        self._cumulative = None

    @property
    def effective(self) -> float:
        """Kish's effective number of ratios: ``(sum w)^2 / sum w^2``."""
        return self.total * self.total / self.squares if self.squares else 0.0

    def quantile(self, share: float) -> float:
        """The weighted quantile (linear within a bin; -inf or inf outside the bins' range)."""
        cumulative = self._cumulative
        if cumulative is None:
            cumulative = self._cumulative = list(accumulate(self.weights, initial=self.below))
        target = min(max(share, 0.0), 1.0) * self.total
        if cumulative[0] > 0 and target <= cumulative[0]:
            return -math.inf
        if target <= 0:  # the start of the lowest occupied bin
            index = bisect_right(cumulative, 0.0)
            return math.inf if index > _BINS else LOW_OHM + (index - 1) * BIN_OHM
        index = bisect_left(cumulative, target)
        if index > _BINS:
            return math.inf
        start = cumulative[index - 1]
        weight = cumulative[index] - start
        return LOW_OHM + (index - 1 + (target - start) / weight) * BIN_OHM

    def estimate(self) -> Estimate | None:
        """The weighted median and its 95 % interval (None without ratios)."""
        if not self.count or self.total <= 0:
            return None
        spread = _Z95 * 0.5 / math.sqrt(self.effective)
        value = self.quantile(0.5)
        margin = abs(value) * self.systematic / self.total if math.isfinite(value) else 0.0
        return Estimate(
            value,
            self.quantile(0.5 - spread) - margin,
            self.quantile(0.5 + spread) + margin,
            self.count,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready state (the occupied bins only)."""
        return {
            "bins": {str(i): w for i, w in enumerate(self.weights) if w},
            "below": self.below,
            "above": self.above,
            "count": self.count,
            "total": self.total,
            "squares": self.squares,
            "systematic": self.systematic,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> RatioHistogram:
        """The histogram :meth:`as_dict` saved (ValueError for bins or sums it cannot have
        written: out of range, negative, not finite)."""
        histogram = cls()
        for index, weight in state["bins"].items():
            position = int(index)
            if not 0 <= position < _BINS:
                raise ValueError(f"no bin {index}")
            histogram.weights[position] = _amount(weight)
        histogram.below = _amount(state["below"])
        histogram.above = _amount(state["above"])
        histogram.count = int(state["count"])
        histogram.total = _amount(state["total"])
        histogram.squares = _amount(state["squares"])
        histogram.systematic = _amount(state.get("systematic", 0.0))
        if histogram.count < 0:
            raise ValueError("a negative count")
        return histogram


def _amount(value: Any) -> float:
    """A saved weight or sum: finite, not negative."""
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"not a weight: {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class ImpedanceSnapshot:
    """The estimates at one moment."""

    method: str
    """``per_phase_power``, ``total_power`` or empty (no readings with currents yet)."""
    impedance: tuple[Estimate | None, Estimate | None, Estimate | None]
    """``Z_k`` per phase; None where the data do not support an estimate (see :attr:`reasons`)."""
    coupling: tuple[tuple[Estimate | None, ...], ...]
    """``M_kj`` for k != j (row k: the phase whose voltage moves; column j: where the current
    changed); None on the diagonal and where the data do not support it."""
    neutral: Estimate | None
    """``Z_n = -2 * mean(M_kj)`` over the supported couplings (two at least)."""
    events: tuple[int, int, int]
    """Load events attributed to each phase."""
    reasons: tuple[str, str, str]
    """Why a phase has no estimate (empty where it has one)."""

    def matrix(self) -> tuple[tuple[float | None, ...], ...]:
        """``M``: the impedances on the diagonal (None where unknown), supported couplings off it
        (0 where unsupported: the phase's own drop dominates)."""
        rows: list[tuple[float | None, ...]] = []
        for k in range(3):
            row: list[float | None] = []
            for j in range(3):
                if k == j:
                    diagonal = self.impedance[k]
                    row.append(None if diagonal is None else diagonal.value)
                else:
                    coupling = self.coupling[k][j]
                    row.append(0.0 if coupling is None else coupling.value)
            rows.append(tuple(row))
        return tuple(rows)


def _consistent(amps: float, current: float) -> bool:
    """Whether a whole-amp change fits an active current change (power factor 0.5 to 1; each
    reading truncated, so the change is off by less than one amp)."""
    if amps == 0 or (amps > 0) != (current > 0):
        return False
    size = abs(current)
    return 0.9 * size - 1.0 <= abs(amps) <= size / 0.5 + 1.0


class ImpedanceEstimator:
    """Estimates ``M`` from readings fed one at a time (O(1) each; memory constant).

    Feed :meth:`add` every accepted telegram's :class:`Reading` in order; ask :meth:`snapshot`
    whenever (O(bins), a few milliseconds; cached until the next event).
    """

    def __init__(
        self,
        *,
        min_step_a: float = 2.0,
        quiet_a: float = 0.6,
        dominance: float = 0.25,
        event_seconds: float = 2.0,
        max_gap_s: float = 30.0,
        min_events: int = 6,
        max_relative: float = 0.5,
        coupling_limit: float = 0.05,
        common_sigmas: float = 4.0,
    ) -> None:
        self.min_step_a = min_step_a
        """A: the smallest change that counts as a load event."""
        self.quiet_a = quiet_a
        """A: a step in which every phase's current moved less is quiet."""
        self.dominance = dominance
        """The other phases' changes, together, at most this share of the event's."""
        self.event_seconds = event_seconds
        """An event spans one telegram interval, or several within this many seconds."""
        self.max_gap_s = max_gap_s
        """Telegrams further apart do not make a step (lost telegrams, a restart)."""
        self.min_events = min_events
        self.max_relative = max_relative
        self.coupling_limit = coupling_limit
        """Ohm: a coupling is supported when its interval's half width is at most this."""
        self.common_sigmas = common_sigmas
        """An event during which the other phases moved together by more than this many times
        their usual spread (and 0.3 V) is left out: the source moved."""
        self.histograms = [[RatioHistogram() for _ in range(3)] for _ in range(3)]
        """``histograms[k][j]``: ratios ``-dU_k / da_j``."""
        self.method = ""
        self._last: Reading | None = None
        self._anchor: Reading | None = None
        self._anchor_quiet = False
        self._run = 0
        self._direction: tuple[float, ...] = ()
        self._events_since_refresh = 0
        self._common = array("l", [0]) * 2000  # |common-mode change| in 0.01 V bins
        self._common_count = 0
        self._common_limit: float | None = None
        self.common_rejected = 0
        """Events left out because the source moved with them."""
        self._matrix: list[list[float]] = [[0.0] * 3 for _ in range(3)]
        self._snapshot: ImpedanceSnapshot | None = None

    def add(self, reading: Reading) -> Event | None:
        """The next telegram's reading; returns the load event it completed, if any."""
        last = self._last
        self._last = reading
        if last is None or not 0 < reading.seconds - last.seconds <= self.max_gap_s:
            self._restart(reading)
            return None
        change = self._change(last, reading)
        if change is None or (change and self._run and len(change) != len(self._direction)):
            self._restart(reading)  # no currents, or the meter's kind of currents changed
            return None
        event = None
        if not change:  # quiet: a run of changes before it is an event
            event = self._finish(last)
            self._anchor = reading
            self._anchor_quiet = True
        elif self._run and sum(a * b for a, b in zip(change, self._direction, strict=True)) <= 0:
            # A change back (a load on for one interval): the run so far is an event, and this
            # change starts the next one.
            event = self._finish(last)
            self._anchor = last
            self._anchor_quiet = True
            self._run = 1
            self._direction = change
        else:
            self._run += 1
            self._direction = change
        return event

    def _finish(self, last: Reading) -> Event | None:
        """The event of the run of changes that ended at ``last``, when it is short and began after
        a quiet step."""
        anchor = self._anchor
        run = self._run
        self._run = 0
        if (
            run
            and self._anchor_quiet
            and anchor is not None
            and (run == 1 or last.seconds - anchor.seconds <= self.event_seconds)
        ):
            return self._event(anchor, last)
        return None

    def _restart(self, reading: Reading) -> None:
        self._anchor = reading
        self._anchor_quiet = False
        self._run = 0

    def _change(self, before: Reading, after: Reading) -> tuple[float, ...] | None:
        """The change of the currents, () when every phase moved less than ``quiet_a``, None when
        the readings cannot tell."""
        if before.active is not None and after.active is not None:
            changes = [
                0.0 if a is None or b is None else a - b
                for a, b in zip(after.active, before.active, strict=True)
            ]
            if all(a is None for a in after.active):
                return None
            return tuple(changes) if max(map(abs, changes)) >= self.quiet_a else ()
        if before.net_power is not None and after.net_power is not None:
            amps = (after.net_power - before.net_power) * 1000.0 / NOMINAL_V
            return (amps,) if abs(amps) >= self.quiet_a else ()
        return None

    def _event(self, before: Reading, after: Reading) -> Event | None:
        """The load event between two readings, when it is on one phase; recorded."""
        dv: list[float | None] = [
            None if a is None or b is None or a <= 0 or b <= 0 else a - b
            for a, b in zip(after.voltage, before.voltage, strict=True)
        ]
        if before.active is not None and after.active is not None:
            found = self._per_phase(before.active, after.active, dv)
            method = "per_phase_power"
        else:
            found = self._attributed(before, after)
            method = "total_power"
        if found is None:
            return None
        phase, current, systematic = found
        if dv[phase] is None or not self._common_quiet(phase, current, dv):
            return None
        self.method = method
        event = Event(after.seconds, phase + 1, current, (dv[0], dv[1], dv[2]), method)
        weight = abs(current)
        spread = VOLTAGE_STEP / weight
        for k in range(3):
            change = dv[k]
            if change is not None:
                self.histograms[k][phase].add(-change / current, weight, spread, systematic)
        self._snapshot = None
        self._events_since_refresh += 1
        if self._events_since_refresh >= 32:
            self._refresh_matrix()
        return event

    def _common_quiet(self, phase: int, current: float, dv: list[float | None]) -> bool:
        """Whether the source stayed put during the event: the other phases moved as the coupling
        explains, give or take ``common_sigmas`` times their usual spread (a robust scale over the
        events so far). A source that jumps with the event's current (the neighbours' solar under
        the same cloud as the house's panels, a tap change) would otherwise lend it its drop."""
        others = [
            change + self._matrix[k][phase] * current
            for k, change in enumerate(dv)
            if k != phase and change is not None
        ]
        if not others:
            return True
        common = abs(sum(others) / len(others))
        index = min(int(common / 0.01), len(self._common) - 1)
        self._common[index] += 1
        self._common_count += 1
        if self._common_count % 16 == 0 or self._common_limit is None:
            middle = bisect_left(list(accumulate(self._common)), self._common_count / 2)
            median = (middle + 0.5) * 0.01
            self._common_limit = max(0.3, self.common_sigmas * 1.4826 * median)
        if self._common_count >= 12 and common > self._common_limit:
            self.common_rejected += 1
            return False
        return True

    def _per_phase(
        self, before: Triple, after: Triple, dv: list[float | None]
    ) -> tuple[int, float, float] | None:
        """The phase and current of an event on one phase, from exact per-phase currents; ``dv`` is
        corrected for the other phases' changes."""
        da = [0.0 if a is None or b is None else a - b for a, b in zip(after, before, strict=True)]
        phase = max(range(3), key=lambda k: abs(da[k]))
        current = da[phase]
        if abs(current) < self.min_step_a:
            return None
        others = sum(abs(da[k]) for k in range(3) if k != phase)
        if others > self.dominance * abs(current):
            return None
        matrix = self._matrix
        for k in range(3):
            change = dv[k]
            if change is not None:
                dv[k] = change + sum(matrix[k][i] * da[i] for i in range(3) if i != phase)
        return phase, current, 0.0

    def _attributed(self, before: Reading, after: Reading) -> tuple[int, float, float] | None:
        """The phase, current and relative systematic uncertainty of an event found from the total
        power and whole amps."""
        if before.net_power is None or after.net_power is None:
            return None
        live = [
            k for k in range(3) if after.voltage[k] is not None and before.voltage[k] is not None
        ]
        if not live:
            return None
        # The loads' currents before the event, from their whole amps (an estimate: the midpoint,
        # in the meter's direction).
        sign = 1.0 if before.net_power >= 0 else -1.0
        loads = [sign * (a + 0.5) if a else 0.0 for a in before.amps]
        measured = (after.net_power - before.net_power) * 1000.0
        steps: list[float | None] = [
            None if a is None or b is None else a - b
            for a, b in zip(after.amps, before.amps, strict=True)
        ]

        def reaction(k: int) -> float:
            """W: how the other phases' loads follow their voltages' change (as a constant
            current would: midway between constant power and a resistance)."""
            return math.fsum(
                loads[o] * ((after.voltage[o] or 0.0) - (before.voltage[o] or 0.0))
                for o in live
                if o != k
            )

        def current_on(k: int) -> float:
            """A: the change of phase k's active current, were the event on phase k. P / U
            before and after, with the phase's load before from its amps: exact but for that."""
            volts_before = before.voltage[k] or 0.0
            volts_after = after.voltage[k] or 0.0
            if volts_before <= 0 or volts_after <= 0:
                return 0.0
            base = loads[k] * volts_before
            watts = measured - reaction(k)
            return (base + watts) / volts_after - base / volts_before

        if len(live) == 1:  # a single-phase meter: every change is on its phase
            phase = live[0]
        else:
            candidates = [
                k
                for k in live
                if steps[k] is not None and _consistent(steps[k] or 0.0, current_on(k))
            ]
            if len(candidates) != 1:
                return None
            phase = candidates[0]
        current = current_on(phase)
        if abs(current) < self.min_step_a:
            return None
        for k in live:
            step = steps[k]
            if k != phase and (
                step is None or abs(step) > 1 or (abs(step) == 1 and abs(current) < 5.0)
            ):
                return None
        return phase, current, abs(reaction(phase) / measured) if measured else 0.0

    def _refresh_matrix(self) -> None:
        """The estimates the per-phase correction uses (0 where there is none yet)."""
        self._events_since_refresh = 0
        snapshot = self.snapshot()
        for k, row in enumerate(snapshot.matrix()):
            for j, value in enumerate(row):
                self._matrix[k][j] = 0.0 if value is None else value

    def snapshot(self) -> ImpedanceSnapshot:
        """The estimates now (cached until the next event)."""
        if self._snapshot is not None:
            return self._snapshot
        impedance: list[Estimate | None] = []
        reasons: list[str] = []
        events: list[int] = []
        for k in range(3):
            histogram = self.histograms[k][k]
            events.append(histogram.count)
            estimate = histogram.estimate()
            reason = ""
            if histogram.count < self.min_events:
                reason = f"{histogram.count} load events on L{k + 1}; {self.min_events} needed"
                estimate = None
            elif estimate is None or not (
                estimate.value > 0 and estimate.relative <= self.max_relative
            ):
                reason = f"the load events on L{k + 1} disagree too much"
                estimate = None
            impedance.append(estimate)
            reasons.append(reason)
        coupling: list[tuple[Estimate | None, ...]] = []
        supported: list[Estimate] = []
        for k in range(3):
            row: list[Estimate | None] = []
            for j in range(3):
                estimate = None
                histogram = self.histograms[k][j]
                if k != j and histogram.count >= self.min_events:
                    estimate = histogram.estimate()
                    if estimate is not None and not estimate.half_width <= self.coupling_limit:
                        estimate = None
                if estimate is not None:
                    supported.append(estimate)
                row.append(estimate)
            coupling.append(tuple(row))
        neutral = None
        if len(supported) >= 2:
            count = len(supported)
            neutral = Estimate(
                -2 * sum(e.value for e in supported) / count,
                -2 * sum(e.high for e in supported) / count,
                -2 * sum(e.low for e in supported) / count,
                min(e.events for e in supported),
            )
        self._snapshot = ImpedanceSnapshot(
            self.method,
            (impedance[0], impedance[1], impedance[2]),
            tuple(coupling),
            neutral,
            (events[0], events[1], events[2]),
            (reasons[0], reasons[1], reasons[2]),
        )
        return self._snapshot

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready evidence (the ratios), to keep across restarts."""
        return {
            "method": self.method,
            "histograms": [[h.as_dict() for h in row] for row in self.histograms],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back the evidence :meth:`as_dict` saved (all or nothing: ValueError, TypeError,
        KeyError or IndexError for anything else)."""
        histograms = [[RatioHistogram.from_dict(h) for h in row] for row in state["histograms"]]
        if len(histograms) != 3 or any(len(row) != 3 for row in histograms):
            raise ValueError("the evidence is a 3 x 3 matrix of histograms")
        self.method = str(state.get("method", ""))
        self.histograms = histograms
        self._snapshot = None
        self._refresh_matrix()
