"""Repair: recover corrupted telegrams, never accept one the meter did not send.

A telegram that fails its CRC is judged against the meter's good telegram before it *and* the good
telegram after it (the decoder waits for that one; at the start of a stream or after a timeout only
one of them is known). Their structure (:mod:`.structure`) says which bytes are fixed and which are
digits of values; their values (:mod:`.evidence`) say where each field of the damaged telegram may
lie. The hypotheses (:mod:`.hypotheses`) are searched in tiers of increasing numbers of faults
(:mod:`.search`).

The acceptance rule, and why it is sound:

* every single-byte fault (any byte replaced by any value, lost or inserted; the header or the
  ``!`` damaged; a CRC character changed) lies inside the first tier, so for a single fault the
  true telegram is always among the candidates and a false CRC match can only make the telegram
  ambiguous (rejected), never replace it;
* a fault outside every searched model (two hidden digit changes, a long burst...) can be
  "repaired" only by a false CRC match. Each family of hypotheses counts, before looking at the
  CRC, how many plausible candidates it holds; with a 16-bit CRC each matches by chance with
  probability 1/65536, so the family expects E = candidates / 65536 false matches. A repair is
  accepted only when it is the one match of its tier and the families that could have given it
  expect at most :data:`BOUND` false matches in all: the chance of a false repair is at most
  :data:`BOUND` for any damage whatsoever, and much less for damage that plausibility locates.

Rejecting is always safe: a rejected telegram is reported with the reason no repair was safe.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise

from .crc import crc16
from .evidence import Evidence, Neighbour
from .framing import Frame, normalize_line_ends
from .hypotheses import Candidate, Context, Variant
from .parsing import Parser, Telegram
from .search import Search
from .structure import Structure

__all__ = ["BOUND", "Change", "Repair", "RepairEngine", "RepairOutcome"]

BOUND = 2.0**-10
"""At most this many false CRC matches expected among the candidates a repair was chosen from
(about 1e-3: at least 6 of the CRC's 16 bits are left as evidence after the search)."""
BUDGET = 100_000
"""Work per damaged telegram, at most (a candidate completed costs 1, a skeleton 20)."""
HISTORY = 8
"""Good telegrams remembered (for the relations the meter keeps and its period)."""
_HEX = frozenset(b"0123456789ABCDEFabcdef")


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
    """Plausible candidates compared with the CRC."""
    attempts: tuple[str, ...] = ()
    """What was tried, in order, and why the repair was accepted."""
    expected_false: float = 0.0
    """Expected number of false CRC matches among the candidates it was chosen from."""


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
    expected_false: float = 0.0
    """Expected false CRC matches over every family that could have given a repair: the chance
    of a false repair had the damage been outside every searched model."""


class RepairEngine:
    """Learns a meter's structure from its good telegrams and repairs damaged ones.

    State: the last :data:`HISTORY` good telegrams (references, no copies).
    """

    def __init__(self, max_candidates: int = BUDGET, bound: float = BOUND) -> None:
        self.max_candidates = max_candidates
        self.bound = bound
        self._history: deque[tuple[bytes, Telegram]] = deque(maxlen=HISTORY)
        self._widths: deque[int] = deque(maxlen=HISTORY)
        self.crc_lower = False
        self._parser = Parser(cache_size=256)
        self._structures: dict[bytes, Structure] = {}

    # --- learning ------------------------------------------------------------------------

    def learn(self, data: bytes, telegram: Telegram, crc_text: bytes = b"") -> None:
        """Take a good telegram (``/`` through ``!``, and the CRC field it came with)."""
        if crc_text:
            self._widths.append(len(crc_text))
            self.crc_lower = crc_text.islower()
        self._history.append((data, telegram))

    @property
    def crc_width(self) -> int:
        """How many CRC digits this meter sends (some meters drop leading zeros: the most)."""
        return max(self._widths, default=4)

    @property
    def learned(self) -> bool:
        """Whether a good telegram has been seen."""
        return bool(self._history)

    @property
    def period(self) -> float | None:
        """Seconds between the meter's telegrams, from its recent good telegrams' clocks."""
        return _period([Neighbour(data) for data, _ in self._history])

    # --- repairing -----------------------------------------------------------------------

    def repair(
        self,
        frame: Frame,
        following: tuple[bytes, bytes] | None = None,
        position: int = 1,
        run: int = 1,
    ) -> RepairOutcome:
        """Try to recover the telegram in ``frame``.

        ``following``: the next good telegram (``/`` through ``!``, and its CRC field), when it is
        known; ``position`` of ``run``: the frame's place among consecutive damaged ones.
        """
        started = time.perf_counter()
        outcome = RepairOutcome(None, frame.crc_text, None, None)
        sizes = [
            len(data)
            for data in (
                self._history[-1][0] if self._history else None,
                following[0] if following is not None else None,
            )
            if data
        ]
        if sizes and not min(sizes) // 2 <= len(frame.data) <= 2 * max(sizes):
            # More than half of it lost, or twice its size: nothing of this meter's telegram to
            # repair (and a flood of short frames costs nothing more than this comparison).
            outcome.attempts.append(
                f"none: {len(frame.data)} bytes, this meter's telegrams have {min(sizes)}"
            )
            outcome.seconds = time.perf_counter() - started
            return outcome
        history = [Neighbour(data) for data, _ in self._history]
        previous = history[-1] if history else None
        after = Neighbour(following[0]) if following is not None else None
        width, lower = self.crc_width, self.crc_lower
        if following is not None and following[1]:
            width = max(width if self._widths else 0, len(following[1]))
            lower = following[1].islower() if not self._widths else lower
        if previous is None and after is None:
            outcome.attempts.append("none: no good telegram from this meter yet to learn from")
            return outcome
        structures = [self._structure(n.data) for n in (previous, after) if n is not None]
        if len(structures) == 2 and structures[0].compatible(structures[1]):
            structures.pop()
        period = _period(history)
        contexts = [
            Context(
                structure,
                Evidence(
                    structure,
                    previous,
                    after,
                    period=period,
                    position=position,
                    run=run,
                    history=history,
                ),
            )
            for structure in structures
        ]
        received = normalize_line_ends(frame.data)
        variants = self._variants(frame, received, structures, outcome.attempts)
        if not variants:
            outcome.seconds = time.perf_counter() - started
            return outcome
        search = Search(
            received,
            variants,
            contexts,
            width,
            lower,
            self.bound,
            self.max_candidates,
        )
        verdict = search.run()
        outcome.attempts.extend(verdict.attempts)
        outcome.candidates = verdict.tested
        outcome.expected_false = verdict.expected
        candidate = verdict.candidate
        reference = previous or after
        if candidate is not None and reference is not None:
            reordered = _reordered(received, reference.data)
            if (
                reordered is not None
                and reordered != candidate.data
                and _crc_value(frame.crc_text) == crc16(reordered)
            ):
                # Two values trading places keep the CRC's parity and often its value (0.7 % of
                # two voltages swapped): a repair that keeps the values where they arrived is no
                # evidence while the lines in the meter's order match as well.
                outcome.attempts.append(
                    "the received lines in the meter's order match the CRC as well: ambiguous,"
                    " rejected"
                )
                candidate = None
        if candidate is not None:
            telegram = self._parser.parse(candidate.data)
            if telegram is None or telegram.unparsed:
                outcome.attempts.append("the repaired telegram does not parse: rejected")
            else:
                outcome.data = candidate.data
                outcome.crc_text = candidate.crc_text
                outcome.telegram = telegram
                outcome.repair = Repair(
                    _method(candidate),
                    _changes(received[: candidate.source], candidate),
                    verdict.tested,
                    tuple(outcome.attempts),
                    verdict.expected,
                )
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _structure(self, data: bytes) -> Structure:
        """The structure of a good telegram (kept for the few the repairs are made against)."""
        cache = self._structures
        structure = cache.get(data)
        if structure is None:
            if len(cache) >= 4:
                del cache[next(iter(cache))]
            structure = cache[data] = Structure(data)
        return structure

    @staticmethod
    def _variants(
        frame: Frame, received: bytes, structures: list[Structure], attempts: list[str]
    ) -> list[Variant]:
        """Readings of the frame: as framed, with the ``!`` restored, with the header rebuilt."""
        base: list[Variant] = []
        if frame.complete:
            base.append(Variant(received, frame.crc_text, 0, "", len(received)))
        else:
            base.extend(_reframe(received, structures))
            if not base:
                attempts.append("frame: no '!' and CRC found where the telegram should end")
        variants = list(base)
        headers = {s.header for s in structures}
        for variant in base:
            for header in headers:
                rebuilt = _rebuild_header(variant.data, header)
                if rebuilt is not None and rebuilt != variant.data:
                    label = f"{variant.label} + header" if variant.label else "header"
                    variants.append(
                        Variant(rebuilt, variant.crc_text, variant.cost + 1, label, variant.source)
                    )
        return variants


def _period(neighbours: list[Neighbour]) -> float | None:
    steps = [
        seconds
        for a, b in pairwise(neighbours)
        if a.time is not None
        and b.time is not None
        and 0 < (seconds := (b.time - a.time).total_seconds()) <= 60
    ]
    return min(steps) if steps else None


def _reframe(data: bytes, structures: list[Structure]) -> list[Variant]:
    """An unterminated frame (its ``!`` lost or damaged): where the telegram should end, a byte
    and a CRC field, or a CRC field alone, then a line end."""
    out: list[Variant] = []
    seen = set()
    for structure in structures:
        size = len(structure.data)  # '/' .. '!'
        for end in range(max(2, size - 5), min(len(data), size + 4)):
            if data[end - 2 : end] != b"\r\n":
                continue
            line_end = data.find(b"\r\n", end)
            if line_end < 0:
                line_end = len(data)
            line = data[end:line_end]
            for field_start, label in ((1, "'!' restored"), (0, "'!' inserted")):
                text = line[field_start:]
                if (
                    1 <= len(text) <= 4
                    and _HEX.issuperset(text)
                    and (field_start == 0 or line[:1] != b"!")
                ):
                    body = data[:end] + b"!"
                    key = (body, text)
                    if key not in seen:
                        seen.add(key)
                        out.append(Variant(body, text, 1, label, end + field_start))
    return out


def _rebuild_header(data: bytes, header: bytes) -> bytes | None:
    """Replace whatever precedes the header text (garbage, a damaged or lost ``/``) or a damaged
    header line with the meter's header."""
    if data.startswith(header + b"\r\n"):
        return None
    window = 64 + len(header)
    if len(header) > 4:
        at = data.find(header[1:] + b"\r\n", 0, window)
        if at >= 0:
            return header + data[at + len(header) - 1 :]
    blank = data.find(b"\r\n\r\n", 0, window)
    if blank >= 0:
        return header + data[blank:]
    return None


def _crc_value(text: bytes) -> int | None:
    try:
        return int(text, 16) if 0 < len(text) <= 4 else None
    except ValueError:
        return None


def _reordered(received: bytes, reference: bytes) -> bytes | None:
    """The received telegram with its lines in the reference's order of codes, when it holds the
    same codes in another order (None otherwise)."""
    lines = received.split(b"\r\n")
    slots = [i for i, line in enumerate(lines) if i and b"(" in line]
    codes = [lines[i][: lines[i].index(b"(")] for i in slots]
    order = [
        line[: line.index(b"(")]
        for i, line in enumerate(reference.split(b"\r\n"))
        if i and b"(" in line
    ]
    if codes == order or sorted(codes) != sorted(order):
        return None
    queues: dict[bytes, deque[bytes]] = {}
    for i, code in zip(slots, codes, strict=True):
        queues.setdefault(code, deque()).append(lines[i])
    for i, code in zip(slots, order, strict=True):
        lines[i] = queues[code].popleft()
    return b"\r\n".join(lines)


def _method(candidate: Candidate) -> str:
    return candidate.label


def _changes(received: bytes, candidate: Candidate) -> tuple[Change, ...]:
    """The differences between the received bytes and the repaired telegram: runs of changed
    bytes when the lengths agree, else the span between the common start and end."""
    after = candidate.data
    before = received
    start = 0
    limit = min(len(before), len(after))
    while start < limit and before[start] == after[start]:
        start += 1
    end = 0
    while end < limit - start and before[-1 - end] == after[-1 - end]:
        end += 1
    changes: list[Change] = []
    if len(before) == len(after):
        position = start
        while position < len(before) - end:
            if before[position] == after[position]:
                position += 1
                continue
            first = position
            while (
                position < len(before) - end
                and before[position : position + 4] != after[position : position + 4]
            ):
                position += 1
            changes.append(Change(first, before[first:position], after[first:position]))
    elif start < len(before) - end or start < len(after) - end:
        changes.append(
            Change(start, before[start : len(before) - end], after[start : len(after) - end])
        )
    if candidate.crc_text != candidate.received_crc:
        changes.append(Change(len(received), candidate.received_crc, candidate.crc_text))
    return tuple(changes)
