"""Hourly aggregation: timed samples of a meter's values in, one aggregate per value and hour out.

The samples (one per accepted telegram, or per records CSV row) are placed in the UTC hour of their
time (the **meter's clock**) and aggregated per value key:

* **counters** (energy, event counts, M-Bus gas/water/heat readings): the first and the last reading
  of the hour and a running sum at both (:class:`HourlyCounter`). The running sum is the reading
  plus an offset that changes only when a reading falls below the one before (a replaced or reset
  meter): then a new *segment* starts, the sum carries on from where it was and counts from the new
  counter's first reading (:attr:`Series.resets` counts them). So every increase between two
  readings is counted once, also across hours and across a gap in the log (what was used during a
  gap lands in the first hour after it: the counter says how much, not when). A single reading out
  of the range of its two neighbours, when they are in order (up and back, or down and back), is
  taken as the nearer neighbour first (a median of three), so one wrong value never makes a reset
  or a spike; a real step down (neighbours out of order) is kept.
* **measurements**: the time-weighted mean (each value holds until the next sample, at most
  :data:`MAX_HOLD`), the minimum and the maximum (:class:`HourlyMean`).

Hours without a sample have no aggregate: gaps stay gaps. Samples are taken in time order: one not
after the previous one is dropped (a repeated piece of log, a clock set back), and one more than
:data:`CLOCK_JUMP` ahead is kept only when the next one does not go back before it (a clock glitch
is dropped; a log resumed after a pause is kept).

Memory is bounded by the number of hours (arrays of floats per key), not by the number of samples:
only the current hour's samples are held.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import le, mul, sub
from typing import NamedTuple, cast

from .obis import Kind

__all__ = [
    "CLOCK_JUMP",
    "HOUR",
    "History",
    "HistoryStats",
    "HourlyAggregator",
    "HourlyCounter",
    "HourlyMean",
    "MAX_HOLD",
    "Series",
]

HOUR = 3600
MAX_HOLD = 300.0
"""Seconds a value is held at most when weighting the mean (a longer silence is not averaged over)."""
CLOCK_JUMP = 900.0
"""Seconds ahead of the previous sample beyond which a sample needs the next one to agree."""


class HourlyMean(NamedTuple):
    """A measurement's hour (``start``: UTC epoch seconds of the hour's start)."""

    start: int
    mean: float
    min: float
    max: float


class HourlyCounter(NamedTuple):
    """A counter's hour: its first and last reading, and the running sum at each of them."""

    start: int
    first: float
    last: float
    sum_first: float
    sum_last: float


class Series:
    """One value key's hours, in time order (columns of floats: memory per hour, not per sample)."""

    __slots__ = ("_a", "_b", "_c", "_d", "counter", "hours", "key", "kind", "resets")

    def __init__(self, key: str, counter: bool, kind: Kind | None) -> None:
        self.key = key
        self.counter = counter
        self.kind = kind
        """The registry kind of a measured value (None for derived values and the CSV's gas)."""
        self.resets = 0
        """Counter segments started because a reading went below the one before."""
        self.hours = array("q")
        self._a = array("d")
        self._b = array("d")
        self._c = array("d")
        self._d = array("d")

    def __len__(self) -> int:
        return len(self.hours)

    def add_mean(self, start: int, mean: float, low: float, high: float) -> None:
        """Append a measurement's hour."""
        self.hours.append(start)
        self._a.append(mean)
        self._b.append(low)
        self._c.append(high)

    def add_counter(
        self, start: int, first: float, last: float, s_first: float, s_last: float
    ) -> None:
        """Append a counter's hour."""
        self.hours.append(start)
        self._a.append(first)
        self._b.append(last)
        self._c.append(s_first)
        self._d.append(s_last)

    def means(self) -> Iterator[HourlyMean]:
        """A measurement's hours."""
        return map(HourlyMean._make, zip(self.hours, self._a, self._b, self._c, strict=True))

    def counters(self) -> Iterator[HourlyCounter]:
        """A counter's hours."""
        return map(
            HourlyCounter._make, zip(self.hours, self._a, self._b, self._c, self._d, strict=True)
        )


@dataclass(slots=True)
class HistoryStats:
    """What was read."""

    format: str = "log"
    """``log``, ``gzip log``, ``records csv``..."""
    telegrams: int = 0
    valid: int = 0
    repaired: int = 0
    invalid: int = 0
    unverified: int = 0
    aggregated: int = 0
    """Accepted telegrams (rows) placed in an hour."""
    without_time: int = 0
    out_of_order: int = 0
    clock_outliers: int = 0
    outside_window: int = 0
    bad_rows: int = 0
    """Records CSV rows that could not be read."""
    truncated: bool = False
    """A compressed file ended early: what came before was read."""
    meter: str | None = None
    first: datetime | None = None
    last: datetime | None = None

    @property
    def accepted(self) -> int:
        """Valid, repaired and unverified telegrams."""
        return self.valid + self.repaired + self.unverified


@dataclass(slots=True)
class History:
    """Hourly aggregates per value key, and what was read."""

    series: dict[str, Series] = field(default_factory=dict)
    stats: HistoryStats = field(default_factory=HistoryStats)
    mbus_kinds: dict[int, str] = field(default_factory=dict)
    """M-Bus channel -> ``gas``, ``water``, ``heat``... as the log's ``0-n:24.1.0`` says."""


Row = tuple[float | None, ...]


class _Counter:
    """The running state of one counter across hours: sum = reading + offset."""

    __slots__ = ("offset", "previous", "raw")

    def __init__(self) -> None:
        self.raw: float | None = None  # last reading as read (context of the median)
        self.previous: float | None = None  # last reading after smoothing
        self.offset = 0.0


def _smooth(before: float, value: float, after: float) -> float:
    """A reading outside the range of its neighbours, when they are in order, is taken as the
    nearer of them (a median of three); a step (neighbours out of order: a replaced meter) stays."""
    if before > after or before <= value <= after:
        return value
    return before if value < before else after


def _counter_hour(
    state: _Counter, values: list[float], ahead: float | None
) -> tuple[float, float, float, float, int]:
    """One hour of a counter: (first, last, sum at first, sum at last, new segments)."""
    behind, previous = state.raw, state.previous
    state.raw = values[-1]
    context = values
    if behind is not None or ahead is not None:
        context = [
            *(() if behind is None else (behind,)),
            *values,
            *(() if ahead is None else (ahead,)),
        ]
    if previous is None:
        state.offset = -values[0]  # the sum starts at 0 with the first reading
        previous = values[0]
    if values[0] >= previous and all(map(le, context[:-1], context[1:])):
        # The common case: readings in order (one C-level pass).
        offset = state.offset
        state.previous = values[-1]
        return values[0], values[-1], values[0] + offset, values[-1] + offset, 0
    # A reading out of order: smoothed (the ends as read), then segments.
    first = 0 if behind is None else 1
    end = len(context) - 1
    smoothed = [
        context[i] if i in (0, end) else _smooth(context[i - 1], context[i], context[i + 1])
        for i in range(first, first + len(values))
    ]
    offset = state.offset
    resets = 0
    first_sum = smoothed[0] + offset
    for index, value in enumerate(smoothed):
        if value < previous:
            offset += previous - value  # the new segment goes on from the sum reached
            resets += 1
            if index == 0:
                first_sum = value + offset
        previous = value
    state.offset, state.previous = offset, previous
    return smoothed[0], smoothed[-1], first_sum, smoothed[-1] + offset, resets


class HourlyAggregator:
    """Samples in, :class:`Series` out: :meth:`declare` the keys, :meth:`add` samples in the order
    read, then :meth:`finish`.

    ``start`` and ``end`` (UTC epoch seconds) keep the hours that overlap ``[start, end)``.
    """

    def __init__(
        self, history: History, start: float | None = None, end: float | None = None
    ) -> None:
        self.history = history
        self.stats = history.stats
        self._low = -math.inf if start is None else math.floor(start / HOUR)
        self._high = math.inf if end is None else math.ceil(end / HOUR)
        self._last = -math.inf
        self._pending: tuple[float, tuple[str, ...], Row] | None = None
        self._hour: int | None = None
        self._keys: tuple[str, ...] = ()
        self._flags: tuple[tuple[bool, bool], ...] = ()
        self._times: list[float] = []
        self._rows: list[Row] = []
        self._interval = 1.0
        self._hour_means: dict[str, list[float]] = {}
        self._hour_counts: dict[str, list[float]] = {}
        self._counters: dict[str, _Counter] = {}
        self._declared: dict[tuple[str, ...], tuple[tuple[bool, bool], ...]] = {}
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._kinds: dict[str, tuple[bool, Kind | None]] = {}

    def declare(
        self,
        keys: tuple[str, ...],
        counters: tuple[bool, ...],
        nullable: tuple[bool, ...],
        kinds: tuple[Kind | None, ...],
    ) -> tuple[str, ...]:
        """Say, before adding samples with ``keys``, which are counters, which may be None, and
        the kind of each; returns the keys to add them with (equal tuples become one, so samples
        of a new layout with the same values go on in the same block)."""
        keys = self._interned.setdefault(keys, keys)
        self._declared[keys] = tuple(zip(counters, nullable, strict=True))
        for key, counter, kind in zip(keys, counters, kinds, strict=True):
            self._kinds.setdefault(key, (counter, kind))
        return keys

    def add(self, when: float, keys: tuple[str, ...], values: Row) -> None:
        """One sample's values (of declared ``keys``) at ``when`` (UTC epoch seconds)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            if when > pending[0]:  # the jump ahead is confirmed
                self._commit(*pending)
            else:
                self.stats.clock_outliers += 1
        last = self._last
        if when <= last:
            self.stats.out_of_order += 1
            return
        if when - last > CLOCK_JUMP and last > -math.inf:
            self._pending = (when, keys, values)
            return
        self._commit(when, keys, values)

    def finish(self) -> History:
        """Aggregate what is left; the history."""
        if self._pending is not None:
            self._commit(*self._pending)
            self._pending = None
        if self._hour is not None:
            self._flush(None)
            self._close(None, None)
            self._hour = None
        return self.history

    # --- internals ----------------------------------------------------------------------------

    def _commit(self, when: float, keys: tuple[str, ...], values: Row) -> None:
        hour = int(when // HOUR)
        if hour != self._hour or keys is not self._keys:
            if self._hour is not None:
                self._flush(when)
                if hour != self._hour:
                    self._close(keys, values)
                    self._hour = None
            if not self._low <= hour < self._high:
                self._last = when
                self.stats.outside_window += 1
                return
            if keys is not self._keys:
                self._keys = keys
                self._flags = self._declared[keys]
            self._hour = hour
            if self.stats.first is None:
                self.stats.first = datetime.fromtimestamp(when, UTC)
        times = self._times
        if times:
            self._interval = when - times[-1]
        times.append(when)
        self._rows.append(values)
        self._last = when

    def _flush(self, next_when: float | None) -> None:
        """Aggregate the block of samples (one hour, one set of keys) into the hour's sums."""
        times, rows = self._times, self._rows
        if not rows:
            return
        self._times, self._rows = [], []
        stats = self.stats
        stats.aggregated += len(rows)
        stats.last = datetime.fromtimestamp(times[-1], UTC)
        if next_when is None:
            next_when = times[-1] + min(self._interval, MAX_HOLD)
        weights = [
            d if d < MAX_HOLD else MAX_HOLD for d in map(sub, [*times[1:], next_when], times)
        ]
        total_weight = sum(weights)
        means, counts = self._hour_means, self._hour_counts
        columns = zip(*rows, strict=True)
        for key, (counter, nullable), column in zip(self._keys, self._flags, columns, strict=True):
            present = cast(Sequence[float], column)  # no None, or filtered below
            weighted = weight = 0.0
            if nullable and None in column:
                if column.count(None) == len(column):
                    continue
                pairs = [(v, w) for v, w in zip(column, weights, strict=True) if v is not None]
                present = [v for v, _ in pairs]
                if not counter:
                    weighted = math.fsum(v * w for v, w in pairs)
                    weight = math.fsum(w for _, w in pairs)
            elif not counter:
                weighted, weight = sum(map(mul, present, weights)), total_weight
            if counter:
                known = counts.get(key)
                if known is None:
                    counts[key] = list(present)
                else:
                    known.extend(present)
                continue
            low, high = min(present), max(present)
            acc = means.get(key)
            if acc is None:
                means[key] = [weighted, weight, low, high]
            else:
                acc[0] += weighted
                acc[1] += weight
                acc[2] = min(acc[2], low)
                acc[3] = max(acc[3], high)

    def _close(self, next_keys: tuple[str, ...] | None, next_values: Row | None) -> None:
        """End the current hour: one aggregate per key that had a value in it; the next sample's
        values are the context of the last readings' median."""
        assert self._hour is not None
        start = self._hour * HOUR
        series = self.history.series
        for key, (weighted, weight, low, high) in self._hour_means.items():
            found = series.get(key)
            if found is None:
                found = series[key] = Series(key, False, self._kinds[key][1])
            found.add_mean(start, weighted / weight if weight > 0 else (low + high) / 2, low, high)
        ahead: dict[str, float | None] = {}
        if next_keys is not None and next_values is not None and self._hour_counts:
            ahead = dict(zip(next_keys, next_values, strict=True))
        for key, values in self._hour_counts.items():
            found = series.get(key)
            if found is None:
                found = series[key] = Series(key, True, self._kinds[key][1])
            state = self._counters.get(key)
            if state is None:
                state = self._counters[key] = _Counter()
            first, last, s_first, s_last, resets = _counter_hour(state, values, ahead.get(key))
            found.resets += resets
            found.add_counter(start, first, last, s_first, s_last)
        self._hour_means = {}
        self._hour_counts = {}
