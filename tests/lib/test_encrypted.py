"""The decoder for meters that encrypt: encrypted frames in a byte stream, as the meter sends them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib.cipher import Mode, Outcome
from p1lib.decoder import Decoder, DecodeResult, Status
from p1lib.encrypted import EncryptedDecoder
from p1lib.faults import inject
from p1lib.framing import MAX_TELEGRAM
from p1lib.generator import STYLES, MeterSimulator, demo_log
from p1lib.repair import RepairEngine

from .sealing import (
    AUTH_KEY,
    HAVE_CRYPTOGRAPHY,
    HEADER,
    KEY,
    OTHER_KEY,
    TITLE,
    flip,
    random_frame,
    seal,
)

if not HAVE_CRYPTOGRAPHY:
    pytest.skip("the cryptography package is not installed", allow_module_level=True)

TELEGRAMS = list(MeterSimulator("be_fluvius", seed=8).telegrams(12))
FRAMES = [seal(t, 1000 + n) for n, t in enumerate(TELEGRAMS)]


def decode(
    data: bytes,
    key: bytes | None = KEY,
    auth_key: bytes | None = None,
    cuts: list[int] | None = None,
    repair: bool = True,
) -> tuple[EncryptedDecoder, list[DecodeResult]]:
    engine = RepairEngine() if repair else None
    decoder = EncryptedDecoder(engine, key=key, auth_key=auth_key)
    results: list[DecodeResult] = []
    position = 0
    for size in cuts or []:
        results += decoder.feed(data[position : position + size])
        position += size
    results += decoder.feed(data[position:])
    return decoder, results + decoder.flush()


def summary(results: list[DecodeResult]) -> list[tuple[str, int, bytes, str]]:
    return [(r.status.value, r.frame.offset, r.data, r.reason) for r in results]


@pytest.mark.parametrize("auth_key", [None, AUTH_KEY])
def test_both_modes(auth_key: bytes | None) -> None:
    decoder, results = decode(b"".join(FRAMES), auth_key=auth_key)
    assert [r.status for r in results] == [Status.VALID] * len(TELEGRAMS)
    assert [r.data for r in results] == TELEGRAMS
    assert all(r.telegram is not None for r in results)
    offsets = [sum(map(len, FRAMES[:n])) for n in range(len(FRAMES))]
    assert [r.frame.offset for r in results] == offsets  # where each frame begins (0xDB)
    assert decoder.mode is (Mode.AUTHENTICATED if auth_key else Mode.UNVERIFIED)
    assert decoder.encrypted
    assert decoder.cipher.frames == decoder.cipher.decrypted == len(FRAMES)
    assert decoder.cipher.system_title == TITLE
    assert decoder.cipher.counter == 1000 + len(FRAMES) - 1
    assert decoder.counters == {TITLE: 1000 + len(FRAMES) - 1}
    assert decoder.problem == ""
    (notice,) = decoder.take_notices()
    assert notice.outcome is Outcome.DECRYPTED
    assert notice.message == f"decrypted: the frames decrypt to telegrams ({decoder.mode} mode)"
    assert decoder.take_notices() == []
    assert decoder.bytes_in == sum(map(len, FRAMES))
    assert decoder.noise_bytes == 0
    assert decoder.stats.valid == len(TELEGRAMS)


@pytest.mark.parametrize("style", STYLES)
def test_every_meter_style(style: str) -> None:
    telegrams = list(MeterSimulator(style, seed=3).telegrams(4))
    _, results = decode(b"".join(seal(t, n) for n, t in enumerate(telegrams)))
    assert [r.data for r in results if r.status is Status.VALID] == telegrams


def test_every_split_position() -> None:
    stream = b"\xdb\x00" + FRAMES[0] + b"\r\n" + FRAMES[1]
    whole = summary(decode(stream)[1])
    assert [status for status, *_ in whole] == ["valid", "valid"]
    for cut in range(len(stream) + 1):
        assert summary(decode(stream, cuts=[cut])[1]) == whole, cut


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 900), max_size=10))
def test_any_chunking(cuts: list[int]) -> None:
    stream = b"junk\x00" + b"".join(FRAMES[:4]) + b"\xdb\x08\xff" + FRAMES[4]
    assert summary(decode(stream, cuts=cuts)[1]) == summary(decode(stream)[1])


def test_noise_between_frames_is_reported_like_any_other() -> None:
    gaps = [b"=~=~= PuTTY log 2026.11.29 10:00:00 =~=~=\r\n", b"\x13\xa4", b"", b"garbage \xdb"]
    encrypted = b"".join(g + f for g, f in zip(gaps, FRAMES, strict=False))
    plain = b"".join(g + t for g, t in zip(gaps, TELEGRAMS, strict=False))
    decoder, results = decode(encrypted)
    reference = Decoder()
    expected = reference.feed(plain) + reference.flush()
    assert [(r.frame.noise, r.frame.noise_count) for r in results] == [
        (r.frame.noise, r.frame.noise_count) for r in expected
    ]
    assert results[0].frame.noise.startswith(b"=~=~= PuTTY log")
    assert decoder.noise_bytes == reference.framer.noise_bytes == sum(map(len, gaps)) - 2


def test_plain_telegrams_decode_as_with_the_plain_decoder() -> None:
    rng = random.Random(5)
    log = demo_log(60)
    for style in STYLES:
        telegrams = list(MeterSimulator(style, seed=1).telegrams(10))
        telegrams[4] = inject(telegrams[4], "bit_loss", rng)
        log += b"\x00noise" + b"".join(telegrams)
    for key in (None, KEY):
        reference = Decoder(repair=RepairEngine())
        expected = reference.feed(log) + reference.flush()
        decoder, results = decode(log, key=key, cuts=[1000] * 200)
        assert summary(results) == summary(expected)
        assert decoder.noise_bytes == reference.framer.noise_bytes
        assert not decoder.encrypted
        assert decoder.mode is (None if key is None else Mode.UNVERIFIED)


def test_plain_and_encrypted_telegrams_in_one_stream() -> None:
    plain = TELEGRAMS[5]
    stream = FRAMES[0] + b"\r\n" + plain + FRAMES[1] + plain[:200] + FRAMES[2] + plain
    _, results = decode(stream)
    assert [(r.status.value, r.reason.split(":")[0]) for r in results] == [
        ("valid", ""),
        ("valid", ""),
        # dated before the plain telegram (the meter's clock goes back), held until the next
        # telegram continues from it
        ("valid", "kept"),
        ("invalid", "truncated"),  # a telegram the next frame cut short
        ("valid", ""),
        ("valid", ""),
    ]
    assert [r.frame.offset for r in results] == [
        0,
        len(FRAMES[0]) + 2,
        len(FRAMES[0]) + 2 + len(plain),
        len(FRAMES[0]) + 2 + len(plain) + len(FRAMES[1]),
        len(FRAMES[0]) + 2 + len(plain) + len(FRAMES[1]) + 200,
        len(stream) - len(plain),
    ]


def test_no_key_is_reported_once() -> None:
    decoder, results = decode(b"".join(FRAMES), key=None)
    assert [r.status for r in results] == [Status.INVALID] * len(FRAMES)
    reason = "no key: this meter encrypts its telegrams: a key is needed"
    assert {r.reason for r in results} == {reason}
    assert [r.data for r in results] == FRAMES  # the frames as received
    assert all(r.telegram is None for r in results)
    assert [n.message for n in decoder.take_notices()] == [reason]  # once
    assert decoder.problem == reason
    assert decoder.stats.by_reason == {"no key": len(FRAMES)}
    assert decoder.mode is None


@pytest.mark.parametrize(
    ("auth_key", "reason"),
    [
        (None, "wrong key: the frame does not decrypt to a telegram with this key"),
        (AUTH_KEY, "authentication failed: wrong key, or damaged: the tag does not verify"),
    ],
)
def test_a_wrong_key_is_reported_once(auth_key: bytes | None, reason: str) -> None:
    decoder, results = decode(b"".join(FRAMES), key=OTHER_KEY, auth_key=auth_key)
    assert [(r.status, r.reason, r.telegram) for r in results] == [
        (Status.INVALID, reason, None)
    ] * len(FRAMES)
    assert [n.message for n in decoder.take_notices()] == [reason]
    assert decoder.problem == reason
    assert decoder.cipher.decrypted == 0


def test_a_wrong_authentication_key_is_told_from_a_wrong_key() -> None:
    decoder, results = decode(b"".join(FRAMES), auth_key=OTHER_KEY)
    assert all(r.status is Status.INVALID and r.telegram is None for r in results)
    assert "the authentication key is wrong" in decoder.problem
    assert "without it the telegrams are decrypted unverified" in decoder.problem
    assert decoder.cipher.last_outcome is Outcome.AUTHENTICATION_FAILED
    assert decoder.key_decrypts  # the key is right: the authentication key is not
    wrong, _ = decode(b"".join(FRAMES), key=OTHER_KEY, auth_key=AUTH_KEY)
    assert not wrong.key_decrypts


def test_a_damaged_ciphertext_byte_is_repaired_in_the_unverified_mode() -> None:
    telegram = TELEGRAMS[6]
    position = telegram.index(b"1-0:32.7.0(") + 12  # a digit of the voltage of L1
    damaged = flip(FRAMES[6], HEADER + position, 0x20)  # '3' loses a bit: 0x13
    stream = b"".join(FRAMES[:6]) + damaged + b"".join(FRAMES[7:])
    decoder, results = decode(stream)
    result = results[6]
    assert result.status is Status.REPAIRED
    assert result.data == telegram
    assert result.repair is not None
    assert result.reason.startswith("crc mismatch")
    assert decoder.counters == {TITLE: 1000 + len(FRAMES) - 1}
    # Authenticated, the same frame is rejected and never parsed.
    decoder, results = decode(stream, auth_key=AUTH_KEY)
    assert results[6].status is Status.INVALID
    assert results[6].telegram is None
    assert results[6].reason.startswith("authentication failed: ")
    assert [r.status for r in results[7:]] == [Status.VALID] * 5
    assert decoder.problem == ""  # damage, not a key problem


def test_damage_in_the_unverified_mode_is_what_damage_to_the_telegram_would_be() -> None:
    # A ciphertext byte changed is the same plaintext byte changed: the results are the plain
    # decoder's for the damaged telegrams (substitutions of every kind the fault model has).
    rng = random.Random(11)
    for style in STYLES:
        telegrams = list(MeterSimulator(style, seed=2).telegrams(24))
        received = []
        for number in range(4, 24, 2):
            fault = rng.choice(("bit_loss", "message", "burst"))
            damaged = inject(telegrams[number], fault, rng)
            if len(damaged) == len(telegrams[number]):
                received.append(number)
                telegrams[number] = damaged
        plain = b"".join(telegrams)
        encrypted = b""
        for counter, telegram in enumerate(telegrams):
            encrypted += seal(telegram, counter)
        reference = Decoder(repair=RepairEngine())
        expected = reference.feed(plain) + reference.flush()
        _, results = decode(encrypted)
        assert [(r.status, r.data, r.reason) for r in results] == [
            (r.status, r.data, r.reason) for r in expected
        ], style
        assert any(r.status is Status.REPAIRED for r in results)


def test_a_damaged_length_still_decrypts() -> None:
    longer = FRAMES[3][:11] + (len(FRAMES[3]) - 13 + 900).to_bytes(2, "big") + FRAMES[3][13:]
    stream = b"".join(FRAMES[:3]) + longer + b"".join(FRAMES[4:])
    _, results = decode(stream, auth_key=AUTH_KEY)  # the length is not authenticated
    assert [r.data for r in results] == TELEGRAMS


def test_damaged_headers_then_a_changed_key() -> None:
    title_damaged = flip(FRAMES[4], 5)
    counter_damaged = flip(FRAMES[6], 16, 0x80)
    changed = [seal(t, 2000 + n, key=OTHER_KEY) for n, t in enumerate(TELEGRAMS[8:])]
    stream = b"".join(FRAMES[:4]) + title_damaged + FRAMES[5] + counter_damaged + FRAMES[7]
    decoder, results = decode(stream + b"".join(changed))
    outcomes = [r.reason.split(":")[0] or r.status.value for r in results]
    assert outcomes == [
        *["valid"] * 4,
        "damaged frame",
        "valid",
        "damaged frame",
        "valid",
        "damaged frame",
        "damaged frame",
        "wrong key",  # three in a row: the key changed
        "wrong key",
    ]
    assert decoder.problem == "wrong key: the frame does not decrypt to a telegram with this key"
    assert [n.outcome for n in decoder.take_notices()] == [
        Outcome.DECRYPTED,
        Outcome.DAMAGED,
        Outcome.DECRYPTED,
        Outcome.DAMAGED,
        Outcome.DECRYPTED,
        Outcome.DAMAGED,
        Outcome.WRONG_KEY,
    ]


def test_replayed_frames_are_rejected() -> None:
    stream = FRAMES[0] + FRAMES[1] + FRAMES[1] + FRAMES[0] + FRAMES[2]
    for auth_key in (None, AUTH_KEY):
        decoder, results = decode(stream, auth_key=auth_key)
        assert [r.reason for r in results] == [
            "",
            "",
            "replayed counter: invocation counter 1001 is not above the last accepted 1001",
            "replayed counter: invocation counter 1000 is not above the last accepted 1001",
            "",
        ]
        assert results[2].telegram is results[3].telegram is None
        assert decoder.stats.by_reason == {"replayed counter": 2}
        assert decoder.problem == ""
        decoder.feed(FRAMES[1])  # a replay now and then is no problem with the key
        assert decoder.cipher.last_outcome is Outcome.REPLAY
        assert decoder.problem == ""
    # Carried over to a new decoder (Home Assistant restarted), the counters still hold.
    again = EncryptedDecoder(key=KEY, counters=decoder.counters)
    assert again.feed(FRAMES[2])[0].reason.startswith("replayed counter")
    assert again.feed(FRAMES[3])[0].status is Status.VALID


def test_an_unverified_frame_that_fails_its_crc_records_no_counter() -> None:
    # A counter is the meter's only once its telegram verified: a damaged frame that cannot be
    # repaired does not make the frames after it replays.
    broken = seal(TELEGRAMS[0][:100] + b"\x00" * 50 + TELEGRAMS[0][150:], 5000)
    decoder, results = decode(broken + FRAMES[0], repair=False)
    assert [r.status for r in results] == [Status.INVALID, Status.VALID]
    assert results[0].reason.startswith("crc mismatch")
    assert decoder.counters == {TITLE: 1000}


def test_a_damaged_byte_that_makes_a_header_splits_the_telegram() -> None:
    # Unverified, what the framer does with such a telegram on a plain line, at the frame's place.
    telegram = TELEGRAMS[2]
    line = telegram.index(b"\r\n1-0:32.7.0") + 2
    damaged = flip(FRAMES[2], HEADER + line, ord("1") ^ ord("/"))
    _, results = decode(b"".join(FRAMES[:2]) + damaged, repair=False)
    assert [r.reason.split(":")[0] for r in results[2:]] == ["truncated", "crc mismatch"]
    offset = len(FRAMES[0]) + len(FRAMES[1])
    assert [r.frame.offset for r in results[2:]] == [offset, offset + line]
    plain = Decoder()
    expected = plain.feed(telegram[:line] + b"/" + telegram[line + 1 :]) + plain.flush()
    assert [r.reason for r in results[2:]] == [r.reason for r in expected]


def test_a_frame_of_text_without_a_telegram() -> None:
    # Its '/' and '!' damaged: text, but no telegram in it; reported, never lost.
    text = TELEGRAMS[0].replace(b"/", b"\x0f").replace(b"!", b"\x01")
    decoder, results = decode(FRAMES[0] + seal(text, 2000))
    assert [r.status for r in results] == [Status.VALID, Status.INVALID]
    assert results[1].reason == "damaged frame: it decrypts to text that holds no telegram"
    assert results[1].data == text
    assert (0, 0x0F) in results[1].suspicious
    assert results[1].frame.offset == len(FRAMES[0])
    assert decoder.stats.by_reason == {"damaged frame": 1}


def test_a_frame_cut_by_the_end_of_the_stream() -> None:
    decoder, results = decode(FRAMES[0] + FRAMES[1][:300])
    assert results[1].status is Status.INVALID
    assert results[1].reason == (
        f"truncated: the encrypted frame is cut short (300 of {len(FRAMES[1])} bytes)"
    )
    assert decoder.problem == ""


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=60),
            st.sampled_from(FRAMES[:3]),
            st.builds(lambda n: random_frame(random.Random(n), 40 + n), st.integers(0, 300)),
            st.just(b"\xdb\x08" + TITLE + b"\x82\x00"),
        ),
        max_size=12,
    ),
    st.lists(st.integers(1, 400), max_size=6),
)
def test_hostile_streams_never_crash(parts: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(parts)
    decoder, results = decode(stream, cuts=cuts, auth_key=AUTH_KEY)
    assert decoder.bytes_in == len(stream)
    assert all(r.accepted == (r.telegram is not None) for r in results)
    # Nothing but the real frames decrypts, and each once (the counter).
    assert {r.data for r in results if r.accepted} <= set(TELEGRAMS[:3])
    assert len([r for r in results if r.accepted]) <= 3


def test_other_projects_real_telegrams_encrypted(samples: Path) -> None:
    # Every sample telegram (other parsers' test suites and bug reports, Luxembourg Smarty among
    # them), each encrypted as one frame, decodes as the plain decoder decodes it, in both modes.
    manifest = json.loads((samples / "telegrams" / "MANIFEST.json").read_text())
    checked = 0
    for auth_key in (None, AUTH_KEY):
        for number, name in enumerate(manifest):
            data = (samples / "telegrams" / name).read_bytes()
            if len(data) > MAX_TELEGRAM:  # streams of many telegrams: a frame holds one
                continue
            checked += 1
            reference = Decoder()
            expected = reference.feed(data) + reference.flush()
            _, results = decode(seal(data, number), auth_key=auth_key, repair=False)
            assert [(r.status, r.data, r.reason) for r in results] == [
                (r.status, r.data, r.reason) for r in expected
            ], name
    assert checked > 150
    smarty = (samples / "telegrams" / "dsmrreader_luxembourg_smarty.txt").read_bytes()
    (result,) = decode(seal(smarty, 1))[1]
    assert result.status is Status.VALID
    assert result.telegram is not None
    assert result.telegram.dialect.name == "LU"


NOISY = list(MeterSimulator("hu_sanxing", seed=12).telegrams(8))
NOISY_FRAMES = [seal(t, 500 + n) for n, t in enumerate(NOISY)]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(("flip", "drop", "insert", "burst")),
            st.integers(0, sum(map(len, NOISY_FRAMES)) - 1),
            st.integers(1, 255),
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_a_noisy_line_never_yields_a_telegram_the_meter_did_not_send(
    damage: list[tuple[str, int, int]], authenticated: bool
) -> None:
    # Noise anywhere in the encrypted stream (headers, ciphertext, tags): bits flipped, bytes lost,
    # added, or replaced by a burst. What is accepted is what the meter sent; the rest is reported.
    stream = bytearray(b"".join(NOISY_FRAMES))
    for kind, position, value in sorted(damage, key=lambda d: -d[1]):
        position = min(position, len(stream) - 1)
        if kind == "flip":
            stream[position] ^= value
        elif kind == "drop":
            del stream[position]
        elif kind == "insert":
            stream.insert(position, value)
        else:
            stream[position : position + 4] = bytes((value, value ^ 0x5A, value >> 1))
    _, results = decode(bytes(stream), auth_key=AUTH_KEY if authenticated else None)
    accepted = [r.data for r in results if r.accepted]
    assert all(data in NOISY for data in accepted)
    assert len(accepted) == len(set(accepted))  # no telegram twice (counters)
    assert len(accepted) >= len(NOISY) - 2 * len(damage)  # damage costs at most the frames it hit


@pytest.mark.parametrize(
    ("position", "value", "damage"),
    [
        (0, 0x5B, "its tag byte is 0x5B, not 0xDB"),
        (1, 0x09, "its title length is 9, not 8"),
        (10, 0x86, "its length field begins with 0x86, no length form"),
        (11, 0xFF, "more than a frame holds"),
        (13, 0x31, "its security control byte is 0x31, not 0x30"),
    ],
)
@pytest.mark.parametrize("whole", [True, False])
def test_a_frame_with_a_damaged_header_is_counted_not_noise(
    position: int, value: int, damage: str, whole: bool
) -> None:
    # Outsider finding F7: the damaged frame vanished into "noise", the error rate stayed 0 %.
    damaged = FRAMES[3][:position] + bytes((value,)) + FRAMES[3][position + 1 :]
    stream = b"".join(FRAMES[:3]) + damaged + b"".join(FRAMES[4:8])
    cuts = None if whole else [len(stream) // 7] * 6
    decoder, results = decode(stream, cuts=cuts)
    statuses = [r.status for r in results]
    assert statuses == [Status.VALID] * 3 + [Status.INVALID] + [Status.VALID] * 4
    bad = results[3]
    assert bad.reason.startswith("damaged frame: a frame of this meter with a damaged header")
    assert damage in bad.reason
    assert bad.frame.offset == sum(map(len, FRAMES[:3]))
    assert [r.data for r in results if r.accepted] == TELEGRAMS[:3] + TELEGRAMS[4:8]
    assert decoder.problem == ""


def test_noise_that_looks_like_a_frame_header_never_swallows_plain_telegrams() -> None:
    # Outsider finding F6: 18 noise bytes shaped as a frame header (length 0x400) in a plain log
    # swallowed the next two telegrams and made the meter look encrypted.
    noise = bytes.fromhex("20A3DB088705A4FF0E112233820400300102")
    for key in (None, KEY):
        decoder, results = decode(TELEGRAMS[0] + noise + b"".join(TELEGRAMS[1:6]), key=key)
        assert [r.data for r in results if r.accepted] == TELEGRAMS[:6]
        assert not decoder.encrypted
        assert decoder.problem == ""
        assert decoder.false_frames == 1
