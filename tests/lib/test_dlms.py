"""Encrypted frames found by their structure in a byte stream (no cryptography needed)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib.dlms import MAX_LENGTH, FrameScanner, GcmFrame, build_frame

from .builders import hungarian
from .sealing import TITLE, random_frame

RNG = random.Random(17)
F1 = random_frame(RNG, 500, counter=7)
F2 = random_frame(RNG, 480, counter=8)
F3 = random_frame(RNG, 520, counter=9)


def scan(data: bytes, cuts: list[int] | None = None) -> list[bytes | GcmFrame]:
    """Everything the scanner returns, with adjacent bytes joined (chunking moves their borders)."""
    scanner = FrameScanner()
    pieces: list[bytes | GcmFrame] = []
    position = 0
    for size in cuts or []:
        pieces += scanner.feed(data[position : position + size])
        position += size
    pieces += scanner.feed(data[position:])
    pieces += scanner.flush()
    joined: list[bytes | GcmFrame] = []
    for piece in pieces:
        if isinstance(piece, bytes) and joined and isinstance(joined[-1], bytes):
            joined[-1] += piece
        elif not isinstance(piece, bytes) or piece:
            joined.append(piece)
    return joined


def frames(pieces: list[bytes | GcmFrame]) -> list[GcmFrame]:
    return [p for p in pieces if isinstance(p, GcmFrame)]


def lossless(pieces: list[bytes | GcmFrame]) -> bytes:
    return b"".join(p if isinstance(p, bytes) else p.data for p in pieces)


def test_frame_fields() -> None:
    (frame,) = frames(scan(F1))
    assert frame.data == F1
    assert frame.offset == 0
    assert frame.system_title == TITLE
    assert frame.counter == 7
    assert frame.header_length == 18
    assert frame.length == len(F1) - 13
    assert frame.declared_size == len(F1)
    assert frame.complete
    assert frame.iv == TITLE + bytes((0, 0, 0, 7))
    assert frame.ciphertext == F1[18:-12]
    assert frame.tag == F1[-12:]
    assert frame.end_offset == len(F1)


@pytest.mark.parametrize(("size", "header"), [(40, 16), (200, 17), (3000, 18)])
def test_every_length_form(size: int, header: int) -> None:
    ciphertext = bytes(range(256)) * (size // 256) + bytes(size % 256)
    data = build_frame(TITLE, 0xFFFFFFFF, ciphertext, b"T" * 12)
    (frame,) = frames(scan(b"x" + data + b"y"))
    assert (frame.header_length, frame.counter, frame.offset) == (header, 0xFFFFFFFF, 1)
    assert frame.ciphertext == ciphertext


def test_build_frame_checks_its_parts() -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        build_frame(b"short", 1, b"", b"T" * 12)
    with pytest.raises(ValueError, match="12 bytes"):
        build_frame(TITLE, 1, b"", b"T" * 16)
    with pytest.raises(ValueError, match="32-bit"):
        build_frame(TITLE, 1 << 32, b"", b"T" * 12)
    with pytest.raises(ValueError, match="does not fit"):
        build_frame(TITLE, 1, bytes(70000), b"T" * 12)


def test_noise_and_plain_bytes_pass_through_in_order() -> None:
    noise = b"=~=~= PuTTY log =~=~=\r\n\x00\xdb\xff"
    stream = noise + F1 + b"\r\n" + F2 + hungarian() + F3 + b"tail"
    pieces = scan(stream)
    assert [p if isinstance(p, bytes) else p.counter for p in pieces] == [
        noise,
        7,
        b"\r\n",
        8,
        hungarian(),
        9,
        b"tail",
    ]
    assert lossless(pieces) == stream
    assert [f.offset for f in frames(pieces)] == [
        len(noise),
        len(noise) + len(F1) + 2,
        len(stream) - 4 - len(F3),
    ]


def test_a_plain_stream_passes_as_it_came() -> None:
    scanner = FrameScanner()
    data = hungarian()
    assert scanner.feed(data)[0] is data  # no copy, no scan beyond one search
    assert scanner.feed(bytearray(b"\xff\x00")) == [b"\xff\x00"]
    assert scanner.flush() == []
    assert scanner.frames == 0


def test_every_split_position() -> None:
    stream = b"\x13\xdb" + F1 + b"\xdb\x08" + F2
    whole = scan(stream)
    assert len(frames(whole)) == 2
    for cut in range(len(stream) + 1):
        assert scan(stream, [cut]) == whole, cut


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 600), max_size=12))
def test_any_chunking_finds_the_same(cuts: list[int]) -> None:
    stream = b"noise" + F1 + F2 + b"\r\n\xdb\x08 more noise" + F3
    assert scan(stream, cuts) == scan(stream)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\xdb", b"")), min_size=4, max_size=4)
)
def test_noise_without_tags_between_frames(noise: list[bytes]) -> None:
    stream = noise[0] + F1 + noise[1] + F2 + noise[2] + F3 + noise[3]
    pieces = scan(stream)
    assert [f.data for f in frames(pieces)] == [F1, F2, F3]
    assert lossless(pieces) == stream


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 500), max_size=8))
def test_any_bytes_are_returned_whole(data: bytes, cuts: list[int]) -> None:
    # Whatever arrives (tags and frame headers of any length included), every byte comes back once,
    # in order.
    stream = data + F1 + data[: len(data) // 2] + b"\xdb\x08" + TITLE + b"\x82\x01\x00\x30"
    assert lossless(scan(stream, cuts)) == stream


def test_structures_that_are_not_frames_pass_through() -> None:
    wrong_control = F1[:13] + b"\x20" + F1[14:]
    wrong_title_length = F1[:1] + b"\x09" + F1[2:]
    wrong_length_form = F1[:10] + b"\x83" + F1[11:]
    too_short = F1[:11] + b"\x00\x05" + F1[13:]
    too_long = F1[:10] + b"\x82\xff\xff" + F1[13:]
    for data in (wrong_control, wrong_title_length, wrong_length_form, too_short, too_long):
        pieces = scan(data + F2)
        assert pieces[0] == data
        assert [f.data for f in frames(pieces)] == [F2]


def test_a_damaged_length_never_swallows_the_next_frame() -> None:
    longer = F1[:11] + (len(F1) - 13 + 700).to_bytes(2, "big") + F1[13:]
    pieces = scan(longer + F2 + F3)
    found = frames(pieces)
    assert [f.counter for f in found] == [7, 8, 9]
    assert found[0].data == longer  # cut where the next frame of the same meter begins
    assert found[0].complete
    assert found[0].declared_size == len(F1) + 700
    assert found[1].data == F2


def test_a_frame_completes_when_the_next_one_begins() -> None:
    # A live stream: the frame with the damaged length is delivered when the next frame's header
    # arrives, not after the bytes its length announced.
    longer = F1[:11] + (len(F1) - 13 + 5000).to_bytes(2, "big") + F1[13:]
    scanner = FrameScanner()
    assert scanner.feed(longer) == []
    (first,) = scanner.feed(F2[:12])
    assert isinstance(first, GcmFrame)
    assert first.data == longer


def test_a_shorter_length_ends_the_frame_early() -> None:
    shorter = F1[:11] + (len(F1) - 13 - 100).to_bytes(2, "big") + F1[13:]
    pieces = scan(shorter + F2)
    assert frames(pieces)[0].data == shorter[:-100]
    assert pieces[1] == shorter[-100:]  # the rest is noise before the next frame
    assert frames(pieces)[1].data == F2


def test_a_frame_cut_by_the_end_of_the_stream_is_incomplete() -> None:
    pieces = scan(F1 + F2[:300])
    assert [f.complete for f in frames(pieces)] == [True, False]
    assert frames(pieces)[1].data == F2[:300]
    # An incomplete header at the end is noise.
    assert scan(F1 + F2[:14]) == [frames(scan(F1))[0], F2[:14]]


def test_memory_is_bounded() -> None:
    scanner = FrameScanner()
    header = b"\xdb\x08" + TITLE + b"\x82" + MAX_LENGTH.to_bytes(2, "big") + b"\x30\x00\x00\x00\x01"
    out = scanner.feed(header)
    for _ in range(40):
        out += scanner.feed(bytes(1000))
    assert scanner.buffered < 1000  # the frame was delivered at its size
    (frame,) = frames(out)
    assert len(frame.data) == MAX_LENGTH + 13
    # The meter is known now: the end of the buffer is held for its next title, no more.
    held = scanner.buffered
    assert held <= 14
    rest = lossless(scanner.feed(b"\xdb" * 100))
    assert rest + bytes(0) == (bytes(held) + b"\xdb" * 100)[: len(rest)]
    assert scanner.buffered <= 14
