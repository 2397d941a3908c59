"""The repair search: families of hypotheses counted, matched against the CRC, tier by tier.

A 16-bit CRC matches a wrong candidate with probability 1/65536. A repair is evidence only when the
number of candidates it was chosen among is small, so every *family* of hypotheses
(:mod:`.hypotheses`) counts its candidates before it looks at the CRC: the candidates that fit the
structure and are plausible next to the neighbours (:mod:`.evidence`), times the CRC values the
received CRC field allows. That count divided by 65536 is the family's *expected number of false
matches* E: the chance that the family offers a wrong telegram when the truth lies outside it.

The search runs tier by tier; the first tier with any match decides (see :class:`Search`).
Unknown digits are found without trying each candidate's CRC in full: the CRC is linear, so a
candidate's CRC is the skeleton's CRC xor one precomputed value per unknown digit; a digit that
became another anywhere is found by walking the CRC syndrome back through the telegram.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import NamedTuple

from .crc import _TABLE, crc16, crc16_number
from .evidence import UNBOUNDED, number_value
from .hypotheses import (
    MAX_EDITS,
    MAX_EXTENSION,
    MAX_IMPLICATED,
    Candidate,
    Context,
    CrcField,
    Paths,
    Skeleton,
    Variant,
    fill_in,
    one_more,
    span,
    two_more,
    whole_fields,
)

__all__ = ["MAX_TIER", "Family", "Search", "Verdict"]

MAX_TIER = 4
_SKELETON_COST = 20
"""Work units of one skeleton (a combination costs one)."""
_MAX_COMBINATIONS = 60_000
_MAX_UNKNOWN_FIELDS = 4
_SUMMED_COMBINATIONS = 2_000
"""Completions of a capped family's fields that are a total or its parts, checked against their sum
before they are counted (beyond: too many to count)."""
UNLOCATED_SHARE = 1 / 4
"""The share of the bound a family may spend whose damage nothing locates: one digit that became
another anywhere in a telegram whose every value is plausible, or two anywhere in the fields the
evidence flags (an outside attack: a stale line and a shifted value taken for two digits, E 3.8e-4
and 4.1e-4). Two plausible changes look just like one, so its false matches are the ones two faults
would meet (at 100,000 faults of two plausible digits: 65 false repairs with the whole bound, all
from families of more than a quarter of it)."""
REFILLED_SHARE = 1 / 16
"""The share of the bound a family may spend that refills values the damage destroyed (whole
fields, a misaligned span): nothing of the received value is left to confirm the refilled one."""
GUESSED_SHARE = 1 / 16
"""The share of the bound a family may spend that guesses a value where the telegram is
implausible and also changes a CRC character into another hex character: two faults, and nothing
locates the second. Two hidden digit changes of which the evidence flags one look just like it (at
100,000 faults of two plausible digits: 10 false repairs where the whole bound gave 15; 2 in 6,000
of the modelled two faults are given up)."""
_TABLE_INDEX = {value: index for index, value in enumerate(_TABLE)}
_INVERSE_TOP = {value >> 8: index for index, value in enumerate(_TABLE)}


def _unadvance(register: int) -> int:
    """Inverse of one CRC step over a zero byte."""
    index = _INVERSE_TOP[register >> 8]
    return (((register ^ _TABLE[index]) & 0xFF) << 8) | index


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
    share: float = 1.0
    """The share of the search's bound this family may expect by itself."""

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
        self._plans: dict[int, list[tuple[str, Callable[[Family], None], float]]] = {}
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
                    label, fill, share = plans[index]
                    index += 1
                    family = Family(tier, label, share=share)
                    fill(family)
                    families.append(family)
                    # In planning order (the most likely faults first), a family may give a
                    # repair while it expects at most its share of the bound and all such
                    # families together at most the bound.
                    if (
                        family.expected <= self.bound * share
                        and spent + family.expected <= self.bound
                    ):
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
            own = self.bound * family.share
            allowed = (
                f"the bound {_e(self.bound)}"
                if family.share == 1.0
                else f"its share of the bound ({_e(own)})"
            )
            if family.over or family.plausible == UNBOUNDED:
                size = (
                    f"more than {int(own * 65536)} plausible candidates, more than {allowed} allows"
                )
            else:
                size = (
                    f"{family.plausible * family.options} plausible candidates and expects"
                    f" {_e(family.expected)} false matches, more than {allowed} leaves"
                )
            attempts.append(
                f"tier {tier}: one candidate matches ({family.label}) among {searched}, but its"
                f" family has {size}: rejected"
            )
            return Verdict(None, spent, self.tested, attempts)
        attempts.append(
            f"tier {tier}: the only match ({family.label}) among {searched}; expected false"
            f" matches {_e(spent)} <= bound {_e(self.bound)}: accepted"
        )
        return Verdict(candidate, spent, self.tested, attempts)

    # --- planning -----------------------------------------------------------------------------

    def _add(
        self, tier: int, label: str, fill: Callable[[Family], None], share: float = 1.0
    ) -> None:
        if tier <= MAX_TIER:
            self._plans.setdefault(tier, []).append((label, fill, share))

    def _plan(self, variant: Variant, context: Context) -> None:
        crc = CrcField(variant.crc_text, self.width, self.lower)
        if crc.exact is None and crc.options is None:
            self.attempts.append(crc.problem)
            return
        data = variant.data
        structure = context.structure
        prefix = f"{variant.label} + " if variant.label else ""
        # (extra faults, label suffix, the CRC values allowed, the share of the bound). A CRC
        # character that lost bits (what the line does) may take the whole bound; any other change
        # of one character (60 values: what a chance match looks like when the damage lies
        # elsewhere, e.g. two hidden changes of the body) only the share of unlocated damage.
        modes: list[tuple[int, str, frozenset[int] | int, float]] = []
        if crc.exact is not None:
            modes.append((0, "", crc.exact, 1.0))
            if crc.lost:
                modes.append((1, " + crc field", crc.lost, 1.0))
            modes.append((1, " + crc field (any character)", crc.changed, UNLOCATED_SHARE))
        if crc.options is not None:
            modes.append((1, " + crc field", crc.options, 1.0))
        if structure.matches(data):
            suspects = context.evidence.suspects(data)
            if suspects is None:
                # Every value is plausible: nothing says where the damage is.
                intact = variant.label or "intact"
                skeleton = [Skeleton(data, (), 0)]
                for extra, suffix, allowed, share in modes:
                    if variant.cost + extra:
                        self._add(
                            variant.cost + extra,
                            f"{intact}{suffix}",
                            self._skeletons(context, variant, skeleton, allowed, crc),
                            share,
                        )
                if crc.exact is not None:
                    self._add(
                        variant.cost + 1,
                        f"{prefix}digit",
                        lambda family: self._digit_anywhere(family, context, variant, crc),
                        UNLOCATED_SHARE,
                    )
                return
            # The received telegram is implausible: the damage is where it is implausible.
            for extra, suffix, allowed, share in modes:
                base = variant.cost + extra
                if extra and crc.exact is not None:
                    share = min(share, GUESSED_SHARE)  # a value guessed and a hidden CRC change
                self._add(
                    base + 1,
                    f"{prefix}digit{suffix}",
                    self._skeletons(context, variant, one_more(data, (), context, 1), allowed, crc),
                    share,
                )
                # Two digits anywhere in the flagged fields: two faults, and nothing says which
                # two digits; a stale line or a shifted value, flagged alike, meets a chance
                # match among them as often.
                self._add(
                    base + 2,
                    f"{prefix}two digits{suffix}",
                    self._skeletons(context, variant, two_more(data, context), allowed, crc),
                    min(share, UNLOCATED_SHARE),
                )
                self._add(
                    base + 3,
                    f"{prefix}field{suffix}",
                    self._skeletons(context, variant, whole_fields(data, context), allowed, crc),
                    min(share, REFILLED_SHARE),
                )
            return
        for extra, suffix, allowed, share in modes:
            for count in range(1, MAX_EDITS + 1):
                self._add(
                    variant.cost + extra + count,
                    f"{prefix}align{suffix}",
                    self._skeletons(
                        context,
                        variant,
                        Paths(data, structure, count),
                        allowed,
                        crc,
                        extend=True,
                    ),
                    share,
                )
            region = span(data, structure)
            if region is not None:
                self._add(
                    variant.cost + extra + 3,
                    f"{prefix}span{suffix}",
                    self._skeletons(context, variant, [region], allowed, crc),
                    min(share, REFILLED_SHARE),
                )

    # --- families -------------------------------------------------------------------------------

    def _skeletons(
        self,
        context: Context,
        variant: Variant,
        skeletons: Iterable[Skeleton],
        allowed: frozenset[int] | int,
        crc: CrcField,
        extend: bool = False,
    ) -> Callable[[Family], None]:
        def fill(family: Family) -> None:
            family.options = 1 if isinstance(allowed, int) else len(allowed)
            if not family.options:
                return  # no CRC value to compare with: no candidate
            if family.tier >= 2:
                # Beyond single faults a family above the bound can give no repair, and its
                # matches need not make the telegram ambiguous: stop counting there.
                family.cap = int(self.bound * family.share * 65536 / family.options)
            seen: set[tuple[bytes, tuple[int, ...]]] = set()
            later: list[Skeleton] = []
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
                    family.share,
                )

        return fill

    def _solve(
        self,
        family: Family,
        context: Context,
        variant: Variant,
        skeleton: Skeleton,
        allowed: frozenset[int] | int,
        crc: CrcField,
        later: list[Skeleton] | None,
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
                    one_more(
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
        # A total and its parts: the completions are counted after the sum is checked (a wiped
        # total whose parts arrived is one candidate, however far its neighbours are apart).
        summed = {
            index
            for relation in evidence.relations
            if not relation.exclusive
            for index in relation.fields
            if index in by_field
        }
        for index, positions in by_field.items():
            f = fields[index]
            offsets = [p - f.start for p in positions]
            if cap is None:
                limit = None
            else:
                limit = _SUMMED_COMBINATIONS if summed else cap - family.plausible + 1
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
        if combinations > _MAX_COMBINATIONS or (
            cap is not None and combinations > (_SUMMED_COMBINATIONS if summed else 50 * (cap + 1))
        ):
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
            candidate = fill_in(data, per_field, choice)
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
        limit = int(self.bound * family.share * 65536)
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
    return "too many to count" if value == float("inf") else f"{value:.1e}"


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
