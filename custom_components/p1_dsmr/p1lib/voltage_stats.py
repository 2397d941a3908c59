"""Per-phase voltage statistics, streaming, in constant memory.

Every telegram's voltages are weighted by the time they stand for: the interval since the previous
telegram (the meter measured over it), capped at ``gap_s`` (lost telegrams; a longer gap counts one
meter period). Per phase:

* a histogram of seconds in bins of 0.1 V (the meter's resolution) from 0 to 400 V: the **95th and
  99th percentiles** are read from it (time-weighted, nearest rank: the lowest voltage that the phase
  was at or below for that share of the time; exact for a meter that sends 0.1 V, within 0.05 V
  otherwise), and **the time above any threshold**, also with every value shifted (the what-if);
* the exact **mean**, **minimum** and **maximum**, and the time above the threshold;
* **10-minute means** (clock-aligned windows with at least 5 minutes of data) against EN 50160:
  for low-voltage supply, during each week 95 % of the 10-minute means within 230 V -+ 10 %
  (207-253 V), and all of them within 230 V +10 % / -15 % (195.5-253 V);
* per day (the meter's local date): time observed and time above the threshold, the highest
  voltage, 10-minute means above 253 V.

Telegrams are taken in the order of their clocks. One whose clock is not after the newest is left
out (counted in :attr:`VoltageStatistics.out_of_order`): a repeated telegram, an overlapping log.
A clock that jumps ahead (more than ``gap_s``, or three meter periods) waits for the next telegram:
when that one is between the two, the jump was a wrong clock (a telegram dated a day ahead) and is
left out (:attr:`VoltageStatistics.clock_outliers`), so one bad clock never hides what follows it;
when it is after the jump, the jump was a gap and counts. A first telegram the second one is
before is left out alike. With ``rebase_after``, that many telegrams in a row behind the newest
clock, and in order among themselves, make their clock the new timeline (a meter's clock set
back, a replayed log that starts again).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any

__all__ = [
    "EN50160_FLOOR",
    "EN50160_HIGH",
    "EN50160_LOW",
    "DayRecord",
    "PhaseVoltage",
    "VoltageHistogram",
    "VoltageStatistics",
    "Window",
    "days_from_list",
]

Triple = tuple[float | None, float | None, float | None]
Timed = tuple[datetime, Triple]
"""A telegram's clock and voltages."""

NOMINAL = 230.0
EN50160_HIGH = 253.0
"""V: 230 V + 10 %, the upper limit for 10-minute means."""
EN50160_LOW = 207.0
"""V: 230 V - 10 %; 95 % of a week's 10-minute means at least this."""
EN50160_FLOOR = 195.5
"""V: 230 V - 15 %; every 10-minute mean at least this."""
WINDOW_S = 600
_BINS = 4001  # 0.0 ... 400.0 V


class VoltageHistogram:
    """Seconds spent at each 0.1 V, and the exact moments of one phase's voltage."""

    __slots__ = ("maximum", "minimum", "samples", "seconds", "volt_seconds", "weights")

    def __init__(self) -> None:
        self.weights = array("d", bytes(8 * _BINS))
        self.samples = 0
        self.seconds = 0.0
        self.volt_seconds = 0.0
        self.maximum = -math.inf
        self.minimum = math.inf

    def add(self, volts: float, seconds: float) -> None:
        """One reading that stood for ``seconds``."""
        index = min(max(round(volts * 10), 0), _BINS - 1)
        self.weights[index] += seconds
        self.samples += 1
        self.seconds += seconds
        self.volt_seconds += volts * seconds
        self.maximum = max(self.maximum, volts)
        self.minimum = min(self.minimum, volts)

    @property
    def mean(self) -> float | None:
        """Time-weighted mean (None before any time was counted)."""
        return self.volt_seconds / self.seconds if self.seconds > 0 else None

    def percentile(self, percent: float) -> float | None:
        """The lowest 0.1 V step at or below which the phase spent ``percent`` % of the time."""
        if self.seconds <= 0:
            return None
        cumulative = list(accumulate(self.weights))
        index = bisect_left(cumulative, min(percent / 100.0 * self.seconds, cumulative[-1]))
        while self.weights[index] == 0:  # 0 %: the lowest occupied step
            index += 1
        return index / 10

    def seconds_above(self, threshold: float, shift: float = 0.0) -> float:
        """Seconds with ``voltage + shift > threshold``."""
        level = threshold - shift
        if not level >= 0:  # below 0 V (or not a number): every reading
            return self.seconds if level < 0 else 0.0
        first = min(math.floor(round(level * 10, 6)) + 1, _BINS) if level < 1000 else _BINS
        return math.fsum(self.weights[first:])


@dataclass(frozen=True, slots=True)
class PhaseVoltage:
    """One phase's statistics over the analysed time."""

    samples: int
    hours: float
    mean: float
    p95: float
    p99: float
    minimum: float
    maximum: float
    minutes_above: float
    """Minutes above the threshold."""
    share_above: float
    """Share of the time above the threshold (0-1)."""
    windows: int
    """Complete 10-minute windows."""
    windows_above: int
    """10-minute means above 253 V (EN 50160: none allowed)."""
    windows_outside: int
    """10-minute means outside 207-253 V (EN 50160: at most 5 % of a week's)."""
    max_window: float | None
    """The highest 10-minute mean."""

    @property
    def en50160(self) -> bool | None:
        """Whether the 10-minute means keep EN 50160's limits (None without a complete window)."""
        if not self.windows:
            return None
        return self.windows_above == 0 and self.windows_outside <= 0.05 * self.windows


@dataclass(slots=True)
class DayRecord:
    """One day (the meter's local date)."""

    day: date
    seconds: float = 0.0
    """Seconds observed."""
    above: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    """Seconds above the threshold per phase."""
    maximum: list[float | None] = field(default_factory=lambda: [None, None, None])
    windows_above: list[int] = field(default_factory=lambda: [0, 0, 0])
    """10-minute means above 253 V per phase."""

    def share_above(self, phase: int) -> float | None:
        """Share of the observed time phase ``phase`` (1-3) was above the threshold."""
        return self.above[phase - 1] / self.seconds if self.seconds > 0 else None


class Window:
    """A 10-minute window's sums (its mean per phase once closed)."""

    __slots__ = ("seconds", "start", "volt_seconds")

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.seconds = [0.0, 0.0, 0.0]
        self.volt_seconds = [0.0, 0.0, 0.0]

    def means(self) -> Triple:
        """Mean per phase (None where the phase has under 5 minutes of data)."""
        m = [
            v / s if s >= WINDOW_S / 2 else None
            for v, s in zip(self.volt_seconds, self.seconds, strict=True)
        ]
        return m[0], m[1], m[2]


def _window_start(when: datetime) -> datetime:
    return when.replace(minute=when.minute - when.minute % 10, second=0, microsecond=0)


class VoltageStatistics:
    """Statistics of a stream of per-phase voltages (O(1) per reading; memory constant)."""

    def __init__(
        self,
        threshold: float = EN50160_HIGH,
        *,
        gap_s: float = 30.0,
        max_days: int = 400,
        keep_windows: int | None = 7 * 144,
        rebase_after: int | None = None,
    ) -> None:
        self.threshold = threshold
        self.gap_s = gap_s
        self.max_days = max_days
        self.rebase_after = rebase_after
        """Telegrams behind the newest clock, in a row, that become the new timeline (None:
        never, as for a report, where an overlapping log must not be counted twice)."""
        self.histograms = [VoltageHistogram() for _ in range(3)]
        self.above = [0.0, 0.0, 0.0]
        """Seconds above the threshold per phase."""
        self.days: OrderedDict[date, DayRecord] = OrderedDict()
        self.windows: deque[tuple[datetime, Triple]] = deque(maxlen=keep_windows)
        """Closed 10-minute windows, newest last (the last week by default)."""
        self.window_counts = [[0, 0, 0] for _ in range(3)]
        """Per phase: complete windows, means above 253 V, means outside 207-253 V."""
        self.window_max: list[float | None] = [None, None, None]
        self.period: float | None = None
        """The meter's period: the shortest interval seen."""
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.latest: Triple = (None, None, None)
        """The newest telegram's voltages (whatever its clock)."""
        self.out_of_order = 0
        """Telegrams left out because their clock was not after the newest one."""
        self.clock_outliers = 0
        """Telegrams left out because their clock alone jumped ahead (or, first, stood apart)."""
        self.rebased = 0
        """Times the clock was taken back (``rebase_after``)."""
        self._pending: Triple | None = None
        self._held: Timed | None = None
        self._behind: datetime | None = None
        self._behind_run = 0
        self._window: Window | None = None

    def add(self, when: datetime, voltages: Triple) -> tuple[Timed, ...]:
        """The next telegram's voltages (None or 0 where a phase has none); returns the readings
        it let into the statistics, in order: usually itself, none while a jump ahead waits for
        the next telegram (or when it is left out), two when the jump is confirmed."""
        self.latest = voltages
        previous = self.last
        if previous is None:
            self.first = self.last = when
            self._pending = voltages  # its weight is known at the next telegram
            return ((when, voltages),)
        held = self._held
        if held is not None:
            if when > held[0]:  # after the jump: it was a gap
                self._held = None
                if self._pending is not None:  # a lone first telegram, then the jump: it was wrong
                    self.clock_outliers += 1
                    self._pending = None
                    self.first = self.last = held[0]
                    self._pending = held[1]
                    return (held, *self.add(when, voltages))
                self._accept(*held)
                return (held, *self.add(when, voltages))
            if when < held[0] and when > previous:  # between: the jump was a wrong clock
                self._held = None
                self.clock_outliers += 1
            else:
                return self._left_behind(when, voltages)
        seconds = (when - previous).total_seconds()
        if seconds <= 0:
            if seconds < 0 and self._pending is not None:  # the first stood ahead of the second
                self.clock_outliers += 1
                self.first = self.last = when
                self._pending = voltages
                return ((when, voltages),)
            return self._left_behind(when, voltages)
        if seconds > self.gap_s or (self.period is not None and seconds > 3 * self.period):
            self._held = (when, voltages)  # a jump ahead: the next telegram tells
            return ()
        self._accept(when, voltages)
        return ((when, voltages),)

    def _left_behind(self, when: datetime, voltages: Triple) -> tuple[Timed, ...]:
        """A telegram behind the newest clock: left out, unless ``rebase_after`` of them in a row
        make the new timeline."""
        self.out_of_order += 1
        behind = self._behind
        self._behind_run = self._behind_run + 1 if behind is not None and when > behind else 1
        self._behind = when
        if self.rebase_after is None or self._behind_run < self.rebase_after:
            return ()
        if self._held is not None:
            self._held = None
            self.clock_outliers += 1
        self.rebased += 1
        self._behind, self._behind_run = None, 0
        self.first = min(self.first or when, when)
        self.last = when
        self._add(when, voltages, self.period or self.gap_s)
        return ((when, voltages),)

    def _accept(self, when: datetime, voltages: Triple) -> None:
        """A telegram after the newest clock, into the statistics."""
        previous = self.last
        assert previous is not None
        seconds = (when - previous).total_seconds()
        self.period = seconds if self.period is None else min(self.period, seconds)
        self.last = when
        self._behind, self._behind_run = None, 0
        if self._pending is not None:
            self._add(previous, self._pending, min(seconds, self.gap_s))
            self._pending = None
        self._add(when, voltages, seconds if seconds <= self.gap_s else self.period)

    def _add(self, when: datetime, voltages: Triple, seconds: float) -> None:
        threshold = self.threshold
        day = self.days.get(when.date())
        if day is None:
            day = self.days[when.date()] = DayRecord(when.date())
            while len(self.days) > self.max_days:
                self.days.popitem(last=False)
        day.seconds += seconds
        start = _window_start(when - timedelta(seconds=seconds / 2))
        window = self._window
        if window is None or window.start != start:
            if window is not None:
                self._close(window)
            window = self._window = Window(start)
        for k, volts in enumerate(voltages):
            if volts is None or volts <= 0:
                continue
            self.histograms[k].add(volts, seconds)
            if volts > threshold:
                self.above[k] += seconds
                day.above[k] += seconds
            high = day.maximum[k]
            if high is None or volts > high:
                day.maximum[k] = volts
            window.seconds[k] += seconds
            window.volt_seconds[k] += volts * seconds

    def _close(self, window: Window) -> None:
        means = window.means()
        if means == (None, None, None):
            return
        self.windows.append((window.start, means))
        day = self.days.get(window.start.date())
        for k, mean in enumerate(means):
            if mean is None:
                continue
            counts = self.window_counts[k]
            counts[0] += 1
            if mean > EN50160_HIGH:
                counts[1] += 1
                if day is not None:
                    day.windows_above[k] += 1
            if not EN50160_LOW <= mean <= EN50160_HIGH:
                counts[2] += 1
            high = self.window_max[k]
            if high is None or mean > high:
                self.window_max[k] = mean

    def flush(self) -> tuple[Timed, ...]:
        """The end of the stream: a jump ahead that waits for confirmation counts (nothing
        follows to refute it), and the open 10-minute window closes. Returns the readings let in."""
        held, self._held = self._held, None
        if held is not None:
            self._accept(*held)
        if self._window is not None:
            self._close(self._window)
            self._window = None
        return () if held is None else (held,)

    def phase(self, phase: int) -> PhaseVoltage | None:
        """Statistics of phase ``phase`` (1-3); None when it had no voltage."""
        histogram = self.histograms[phase - 1]
        mean = histogram.mean
        p95 = histogram.percentile(95)
        p99 = histogram.percentile(99)
        if mean is None or p95 is None or p99 is None:
            return None
        windows, above, outside = self.window_counts[phase - 1]
        return PhaseVoltage(
            histogram.samples,
            histogram.seconds / 3600.0,
            mean,
            p95,
            p99,
            histogram.minimum,
            histogram.maximum,
            self.above[phase - 1] / 60.0,
            self.above[phase - 1] / histogram.seconds,
            windows,
            above,
            outside,
            self.window_max[phase - 1],
        )

    def today(self) -> DayRecord | None:
        """The newest day."""
        return next(reversed(self.days.values()), None)

    def days_as_list(self, count: int) -> list[dict[str, Any]]:
        """The newest ``count`` days, JSON-ready, oldest first (see :meth:`restore_days`)."""
        days = list(self.days.values())[-count:] if count > 0 else []
        return [
            {
                "day": d.day.isoformat(),
                "seconds": d.seconds,
                "above": list(d.above),
                "maximum": list(d.maximum),
                "windows_above": list(d.windows_above),
            }
            for d in days
        ]

    def restore_days(self, days: list[DayRecord]) -> None:
        """Take back days (:func:`days_from_list`) counted with the same threshold, before the
        first telegram; later telegrams of a restored day add to it."""
        for day in sorted(days, key=lambda d: d.day):
            self.days.setdefault(day.day, day)
        while len(self.days) > self.max_days:
            self.days.popitem(last=False)

    def minutes_above_if(self, phase: int, shift: float) -> float:
        """Minutes phase ``phase`` would have spent above the threshold with every reading
        ``shift`` V higher."""
        return self.histograms[phase - 1].seconds_above(self.threshold, shift) / 60.0


def days_from_list(records: list[dict[str, Any]]) -> list[DayRecord]:
    """The days :meth:`VoltageStatistics.days_as_list` saved. Raises ValueError, TypeError or
    KeyError for anything else."""
    days: list[DayRecord] = []
    for record in records:
        above = [float(s) for s in record["above"]]
        maximum = [None if m is None else float(m) for m in record["maximum"]]
        windows = [int(w) for w in record["windows_above"]]
        seconds = float(record["seconds"])
        if not len(above) == len(maximum) == len(windows) == 3:
            raise ValueError("a day has three phases")
        if not all(0 <= s <= 86400 * 2 for s in (seconds, *above)):  # not NaN; a 25-hour day
            raise ValueError(f"not a day's seconds: {record}")
        days.append(DayRecord(date.fromisoformat(record["day"]), seconds, above, maximum, windows))
    return days
