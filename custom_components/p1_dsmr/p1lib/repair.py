"""Repair: recover corrupted telegrams, never accept a wrong one.

A telegram that fails its CRC is compared with the structure of the meter's previous good telegram
(the *template*): P1 meters send the same lines in the same order with fixed field widths, and only
the digits inside values change. So every byte of the template is either *fixed* (codes, punctuation,
units, the 0xFF provider message, hex identifiers' letters) or a *digit* slot.

The engine tries hypotheses in tiers of increasing cost (edits), and within a tier it collects every
candidate that

1. reproduces the CRC the meter sent,
2. matches the template's structure byte for byte (fixed bytes equal, digit slots digits) and parses
   with every line and the same codes in the same order,
3. is physically plausible where it changed a value: counters never decrease and grow no faster than
   the meter's power limit allows, the clock advances by the meter's period, voltages and frequency
   move little.

A tier with exactly one distinct candidate is accepted; two different candidates that both fit are
ambiguous and the telegram is rejected. Every candidate whose CRC is tested is counted: each one is a
1 in 65536 chance of a false CRC match, and the budget per telegram is bounded.

Hypotheses (the error model measured on real lines):

* ``header``: garbage before the header, ``/`` lost or arriving as 0x0E: the header is rebuilt from
  the last good one;
* ``align``: characters that lost bits, were dropped, inserted or duplicated (CR and LF included),
  bytes of the 0xFF message corrupted or lost, short bursts: the received bytes are aligned to the
  template with up to four edits; a fixed byte is restored from the template, a lost or damaged digit
  is solved from the CRC (at most two unknown digits);
* ``digit``: one digit turned into another digit (invisible to the structure): the CRC syndrome,
  walked backwards through the telegram, names for every digit slot the only byte change that would
  explain it;
* ``crc field``: the body is intact and a CRC digit lost bits or was dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise, product

from .crc import _TABLE, crc16
from .framing import Frame
from .obis import Kind, lookup
from .parsing import Parser, Telegram, normalize_code

__all__ = ["Change", "Repair", "RepairEngine", "RepairOutcome"]

_DIGITS = frozenset(b"0123456789")
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_NON_DIGIT = bytes(0x00 if 0x30 <= b <= 0x39 else 0xFF for b in range(256))
_INVERSE_TOP = {value >> 8: index for index, value in enumerate(_TABLE)}
_TABLE_INDEX = {value: index for index, value in enumerate(_TABLE)}
MAX_CANDIDATES = 6000
"""CRC tests allowed per telegram. Every candidate that passes the CRC must still match the
template's structure and be physically plausible, and be the only one that does."""
MAX_EDITS = 4
_BOUNDED_KINDS = frozenset(
    (
        Kind.ENERGY,
        Kind.REACTIVE_ENERGY,
        Kind.MBUS_READING,
        Kind.COUNT,
        Kind.TIMESTAMP,
        Kind.VOLTAGE,
        Kind.FREQUENCY,
    )
)
_CONSTANT_KINDS = frozenset((Kind.IDENTIFIER, Kind.TEXT, Kind.VERSION, Kind.PROFILE))


def _unadvance(register: int) -> int:
    """Inverse of one CRC step over a zero byte."""
    index = _INVERSE_TOP[register >> 8]
    return (((register ^ _TABLE[index]) & 0xFF) << 8) | index


@dataclass(frozen=True, slots=True)
class Change:
    """One edit made by a repair: at ``position`` (in the received telegram), ``before`` became
    ``after``."""

    position: int
    before: bytes
    after: bytes


@dataclass(frozen=True, slots=True)
class Repair:
    """How a telegram was repaired."""

    method: str
    changes: tuple[Change, ...]
    candidates: int
    """Candidates whose CRC was tested (each one a 1 in 65536 chance of a false match)."""
    attempts: tuple[str, ...] = ()
    """What was tried before, in order."""


@dataclass(slots=True)
class _Template:
    """What a good telegram of this meter looks like."""

    data: bytes
    telegram: Telegram
    codes: tuple[str, ...]
    fixed: bytes = b""
    """0xFF for each fixed byte, 0x00 for each digit slot."""
    slots: bytes = b""
    """The complement of :attr:`fixed`."""

    def prepare(self) -> None:
        """Compute the byte classes (on first use: only damaged telegrams need them).

        Digits inside the values of measurements and states are slots; identifiers, texts, versions
        and event or history logs (which change once a month at most) are fixed like the rest.
        """
        if self.fixed:
            return
        data = self.data
        fixed = bytearray(b"\xff" * len(data))
        line_start = 0
        while True:
            line_end = data.find(b"\r\n", line_start)
            if line_end < 0:
                line_end = len(data)
            open_at = data.find(b"(", line_start, line_end)
            if open_at > 0:
                code = normalize_code(data[line_start:open_at].decode("latin-1"))
                info = lookup(code)
                if info is None or info.kind not in _CONSTANT_KINDS:
                    for position in range(open_at + 1, line_end):
                        if data[position] in _DIGITS:
                            fixed[position] = 0
            if line_end >= len(data):
                break
            line_start = line_end + 2
        self.fixed = bytes(fixed)
        self.slots = bytes(0xFF ^ b for b in fixed)


@dataclass(slots=True)
class RepairOutcome:
    """What the engine made of one damaged telegram."""

    data: bytes | None
    """The repaired telegram from ``/`` through ``!`` (None: not repaired)."""
    crc_text: bytes
    telegram: Telegram | None
    repair: Repair | None
    attempts: list[str] = field(default_factory=list)
    candidates: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class _Edit:
    kind: str  # "sub", "del", "ins"
    position: int  # in the received data
    template_position: int


class _Budget(Exception):
    """The candidate budget is spent."""


class RepairEngine:
    """Learns a meter's structure from its good telegrams and repairs damaged ones.

    State: the last good telegram and the period of the meter's clock (bounded).
    """

    def __init__(self, max_candidates: int = MAX_CANDIDATES) -> None:
        self.max_candidates = max_candidates
        self._template: _Template | None = None
        self._learned: tuple[bytes, Telegram] | None = None
        self.crc_width = 4  # how many CRC digits this meter sends
        self._previous_time: datetime | None = None
        self.period: float | None = None
        self._parser = Parser(cache_size=256)

    # --- learning ------------------------------------------------------------------------

    def learn(self, data: bytes, telegram: Telegram, crc_text: bytes = b"") -> None:
        """Take an accepted telegram (``/`` through ``!``, and the CRC field it came with) as the
        template for the next repairs."""
        if crc_text:
            self.crc_width = len(crc_text)
        stamp = telegram.timestamp
        if stamp is not None and self._previous_time is not None:
            seconds = (stamp - self._previous_time).total_seconds()
            if 0 < seconds <= 60 and (self.period is None or seconds < self.period):
                self.period = seconds
        if stamp is not None:
            self._previous_time = stamp
        self._learned = (data, telegram)  # the template is built only when a repair needs it

    def _template_for_repair(self) -> _Template | None:
        learned = self._learned
        if learned is None:
            return None
        template = self._template
        if template is None or template.data is not learned[0]:
            data, telegram = learned
            template = _Template(data, telegram, tuple(obj.code for obj in telegram.objects))
            self._template = template
        return template

    # --- repairing -----------------------------------------------------------------------

    def repair(self, frame: Frame, data: bytes, crc_sent: int | None) -> RepairOutcome:
        """Try to recover ``data`` (normalized, ``/`` or whatever came first, through ``!``)."""
        started = time.perf_counter()
        outcome = RepairOutcome(None, frame.crc_text, None, None)
        template = self._template_for_repair()
        if template is None:
            outcome.attempts.append("none: no good telegram from this meter yet to learn from")
            return outcome
        template.prepare()
        search = _Search(self, template, data, frame.crc_text, crc_sent, outcome)
        try:
            search.run()
        except _Budget:
            outcome.attempts.append(f"stopped: candidate budget of {self.max_candidates} spent")
        outcome.candidates = search.tested
        outcome.seconds = time.perf_counter() - started
        return outcome

    def plausible(self, candidate: Telegram, changed: set[str]) -> str | None:
        """None when the values a repair changed are physically plausible, else why not."""
        template = self._template_for_repair()
        if template is None:
            return "no good telegram to compare with"
        previous = template.telegram
        old_time = previous.timestamp
        new_time = candidate.timestamp
        hours: float | None = None
        if old_time is not None and new_time is not None:
            seconds = (new_time - old_time).total_seconds()
            if "0-0:1.0.0" in changed:
                period = self.period or 10.0
                if not 0 < seconds <= 3 * period + 0.5:
                    return f"clock moved {seconds:g} s"
            hours = max(seconds, 1.0) / 3600.0
        if "0-0:1.0.0" in changed and old_time is not None and new_time is None:
            return "the clock no longer reads as a date"
        for code in changed:
            new = candidate.get(code)
            old = previous.get(code)
            if new is None or old is None or new.info is None:
                continue
            for new_value, old_value in zip(new.values, old.values, strict=False):
                if (old_value.timestamp is not None and new_value.timestamp is None) or (
                    old_value.number is not None and new_value.number is None
                ):
                    return (
                        f"{code} no longer reads as a {'date' if old_value.timestamp else 'number'}"
                    )
            if code != "0-0:1.0.0":
                # Other clocks (M-Bus readings, peaks) never go back and move at most an hour.
                for new_value, old_value in zip(new.values, old.values, strict=False):
                    if new_value.timestamp is not None and old_value.timestamp is not None:
                        step = (new_value.timestamp - old_value.timestamp).total_seconds()
                        if not 0 <= step <= 3900:
                            return f"{code} time moved {step:g} s"
            if new.number is None or old.number is None:
                continue
            kind = new.info.kind
            delta = new.number - old.number
            if kind in (Kind.ENERGY, Kind.REACTIVE_ENERGY, Kind.MBUS_READING):
                limit = 100.0 * (hours if hours is not None else 1.0)  # 100 kW for the interval
                if not 0.0 <= delta <= limit:
                    return f"{code} moved by {delta:g}"
            elif kind is Kind.COUNT:
                if not 0 <= delta <= 10:
                    return f"{code} moved by {delta:g}"
            elif kind is Kind.VOLTAGE:
                if abs(delta) > 25.0:
                    return f"{code} moved by {delta:g} V"
            elif kind is Kind.FREQUENCY:
                if abs(delta) > 0.5:
                    return f"{code} moved by {delta:g} Hz"
            elif kind is Kind.POWER_FACTOR:
                if not 0.0 <= new.number <= 1.0 and abs(delta) > 0.2:
                    return f"{code} is {new.number:g}"
            elif kind in (Kind.VERSION, Kind.IDENTIFIER, Kind.TEXT) and delta:
                return f"{code} changed"
        return None


class _Search:
    """One repair attempt: the hypotheses, the candidates, the verdict."""

    def __init__(
        self,
        engine: RepairEngine,
        template: _Template,
        data: bytes,
        crc_text: bytes,
        crc_sent: int | None,
        outcome: RepairOutcome,
    ) -> None:
        self.engine = engine
        self.template = template
        self.data = data
        self.crc_text = crc_text
        self.crc_sent = crc_sent
        self.outcome = outcome
        self.tested = 0
        self.prefix = ""  # "header" when the header was rebuilt first
        self._inverses: dict[int, dict[int, int]] = {}
        # Distinct fitting candidates of the current tier: bytes -> (method, telegram, crc text).
        self.fits: dict[bytes, tuple[str, Telegram, bytes]] = {}

    # --- the tiers -----------------------------------------------------------------------

    def run(self) -> None:
        data = self.data
        attempts = self.outcome.attempts
        template = self.template
        if not data.startswith(template.data[: template.data.find(b"\r\n")]):
            rebuilt = self._rebuild_header(data)
            if rebuilt is None:
                attempts.append("header: the last good header is not in the damaged telegram")
                return
            data = rebuilt
            self.prefix = "header"
            attempts.append("header: rebuilt from the last good header")
        if self.crc_sent is None:
            # The CRC field is unreadable: only bodies that are intact or fully restored from the
            # template (no unknown digit) can be checked against what is left of it.
            self._align_tier(data, 1)
            if not self._decide(1):
                attempts.append("crc field: unreadable, and the body does not explain it")
            return
        # Tier 1: one hypothesis at a time; tier 2: up to MAX_EDITS edits.
        for max_edits in (1, MAX_EDITS):
            self._align_tier(data, max_edits)
            if max_edits == 1:
                self._digit_tier(data)
            if self._decide(max_edits):
                return
        attempts.append("align: no edit within the budget fits")

    def _decide(self, tier: int) -> bool:
        fits = self.fits
        attempts = self.outcome.attempts
        if not fits:
            return False
        if len(fits) > 1:
            methods = ", ".join(sorted({method for method, _, _ in fits.values()}))
            attempts.append(
                f"ambiguous: {len(fits)} different candidates fit ({methods}); rejected"
            )
            self.fits = {}
            return True
        ((repaired, (method, telegram, crc_text)),) = fits.items()
        width = self.engine.crc_width
        if len(crc_text) < width and _HEX.issuperset(crc_text):
            # A lost leading zero reads as the same number: restore the field as the meter sends it.
            crc_text = crc_text.rjust(width, b"0")
        if self.prefix:
            method = self.prefix if method == "intact" else f"{self.prefix} + {method}"
        self.outcome.data = repaired
        self.outcome.crc_text = crc_text
        self.outcome.telegram = telegram
        changes = _changes(self.data, repaired)
        if crc_text != self.crc_text:
            changes.append(Change(len(self.data), self.crc_text, crc_text))
        self.outcome.repair = Repair(
            method, tuple(changes), self.tested, tuple(self.outcome.attempts)
        )
        return True

    # --- header ----------------------------------------------------------------------------

    def _rebuild_header(self, data: bytes) -> bytes | None:
        """Replace whatever precedes the header text (garbage, 0x0E for '/') with the good header."""
        template = self.template.data
        header = template[: template.find(b"\r\n")]
        at = data.find(header[1:], 0, 64 + len(header))
        if at >= 0:
            return header + data[at + len(header) - 1 :]
        # The header text itself is damaged: keep everything from the blank line after it.
        blank = data.find(b"\r\n\r\n", 0, 64 + len(header))
        if blank >= 0:
            return header + data[blank:]
        return None

    # --- CRC ---------------------------------------------------------------------------------

    def _check(self, candidate: bytes, method: str) -> None:
        """Test one fully determined candidate against the CRC, the structure and physics."""
        self.tested += 1
        if self.tested > self.engine.max_candidates:
            raise _Budget
        value = crc16(candidate)
        if value == self.crc_sent:
            self._accept_if_consistent(candidate, method, self.crc_text)
        elif _crc_field_explains(self.crc_text, value):
            # Every byte of the body is determined (intact, or restored from the template) and a
            # CRC digit lost bits or was dropped.
            crc_text = f"{value:04X}".encode()
            if self.crc_text.islower():
                crc_text = crc_text.lower()
            method = "crc field" if method == "intact" else f"{method} + crc field"
            self._accept_if_consistent(candidate, method, crc_text)

    def _accept_if_consistent(self, candidate: bytes, method: str, crc_text: bytes) -> None:
        template = self.template
        telegram = self.engine._parser.parse(candidate)
        if telegram is None or telegram.unparsed:
            return
        codes = tuple(obj.code for obj in telegram.objects)
        if codes != template.codes:
            return
        if len(candidate) == len(template.data) and not _matches_template(candidate, template):
            return
        # The values this repair touched must be plausible next to the last good telegram.
        (change,) = _changes(self.data, candidate)
        if self.engine.plausible(telegram, _touched_codes(candidate, change)) is None:
            self.fits.setdefault(candidate, (method, telegram, crc_text))

    # --- alignment ---------------------------------------------------------------------------

    def _align_tier(self, data: bytes, max_edits: int) -> None:
        template = self.template
        paths = _align(data, template, max_edits)
        if not paths and max_edits == 1 and _matches_template(data, template):
            # No visible damage: the body may be intact and the CRC field damaged.
            self._check(data, "intact")
            return
        for edits in paths:
            self._realize(data, edits)

    def _realize(self, data: bytes, edits: tuple[_Edit, ...]) -> None:
        """Apply edits; solve unknown digits by trying each digit (counted)."""
        template = self.template
        tdata = template.data
        fixed = template.fixed
        out = bytearray()
        unknown: list[int] = []
        position = 0
        for edit in edits:
            out += data[position : edit.position]
            position = edit.position
            if edit.kind == "del":
                position += 1
                continue
            slot_is_fixed = fixed[edit.template_position] != 0
            if slot_is_fixed:
                out.append(tdata[edit.template_position])
            else:
                unknown.append(len(out))
                out.append(0x30)
            if edit.kind == "sub":
                position += 1
        out += data[position:]
        method = "align: " + ", ".join(
            {"sub": "replaced", "del": "removed", "ins": "restored"}[e.kind] for e in edits
        )
        if not unknown:
            self._check(bytes(out), method)
            return
        # Several edits and unknown digits together make a wide search: only a burst (adjacent
        # replacements) with at most two unknown digits, or values physics bounds (counters,
        # clocks, voltage, frequency), make a fit there strong enough evidence.
        burst = all(e.kind == "sub" for e in edits) and all(
            b.position == a.position + 1 for a, b in pairwise(edits)
        )
        wide = len(unknown) == 3 or (len(edits) > 1 and not burst)
        if (
            self.crc_sent is None
            or len(unknown) > 3
            or (wide and not self._bounded_fields(out, unknown))
        ):
            return
        self._solve(out, unknown, method)

    def _bounded_fields(self, out: bytearray, unknown: list[int]) -> bool:
        """Whether every unknown digit lies in a value whose moves physics bounds."""
        for position in unknown:
            start = out.rfind(b"\n", 0, position) + 1
            at = out.find(b"(", start, position)
            if at < 0:
                return False
            info = lookup(normalize_code(out[start:at].decode("latin-1")))
            if info is None or info.kind not in _BOUNDED_KINDS:
                return False
        return True

    def _solve(self, out: bytearray, unknown: list[int], method: str) -> None:
        """Find the unknown digits from the CRC: all but the last are tried, the last is solved.

        The CRC is linear, so the change to the last unknown byte that makes the CRC match is unique;
        it is a candidate when it is a digit. Counted as ten tests per unknown digit.
        """
        last = unknown[-1]
        inverse = self._byte_inverse(len(out) - 1 - last)
        assert self.crc_sent is not None
        for digits in _digit_combinations(len(unknown) - 1):
            for slot, digit in zip(unknown, digits, strict=False):
                out[slot] = digit
            out[last] = 0x30
            self.tested += 10
            if self.tested > self.engine.max_candidates:
                raise _Budget
            change = inverse.get(crc16(out) ^ self.crc_sent)
            if change is not None and 0x30 <= 0x30 ^ change <= 0x39:
                out[last] = 0x30 ^ change
                self._accept_if_consistent(bytes(out), method, self.crc_text)

    def _byte_inverse(self, distance: int) -> dict[int, int]:
        """CRC change -> byte change, for a byte ``distance`` bytes before the end."""
        cached = self._inverses.get(distance)
        if cached is not None:
            return cached
        columns = [crc16(bytes((1 << bit,)) + bytes(distance)) for bit in range(8)]
        inverse = {}
        for change in range(256):
            value = 0
            for bit in range(8):
                if change >> bit & 1:
                    value ^= columns[bit]
            inverse[value] = change
        self._inverses[distance] = inverse
        return inverse

    # --- invisible digit substitution ---------------------------------------------------------

    def _digit_tier(self, data: bytes) -> None:
        """One digit lost bits and became another digit, invisible to the structure.

        The CRC syndrome, walked backwards through the telegram, names for each digit slot the only
        byte that would explain it; it is a candidate when that byte is a digit from which the
        received one can come by losing bits.
        """
        template = self.template
        if self.crc_sent is None or not _matches_template(data, template):
            return
        syndrome = crc16(data) ^ self.crc_sent
        if syndrome == 0:
            return
        slots = template.slots
        register = syndrome
        for position in range(len(data) - 1, -1, -1):
            if slots[position]:
                self.tested += 1
                index = _TABLE_INDEX.get(register)
                if index is not None:
                    received = data[position]
                    original = received ^ index
                    if 0x30 <= original <= 0x39 and original & received == received:
                        candidate = data[:position] + bytes((original,)) + data[position + 1 :]
                        self._accept_if_consistent(candidate, "digit", self.crc_text)
            register = _unadvance(register)


def _digit_combinations(count: int) -> list[tuple[int, ...]]:
    return list(product(range(0x30, 0x3A), repeat=count))


def _crc_field_explains(received: bytes, value: int) -> bool:
    """Whether a damaged CRC field can come from ``value``: one character lost bits, or one was
    dropped, or the field is missing altogether."""
    text = f"{value:04X}".encode()
    if received.islower():
        text = text.lower()
    if len(received) == 4:
        differences = [(a, b) for a, b in zip(received, text, strict=True) if a != b]
        if len(differences) != 1:
            return False
        got, sent = differences[0]
        return got & sent == got  # bits lost (1 to 0)
    if len(received) == 3:
        return any(text[:i] + text[i + 1 :] == received for i in range(4))
    return False


def _matches_template(data: bytes, template: _Template) -> bool:
    """Same length, fixed bytes equal, digit slots holding digits."""
    if len(data) != len(template.data):
        return False
    return _first_mismatch(data, 0, template, 0) == len(data)


def _first_mismatch(data: bytes, start: int, template: _Template, tstart: int) -> int:
    """Length of the run from ``data[start:]`` that matches ``template`` from ``tstart``."""
    length = min(len(data) - start, len(template.data) - tstart)
    if length <= 0:
        return 0
    a = data[start : start + length]
    b = template.data[tstart : tstart + length]
    difference = int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
    bad = difference & int.from_bytes(template.fixed[tstart : tstart + length], "big")
    bad |= int.from_bytes(a.translate(_NON_DIGIT), "big") & int.from_bytes(
        template.slots[tstart : tstart + length], "big"
    )
    if not bad:
        return length
    return (length * 8 - bad.bit_length()) // 8


def _digit_run_back(data: bytes, i: int, template: _Template, j: int) -> int:
    """How many positions before (i, j) are digits in digit slots (an edit there is equivalent)."""
    back = 0
    slots = template.slots
    while (
        back < 20
        and i - back - 1 >= 0
        and j - back - 1 >= 0
        and slots[j - back - 1]
        and data[i - back - 1] in _DIGITS
    ):
        back += 1
    return back


def _align(data: bytes, template: _Template, max_edits: int) -> list[tuple[_Edit, ...]]:
    """Edit paths (substitute, delete, insert; at most ``max_edits``) that make ``data`` match.

    At a mismatch, a byte inserted or deleted inside the digit run just before it is equivalent to one
    at the mismatch as far as the structure can tell, so each of those positions is a branch.
    """
    size = len(data)
    tsize = len(template.data)
    results: list[tuple[_Edit, ...]] = []
    stack: list[tuple[int, int, tuple[_Edit, ...]]] = [(0, 0, ())]
    explored = 0
    while stack and explored < 300:
        explored += 1
        i, j, edits = stack.pop()
        run = _first_mismatch(data, i, template, j)
        i += run
        j += run
        if i == size and j == tsize:
            if edits:
                results.append(edits)
            continue
        if len(edits) >= max_edits:
            continue
        remaining = max_edits - len(edits)
        if abs((size - i) - (tsize - j)) > remaining:
            continue
        # Pushed in reverse order of likelihood: the stack explores a substitution first.
        back = _digit_run_back(data, i, template, j)
        for offset in range(back, -1, -1):
            a, b = i - offset, j - offset
            if a < size:
                stack.append((a + 1, b, (*edits, _Edit("del", a, b))))
            if b < tsize:
                stack.append((a, b + 1, (*edits, _Edit("ins", a, b))))
        if i < size and j < tsize:
            stack.append((i + 1, j + 1, (*edits, _Edit("sub", i, j))))
    return results


def _touched_codes(candidate: bytes, change: Change) -> set[str]:
    """The codes of the lines a change touched (in the repaired telegram)."""
    start = candidate.rfind(b"\n", 0, max(change.position - 1, 0)) + 1
    end = candidate.find(b"\r", change.position + len(change.after))
    if end < 0:
        end = len(candidate)
    codes = set()
    for line in candidate[start:end].split(b"\r\n"):
        at = line.find(b"(")
        if at > 0:
            codes.add(normalize_code(line[:at].decode("latin-1")))
    return codes


def _changes(before: bytes, after: bytes) -> list[Change]:
    """The differences between two byte strings as a short list of changes."""
    prefix = 0
    limit = min(len(before), len(after))
    while prefix < limit and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < limit - prefix
        and before[len(before) - 1 - suffix] == after[len(after) - 1 - suffix]
    ):
        suffix += 1
    return [
        Change(prefix, before[prefix : len(before) - suffix], after[prefix : len(after) - suffix])
    ]
