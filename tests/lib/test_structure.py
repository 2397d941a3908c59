"""The structure of a meter's telegrams and the alignment of damaged ones to it."""

from __future__ import annotations

from p1lib.structure import Structure, align, prefix_match, suffix_match

from .builders import telegram

GOOD = telegram("0-0:1.0.0(230502215000S)", "1-0:1.8.1(000100.000*kWh)", "1-0:32.7.0(230.1*V)")
BODY = GOOD[: GOOD.rindex(b"!") + 1]
STRUCTURE = Structure(BODY)


def test_fixed_bytes_and_slots() -> None:
    assert STRUCTURE.header == b"/TST5 test-meter"
    digits = BODY.index(b"000100.000")
    assert STRUCTURE.slots[digits]
    assert not STRUCTURE.slots[digits + 6]
    assert STRUCTURE.lines["1-0:32.7.0"][0] == BODY.index(b"1-0:32.7.0")
    assert STRUCTURE.compatible(Structure(BODY.replace(b"230.1", b"229.9")))
    assert not STRUCTURE.compatible(Structure(BODY.replace(b"*V)", b"*v)")))


def test_prefix_and_suffix_matches() -> None:
    damaged = BODY.replace(b"(230.1", b"(2\x800.1")
    at = damaged.index(b"\x80")
    assert prefix_match(damaged, 0, STRUCTURE, 0) == at
    assert suffix_match(damaged, STRUCTURE) == len(BODY) - at - 1
    assert suffix_match(BODY, STRUCTURE) == len(BODY)
    assert prefix_match(b"", 0, STRUCTURE, 0) == 0


def test_alignment_paths_of_exactly_n_edits() -> None:
    dropped = BODY.replace(b"000100.000", b"00100.000")
    (path,) = {tuple(e.kind for e in p) for p in align(dropped, STRUCTURE, 1)}
    assert path == ("ins",)
    assert len(align(dropped, STRUCTURE, 1)) > 1  # any place in the run of digits
    assert align(BODY, STRUCTURE, 1) == []  # nothing to explain
    inserted = BODY.replace(b"*kWh", b"*k\x00Wh")
    assert [[e.kind for e in p] for p in align(inserted, STRUCTURE, 1)] == [["del"]]
    assert align(inserted, STRUCTURE, 3) == [] or all(
        len(p) == 3 for p in align(inserted, STRUCTURE, 3)
    )
    assert align(BODY + b"12345", STRUCTURE, 2) == []  # too far apart
