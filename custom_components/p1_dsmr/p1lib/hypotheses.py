"""Hypotheses for the repair engine: candidate telegrams, in tiers, with the chance of a false match.

A 16-bit CRC matches a wrong candidate with probability 1/65536. A repair is evidence only when the
number of candidates it was chosen among is small, so every *family* of hypotheses counts its
candidates before it looks at the CRC: the candidates that fit the structure and are plausible next
to the neighbours (:mod:`.evidence`), times the CRC values the received CRC field allows. That count
divided by 65536 is the family's *expected number of false matches* E: the chance that the family
offers a wrong telegram when the truth lies outside it.

Families (tier = how many faults they assume):

* ``digit``: a digit became another digit (invisible to the structure). Where the received telegram
  has implausible fields, only their digits are tried; elsewhere every digit slot, located by
  walking the CRC syndrome back through the telegram (the one byte change that explains it);
* ``crc field``: the CRC field lost a character, or one of its characters became another (visibly,
  or into another hex digit); alone (the body intact) or together with the other families;
* ``align``: bytes substituted, lost or inserted (CR and LF, the 0xFF message, digits): the
  received bytes aligned to the structure with 1 to 4 edits, each where the structure stops matching;
  a fixed byte is restored from the structure, a digit is found among the plausible ones;
* ``+ digit``: an aligned or intact candidate that leaves a field implausible, with one or two more
  digits of the implausible fields found;
* ``field``: one implausible field replaced by any plausible value (an invisible burst);
* ``span``: one contiguous damaged region of any length (a burst, garbage, lost bytes) restored;
* variants made before the search: the header rebuilt (garbage before it, ``/`` lost or damaged)
  and the ``!`` restored (a frame the framer could not end) cost one fault each.

The search runs tier by tier; the first tier with any match decides (see :class:`Search`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import NamedTuple

from .crc import _TABLE, crc16, crc16_number
from .evidence import UNBOUNDED, Evidence, Relation, number_value
from .structure import Edit, Structure, align, prefix_match, suffix_match

__all__ = [
    "Candidate",
    "Context",
    "CrcField",
    "Family",
    "Search",
    "Variant",
    "Verdict",
]

MAX_TIER = 4
MAX_EDITS = 4
MAX_EXTENSION = 1
"""Digits of implausible fields found on top of an alignment (visible and hidden damage)."""
MAX_IMPLICATED = 2
"""An aligned candidate that leaves more implausible fields than this is not extended."""
_SKELETON_COST = 20
"""Work units of one skeleton (a combination costs one)."""
_MAX_COMBINATIONS = 60_000
_MAX_PAIRS = 600
_MAX_UNKNOWN_FIELDS = 4
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_TABLE_INDEX = {value: index for index, value in enumerate(_TABLE)}
_INVERSE_TOP = {value >> 8: index for index, value in enumerate(_TABLE)}


def _unadvance(register: int) -> int:
    """Inverse of one CRC step over a zero byte."""
    index = _INVERSE_TOP[register >> 8]
    return (((register ^ _TABLE[index]) & 0xFF) << 8) | index


class Context(NamedTuple):
    """A structure to repair against and the evidence for its fields."""

    structure: Structure
    evidence: Evidence


class Variant(NamedTuple):
    """A reading of the received bytes: body (``/`` .. ``!``), CRC field, faults already assumed."""

    data: bytes
    crc_text: bytes
    cost: int
    label: str
    source: int
    """How many received bytes the body was read from."""


class Candidate(NamedTuple):
    """A telegram that matches its CRC, fits the structure and is plausible."""

    data: bytes
    crc_text: bytes
    label: str
    source: int
    """How many received bytes it replaces."""
    received_crc: bytes
    """The CRC field as received."""


class CrcField:
    """What the received CRC field allows: one value (``exact``) or, when it is visibly damaged,
    the values one edit away (``options``)."""

    __slots__ = ("changed", "exact", "lower", "options", "problem", "width")

    def __init__(self, text: bytes, width: int, lower: bool) -> None:
        self.width = width
        self.lower = lower
        self.exact: int | None = None
        self.options: frozenset[int] | None = None
        self.changed: frozenset[int] = frozenset()
        self.problem = ""
        hexes = [c in _HEX for c in text]
        if text and all(hexes) and len(text) == width - 1:
            # A character lost (a lost leading zero, or a meter that drops it, is one of them).
            self.options = _dropped(text)
        elif text and all(hexes) and len(text) <= 4:
            self.exact = int(text, 16)
            # The field may itself have changed, one character into another hex digit.
            self.changed = frozenset(
                int(text[:at] + bytes((c,)) + text[at + 1 :], 16)
                for at in range(len(text))
                for c in b"0123456789ABCDEF"
                if c != text[at : at + 1].upper()[0]
            )
        elif len(text) == width and hexes.count(False) == 1:
            at = hexes.index(False)
            self.options = frozenset(
                int(text[:at] + bytes((c,)) + text[at + 1 :], 16) for c in b"0123456789ABCDEF"
            )
        elif not text:
            self.problem = "the CRC field is missing: nothing verifies the telegram"
        else:
            self.problem = f"the CRC field {text!r} is damaged beyond one character"

    def format(self, value: int) -> bytes:
        text = f"{value:0{self.width}X}".encode()
        return text.lower() if self.lower else text


def _dropped(text: bytes) -> frozenset[int]:
    return frozenset(
        int(text[:i] + bytes((c,)) + text[i:], 16)
        for i in range(len(text) + 1)
        for c in b"0123456789ABCDEF"
    )


@dataclass(slots=True)
class Family:
    """One family of hypotheses and what searching it found."""

    tier: int
    label: str
    plausible: int = 0
    """Plausible candidates (UNBOUNDED: too many to count)."""
    options: int = 1
    """CRC values the received field allows for each."""
    matches: list[Candidate] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Why CRC matches were not plausible."""
    cap: int | None = None
    """Stop counting past this many plausible candidates (the family can then give no repair)."""
    over: bool = False
    """Counting stopped at :attr:`cap`."""
    accepting: bool = False
    """Whether a match here may be accepted (see :meth:`Search.run`)."""

    @property
    def expected(self) -> float:
        """Expected number of false CRC matches in the family."""
        if self.plausible == UNBOUNDED or self.over:
            return float("inf")
        return self.plausible * self.options / 65536.0


class Verdict(NamedTuple):
    """What the search decided."""

    candidate: Candidate | None
    expected: float
    """Expected false matches over every family that could have given the accepted candidate."""
    tested: int
    """Plausible candidates compared with the CRC."""
    attempts: list[str]


class _Skeleton(NamedTuple):
    data: bytes
    """Candidate bytes with ``0`` at the unknown digits."""
    unknown: tuple[int, ...]
    depth: int
    """Digits added for implausible fields so far."""


class _Paths:
    """The alignment paths of exactly ``count`` edits, as skeletons (computed when needed)."""

    def __init__(self, data: bytes, structure: Structure, count: int) -> None:
        self.data = data
        self.structure = structure
        self.count = count

    def __iter__(self) -> Iterator[_Skeleton]:
        for path in align(self.data, self.structure, self.count):
            yield _realize(self.data, path, self.structure)


class _Budget(Exception):
    """The work budget is spent."""


class Search:
    """Hypotheses for one damaged telegram, searched tier by tier.

    The first tier that has any match decides: one match is accepted when the family that gave it
    expects at most ``bound`` false matches and all the families searched so far that could have
    given an accepted match together expect at most ``bound``; more than one match, or a match
    from a family above the bound, rejects the telegram. A single fault of any kind lies inside
    the first tier, so a false match there can only make the telegram ambiguous, never replace it.
    """

    def __init__(
        self,
        received: bytes,
        variants: Sequence[Variant],
        contexts: Sequence[Context],
        crc_width: int,
        crc_lower: bool,
        bound: float,
        budget: int,
    ) -> None:
        self.received = received
        self.bound = bound
        self.budget = budget
        self.work = 0
        self.tested = 0
        self.width = crc_width
        self.lower = crc_lower
        self.attempts: list[str] = []
        self._plans: dict[int, list[tuple[str, Callable[[Family], None]]]] = {}
        self._contributions: dict[tuple[int, int], tuple[int, ...]] = {}
        for variant in variants:
            for context in contexts:
                self._plan(variant, context)

    # --- the decision -------------------------------------------------------------------------

    def run(self) -> Verdict:
        attempts = self.attempts
        spent = 0.0  # expected false matches of every family that could have given a repair
        try:
            for tier in range(MAX_TIER + 1):
                plans = self._plans.get(tier, [])
                families = []
                index = 0
                while index < len(plans):  # plans may grow while the tier is searched
                    label, fill = plans[index]
                    index += 1
                    family = Family(tier, label)
                    fill(family)
                    families.append(family)
                    # In planning order (the most likely faults first), a family may give a
                    # repair while all such families together expect at most the bound.
                    if spent + family.expected <= self.bound:
                        spent += family.expected
                        family.accepting = True
                verdict = self._decide(tier, families, spent)
                if verdict is not None:
                    return verdict
        except _Budget:
            attempts.append(f"stopped: the search budget of {self.budget} candidates is spent")
            return Verdict(None, spent, self.tested, attempts)
        attempts.append("no candidate matches the CRC and is plausible")
        return Verdict(None, spent, self.tested, attempts)

    def _decide(self, tier: int, families: list[Family], spent: float) -> Verdict | None:
        attempts = self.attempts
        matches: dict[tuple[bytes, int], tuple[Candidate, Family]] = {}
        for family in families:
            for candidate in family.matches:
                key = (candidate.data, int(candidate.crc_text, 16))
                matches.setdefault(key, (candidate, family))
        searched = ", ".join(_describe(f) for f in _merge(families))
        if not matches:
            if searched:
                attempts.append(f"tier {tier}: no match among {searched}")
            for problem in sorted({p for f in families for p in f.problems})[:3]:
                attempts.append(f"tier {tier}: a CRC match is not plausible: {problem}")
            return None
        if len(matches) > 1:
            labels = ", ".join(sorted({family.label for _, family in matches.values()}))
            attempts.append(
                f"tier {tier}: {len(matches)} candidates match ({labels}): ambiguous, rejected"
            )
            return Verdict(None, spent, self.tested, attempts)
        ((candidate, family),) = matches.values()
        if not family.accepting:
            attempts.append(
                f"tier {tier}: one candidate matches ({family.label}), but its family expects"
                f" {_e(family.expected)} false matches, more than the bound {_e(self.bound)}"
                " leaves: rejected"
            )
            return Verdict(None, spent, self.tested, attempts)
        attempts.append(
            f"tier {tier}: the only match ({family.label}) among {searched}; expected false"
            f" matches {_e(spent)} <= bound {_e(self.bound)}: accepted"
        )
        return Verdict(candidate, spent, self.tested, attempts)

    # --- planning -----------------------------------------------------------------------------

    def _add(self, tier: int, label: str, fill: Callable[[Family], None]) -> None:
        if tier <= MAX_TIER:
            self._plans.setdefault(tier, []).append((label, fill))

    def _plan(self, variant: Variant, context: Context) -> None:
        crc = CrcField(variant.crc_text, self.width, self.lower)
        if crc.exact is None and crc.options is None:
            self.attempts.append(crc.problem)
            return
        data = variant.data
        structure = context.structure
        prefix = f"{variant.label} + " if variant.label else ""
        modes: list[tuple[int, str, frozenset[int] | int]] = []
        if crc.exact is not None:
            modes.append((0, "", crc.exact))
            modes.append((1, " + crc field", crc.changed))
        if crc.options is not None:
            modes.append((1, " + crc field", crc.options))
        if structure.matches(data):
            suspects = context.evidence.suspects(data)
            for extra, suffix, allowed in modes:
                base = variant.cost + extra
                if suspects is None:
                    if base > 0:
                        self._add(
                            base,
                            f"{variant.label or 'intact'}{suffix}",
                            self._skeletons(
                                context, variant, [_Skeleton(data, (), 0)], allowed, crc
                            ),
                        )
                    continue
                # The received telegram is implausible: the damage is where it is implausible.
                self._add(
                    base + 1,
                    f"{prefix}digit{suffix}",
                    self._skeletons(
                        context, variant, _one_more(data, (), context, 1), allowed, crc
                    ),
                )
                self._add(
                    base + 2,
                    f"{prefix}two digits{suffix}",
                    self._skeletons(context, variant, _two_more(data, context), allowed, crc),
                )
                self._add(
                    base + 3,
                    f"{prefix}field{suffix}",
                    self._skeletons(context, variant, _whole_fields(data, context), allowed, crc),
                )
            if suspects is None and crc.exact is not None:
                self._add(
                    variant.cost + 1,
                    f"{prefix}digit",
                    lambda family: self._digit_anywhere(family, context, variant, crc),
                )
            return
        for extra, suffix, allowed in modes:
            for count in range(1, MAX_EDITS + 1):
                self._add(
                    variant.cost + extra + count,
                    f"{prefix}align{suffix}",
                    self._skeletons(
                        context,
                        variant,
                        _Paths(data, structure, count),
                        allowed,
                        crc,
                        extend=True,
                    ),
                )
            span = _span(data, structure)
            if span is not None:
                self._add(
                    variant.cost + extra + 3,
                    f"{prefix}span{suffix}",
                    self._skeletons(context, variant, [span], allowed, crc),
                )

    # --- families -------------------------------------------------------------------------------

    def _skeletons(
        self,
        context: Context,
        variant: Variant,
        skeletons: Iterable[_Skeleton],
        allowed: frozenset[int] | int,
        crc: CrcField,
        extend: bool = False,
    ) -> Callable[[Family], None]:
        def fill(family: Family) -> None:
            family.options = 1 if isinstance(allowed, int) else len(allowed)
            if family.tier >= 2:
                # Beyond single faults a family above the bound can give no repair, and its
                # matches need not make the telegram ambiguous: stop counting there.
                family.cap = int(self.bound * 65536 / family.options)
            seen: set[tuple[bytes, tuple[int, ...]]] = set()
            later: list[_Skeleton] = []
            for skeleton in skeletons:
                key = (skeleton.data, skeleton.unknown)
                if key in seen:
                    continue
                seen.add(key)
                self._solve(
                    family, context, variant, skeleton, allowed, crc, later if extend else None
                )
                if family.plausible == UNBOUNDED or family.over:
                    break
            if later:
                self._add(
                    family.tier + 1,
                    f"{family.label} + digit",
                    self._skeletons(context, variant, later, allowed, crc, extend=True),
                )

        return fill

    def _solve(
        self,
        family: Family,
        context: Context,
        variant: Variant,
        skeleton: _Skeleton,
        allowed: frozenset[int] | int,
        crc: CrcField,
        later: list[_Skeleton] | None,
    ) -> None:
        """Count the plausible completions of ``skeleton`` and keep those that match the CRC."""
        structure = context.structure
        evidence = context.evidence
        data = skeleton.data
        fields = structure.fields
        by_field: dict[int, list[int]] = {}
        for position in skeleton.unknown:
            by_field.setdefault(structure.field_at[position], []).append(position)
        if -1 in by_field:
            return
        if len(by_field) > _MAX_UNKNOWN_FIELDS:  # far more candidates than the bound allows
            family.plausible = UNBOUNDED
            return
        bad = {
            index
            for index, f in enumerate(fields)
            if index not in by_field and evidence.field_problem(index, data[f.start : f.end])
        }
        fixed_relations = [r for r in evidence.relations if not by_field.keys() & set(r.fields)]
        bad_relations = [
            r for r in fixed_relations if not r.holds(evidence.relation_values(data, r))
        ]
        self._spend(_SKELETON_COST)
        if bad or bad_relations:
            if (
                later is not None
                and skeleton.depth < MAX_EXTENSION
                and len(bad) + sum(len(r.fields) for r in bad_relations) <= MAX_IMPLICATED + 2
                and len(bad) <= MAX_IMPLICATED
            ):
                later.extend(
                    _one_more(
                        data, skeleton.unknown, context, skeleton.depth + 1, bad, bad_relations
                    )
                )
            if not skeleton.unknown and self._crc_matches(data, allowed):
                problem = evidence.problem(data)
                if problem is not None:
                    family.problems.append(problem)
            return
        per_field: list[tuple[int, list[int], list[tuple[bytes, int]]]] = []  # (start, ...)
        combinations = 1
        length = len(data)
        cap = family.cap
        truncated = False
        for index, positions in by_field.items():
            f = fields[index]
            offsets = [p - f.start for p in positions]
            limit = None if cap is None else cap - family.plausible + 1
            texts = evidence.completions(index, data[f.start : f.end], offsets, limit)
            if texts is None:
                family.plausible = UNBOUNDED
                return
            if not texts:
                return  # this field has no plausible value: no candidate here
            truncated = truncated or (limit is not None and len(texts) >= limit)
            tables = [
                (position - f.start, self._contributions_at(length, position))
                for position in positions
            ]
            parts = []
            for text in texts:
                part = 0
                for offset, table in tables:
                    part ^= table[text[offset] & 0x0F]
                parts.append((text, part))
            per_field.append((f.start, positions, parts))
            combinations *= len(parts)
        if truncated:  # at least ``limit`` plausible candidates here: past the cap
            family.over = True
            return
        if combinations > _MAX_COMBINATIONS or (cap is not None and combinations > 50 * (cap + 1)):
            family.plausible = UNBOUNDED
            return
        self._spend(combinations)
        related = [r for r in evidence.relations if by_field.keys() & set(r.fields)]
        checks = []
        columns = list(by_field)
        for relation in related:
            members = [
                (columns.index(i), 0) if i in by_field else (-1, evidence.values(data, (i,))[0])
                for i in relation.fields
            ]
            checks.append((relation, members))
        numbers = [[number_value(text) for text, _ in parts] for _, _, parts in per_field]
        base = crc16(data)
        for picks in product(*(range(len(parts)) for _, _, parts in per_field)):
            if checks and not all(
                relation.holds(
                    [
                        value if column < 0 else numbers[column][picks[column]]
                        for column, value in members
                    ]
                )
                for relation, members in checks
            ):
                continue
            family.plausible += 1
            if cap is not None and family.plausible > cap:
                family.over = True
                return
            value = base
            for column, pick in enumerate(picks):
                value ^= per_field[column][2][pick][1]
            if not self._crc_matches_value(value, allowed):
                continue
            choice = tuple(per_field[column][2][pick] for column, pick in enumerate(picks))
            candidate = _fill(data, per_field, choice)
            if candidate == variant.data and variant.cost == 0 and isinstance(allowed, int):
                continue  # the telegram as received is not a repair
            problem = evidence.problem(candidate)
            if problem is not None:
                family.problems.append(problem)
                continue
            crc_text = crc.format(value)
            family.matches.append(
                Candidate(candidate, crc_text, family.label, variant.source, variant.crc_text)
            )

    def _digit_anywhere(
        self, family: Family, context: Context, variant: Variant, crc: CrcField
    ) -> None:
        """One digit became another anywhere: count the plausible changes, walk the syndrome."""
        assert crc.exact is not None
        structure = context.structure
        evidence = context.evidence
        data = variant.data
        limit = int(self.bound * 65536)
        changes = evidence.single_changes(data, range(len(structure.fields)), limit)
        family.plausible = len(changes)
        family.over = len(changes) > limit  # counting stopped: more than the bound allows
        self._spend(len(data) // 8 + len(changes))
        register = crc16(data) ^ crc.exact
        slots = structure.slots
        setup = structure.setup_at
        for position in range(len(data) - 1, -1, -1):
            index = _TABLE_INDEX.get(register)
            if index is not None:
                original = data[position] ^ index
                if 0x30 <= original <= 0x39:
                    if slots[position]:
                        candidate = data[:position] + bytes((original,)) + data[position + 1 :]
                        problem = evidence.problem(candidate)
                        if problem is None:
                            family.matches.append(
                                Candidate(
                                    candidate,
                                    crc.format(crc.exact),
                                    family.label,
                                    variant.source,
                                    variant.crc_text,
                                )
                            )
                        else:
                            family.problems.append(problem)
                    elif position in setup:
                        family.problems.append(
                            f"only a change of a setup line matches ({setup[position]})"
                        )
            register = _unadvance(register)

    # --- CRC arithmetic -----------------------------------------------------------------------

    def _contributions_at(self, length: int, position: int) -> tuple[int, ...]:
        """The CRC change when the byte at ``position`` changes from ``0`` to each digit."""
        table = self._contributions.get((length, position))
        if table is None:
            shift = 8 * position
            columns = [crc16_number(1 << (shift + bit), length) for bit in range(4)]
            values = []
            for change in range(10):
                value = 0
                for bit in range(4):
                    if change >> bit & 1:
                        value ^= columns[bit]
                values.append(value)
            table = self._contributions[(length, position)] = tuple(values)
        return table

    def _crc_matches(self, data: bytes, allowed: frozenset[int] | int) -> bool:
        return self._crc_matches_value(crc16(data), allowed)

    def _crc_matches_value(self, value: int, allowed: frozenset[int] | int) -> bool:
        self.tested += 1
        return value == allowed if isinstance(allowed, int) else value in allowed

    def _spend(self, work: int) -> None:
        self.work += work
        if self.work > self.budget:
            raise _Budget


def _e(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:.1e}"


def _merge(families: list[Family]) -> list[Family]:
    merged: dict[str, Family] = {}
    for family in families:
        known = merged.get(family.label)
        if known is None:
            merged[family.label] = Family(
                family.tier, family.label, family.plausible, family.options, over=family.over
            )
        elif family.over:
            known.over = True
        elif known.plausible != UNBOUNDED:
            known.plausible = (
                UNBOUNDED
                if family.plausible == UNBOUNDED
                else known.plausible + family.plausible * family.options // max(known.options, 1)
            )
    return list(merged.values())


def _describe(family: Family) -> str:
    if family.plausible == UNBOUNDED or family.over:
        return f"{family.label} (too many to count)"
    return (
        f"{family.label} ({family.plausible * family.options} candidates, E {_e(family.expected)})"
    )


def _fill(
    data: bytes,
    per_field: list[tuple[int, list[int], list[tuple[bytes, int]]]],
    choice: tuple[tuple[bytes, int], ...],
) -> bytes:
    """``data`` with each field's chosen text written at its unknown positions."""
    out = bytearray(data)
    for (start, positions, _), (text, _) in zip(per_field, choice, strict=True):
        for position in positions:
            out[position] = text[position - start]
    return bytes(out)


def _implicated(
    evidence: Evidence, data: bytes, bad: set[int] | None, bad_relations: list[Relation] | None
) -> list[int]:
    """The fields the damage must be in: the implausible ones and the members of broken
    relations."""
    if bad is None or bad_relations is None:
        bad, bad_relations = evidence.bad(data)
    fields = set(bad)
    for relation in bad_relations:
        fields.update(relation.fields)
    return sorted(fields)


def _one_more(
    data: bytes,
    unknown: tuple[int, ...],
    context: Context,
    depth: int,
    bad: set[int] | None = None,
    bad_relations: list[Relation] | None = None,
) -> list[_Skeleton]:
    """Skeletons with one more unknown digit in the fields the damage must be in."""
    structure = context.structure
    out = []
    for index in _implicated(context.evidence, data, bad, bad_relations):
        for position in structure.fields[index].slots:
            if position in unknown:
                continue
            changed = data[:position] + b"0" + data[position + 1 :]
            out.append(_Skeleton(changed, tuple(sorted((*unknown, position))), depth))
    return out


def _two_more(data: bytes, context: Context) -> list[_Skeleton]:
    """Skeletons with two unknown digits in the fields the damage must be in."""
    slots = [
        position
        for index in _implicated(context.evidence, data, None, None)
        for position in context.structure.fields[index].slots
    ]
    if len(slots) * (len(slots) - 1) // 2 > _MAX_PAIRS:
        return []
    out = []
    for i, first in enumerate(slots):
        for second in slots[i + 1 :]:
            changed = bytearray(data)
            changed[first] = changed[second] = 0x30
            out.append(_Skeleton(bytes(changed), (first, second), 2))
    return out


def _whole_fields(data: bytes, context: Context) -> list[_Skeleton]:
    """Skeletons with every digit of one implausible field unknown."""
    out = []
    for index in _implicated(context.evidence, data, None, None):
        slots = context.structure.fields[index].slots
        changed = bytearray(data)
        for position in slots:
            changed[position] = 0x30
        out.append(_Skeleton(bytes(changed), slots, 2))
    return out


def _realize(data: bytes, edits: tuple[Edit, ...], structure: Structure) -> _Skeleton:
    """Apply an alignment path: fixed bytes restored, digits in slots unknown."""
    template = structure.data
    fixed = structure.fixed
    out = bytearray()
    unknown: list[int] = []
    position = 0
    for edit in edits:
        out += data[position : edit.position]
        position = edit.position
        if edit.kind == "del":
            position += 1
            continue
        if fixed[edit.template_position]:
            out.append(template[edit.template_position])
        else:
            unknown.append(len(out))
            out.append(0x30)
        if edit.kind == "sub":
            position += 1
    out += data[position:]
    return _Skeleton(bytes(out), tuple(unknown), 0)


def _span(data: bytes, structure: Structure) -> _Skeleton | None:
    """One contiguous damaged region restored from the structure (digits unknown, or kept where a
    same-length region still has a digit in a slot)."""
    template = structure.data
    size, tsize = len(data), len(template)
    head = prefix_match(data, 0, structure, 0)
    tail = suffix_match(data, structure)
    if head + tail >= min(size, tsize):
        return None  # no region, or an insertion or deletion inside a run: alignment's work
    end, tend = size - tail, tsize - tail
    if end - head <= 1 and tend - head <= 1:
        return None  # one byte: alignment's work
    out = bytearray(data[:head])
    unknown = []
    same = size == tsize
    for j in range(head, tend):
        if structure.fixed[j]:
            out.append(template[j])
        elif same and 0x30 <= data[j] <= 0x39:
            out.append(data[j])
        else:
            unknown.append(len(out))
            out.append(0x30)
    out += data[end:]
    return _Skeleton(bytes(out), tuple(unknown), 2)
