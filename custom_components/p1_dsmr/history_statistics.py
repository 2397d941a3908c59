"""Long-term statistics from hourly aggregates: continuity with what the recorder has, and writing.

A counter's hourly row holds the reading at the hour's end (``state``) and a running ``sum``; the
Energy dashboard shows an hour's energy as the change of ``sum`` from the row before (from 0 for a
statistic's first row). Imported hours must join what Home Assistant recorded itself without a
spike, a negative hour or a double count. They are written in *runs*: hours between two rows the
recorder already has (its *anchors*: every row within the imported span, the row before it, the
row after it, and the newest 5-minute row, which Home Assistant continues its sums from).
:func:`plan_counter` gives each run the log's running sums plus one offset:

* after an anchor P, the first imported hour's change is the counter's increase since P's reading
  (``sum = P.sum + reading - P.state``; a replaced meter's segments carried on);
* with no anchor before it, the sums start at 0: the first imported hour shows its own energy, as
  Home Assistant's first hour does;
* and the anchor N after the run must then show the counter's increase from the run's last
  reading to its own: when its sum does not (it started at 0, or it counted the hours the log
  fills in), the sums of N and of every row after it are moved by the difference, as *Developer
  tools > Statistics > Adjust sum* does. Their readings and their hourly changes stay what Home
  Assistant recorded; only the level of the running sum moves.

A run's rows are written, then the rows after it moved, then the next run's rows (each step after
the one before: a move must not reach the rows of later runs).

Everything here runs in the recorder's executor except :func:`async_write`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    STATISTIC_UNIT_TO_UNIT_CONVERTER,
    async_import_statistics,
    get_last_short_term_statistics,
    get_last_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.components.sensor.const import UNIT_CONVERTERS
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util.unit_conversion import BaseUnitConverter

from .p1lib.hourly import HOUR, HourlyCounter, HourlyMean

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WRITE_BATCH = 500
"""Rows per recorder job (about three weeks of hours): the recorder stays responsive."""
_METADATA_KEYS = StatisticMetaData.__required_keys__ | StatisticMetaData.__optional_keys__
HAS_UNIT_CLASS = "unit_class" in _METADATA_KEYS
"""Home Assistant 2025.11+ keeps a unit class in the metadata (2025.4 refuses the key)."""
_TYPES: set[Any] = {"state", "sum"}


@dataclass(frozen=True, slots=True)
class Anchor:
    """A row the recorder has: its start (UTC epoch seconds), reading and sum."""

    start: float
    state: float
    sum: float


@dataclass(slots=True)
class Recorded:
    """What the recorder has of one statistic around the imported hours."""

    metadata: StatisticMetaData | None
    hours: dict[int, Anchor]
    """Rows within the imported hours' span, by start."""
    anchors: list[Anchor]
    """Rows to join: those within the span, the one before, the one after, the newest 5-minute one."""


@dataclass(frozen=True, slots=True)
class Move:
    """Move the sums of the recorded rows from ``start`` on by ``by`` (the level of the running
    sum, never an hour's change)."""

    start: float
    by: float


Step = list[tuple[int, float, float]] | Move
"""Rows to write ((start, state, sum)), or a move of the recorded sums after them."""


def unit_class(device_class: str | None, unit: str | None) -> str | None:
    """The unit class Home Assistant's sensor recorder gives a statistic (2025.11+)."""
    converter = UNIT_CONVERTERS.get(device_class) if device_class else None
    if converter is not None and unit in converter.VALID_UNITS:
        return converter.UNIT_CLASS
    converter = STATISTIC_UNIT_TO_UNIT_CONVERTER.get(unit)
    return None if converter is None else converter.UNIT_CLASS


def converter_for(
    device_class: str | None, native: str | None, unit: str | None
) -> Callable[[float], float] | None:
    """Native unit to statistics unit (identity when equal); None when they do not convert."""
    if native == unit:
        return float
    candidates: list[type[BaseUnitConverter]] = []
    if device_class and (by_class := UNIT_CONVERTERS.get(device_class)) is not None:
        candidates.append(by_class)
    if (by_unit := STATISTIC_UNIT_TO_UNIT_CONVERTER.get(native)) is not None:
        candidates.append(by_unit)
    for converter in candidates:
        if native in converter.VALID_UNITS and unit in converter.VALID_UNITS:
            return converter.converter_factory(native, unit)
    return None


def make_metadata(
    statistic_id: str,
    counter: bool,
    unit: str | None,
    device_class: str | None,
    existing: StatisticMetaData | None,
) -> StatisticMetaData:
    """The metadata Home Assistant's sensor recorder writes for such an entity (the existing one's
    values where there is one, so nothing of it changes)."""
    metadata: dict[str, Any] = {
        "mean_type": StatisticMeanType.NONE if counter else StatisticMeanType.ARITHMETIC,
        "has_sum": counter,
        "name": None,
        "source": "recorder",
        "statistic_id": statistic_id,
        "unit_of_measurement": unit,
    }
    if HAS_UNIT_CLASS:
        metadata["unit_class"] = unit_class(device_class, unit)
    if existing is not None:
        for key in (*metadata, "unit_class"):
            if key in existing and (key != "unit_class" or HAS_UNIT_CLASS):
                metadata[key] = existing[key]  # type: ignore[literal-required]
    return cast(StatisticMetaData, metadata)


def _display_units(unit: str | None) -> dict[str, str] | None:
    """Ask the recorder for rows in the statistic's own unit (not the state's)."""
    converter = STATISTIC_UNIT_TO_UNIT_CONVERTER.get(unit)
    return None if converter is None or unit is None else {converter.UNIT_CLASS: unit}


def _anchor(row: dict[str, Any]) -> Anchor | None:
    state, total = row.get("state"), row.get("sum")
    if state is None or total is None:
        return None
    return Anchor(float(row["start"]), float(state), float(total))


def _hours(
    hass: HomeAssistant,
    statistic_id: str,
    start: datetime,
    end: datetime | None,
    units: dict[str, str] | None,
    types: set[Any],
    period: Any = "hour",
) -> list[dict[str, Any]]:
    rows = statistics_during_period(hass, start, end, {statistic_id}, period, units, types)
    return cast(list[dict[str, Any]], rows.get(statistic_id, []))


def recorded(
    hass: HomeAssistant, statistic_id: str, first: int, last: int, counter: bool
) -> Recorded:
    """What the recorder has of a statistic around the hours ``first`` to ``last`` (starts, UTC
    epoch seconds). Runs in the recorder's executor."""
    found = get_metadata(hass, statistic_ids={statistic_id}).get(statistic_id)
    metadata = found[1] if found is not None else None
    span_start = datetime.fromtimestamp(first, UTC)
    span_end = datetime.fromtimestamp(last + HOUR, UTC)
    if metadata is None:
        return Recorded(None, {}, [])
    units = _display_units(metadata["unit_of_measurement"])
    types = _TYPES if counter else {"mean"}
    inside = _hours(hass, statistic_id, span_start, span_end, units, types)
    if not counter:
        hours = {int(row["start"]): Anchor(float(row["start"]), 0.0, 0.0) for row in inside}
        return Recorded(metadata, hours, [])
    anchors = [a for row in inside if (a := _anchor(row)) is not None]
    hours = {int(a.start): a for a in anchors}
    # The row before: the month holding it, then its hours (a few hundred rows at most).
    months = _hours(hass, statistic_id, EPOCH, span_start, units, _TYPES, "month")
    if months:
        month = datetime.fromtimestamp(months[-1]["start"], UTC)
        before = _hours(hass, statistic_id, month, span_start, units, _TYPES)
        if before and (anchor := _anchor(before[-1])) is not None:
            anchors.insert(0, anchor)
    months = _hours(hass, statistic_id, span_end, None, units, _TYPES, "month")
    if months:
        month_end = datetime.fromtimestamp(months[0]["end"], UTC)
        after = _hours(hass, statistic_id, span_end, month_end, units, _TYPES)
        if after and (anchor := _anchor(after[0])) is not None:
            anchors.append(anchor)
    # Home Assistant continues its sums from its newest 5-minute row: join it too when it is newer
    # than every hour (the hour it is in is not compiled yet).
    newest = get_last_statistics(hass, 1, statistic_id, False, _TYPES).get(statistic_id)
    short = get_last_short_term_statistics(hass, 1, statistic_id, False, _TYPES).get(statistic_id)
    if short and (anchor := _anchor(cast(dict[str, Any], short[0]))) is not None:
        newest_end = float(newest[0]["end"]) if newest else -math.inf
        if anchor.start >= newest_end:
            anchors.append(anchor)
    anchors.sort(key=lambda a: a.start)
    return Recorded(metadata, hours, anchors)


def plan_counter(
    hours: Iterable[HourlyCounter], anchors: Sequence[Anchor], skip: set[int]
) -> list[Step]:
    """The steps that write a counter's hours not in ``skip``, joined to ``anchors`` (rows the
    recorder keeps, sorted by start; none of them at a written hour)."""
    steps: list[Step] = []
    starts = [a.start for a in anchors]
    moved = [0.0] * len(anchors)  # how far each anchor's sum has been moved by earlier steps
    run: list[HourlyCounter] = []
    index = 0  # anchors before the run's first hour

    def flush() -> None:
        if not run:
            return
        first, last = run[0], run[-1]
        offset = -first.sum_first  # no row before: the sums start at 0
        if index > 0:
            before = anchors[index - 1]
            increase = max(first.first - before.state, 0.0)  # less: a new meter since
            offset = before.sum + moved[index - 1] + increase - first.sum_first
        steps.append([(h.start, h.last, h.sum_last + offset) for h in run])
        after = index
        while after < len(anchors) and starts[after] <= last.start:
            after += 1
        if after < len(anchors):
            anchor = anchors[after]
            increase = max(anchor.state - last.last, 0.0)
            by = last.sum_last + offset + increase - (anchor.sum + moved[after])
            if abs(by) > 1e-9:
                steps.append(Move(anchor.start, by))
                for later in range(after, len(anchors)):
                    moved[later] += by
        run.clear()

    for hour in hours:
        if hour.start in skip:
            continue
        if run:
            following = index
            while following < len(starts) and starts[following] < hour.start:
                following += 1
            if any(run[-1].start < s < hour.start for s in starts[index:following]):
                flush()  # a recorded row between the previous hour and this one
        if not run:
            while index < len(starts) and starts[index] < hour.start:
                index += 1
        run.append(hour)
    flush()
    return steps


def mismatch(
    hours: Iterable[HourlyCounter], recorded_hours: dict[int, Anchor]
) -> tuple[int, float, float] | None:
    """An hour whose reading is far from the one the recorder has for it (another meter):
    (start, imported, recorded), or None."""
    for hour in hours:
        anchor = recorded_hours.get(hour.start)
        if anchor is None:
            continue
        tolerance = abs(hour.last - hour.first) + 0.001 * abs(anchor.state) + 0.01
        if abs(hour.last - anchor.state) > tolerance:
            return hour.start, hour.last, anchor.state
    return None


def counter_data(steps: Sequence[Step]) -> list[list[StatisticData] | Move]:
    """A counter's steps with its rows as statistic rows."""
    return [
        step
        if isinstance(step, Move)
        else [
            StatisticData(start=datetime.fromtimestamp(start, UTC), state=state, sum=total)
            for start, state, total in step
        ]
        for step in steps
    ]


def mean_data(
    hours: Sequence[HourlyMean], convert: Callable[[float], float]
) -> list[StatisticData]:
    """Statistic rows of a measurement."""
    data = []
    for hour in hours:
        low, high = convert(hour.min), convert(hour.max)
        data.append(
            StatisticData(
                start=datetime.fromtimestamp(hour.start, UTC),
                mean=convert(hour.mean),
                min=min(low, high),
                max=max(low, high),
            )
        )
    return data


async def async_write(
    hass: HomeAssistant,
    metadata: StatisticMetaData,
    steps: Sequence[list[StatisticData] | Move],
    written: Callable[[int], None] | None = None,
) -> None:
    """Hand rows and moves to the recorder in order, each done before the next is handed (rows in
    batches: the recorder stays responsive)."""
    instance = get_instance(hass)
    statistic_id, unit = metadata["statistic_id"], metadata["unit_of_measurement"]
    for step in steps:
        if isinstance(step, Move):
            when = datetime.fromtimestamp(step.start, UTC)
            instance.async_adjust_statistics(statistic_id, when, step.by, cast(str, unit))
            await instance.async_block_till_done()
            continue
        for start in range(0, len(step), WRITE_BATCH):
            batch = step[start : start + WRITE_BATCH]
            async_import_statistics(hass, metadata, batch)
            await instance.async_block_till_done()
            if written is not None:
                written(len(batch))


def cutoff(now: datetime) -> int:
    """The first hour start not imported: hours end at least 15 minutes before ``now``, so Home
    Assistant has compiled its own row for any hour it recorded."""
    return int((now - timedelta(minutes=15)).timestamp() // HOUR * HOUR)
