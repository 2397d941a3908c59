"""Meter clocks: ``YYMMDDhhmmss[X]`` read in the meter's own time zone.

A meter's clock is its local time. The flag ``X`` (``S``/``s`` summer, ``W``/``w`` winter, absent on
DSMR 2.2 gas readings and some Iskra meters) is redundant with the date except in the hour that
occurs twice each autumn, when clocks go back: there it says which of the two is meant. So a clock
is read in its zone, by the zone's rules, and the flag only picks between the two occurrences of the
repeated hour (and, for a time the spring change skips, between the offsets before and after it).
A flag that contradicts its date (Belgian meters stamp some capacity-tariff history entries with
``S`` in March) changes nothing.

The result is an aware :class:`~datetime.datetime` with a fixed UTC offset (named ``CET``,
``CEST``, ``GMT``, ``IST`` ...), so that the difference of two clocks is the real time between them,
across a change of summer time too.

Zones come from :mod:`zoneinfo`. Where the system has no time zone database (Windows without the
``tzdata`` package), the European zones fall back to the EU rule, which every one of them has
followed since 2003 (most since 1996; Lithuania and Estonia kept no summer time for a few years):
summer time from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
October.

A two-digit year from 70 on is a clock that was never set (an empty M-Bus slot sends
``700101010000W``, the Unix epoch in Central European time): it is no time, and reads as None.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import ClassVar

__all__ = [
    "DEFAULT_ZONE",
    "EuropeanZone",
    "MeterClock",
    "clock_for",
    "zone",
]

DEFAULT_ZONE = "Europe/Amsterdam"
"""The zone of a meter whose dialect implies none and for which no zone was given (DSMR is Dutch;
every Central European zone has the same rules)."""

_HOUR = timedelta(hours=1)
_SECONDS = tuple(timedelta(seconds=second) for second in range(60))

_CENTRAL = """Amsterdam Andorra Belgrade Berlin Bratislava Brussels Budapest Copenhagen Ljubljana
Luxembourg Madrid Malta Monaco Oslo Paris Prague Rome Sarajevo Skopje Stockholm Tirane Vaduz Vienna
Warsaw Zagreb Zurich"""
_EASTERN = "Athens Bucharest Helsinki Riga Sofia Tallinn Vilnius"

# Standard offset (hours) and the names of standard and summer time of the European zones the
# fallback knows.
_EUROPEAN: dict[str, tuple[int, str, str]] = {
    "Europe/Dublin": (0, "GMT", "IST"),
    "Europe/London": (0, "GMT", "BST"),
    "Europe/Lisbon": (0, "WET", "WEST"),
    "WET": (0, "WET", "WEST"),
    "CET": (1, "CET", "CEST"),
    "EET": (2, "EET", "EEST"),
    **{f"Europe/{city}": (1, "CET", "CEST") for city in _CENTRAL.split()},
    **{f"Europe/{city}": (2, "EET", "EEST") for city in _EASTERN.split()},
}


def _last_sunday(year: int, month: int) -> datetime:
    """01:00 (naive) on the last Sunday of ``month`` (March or October)."""
    last = datetime(year, month, 31, 1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


class EuropeanZone(tzinfo):
    """A European zone by the EU summer-time rule (the fallback without a time zone database).

    Summer time runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
    October. Like :class:`zoneinfo.ZoneInfo`, a local time in the repeated autumn hour is summer
    time with ``fold=0`` and standard time with ``fold=1``; in the hour skipped in spring, ``fold=0``
    takes the offset before the change and ``fold=1`` the one after.
    """

    def __init__(self, key: str, hours: int, standard: str, summer: str) -> None:
        self.key = key
        self._standard = timedelta(hours=hours)
        self._names = (standard, summer)

    def __repr__(self) -> str:
        return f"EuropeanZone({self.key!r})"

    def _summer(self, dt: datetime | None) -> bool:
        if dt is None:
            return False
        wall = dt.replace(tzinfo=None)
        # The changes in local standard time: 01:00 UTC plus the standard offset.
        start = _last_sunday(wall.year, 3) + self._standard
        end = _last_sunday(wall.year, 10) + self._standard
        if start <= wall < start + _HOUR:  # skipped in spring
            return dt.fold == 1
        if end <= wall < end + _HOUR:  # repeated in autumn
            return dt.fold == 0
        return start + _HOUR <= wall < end

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self._standard + _HOUR if self._summer(dt) else self._standard

    def dst(self, dt: datetime | None) -> timedelta:
        return _HOUR if self._summer(dt) else timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return self._names[self._summer(dt)]


_ZONES: dict[str, tzinfo] = {}


def zone(name: str) -> tzinfo:
    """The time zone called ``name`` (an IANA name such as ``Europe/Brussels``, or ``UTC``).

    From the system's time zone database; without one, the European zones follow the EU rule
    (:class:`EuropeanZone`). Raises ValueError for a name neither knows.
    """
    known = _ZONES.get(name)
    if known is not None:
        return known
    found: tzinfo | None = None
    if name.upper() == "UTC":
        found = UTC
    else:
        try:
            from zoneinfo import ZoneInfo

            found = ZoneInfo(name)
        except (ImportError, ValueError, OSError, KeyError):  # not found: a KeyError
            found = None
        if found is None and name in _EUROPEAN:
            found = EuropeanZone(name, *_EUROPEAN[name])
    if found is None:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Brussels)")
    _ZONES[name] = found
    return found


class MeterClock:
    """Reads a meter's clock texts in one time zone (see the module's description).

    Call it with ``YYMMDDhhmmss`` and an optional flag; it returns an aware datetime with a fixed
    offset, or None for an impossible or unset time. The minutes read last are cached, so a clock
    ticking within a minute costs one look-up and one addition. :attr:`iso` gives the ISO 8601 text
    of a clock text, cached too.
    """

    __slots__ = ("_minutes", "_offsets", "iso", "name", "zone")

    _shared: ClassVar[dict[str, MeterClock]] = {}

    def __init__(self, name: str, zone_info: tzinfo | None = None) -> None:
        self.name = name
        """The zone's name (``Europe/Brussels``)."""
        self.zone: tzinfo = zone_info if zone_info is not None else zone(name)
        self._minutes: dict[str, datetime] = {}
        self._offsets: dict[tuple[timedelta, str], timezone] = {}
        self.iso = _IsoTexts(self)
        """Clock text -> its ISO 8601 text ("" for no time), made on first use (bounded)."""

    def __repr__(self) -> str:
        return f"MeterClock({self.name!r})"

    @classmethod
    def named(cls, name: str) -> MeterClock:
        """The clock of zone ``name``, shared by its users (its caches with it)."""
        clock = cls._shared.get(name)
        if clock is None:
            clock = cls._shared[name] = cls(name)
        return clock

    def __call__(self, text: str) -> datetime | None:
        """``YYMMDDhhmmss[SsWw]`` as an aware datetime in this clock's zone, or None."""
        key = text[:10] + text[12:]
        minute = self._minutes.get(key)
        if minute is not None:
            seconds = text[10:12]
            if seconds.isdecimal() and len(seconds) == 2 and seconds < "60":
                return minute + _SECONDS[int(seconds)]
        parsed = self._parse(text)
        if parsed is not None:
            if len(self._minutes) >= 64:
                self._minutes.clear()
            self._minutes[key] = parsed - _SECONDS[parsed.second]
        return parsed

    def _parse(self, text: str) -> datetime | None:
        if not 12 <= len(text) <= 13 or not text[:12].isdecimal() or not text[:12].isascii():
            return None
        flag = text[12:].upper()
        if flag not in ("", "S", "W") or text[:2] >= "70":
            return None
        try:
            naive = datetime(
                2000 + int(text[0:2]),
                int(text[2:4]),
                int(text[4:6]),
                int(text[6:8]),
                int(text[8:10]),
                int(text[10:12]),
            )
        except ValueError:
            return None
        zone_info = self.zone
        first = naive.replace(tzinfo=zone_info)
        second = naive.replace(tzinfo=zone_info, fold=1)
        offset, other = first.utcoffset(), second.utcoffset()
        assert offset is not None
        assert other is not None
        chosen = first
        # In the repeated autumn hour (or the skipped spring one) S is the larger offset.
        if offset != other and flag and (flag == "S") != (offset > other):
            chosen, offset = second, other
        name = chosen.tzname() or ""
        fixed = self._offsets.get((offset, name))
        if fixed is None:
            fixed = self._offsets[offset, name] = timezone(offset, name)
        return naive.replace(tzinfo=fixed)


class _IsoTexts(dict[str, str]):
    """ISO 8601 texts of meter clock texts, made on first use (bounded)."""

    __slots__ = ("_clock",)

    def __init__(self, clock: MeterClock) -> None:
        super().__init__()
        self._clock = clock

    def __missing__(self, raw: str) -> str:
        stamp = self._clock(raw)
        if len(self) >= 256:
            self.clear()
        text = self[raw] = "" if stamp is None else stamp.isoformat()
        return text


def clock_for(name: str | tzinfo) -> MeterClock:
    """A clock for a zone given by name or as a :class:`~datetime.tzinfo`."""
    if isinstance(name, str):
        return MeterClock.named(name)
    return MeterClock(str(getattr(name, "key", name)), name)
