"""The demo's simulated meter: the library's generator, live and with a past day (scripts/demo).

The meter writes its telegrams to a log like the original user's PuTTY session, with his line's
noise; before the demo it has run for a day, whose counters go into Home Assistant's long-term
statistics.
"""

from __future__ import annotations

import itertools
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "custom_components" / "p1_dsmr"))

from p1lib.faults import inject
from p1lib.generator import MeterSimulator, putty_header
from p1lib.obis import lookup

# Home Assistant's country and time zone (the meter's clock's) for each simulated meter.
TIME_ZONES = {
    "nl_dsmr5": ("NL", "Europe/Amsterdam"),
    "nl_dsmr4": ("NL", "Europe/Amsterdam"),
    "be_fluvius": ("BE", "Europe/Brussels"),
    "hu_sanxing": ("HU", "Europe/Budapest"),
    "hu_sagemcom": ("HU", "Europe/Budapest"),
}
DEFAULT_METER = "nl_dsmr5"
HISTORY_HOURS = 24


_COUNTER = re.compile(
    rb"^(\d+-\d+:\d+\.\d+\.\d+)(?:\([^)]*\))*\((\d+\.\d+)\*(?:kWh|m3)\)\r?$", re.MULTILINE
)


def counters(telegram: bytes) -> dict[str, float]:
    """The energy and M-Bus counters (kWh, m³) of a telegram, by the integration's value keys."""
    found: dict[str, float] = {}
    for code, number in _COUNTER.findall(telegram):
        text = code.decode()
        info = lookup(text)
        if info is None:
            continue
        key = info.key
        if text.startswith("0-") and not text.startswith("0-0:"):
            key = f"mbus{text[2 : text.index(':')]}_{key}"  # as the integration names them
        found[key] = float(number)
    return found


class LiveMeter:
    """A simulated meter (the library's generator) with solar panels on L1, logged like the
    original user's PuTTY session: a telegram every period (1 or 10 s) appended to ``path``, a few
    bytes of line noise now and then, and a telegram damaged the way his line damages them after
    about 30 s and then about every 10 minutes.

    The meter has run for ``history_hours`` before the demo: :attr:`history` has its counters at
    each hour of that past (for the long-term statistics), and the live telegrams go on from there.
    """

    FAULTS = ("bit_loss", "bit_loss", "slash_garbage", "line_end")
    DAMAGE_EVERY = 600.0  # s, on average

    def __init__(
        self,
        path: Path,
        style: str = DEFAULT_METER,
        seed: int | None = None,
        history_hours: int = HISTORY_HOURS,
    ) -> None:
        self.path = path
        self.style = style
        self.zone = _zone(TIME_ZONES[style][1])
        self.rng = random.Random(seed)
        # Hours are counted in UTC (local hours repeat when summer time ends); the meter's clock
        # shows local time.
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=history_hours)
        self.sim = MeterSimulator(
            style,
            seed=self.rng.randrange(1 << 30),
            start=start.astimezone(self.zone).replace(tzinfo=None),
            solar=True,
        )
        self.period = self.sim.period
        self.history: list[tuple[datetime, dict[str, float]]] = []
        """(the start of an hour, the counters then) before the demo."""
        hour = None
        for step in range(history_hours * 3600 // self.period):
            at = start + timedelta(seconds=step * self.period)
            telegram = self.sim.telegram()
            if at.hour != hour:
                hour = at.hour
                self.history.append((at.replace(minute=0, second=0), counters(telegram)))
        # The generator's voltages walk without returning to the mean: after a day they stay at
        # its bounds (215 and 252 V). They are not in the statistics: the live meter starts them
        # where a fresh one does.
        self.sim.state.voltage[:] = type(self.sim.state)().voltage
        self.first_damaged = max(3, round(30 / self.period))
        self.written = 0
        self.damaged = 0
        self._due = 0.0

    def tick(self) -> bool:
        """Write the next telegram when it is due; whether one was written."""
        now = time.monotonic()
        if now < self._due:
            return False
        if now - self._due > 3 * self.period:  # the first, or after the machine slept
            self._due = now
        self._due += self.period
        telegram = self.sim.telegram()
        self.written += 1
        noise = putty_header(self.sim.now) if self.written == 1 else b""
        if self.written == self.first_damaged or (
            self.written > self.first_damaged
            and self.rng.random() < self.period / self.DAMAGE_EVERY
        ):
            telegram = inject(telegram, self.rng.choice(self.FAULTS), self.rng)
            self.damaged += 1
        elif self.rng.random() < 0.003 * self.period:
            noise = bytes(self.rng.randrange(1, 256) for _ in range(self.rng.randrange(1, 6)))
        with self.path.open("ab") as log:
            log.write(noise + telegram)
        return True

    def statistics(self, key: str, before: datetime) -> list[dict[str, Any]]:
        """Hourly long-term statistics of a counter for the past hours that end by ``before``
        (aware): ``state`` the counter at the end of the hour, ``sum`` what it counted since the
        start of the history."""
        rows = []
        base = self.history[0][1].get(key) if self.history else None
        for (start, _), (_, end) in itertools.pairwise(self.history):
            if base is None or key not in end or start + timedelta(hours=1) > before:
                continue
            rows.append(
                {"start": start.isoformat(), "state": end[key], "sum": round(end[key] - base, 3)}
            )
        return rows


def _zone(name: str) -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except (ImportError, KeyError, ValueError):
        return datetime.now().astimezone().tzinfo or UTC
