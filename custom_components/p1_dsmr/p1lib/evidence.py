"""Evidence for the repair engine: how plausible a telegram is next to its good neighbours.

A damaged telegram is judged against the good telegram before it *and* the one after it (either
may be missing at the start of a stream or after a timeout). Every field of the structure (see
:mod:`.structure`) has a rule:

* the clock is exactly determined by the neighbours' clocks and the meter's period (a run of
  damaged telegrams takes the places in between);
* counters lie between the neighbours and grow no faster than the meter's maximum power allows;
  event counts likewise;
* instantaneous values (power, voltage, current, power factor, frequency) stay within a generous
  distance of both neighbours;
* lines that change rarely (tariff, breaker, M-Bus readings, monthly history, event logs) are the
  previous or the next telegram's line: a month turn or a new gas reading between the neighbours is
  allowed, anything else is not; setup lines and identifiers are fixed by the structure itself;
* relations the meter keeps, learned from its recent good telegrams: a total equals the sum of its
  tariff or phase registers (to the meter's own rounding), a phase never imports and exports at once.

A candidate repair must satisfy every rule for every field, not only where it changed bytes: a
field the received telegram has wrong and the candidate leaves wrong means the candidate does not
explain the damage. Conversely the fields that break a rule locate the damage.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import pairwise, product

from .clock import DEFAULT_ZONE, zone
from .obis import canonical_number
from .parsing import normalize_code
from .structure import Field, Rule, Structure
from .telegram import CEST, CET, parse_timestamp

__all__ = ["UNBOUNDED", "Evidence", "Neighbour", "Relation", "number_value"]

_CLOCK_LINE = len("0-0:1.0.0(YYMMDDhhmmss)")
_LOCAL = zone(DEFAULT_ZONE)
"""The zone :func:`.parse_timestamp` reads a clock without a DST flag in."""

UNBOUNDED = -1
"""A completion count too large to enumerate."""

_TOLERANCE = {
    "voltage": (6.0, 0.0),
    "current": (10.0, 0.25),
    "power": (2.0, 0.25),
    "reactive_power": (1.0, 0.25),
    "power_factor": (0.2, 0.0),
    "frequency": (0.15, 0.0),
}
"""How far an instantaneous value may lie outside its neighbours' range: (canonical units,
fraction of the larger neighbour). Measured on the real Sanxing log, the largest distance in 1100
telegrams is 0.76 kW, 1.1 V, 4 A, 0.055 and 0.02 Hz; a value beyond is taken as damage (when it
is not, the telegram is rejected, never miscorrected). Doubled with one neighbour."""
_DEFAULT_MAX_POWER = 100.0
"""kW, when the meter sends no plausible limiter threshold."""
_COUNT_STEP = 3
_ROUNDING = 2
"""Last digits a total may differ from the sum of its parts by, beyond what was seen."""
_MAX_ENUMERATION = 20_000
_RELATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("1-0:1.8.0", ("1-0:1.8.1", "1-0:1.8.2", "1-0:1.8.3", "1-0:1.8.4")),
    ("1-0:2.8.0", ("1-0:2.8.1", "1-0:2.8.2", "1-0:2.8.3", "1-0:2.8.4")),
    ("1-0:3.8.0", ("1-0:5.8.0", "1-0:6.8.0")),
    ("1-0:4.8.0", ("1-0:7.8.0", "1-0:8.8.0")),
    ("1-0:15.8.0", ("1-0:1.8.0", "1-0:2.8.0")),
    ("1-0:1.7.0", ("1-0:21.7.0", "1-0:41.7.0", "1-0:61.7.0")),
    ("1-0:2.7.0", ("1-0:22.7.0", "1-0:42.7.0", "1-0:62.7.0")),
)
"""Totals and their parts; enforced only where the meter's recent telegrams keep them."""
_EXCLUSIVE = (
    ("1-0:21.7.0", "1-0:22.7.0"),
    ("1-0:41.7.0", "1-0:42.7.0"),
    ("1-0:61.7.0", "1-0:62.7.0"),
)
"""A phase imports or exports, never both at once."""


def _lines(data: bytes) -> dict[str, bytes]:
    lines: dict[str, bytes] = {}
    for line in data.split(b"\r\n")[1:]:
        open_at = line.find(b"(")
        if open_at > 0:
            code = normalize_code(line[:open_at].decode("latin-1"))
            lines.setdefault(code, line)
    return lines


def _number(line: bytes | None) -> bytes | None:
    """The number text of a single ``(digits[.digits][*unit])`` group."""
    if line is None:
        return None
    open_at = line.find(b"(")
    inner = line[open_at + 1 : -1]
    if inner.find(b"(") >= 0 or inner.find(b")") >= 0:
        return None
    star = inner.find(b"*")
    number = inner if star < 0 else inner[:star]
    if not number.replace(b".", b"", 1).isdigit():
        return None
    return number


def _decimals(number: bytes) -> int:
    dot = number.find(b".")
    return 0 if dot < 0 else len(number) - dot - 1


def _value(number: bytes) -> int:
    return int(number.replace(b".", b""))


def number_value(text: bytes) -> int:
    """A field's number as an integer in its last digit (``006627.966`` -> 6627966); 0 for a
    text that is not a number (a clock or a line: relations never hold those)."""
    digits = text.replace(b".", b"")
    return int(digits) if digits.isdigit() else 0


class Neighbour:
    """A good telegram next to a damaged one (``/`` through ``!``)."""

    __slots__ = ("clock", "data", "lines", "time")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.lines = _lines(data)
        clock_line = self.lines.get("0-0:1.0.0")
        self.clock: bytes | None = None
        self.time: datetime | None = None
        # YYMMDDhhmmss and its DST flag (S/W), or without one (some meters send none).
        if clock_line is not None and len(clock_line) in (_CLOCK_LINE, _CLOCK_LINE + 1):
            self.clock = clock_line[len("0-0:1.0.0(") : -1]
            self.time = parse_timestamp(self.clock.decode("latin-1"))


class Relation:
    """A relation the meter keeps between fields: ``total - sum(parts)`` within a band (in the
    registers' last digits), or, for an exclusive pair, at most one of two values non-zero."""

    __slots__ = ("exclusive", "fields", "high", "low", "name")

    def __init__(
        self, name: str, fields: tuple[int, ...], low: int, high: int, exclusive: bool = False
    ) -> None:
        self.name = name
        self.fields = fields
        self.low = low
        self.high = high
        self.exclusive = exclusive

    def holds(self, values: Sequence[int]) -> bool:
        """Whether the fields' values (in :attr:`fields` order) keep the relation."""
        if self.exclusive:
            return min(values) == 0
        residual = values[0] - sum(values[1:])
        return self.low <= residual <= self.high


class Evidence:
    """The rules of every field of ``structure`` next to the neighbours ``previous`` and ``next``.

    ``position`` is the damaged telegram's place in a run of ``run`` damaged telegrams between the
    neighbours (1 of 1 for a single one); ``history`` holds the meter's recent good telegrams (for
    the relations), oldest first.
    """

    def __init__(
        self,
        structure: Structure,
        previous: Neighbour | None,
        following: Neighbour | None,
        *,
        period: float | None = None,
        position: int = 1,
        run: int = 1,
        history: Sequence[Neighbour] = (),
    ) -> None:
        self.structure = structure
        self.previous = previous
        self.following = following
        self.period = period
        self.position = position
        self.run = run
        self._cache: dict[tuple[int, bytes], str | None] = {}
        self._windows: list[tuple[int, int] | None] = []
        self._allowed: list[frozenset[bytes] | None] = []
        max_power = _DEFAULT_MAX_POWER
        for neighbour in (previous, following):
            limiter = _number(neighbour.lines.get("0-0:17.0.0")) if neighbour else None
            if limiter is not None and 1.0 <= float(limiter) <= 250.0:
                max_power = float(limiter)
                break
        self.max_power = max_power
        for field in structure.fields:
            self._prepare(field)
        self.relations = self._relations(history)

    # --- preparation -----------------------------------------------------------------------

    def _neighbour_lines(self, code: str) -> tuple[bytes | None, bytes | None]:
        return (
            self.previous.lines.get(code) if self.previous else None,
            self.following.lines.get(code) if self.following else None,
        )

    def _prepare(self, field: Field) -> None:
        window: tuple[int, int] | None = None
        allowed: frozenset[bytes] | None = None
        before, after = self._neighbour_lines(field.code)
        rule = field.rule
        if rule is Rule.CLOCK:
            allowed = self._clock_allowed()
        elif rule is Rule.CHOICE:
            options = {line for line in (before, after) if line is not None}
            allowed = frozenset(options) if options else None
        elif rule is Rule.FREE:
            if before is not None and before == after:
                allowed = frozenset((before,))
        else:
            window = self._window(field, _number(before), _number(after))
        self._windows.append(window)
        self._allowed.append(allowed)

    def _steps(self) -> tuple[float, float]:
        """Seconds (at most) from the previous neighbour and to the next one."""
        period = self.period or 10.0
        return (self.position + 2) * period, (self.run - self.position + 3) * period

    def _window(
        self, field: Field, before: bytes | None, after: bytes | None
    ) -> tuple[int, int] | None:
        width = field.end - field.start
        decimals = _decimals(self.structure.data[field.start : field.end])
        known = [n for n in (before, after) if n is not None and len(n) == width]
        if not known or any(_decimals(n) != decimals for n in known):
            return None
        scale, _ = canonical_number(1.0, field.unit or None)
        per_unit = 10**decimals / scale  # raw steps per canonical unit
        low_value = _value(before) if before is not None and len(before) == width else None
        high_value = _value(after) if after is not None and len(after) == width else None
        if field.rule is Rule.COUNTER:
            rate = self.max_power / 3600.0 * per_unit  # raw steps per second
            since, until = self._steps()
            if low_value is not None and high_value is not None:
                if high_value < low_value:
                    return None  # the register was reset or replaced: nothing to hold it to
                return low_value, high_value
            if low_value is not None:
                return low_value, low_value + int(rate * since) + 1
            assert high_value is not None
            return max(0, high_value - int(rate * until) - 1), high_value
        if field.rule is Rule.COUNT:
            if low_value is not None and high_value is not None:
                return (low_value, high_value) if low_value <= high_value else None
            if low_value is not None:
                return low_value, low_value + _COUNT_STEP
            assert high_value is not None
            return max(0, high_value - _COUNT_STEP), high_value
        kind = field.kind.value if field.kind is not None else ""
        absolute, relative = _TOLERANCE.get(kind, (2.0, 0.25))
        values = [v for v in (low_value, high_value) if v is not None]
        tolerance = int(absolute * per_unit + relative * max(values))
        if len(values) == 1:
            tolerance *= 2
        return max(0, min(values) - tolerance), max(values) + tolerance

    def _clock_allowed(self) -> frozenset[bytes] | None:
        """Every clock text the damaged telegram may carry."""
        previous = self.previous.time if self.previous else None
        following = self.following.time if self.following else None
        flags = {
            n.clock[12:13] for n in (self.previous, self.following) if n is not None and n.clock
        }
        if not flags:
            return None
        instants: list[datetime] = []
        period = self.period
        position, run = self.position, self.run
        if previous is not None and following is not None:
            span = (following - previous).total_seconds()
            if span <= 0:
                return None
            # The meter's period, or the one that puts the run exactly in between.
            periods = [
                p
                for p in (period, span / (run + 1))
                if p and p >= 1 and p == int(p) and span % p == 0
            ]
            periods = [p for p in periods if span // p >= run + 1]
            if periods:
                period = periods[0]
                steps = int(span // period)
                if steps == run + 1:
                    instants = [previous + timedelta(seconds=position * period)]
                else:
                    instants = [
                        previous + timedelta(seconds=j * period) for j in range(1, min(steps, 200))
                    ]
            elif span <= 600:
                instants = [previous + timedelta(seconds=s) for s in range(1, int(span))]
            else:
                return None
        elif previous is not None:
            if period:
                instants = [
                    previous + timedelta(seconds=j * period) for j in range(position, position + 3)
                ]
            else:
                instants = [previous + timedelta(seconds=s) for s in range(1, 61)]
        elif following is not None:
            back = run - position + 1
            if period:
                instants = [
                    following - timedelta(seconds=j * period) for j in range(back, back + 3)
                ]
            else:
                instants = [following - timedelta(seconds=s) for s in range(1, 61)]
        texts = set()
        for instant in instants:
            for flag in flags:
                # Without a flag the text is the local time of the zone it was read in.
                zone = CEST if flag in (b"S", b"s") else CET if flag else _LOCAL
                local = instant.astimezone(zone)
                texts.add(local.strftime("%y%m%d%H%M%S").encode() + flag)
        return frozenset(texts)

    def _relations(self, history: Sequence[Neighbour]) -> list[Relation]:
        """The relations the meter keeps, with the band its recent telegrams show."""
        structure = self.structure
        fields = {f.code: i for i, f in enumerate(structure.fields)}
        sample = list(history)
        if self.previous is not None and (not sample or sample[-1] is not self.previous):
            sample.append(self.previous)
        if self.following is not None:
            sample.append(self.following)
        found: list[Relation] = []
        for total, parts in _RELATIONS:
            codes = [c for c in (total, *parts) if c in fields]
            if total not in fields or len(codes) < 2:
                continue
            indices = tuple(fields[c] for c in codes)
            rules = {structure.fields[i].rule for i in indices}
            if rules not in ({Rule.COUNTER}, {Rule.INSTANT}):
                continue
            texts = [
                structure.data[structure.fields[i].start : structure.fields[i].end] for i in indices
            ]
            decimals = {_decimals(t) for t in texts}
            if len(decimals) != 1:
                continue
            residuals: list[int] = []
            for neighbour in sample:
                numbers = [_number(neighbour.lines.get(c)) for c in codes]
                if any(n is None or _decimals(n) not in decimals for n in numbers):
                    residuals = []
                    break
                values = [_value(n) for n in numbers if n is not None]
                residuals.append(values[0] - sum(values[1:]))
            if len(residuals) < 2 or max(residuals) - min(residuals) > 10:
                continue
            # A meter may round each register on its own: the sum is then off by a last digit
            # or two now and then, even when its recent telegrams happen to agree exactly.
            slack = max(_ROUNDING, *(abs(b - a) for a, b in pairwise(residuals)))
            name = f"{total} = " + " + ".join(codes[1:])
            found.append(Relation(name, indices, min(residuals) - slack, max(residuals) + slack))
        for first, second in _EXCLUSIVE:
            if first not in fields or second not in fields:
                continue
            pairs = [(_number(n.lines.get(first)), _number(n.lines.get(second))) for n in sample]
            if len(pairs) >= 2 and all(
                a is not None and b is not None and min(_value(a), _value(b)) == 0 for a, b in pairs
            ):
                name = f"{first} and {second} not both non-zero"
                found.append(Relation(name, (fields[first], fields[second]), 0, 0, exclusive=True))
        return found

    # --- judging -----------------------------------------------------------------------------

    def field_problem(self, index: int, text: bytes) -> str | None:
        """Why field ``index`` cannot hold ``text`` (its bytes at the field's span), or None."""
        key = (index, text)
        cache = self._cache
        if key in cache:
            return cache[key]
        field = self.structure.fields[index]
        problem: str | None = None
        allowed = self._allowed[index]
        window = self._windows[index]
        if allowed is not None:
            if text not in allowed:
                if field.rule is Rule.CLOCK:
                    problem = (
                        f"the clock {text.decode('latin-1')} is not where the neighbours put it"
                    )
                elif len(allowed) == 1:
                    problem = f"{field.code} changed (its neighbours agree on it)"
                else:
                    problem = f"{field.code} is neither the previous nor the next telegram's"
        elif field.rule is Rule.CLOCK:
            if parse_timestamp(text.decode("latin-1")) is None:
                problem = "the clock no longer reads as a date"
        elif window is not None:
            value = _value(text)
            low, high = window
            if value < low:
                problem = (
                    f"{field.code} goes backwards"
                    if field.rule in (Rule.COUNTER, Rule.COUNT)
                    else f"{field.code} is far below its neighbours"
                )
            elif value > high:
                problem = (
                    f"{field.code} passes the next telegram's or grows faster than the meter can"
                    if field.rule in (Rule.COUNTER, Rule.COUNT)
                    else f"{field.code} is far above its neighbours"
                )
        if len(cache) > 50_000:
            cache.clear()
        cache[key] = problem
        return problem

    def values(self, data: bytes, indices: Iterable[int]) -> list[int]:
        fields = self.structure.fields
        return [_value(data[fields[i].start : fields[i].end]) for i in indices]

    def problem(self, data: bytes) -> str | None:
        """Why ``data`` (of this structure) is not plausible, or None."""
        fields = self.structure.fields
        for index, field in enumerate(fields):
            problem = self.field_problem(index, data[field.start : field.end])
            if problem is not None:
                return problem
        for relation in self.relations:
            if not relation.holds(self.relation_values(data, relation)):
                return f"{relation.name} no longer holds"
        return None

    def relation_values(self, data: bytes, relation: Relation) -> list[int]:
        """The values of ``relation``'s fields in ``data``."""
        return self.values(data, relation.fields)

    def bad(self, data: bytes) -> tuple[set[int], list[Relation]]:
        """The fields and relations ``data`` (of this structure) breaks."""
        fields = self.structure.fields
        bad_fields = {
            index
            for index, field in enumerate(fields)
            if self.field_problem(index, data[field.start : field.end]) is not None
        }
        bad_relations = [
            relation
            for relation in self.relations
            if not relation.holds(self.relation_values(data, relation))
        ]
        return bad_fields, bad_relations

    def suspects(self, data: bytes) -> tuple[set[int], list[Relation]] | None:
        """The fields where damage must be (None: nothing is implausible)."""
        bad_fields, bad_relations = self.bad(data)
        if not bad_fields and not bad_relations:
            return None
        return bad_fields, bad_relations

    def single_changes(
        self, data: bytes, fields: Iterable[int], limit: int
    ) -> list[tuple[int, int]]:
        """Plausible one-digit changes (position, new byte) inside ``fields`` that leave nothing
        implausible; stops after ``limit`` found."""
        structure = self.structure
        bad_fields, bad_relations = self.bad(data)
        found: list[tuple[int, int]] = []
        for index in fields:
            if bad_fields - {index} or any(index not in r.fields for r in bad_relations):
                continue
            field = structure.fields[index]
            text = data[field.start : field.end]
            related = [r for r in self.relations if index in r.fields]
            for position in field.slots:
                offset = position - field.start
                current = text[offset]
                for digit in range(0x30, 0x3A):
                    if digit == current:
                        continue
                    changed = text[:offset] + bytes((digit,)) + text[offset + 1 :]
                    if self.field_problem(index, changed) is not None:
                        continue
                    if related:
                        candidate = data[: field.start] + changed + data[field.end :]
                        if not all(r.holds(self.relation_values(candidate, r)) for r in related):
                            continue
                    found.append((position, digit))
                    if len(found) > limit:
                        return found
        return found

    # --- completing skeletons ---------------------------------------------------------------

    def completions(
        self, index: int, pattern: bytes, unknown: Sequence[int], limit: int | None = None
    ) -> list[bytes] | None:
        """Every plausible text of field ``index`` that agrees with ``pattern`` (its bytes, with
        digits to find at the offsets ``unknown``); None when there are too many to enumerate.
        At most ``limit`` are returned."""
        allowed = self._allowed[index]
        candidates: Iterable[bytes]
        if allowed is not None:
            candidates = allowed
        else:
            window = self._windows[index]
            if window is not None and window[1] - window[0] < min(
                10 ** len(unknown), _MAX_ENUMERATION
            ):
                candidates = self._render_window(pattern, window)
            elif len(unknown) <= 4:
                candidates = _assignments(pattern, unknown)
            else:
                return None
        missing = set(unknown)
        known = bytes(b if i not in missing else 0 for i, b in enumerate(pattern))
        mask = bytes(0 if i in missing else 0xFF for i in range(len(pattern)))
        translated = int.from_bytes(known, "big")
        bits = int.from_bytes(mask, "big")
        result = []
        for text in candidates:
            if len(text) != len(pattern) or int.from_bytes(text, "big") & bits != translated:
                continue
            if not all(0x30 <= text[i] <= 0x39 for i in unknown):
                continue
            if self.field_problem(index, text) is None:
                result.append(text)
                if limit is not None and len(result) >= limit:
                    break
        return result

    @staticmethod
    def _render_window(pattern: bytes, window: tuple[int, int]) -> Iterator[bytes]:
        dot = pattern.find(b".")
        digits = len(pattern) - (1 if dot >= 0 else 0)
        decimals = len(pattern) - dot - 1 if dot >= 0 else 0
        for value in range(window[0], window[1] + 1):
            text = str(value).rjust(digits, "0")
            if len(text) != digits:
                return
            if dot >= 0:
                text = text[: digits - decimals] + "." + text[digits - decimals :]
            yield text.encode()


def _assignments(pattern: bytes, unknown: Sequence[int]) -> Iterator[bytes]:
    base = bytearray(pattern)
    for digits in product(range(0x30, 0x3A), repeat=len(unknown)):
        for offset, digit in zip(unknown, digits, strict=True):
            base[offset] = digit
        yield bytes(base)
