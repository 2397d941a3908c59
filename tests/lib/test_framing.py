"""Framing: bytes in, candidate telegrams out, for streams and files alike."""

from __future__ import annotations

from typing import Any, SupportsIndex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib import framing
from p1lib.crc import crc16, parse_crc_field
from p1lib.framing import MAX_NOISE, MAX_TELEGRAM, Frame, Framer, normalize_line_ends

from .builders import hungarian, telegram

T1 = telegram("1-0:1.8.1(000001.000*kWh)", "1-0:1.7.0(00.100*kW)")
T2 = telegram("1-0:1.8.1(000002.000*kWh)", "1-0:1.7.0(00.200*kW)")
T3 = telegram("1-0:1.8.1(000003.000*kWh)", "1-0:1.7.0(00.300*kW)")


def frames_of(data: bytes, chunk: int | None = None) -> list[Frame]:
    framer = Framer()
    if chunk is None:
        return framer.feed(data) + framer.flush()
    out: list[Frame] = []
    for start in range(0, len(data), chunk):
        out += framer.feed(data[start : start + chunk])
    return out + framer.flush()


def verifies(frame: Frame) -> bool:
    sent = parse_crc_field(frame.crc_text)
    return (
        frame.complete
        and frame.has_header
        and sent is not None
        and crc16(normalize_line_ends(frame.data)) == sent
    )


def good(frames: list[Frame]) -> list[bytes]:
    return [normalize_line_ends(f.data) + f.crc_text for f in frames if verifies(f)]


def expected(*telegrams: bytes) -> list[bytes]:
    return [t.rstrip(b"\r\n") for t in telegrams]


def test_three_telegrams() -> None:
    frames = frames_of(T1 + T2 + T3)
    assert len(frames) == 3
    assert good(frames) == expected(T1, T2, T3)
    assert frames[1].offset == len(T1)
    assert frames[0].end_offset == len(T1) - 2


def test_lf_only_and_cr_only() -> None:
    for ending in (b"\n", b"\r"):
        log = (T1 + T2).replace(b"\r\n", ending)
        assert good(frames_of(log)) == expected(T1, T2)


def test_putty_header_text_and_garbage_between() -> None:
    log = (
        b"=~=~=~=~=~= PuTTY log 2023.05.02 21:50:01 =~=~=~=~=~=\r\n"
        + T1
        + b"\x00\x00some text 2023/05/02\r\n\xa3\xf0"
        + T2
        + b"\xff\xfe"
        + T3
    )
    frames = frames_of(log)
    assert good(frames) == expected(T1, T2, T3)
    assert frames[0].noise.startswith(b"=~=~=")
    assert frames[1].noise_count > 0


def test_leading_garbage_and_nul_before_slash_on_same_line() -> None:
    frames = frames_of(b"\x00\x00\x13\xa4" + T1)
    assert good(frames) == expected(T1)


def test_every_byte_value_inside_a_telegram() -> None:
    all_bytes = bytes(b for b in range(256) if b not in b"()\r\n!/")
    data = telegram("0-0:96.13.0(" + all_bytes.decode("latin-1") + ")")
    assert good(frames_of(data + T2)) == expected(data, T2)


def test_sanxing_ff_message() -> None:
    data = hungarian()
    assert good(frames_of(data * 3)) == expected(data, data, data)


def test_lowercase_and_short_crc() -> None:
    lower = telegram("1-0:1.7.0(00.318*kW)", lower=True)
    short = next(
        telegram(f"1-0:1.7.0(00.{n:03d}*kW)", short=True)
        for n in range(1000)
        if crc16(telegram(f"1-0:1.7.0(00.{n:03d}*kW)")[:-6]) < 0x1000
    )
    frames = frames_of(lower + short + T1)
    assert good(frames) == expected(lower, short, T1)
    assert len(frames[1].crc_text) < 4


def test_no_crc_meter() -> None:
    data = telegram("1-0:1.8.1(00001.001*kWh)", crc=False)
    frames = frames_of(data + data)
    assert len(frames) == 2
    assert all(f.complete and f.crc_text == b"" for f in frames)


def test_truncated_at_start_and_end() -> None:
    log = T1[40:] + T2 + T3[:50]
    frames = frames_of(log)
    assert [(f.has_header, f.complete) for f in frames] == [
        (False, True),
        (True, True),
        (True, False),
    ]
    assert good(frames) == expected(T2)


def test_lost_bang_does_not_swallow_next() -> None:
    broken = T1.replace(b"\r\n!", b"\r\n")
    frames = frames_of(broken + T2)
    assert good(frames) == expected(T2)
    assert not frames[0].complete


def test_lost_slash_does_not_swallow_next() -> None:
    broken = b"\x0e" + T1[1:]
    frames = frames_of(T3 + broken + T2)
    assert good(frames) == expected(T3, T2)
    assert [f.has_header for f in frames] == [True, False, True]


def test_damaged_bang_line_is_not_an_end() -> None:
    # '1' (0x31) losing a bit becomes '!' (0x21): a data line must not end the telegram.
    damaged = T1.replace(b"1-0:1.7.0", b"!-0:1.7.0")
    frames = frames_of(damaged + T2)
    assert len(frames) == 2
    assert frames[0].complete
    assert not verifies(frames[0])
    assert good(frames) == expected(T2)


def test_slash_in_text_message_is_data() -> None:
    data = telegram("0-0:96.13.0(see /abc here)", "1-0:1.7.0(00.100*kW)")
    assert good(frames_of(data)) == expected(data)


def test_slashes_and_bangs_in_garbage_are_noise_not_telegrams() -> None:
    # A frame without a single line end cannot be a telegram: 'x/ABC' or '!' in noise make no
    # thousands of rejected telegrams, they are counted as noise.
    for noise in (b"x/ABC" * 5000, b"\n!" * 5000, b"/AB!12" * 3000, b"(x/ABC)!" * 3000):
        framer = Framer()
        frames = framer.feed(noise + T1) + framer.flush()
        assert good(frames) == expected(T1)
        assert len(frames) == 1, noise[:10]
        assert framer.noise_bytes >= len(noise.translate(None, b"\r\n")) - 8
    # Inside a telegram such garbage is damage to that telegram, not a new one.
    damaged = T2.replace(b"(00.200*kW)", b"(00.2zz/ABCzz00*kW)")
    frames = frames_of(T1 + damaged + T3)
    assert len(frames) == 3
    assert frames[1].complete
    assert frames[1].has_header
    assert good(frames) == expected(T1, T3)


def test_crc_then_next_header_without_line_end() -> None:
    assert good(frames_of(T1.rstrip(b"\r\n") + T2)) == expected(T1, T2)


def test_bounded_memory_on_endless_garbage() -> None:
    framer = Framer()
    for _ in range(200):
        framer.feed(b"x" * 1000)
        assert framer.buffered <= MAX_TELEGRAM + MAX_NOISE + 1000
    assert framer.flush() == []
    assert framer.noise_bytes > 150_000


def test_bounded_memory_on_endless_telegram() -> None:
    framer = Framer()
    frames = framer.feed(b"/XXX5 never ending\r\n")
    for _ in range(100):
        frames += framer.feed(b"1-0:1.7.0(00.100*kW)\r\n" * 50)
        assert framer.buffered <= MAX_TELEGRAM + MAX_NOISE + 1200
    frames += framer.feed(T1)
    frames += framer.flush()
    assert any(not f.complete for f in frames)
    assert good(frames) == expected(T1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=40))
def test_any_chunking_gives_the_same_frames(cuts: list[int]) -> None:
    log = b"junk\r\n" + T1 + hungarian() + b"\x00" + T2 + T3[:30]
    whole = frames_of(log)
    framer = Framer()
    out: list[Frame] = []
    position = 0
    for size in cuts:
        out += framer.feed(log[position : position + size])
        position += size
    out += framer.feed(log[position:])
    out += framer.flush()
    assert out == whole


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=300))
def test_garbage_between_never_loses_a_good_telegram(before: bytes, between: bytes) -> None:
    # Garbage may itself look like a header; it still must not take the good telegrams with it.
    log = before + b"\r\n" + T1 + between + b"\r\n" + T2
    assert good(frames_of(log)) == expected(T1, T2)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=5000))
def test_random_bytes_never_crash(data: bytes) -> None:
    framer = Framer()
    frames = framer.feed(data) + framer.flush()
    assert all(isinstance(f, Frame) for f in frames)
    assert framer.buffered == 0


# --- hostile streams: the same frames for any chunking, work linear in the input -------------------

# Pieces a hostile or broken stream is made of: header starts after garbage, '!' with and without
# CRC digits, parentheses around '/', long lines, 0xFF and NUL runs, real telegrams and their parts.
_PIECES = (
    b"/",
    b"!",
    b"\r\n",
    b"\n",
    b"\r",
    b"x/ABC",
    b"/ABC5 h",
    b"(",
    b")",
    b"(a/BCD)",
    b"!1234",
    b"!12345",
    b"!AB/",
    b"1-0:1.7.0(00.100*kW)",
    b"\xff",
    b"\x00",
    T1,
    T2[:60],
    T3[40:],
)


@st.composite
def hostile_streams(draw: st.DrawFn) -> bytes:
    """Byte streams rich in what the framer must decide on; some runs long enough to overflow."""
    parts = draw(
        st.lists(
            st.one_of(
                st.binary(max_size=64),
                st.tuples(st.sampled_from(_PIECES), st.integers(1, 40)).map(lambda p: p[0] * p[1]),
                st.tuples(st.sampled_from(_PIECES), st.integers(1, 2500)).map(
                    lambda p: p[0] * p[1]
                ),
            ),
            max_size=12,
        )
    )
    return b"".join(parts)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _frame_all(framer: Framer, chunks: list[bytes]) -> list[Frame]:
    out: list[Frame] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return out + framer.flush()


@settings(max_examples=300, deadline=None)
@given(hostile_streams(), st.lists(st.integers(0, 1 << 17), max_size=30))
def test_any_split_of_a_hostile_stream_gives_the_same_frames(data: bytes, cuts: list[int]) -> None:
    whole = Framer()
    expected_frames = _frame_all(whole, [data])
    split = Framer()
    assert _frame_all(split, _split(data, cuts)) == expected_frames
    assert (split.noise_bytes, split.bytes_in) == (whole.noise_bytes, whole.bytes_in)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_PIECES[:13]), max_size=200).map(b"".join),
    st.lists(st.integers(0, 4000), max_size=30),
    st.integers(1, 40),
    st.integers(1, 40),
)
def test_small_limits_any_split_gives_the_same_frames(
    data: bytes, cuts: list[int], max_telegram: int, max_noise: int
) -> None:
    # Small limits make every stream overflow, at every kind of byte.
    whole = _frame_all(Framer(max_telegram, max_noise), [data])
    assert _frame_all(Framer(max_telegram, max_noise), _split(data, cuts)) == whole
    assert _frame_all(Framer(max_telegram, max_noise), [bytes([b]) for b in data]) == whole


_HEADER_FLOOD = st.lists(
    st.sampled_from(
        [b"/ABC5\r\n", b"/XY\r\n", b"x/ABC", b"\r\n", b"!", b"!1234\r\n", b"(", b")", b"x" * 50, T1]
    ),
    min_size=50,
    max_size=1500,
).map(b"".join)


@settings(max_examples=150, deadline=None)
@given(_HEADER_FLOOD, st.lists(st.integers(0, 40_000), max_size=20), st.integers(1, 5))
def test_a_flood_of_frames_is_emitted_a_few_at_a_time_alike_for_any_split(
    data: bytes, cuts: list[int], early_frames: int
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(framing, "EARLY_BYTES", 64)
        patch.setattr(framing, "EARLY_FRAMES", early_frames)
        whole = _frame_all(Framer(), [data])
        assert _frame_all(Framer(), _split(data, cuts)) == whole
        if len(data) < MAX_TELEGRAM:  # no overflow: the frames of emitting at the end
            patch.setattr(framing, "EARLY_BYTES", 1 << 30)
            assert _frame_all(Framer(), [data]) == whole


def test_a_flood_of_frames_is_emitted_a_few_at_a_time() -> None:
    # Short frames without an end come out as their bytes arrive, not thousands at once when the
    # segment reaches its limit.
    framer = Framer()
    flood = b"/ABC5\r\n" * 20_000
    batches = [len(framer.feed(flood[i : i + 512])) for i in range(0, len(flood), 512)]
    assert max(batches) <= (framing.EARLY_BYTES + 512) // 7 + 2 * framing.EARLY_FRAMES
    assert sum(batches) + len(framer.flush()) == 20_000


def test_a_long_telegram_is_framed_alike_live_and_from_a_file() -> None:
    # Over the limit: the same truncated frame whether it arrives in 4 KiB or 1 MiB chunks.
    long = telegram(*[f"0-0:96.13.0({'A' * 200})" for _ in range(120)])
    assert len(long) > MAX_TELEGRAM + MAX_NOISE
    data = T1 + long + T2
    file_frames = frames_of(data, 1 << 20)
    assert frames_of(data, 4096) == file_frames
    assert good(file_frames) == expected(T1, T2)
    assert any(not f.complete for f in file_frames)


class _Work:
    """Bytes examined by the framer's scans (find, rfind, strip and friends), for the tests below."""

    examined = 0

    @classmethod
    def count(cls, size: int, start: Any, end: Any, found: int) -> None:
        low, high, _ = slice(start, end).indices(size)
        cls.examined += max(high - low, 0) if found < 0 else max(abs(found - low), 1)


class _CountedBytes(bytes):
    def find(self, sub: Any, start: SupportsIndex | None = None, end: Any = None) -> int:
        found = super().find(sub, start, end)
        _Work.count(len(self), start, end, found)
        return found

    def rfind(self, sub: Any, start: SupportsIndex | None = None, end: Any = None) -> int:
        found = super().rfind(sub, start, end)
        low, high, _ = slice(start, end).indices(len(self))
        _Work.examined += max(high - max(found, low), 1)
        return found


class _CountedBytearray(bytearray):
    def find(self, sub: Any, start: SupportsIndex | None = None, end: Any = None) -> int:
        found = super().find(sub, start, end)
        _Work.count(len(self), start, end, found)
        return found


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[_Work]:
    """The framer's buffers and segments count the bytes their scans examine."""
    monkeypatch.setattr(framing, "bytes", _CountedBytes, raising=False)
    monkeypatch.setattr(framing, "bytearray", _CountedBytearray, raising=False)
    _Work.examined = 0
    return _Work


@pytest.mark.parametrize("chunk", [4096, 1 << 20])
@pytest.mark.parametrize(
    "noise",
    [b"x/ABC", b"/ABC\r\n", b"!", b"\n!", b"(/ABC", b"!1234x", b"\xff", b"\x00", b"x"],
    ids=["slash-rich", "headers", "bangs", "line-bangs", "parens", "crc-like", "ff", "nul", "x"],
)
def test_work_per_byte_is_bounded(counted: type[_Work], noise: bytes, chunk: int) -> None:
    # 8 MB of 'x/ABC' took a minute when every '/' scanned back to the start of its line.
    data = (noise * (300_000 // len(noise) + 1))[:300_000]
    framer = Framer()
    for start in range(0, len(data), chunk):
        framer.feed(data[start : start + chunk])
    framer.flush()
    assert counted.examined < 12 * len(data)


@settings(max_examples=100, deadline=None)
@given(hostile_streams())
def test_work_per_byte_is_bounded_for_any_stream(data: bytes) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(framing, "bytes", _CountedBytes, raising=False)
        patch.setattr(framing, "bytearray", _CountedBytearray, raising=False)
        _Work.examined = 0
        _frame_all(Framer(), [data[i : i + 4096] for i in range(0, len(data), 4096)])
        assert _Work.examined < 12 * len(data) + 64


def test_normalize_line_ends() -> None:
    assert normalize_line_ends(b"/a\r\nb\r\n!") == b"/a\r\nb\r\n!"
    assert normalize_line_ends(b"/a\nb\n!") == b"/a\r\nb\r\n!"
    assert normalize_line_ends(b"/a\rb\r!") == b"/a\r\nb\r\n!"
    assert normalize_line_ends(b"/ab!") == b"/ab!"
