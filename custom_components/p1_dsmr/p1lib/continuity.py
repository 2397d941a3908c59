"""Continuity: a telegram whose CRC matches is still judged against the meter's previous one.

A 16-bit CRC cannot see every damage: two digits changed a few bytes apart ('4' -> '8' and, two
bytes on, '3' -> '6', the same change of the CRC twice) match it, and so does one damaged telegram
in 65,536 of any other kind. Such a telegram parses; only what it says gives it away: an energy
register that runs backwards or grows faster than the meter's maximum power allows, a setup line
(the limiter threshold, the current limits, an identifier, a version) that changed, a line whose code
changed, a slow line (a history line, an event log or count, the header) that changed, a clock that
went back.

:class:`Continuity` keeps the counters and setup values of the last accepted telegram and checks
the next one against them. On the common path (the same layout as the previous telegram) that is
one big-integer comparison when none of their bytes changed, else one accessor call, compiled once
per layout, and a few comparisons; the meter's clocks are compared every time, read in full only
when a counter moved further than the maximum power allows in :data:`QUICK_SECONDS`, and the slow
lines are read only when a byte of them changed.

A telegram that fails the check is not rejected at once: a counter reset, a meter exchange, the turn
of a month (a new line in the history) or a clock set back also change them. The decoder holds it
until the next good telegram (:meth:`Continuity.confirms`): when that one continues from the held
telegram and not from the one before it, the change was real and it is accepted; when it continues
from the one before (a jump and back), the held telegram was damaged and is rejected with the
reason.
"""

from __future__ import annotations

from datetime import datetime
from operator import sub

from .crc import telegram_number
from .obis import Kind
from .telegram import CosemObject, Fields, Telegram

__all__ = ["CLOCK_SLACK", "CONFIRM_SECONDS", "DEFAULT_MAX_POWER", "QUICK_SECONDS", "Continuity"]

DEFAULT_MAX_POWER = 100.0
"""kW a meter may pass, at least (more when its limiter threshold ``0-0:17.0.0`` says so)."""
QUICK_SECONDS = 10.0
"""Counters may grow by the maximum power times this many seconds before the clocks are read."""
_SLACK = 0.01
"""kWh (or kvarh) a counter may grow beyond the maximum power, for the meters' own rounding."""
_COUNTER_KINDS = frozenset((Kind.ENERGY, Kind.REACTIVE_ENERGY))
_SETUP_CODES = frozenset(("0-0:17.0.0", "1-0:31.4.0", "1-0:51.4.0", "1-0:71.4.0", "1-1:31.4.0"))
"""Setup values a meter sends as numbers: the limiter threshold, the current limits."""
_SETUP_KINDS = frozenset((Kind.IDENTIFIER, Kind.VERSION))
_SLOW_KINDS = frozenset((Kind.PROFILE, Kind.COUNT, Kind.TEXT))
"""Lines a meter changes seldom: histories (the monthly peaks ``0-0:98.1.0``, the power failure
log ``1-0:99.97.0``), event counts and the operator's text messages. With the lines of several
values that are no M-Bus reading (the month's peak ``1-0:1.6.0`` with its time) and the header, a
change of one is held until the next telegram confirms it: damage the CRC cannot see changes them
there and nowhere else."""
CLOCK_SLACK = 5.0
"""Seconds the meter's clock may go back between telegrams (its own timing, a small resync); more
is held."""
CONFIRM_SECONDS = 60.0
"""A held telegram is confirmed only by a next telegram at most this many seconds after it."""


class _Reading:
    """What the check reads from one telegram."""

    __slots__ = (
        "_values",
        "fields",
        "mask",
        "number",
        "setup",
        "setups",
        "slow",
        "slow_mask",
        "telegram",
    )

    def __init__(
        self, telegram: Telegram, fields: Fields, setups: int, number: int | None = None
    ) -> None:
        self.telegram = telegram
        self.fields = fields
        self.setups = setups
        """How many of ``fields``' codes are setup values (first; the others are counters)."""
        self._values: tuple[float | None, ...] | None = None
        self.number = number
        """The telegram read as :func:`.crc.telegram_number`, when the caller had it."""
        self.mask = 0
        """Over :attr:`number`: the digits of the setup values and of the counters, the header and
        the slow lines (0: not made yet; -1: every byte, when they could not be placed)."""
        self.slow_mask = -1
        """The header and the slow lines' part of :attr:`mask`."""
        self.setup: dict[str, str] | None = None
        """Identifiers and versions (read only when the layout changed)."""
        self.slow: dict[str, str] | None = None
        """The header and the slow lines (read only when a byte of them changed)."""

    @property
    def values(self) -> tuple[float | None, ...]:
        values = self._values
        if values is None:
            values = self._values = self.telegram.numbers(self.fields)
        return values

    def take(self, telegram: Telegram, number: int | None) -> None:
        """Become the reading of ``telegram``, of the same layout."""
        self.telegram = telegram
        self.number = number
        self._values = None
        self.setup = None
        self.slow = None

    def known(self, values: tuple[float | None, ...]) -> None:
        """:attr:`values`, already read."""
        self._values = values

    def slow_texts(self) -> dict[str, str]:
        slow = self.slow
        if slow is None:
            slow = self.slow = _slow_texts(self.telegram)
        return slow


def _masks(reading: _Reading, data: bytes) -> tuple[int, int]:
    """:attr:`_Reading.mask` and :attr:`_Reading.slow_mask` for a telegram of ``data``."""
    mask = bytearray(len(data))
    end = data.find(b"\r\n")
    mask[: max(end, 0)] = b"\xff" * max(end, 0)
    for line in reading.telegram.objects:
        if _is_slow(line):
            at = data.find(b"\r\n" + line.obis.encode("latin-1") + b"(")
            if at < 0:
                return -1, -1
            end = data.find(b"\r\n", at + 2)
            mask[at + 2 : end] = b"\xff" * (end - at - 2)
    slow = telegram_number(mask) or -1
    for code in reading.fields.codes:
        obj = reading.telegram.get(code)
        if obj is None:
            return -1, -1
        at = data.find(b"\r\n" + obj.obis.encode("latin-1") + b"(")
        if at < 0:
            return -1, -1
        start = data.index(b"(", at) + 1
        end = start
        while data[end] in b"0123456789.":
            end += 1
        mask[start:end] = b"\xff" * (end - start)
    return telegram_number(mask) or -1, slow


def _fields(telegram: Telegram) -> tuple[Fields, int]:
    """The numeric setup values and the counters ``telegram`` holds, and how many are setup
    values."""
    counters: list[str] = []
    setup: list[str] = []
    for obj in telegram.objects:
        info = obj.info
        if info is None or obj.number is None or len(obj.values) != 1:
            continue
        if info.kind in _COUNTER_KINDS and obj.code not in counters:
            counters.append(obj.code)
        elif info.code in _SETUP_CODES and obj.code not in setup:
            setup.append(obj.code)
    return Fields((*setup, *counters)), len(setup)


def _setup_texts(telegram: Telegram) -> dict[str, str]:
    return {
        obj.code: "".join(value.raw for value in obj.values)
        for obj in telegram.objects
        if obj.info is not None and obj.info.kind in _SETUP_KINDS
    }


def _is_slow(obj: CosemObject) -> bool:
    info = obj.info
    if info is None:
        return False
    return info.kind in _SLOW_KINDS or (len(obj.values) > 1 and info.kind is not Kind.MBUS_READING)


def _slow_texts(telegram: Telegram) -> dict[str, str]:
    texts = {"header": telegram.header.raw}
    for obj in telegram.objects:
        if _is_slow(obj) and obj.code not in texts:
            texts[obj.code] = "".join(value.raw for value in obj.values)
    return texts


def _clock_problem(before: Telegram, after: Telegram) -> str | None:
    """A clock that went back (by more than :data:`CLOCK_SLACK`) or reads no time any more.
    Forward it may jump: telegrams are lost, links break."""
    earlier, later = before.timestamp, after.timestamp
    if earlier is None:
        return None
    if later is None:
        return "the meter's clock reads no time" if _has_clock(after) else None
    if (later - earlier).total_seconds() >= -CLOCK_SLACK:
        return None
    return f"the meter's clock goes back from {earlier.isoformat()} to {later.isoformat()}"


def _has_clock(telegram: Telegram) -> bool:
    return telegram.get("0-0:1.0.0") is not None


def _slow_problem(before: _Reading, after: _Reading) -> str | None:
    old = before.slow_texts()
    for code, text in after.slow_texts().items():
        previous = old.get(code)
        if previous is not None and previous != text:
            what = "the header" if code == "header" else code
            return f"{what} changed from {previous!r} to {text!r}"
    return None


def _max_power(reading: _Reading) -> float:
    """The limiter threshold when it is above :data:`DEFAULT_MAX_POWER` (a limiter below it may
    trip late, and never limits export), else that."""
    limiter = reading.telegram.number("0-0:17.0.0")
    if limiter is not None and DEFAULT_MAX_POWER < limiter <= 250.0:
        return limiter
    return DEFAULT_MAX_POWER


class Continuity:
    """The last accepted telegram's counters and setup values, and the check of the next one."""

    __slots__ = ("_quick", "_reference")

    def __init__(self) -> None:
        self._reference: _Reading | None = None
        self._quick = DEFAULT_MAX_POWER * QUICK_SECONDS / 3600.0 + _SLACK

    def reset(self) -> None:
        """Forget the reference (a new meter, or a stream that starts again)."""
        self._reference = None

    def _read(self, telegram: Telegram) -> _Reading:
        reference = self._reference
        fields = _fields(telegram)
        if reference is not None and reference.fields.codes == fields[0].codes:
            fields = (reference.fields, fields[1])  # the same accessor, compiled once
        return _Reading(telegram, *fields)

    def check(
        self, telegram: Telegram, data: bytes | None = None, number: int | None = None
    ) -> str | None:
        """Why ``telegram`` cannot follow the last accepted one (None: it can, and it becomes the
        reference). ``data`` (``/`` through ``!``) and ``number`` (its
        :func:`.crc.telegram_number`), when the caller has them, make the common case one big-integer
        comparison: nothing changed in the setup values, the counters, the header and the slow
        lines; when only counters moved, their numbers are read and compared."""
        reference = self._reference
        if reference is not None and telegram.layout is reference.telegram.layout:
            # The common path: the same layout, so the same codes at the same places.
            clock = _clock_problem(reference.telegram, telegram)
            if clock is not None:
                return clock
            mask = reference.mask
            previous = reference.number
            slow_changed = True
            if mask and number is not None and previous is not None:
                changed = number ^ previous
                if not changed & mask:
                    reference.take(telegram, number)
                    return None
                slow_changed = bool(changed & reference.slow_mask)
            values = telegram.numbers(reference.fields)
            old = reference.values
            if values != old:
                setups = reference.setups
                diffs = list(map(sub, values, old))
                if (
                    (setups and values[:setups] != old[:setups])
                    or min(diffs) < 0
                    or max(diffs) > self._quick
                ):
                    reading = _Reading(telegram, reference.fields, setups)
                    problem = _problem(reference, reading)
                    if problem is not None:
                        return problem
            if slow_changed:
                reading = _Reading(telegram, reference.fields, reference.setups)
                problem = _slow_problem(reference, reading)
                if problem is not None:
                    return problem
            reference.take(telegram, number)
            reference.known(values)
            if not mask and data is not None and number is not None:
                # after a reference taken without one
                reference.mask, reference.slow_mask = _masks(reference, data)
            return None
        reading = self._read(telegram)
        if data is not None and number is not None:
            reading.number = number
            reading.mask, reading.slow_mask = _masks(reading, data)
        if reference is not None:
            problem = _problem(reference, reading)
            if problem is not None:
                return problem
        self._reference = reading
        return None

    def accept(self, telegram: Telegram) -> None:
        """Take ``telegram`` as the reference without a check (a repaired or held one, decided)."""
        self._reference = self._read(telegram)

    def confirms(self, held: Telegram, later: Telegram) -> str | None:
        """Why ``later``, the next good telegram, does not confirm ``held`` (None: it does, and
        ``held`` becomes the reference): ``later`` must continue from ``held``
        (:meth:`between`) and not from the last accepted telegram (what changed in ``held``
        persists: damage changes a telegram and the next one is as before)."""
        problem = self.between(held, later)
        if problem is not None:
            return problem
        reference = self._reference
        if reference is not None:
            after = _Reading(later, *_fields(later))
            if _problem(reference, after) is None:
                return "the next telegram continues from the one before it"
        self.accept(held)
        return None

    def between(self, earlier: Telegram, later: Telegram) -> str | None:
        """Why ``later`` cannot follow ``earlier`` (None: it can), ``earlier`` being a held
        telegram: it also may not run more than :data:`CONFIRM_SECONDS` behind ``later`` (a clock
        set back by damage is far behind the next telegram). Neither becomes the reference."""
        problem = _problem(_Reading(earlier, *_fields(earlier)), _Reading(later, *_fields(later)))
        if problem is not None:
            return problem
        if earlier.timestamp is not None and later.timestamp is not None:
            ahead = (later.timestamp - earlier.timestamp).total_seconds()
            if ahead > CONFIRM_SECONDS:
                return f"the next telegram's clock is {ahead:.0f} s after it"
        return None


def _unit(reading: _Reading, code: str) -> str:
    obj = reading.telegram.get(code)
    return f" {obj.unit}" if obj is not None and obj.unit else ""


def _problem(before: _Reading, after: _Reading) -> str | None:
    """Why ``after`` cannot follow ``before``: the full check, clocks read."""
    old = dict(zip(before.fields.codes, before.values, strict=True))
    seconds: float | None = None
    earlier: datetime | None = before.telegram.timestamp
    later: datetime | None = after.telegram.timestamp
    if earlier is not None and later is not None:
        seconds = max(0.0, (later - earlier).total_seconds())
    power = _max_power(before)
    # A clock reads whole seconds: one more for the meter's own timing.
    limit = None if seconds is None else power * (seconds + 1.0) / 3600.0 + _SLACK
    codes = after.fields.codes
    for index, (code, value) in enumerate(zip(codes, after.values, strict=True)):
        previous = old.get(code)
        if value is None or previous is None:
            continue
        if index < after.setups:
            if value != previous:
                return f"{code} changed from {previous:g} to {value:g}"
        elif value < previous:
            return f"{code} goes backwards from {previous:.3f} to {value:.3f}{_unit(after, code)}"
        elif limit is not None and value - previous > limit:
            return (
                f"{code} grows by {value - previous:.3f}{_unit(after, code)} in {seconds or 0:.0f} s,"
                f" more than {power:g} kW allow"
            )
    if before.telegram.layout is not after.telegram.layout:
        old_codes = [obj.code for obj in before.telegram.objects]
        new_codes = [obj.code for obj in after.telegram.objects]
        if len(old_codes) == len(new_codes):
            # The same number of lines, one or two of another code: damaged codes (damage the
            # CRC cannot see touches two places at most), not lines a meter adds or drops (an
            # M-Bus device, a message) nor another set of lines.
            changed = [(a, b) for a, b in zip(old_codes, new_codes, strict=True) if a != b]
            if 1 <= len(changed) <= 2:
                return f"the line {changed[0][0]} became {changed[0][1]}"
        old_setup = before.setup if before.setup is not None else _setup_texts(before.telegram)
        before.setup = old_setup
        new_setup = after.setup = _setup_texts(after.telegram)
        for code, text in new_setup.items():
            previous_text = old_setup.get(code)
            if previous_text is not None and previous_text != text:
                return f"{code} changed from {previous_text!r} to {text!r}"
    return _clock_problem(before.telegram, after.telegram) or _slow_problem(before, after)
