"""Keys, the two modes of decryption, and what each frame's outcome is."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib import cipher
from p1lib.cipher import (
    Decryptor,
    Mode,
    Outcome,
    encrypt_telegram,
    parse_key,
    telegram_like,
)
from p1lib.dlms import FrameScanner, GcmFrame, build_frame
from p1lib.generator import STYLES, MeterSimulator

from .builders import hungarian
from .sealing import (
    AUTH_KEY,
    HEADER,
    KEY,
    OTHER_KEY,
    TITLE,
    flip,
    needs_cryptography,
    random_frame,
    seal,
)


def frame_of(data: bytes) -> GcmFrame:
    scanner = FrameScanner()
    (frame,) = scanner.feed(data) + scanner.flush()
    assert isinstance(frame, GcmFrame)
    return frame


TELEGRAMS = list(MeterSimulator("nl_dsmr5", seed=4).telegrams(6))


# --- keys and plaintexts (standard library) -------------------------------------------------


def test_parse_key() -> None:
    expected = bytes.fromhex("0a1b2c3d4e5f60718293a4b5c6d7e8f9")
    for text in (
        "0A1B2C3D4E5F60718293A4B5C6D7E8F9",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        " 0A1B 2C3D 4E5F 6071 8293 A4B5 C6D7 E8F9\n",
        "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9",
        "0x0A1B2C3D4E5F60718293A4B5C6D7E8F9",
    ):
        assert parse_key(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0A1B2C3D4E5F60718293A4B5C6D7E8", "32 hexadecimal digits (16 bytes), not 30"),
        ("0A1B2C3D4E5F60718293A4B5C6D7E8F9AA", "not 34"),
        ("", "not 0"),
        ("0A1B2C3D4E5F60718293A4B5C6D7E8FG", "not hexadecimal"),
    ],
)
def test_a_bad_key_is_explained_and_never_repeated(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        parse_key(text, "authentication key")
    assert str(caught.value).startswith("the authentication key ")
    assert not text or text[:6] not in str(caught.value)  # a secret: never in a message


def test_telegram_like() -> None:
    assert telegram_like(hungarian())  # 0xFF fill and all
    assert telegram_like(TELEGRAMS[0].replace(b"1-0", b"\x81-\x90", 5))  # damaged, still text
    assert not telegram_like(b"/ISK5 tiny\r\n!")  # too short to tell
    rng = random.Random(1)
    assert not any(telegram_like(rng.randbytes(300)) for _ in range(1000))


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=100, max_size=1000))
def test_random_bytes_are_not_a_telegram(data: bytes) -> None:
    # What a wrong key gives: bytes whose make-up is not text (hypothesis also tries texts: those
    # are telegram-like, by design).
    if telegram_like(data):
        assert sum(32 <= b < 127 or b in b"\t\n\r\x0b\x0c\xff" for b in data) * 10 >= 9 * len(data)


def test_without_a_key_every_frame_needs_one() -> None:
    decryptor = Decryptor()
    assert decryptor.mode is None
    result = decryptor.decrypt(frame_of(random_frame(random.Random(2), 100)))
    assert result.outcome is Outcome.NO_KEY
    assert result.reason == "no key: this meter encrypts its telegrams: a key is needed"
    assert result.plaintext is None
    assert not result.accepted


def test_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="16 bytes, not 15"):
        Decryptor(bytes(15))
    with pytest.raises(ValueError, match="authentication key is 16 bytes"):
        Decryptor(KEY, bytes(17))
    with pytest.raises(ValueError, match="needs the key"):
        Decryptor(None, AUTH_KEY)
    assert Decryptor(KEY).mode is Mode.UNVERIFIED
    assert Decryptor(KEY, AUTH_KEY).mode is Mode.AUTHENTICATED


def test_without_cryptography_the_frame_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise cipher.CryptographyMissing(cipher.MESSAGES[Outcome.NO_LIBRARY])

    monkeypatch.setattr(cipher, "_library", missing)
    result = Decryptor(KEY).decrypt(frame_of(random_frame(random.Random(3), 100)))
    assert result.outcome is Outcome.NO_LIBRARY
    assert "needs the Python package 'cryptography'" in result.reason


def test_a_missing_library_is_reported_at_the_import(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setattr(cipher, "_backend", None)
    for name in [name for name in sys.modules if name.startswith("cryptography.")]:
        monkeypatch.setitem(sys.modules, name, None)  # an import of it raises ImportError
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(cipher.CryptographyMissing, match="pip install cryptography"):
        cipher._library()


def test_a_truncated_frame() -> None:
    data = random_frame(random.Random(4), 300)
    scanner = FrameScanner()
    (frame,) = scanner.feed(data[:200]) + scanner.flush()
    assert isinstance(frame, GcmFrame)
    result = Decryptor(KEY).decrypt(frame)
    assert result.outcome is Outcome.TRUNCATED
    assert result.reason == "truncated: the encrypted frame is cut short (200 of 330 bytes)"


# --- decryption (cryptography) ----------------------------------------------------------------


@needs_cryptography
def test_known_answer() -> None:
    # The GCM specification's test case 4 (McGrew and Viega): the keystream from the counter block
    # after J0 is what GCM encrypts with.
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
    iv = bytes.fromhex("cafebabefacedbaddecaf888")
    plaintext = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    )
    ciphertext = bytes.fromhex(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
    )
    tag = bytes.fromhex("5bc94fbc3221a5db94fae95ae7121a47")
    frame = frame_of(build_frame(iv[:8], int.from_bytes(iv[8:], "big"), ciphertext, tag[:12]))
    assert Decryptor(key).keystream_decrypt(frame) == plaintext


@needs_cryptography
def test_our_frames_are_the_standard_construction() -> None:
    # encrypt_telegram and build_frame give what cryptography's AESGCM gives with IV = title and
    # counter, AAD = 0x30 and the authentication key, the tag truncated to 12 bytes.
    for counter in (0, 1, 0xDEADBEEF):
        assert encrypt_telegram(TELEGRAMS[0], KEY, TITLE, counter, AUTH_KEY) == seal(
            TELEGRAMS[0], counter
        )
    with pytest.raises(ValueError, match="8 bytes"):
        encrypt_telegram(TELEGRAMS[0], KEY, b"short")


@needs_cryptography
@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("auth_key", [None, AUTH_KEY])
def test_both_modes_decrypt_every_style(style: str, auth_key: bytes | None) -> None:
    decryptor = Decryptor(KEY, auth_key)
    for counter, telegram in enumerate(MeterSimulator(style, seed=1).telegrams(3), start=50):
        result = decryptor.decrypt(frame_of(seal(telegram, counter)))
        assert result.outcome is Outcome.DECRYPTED
        assert result.plaintext == telegram
        assert result.accepted
        decryptor.accept(frame_of(seal(telegram, counter)))


@needs_cryptography
def test_a_wrong_key() -> None:
    frame = frame_of(seal(TELEGRAMS[0], 5))
    unverified = Decryptor(OTHER_KEY).decrypt(frame)
    assert unverified.outcome is Outcome.WRONG_KEY
    assert unverified.reason == (
        "wrong key: the frame does not decrypt to a telegram with this key"
    )
    authenticated = Decryptor(OTHER_KEY, AUTH_KEY).decrypt(frame)
    assert authenticated.outcome is Outcome.AUTHENTICATION_FAILED
    assert (
        authenticated.reason
        == "authentication failed: wrong key, or damaged: the tag does not verify"
    )
    assert unverified.plaintext is authenticated.plaintext is None


@needs_cryptography
def test_a_wrong_authentication_key_with_the_right_key() -> None:
    # What real Smarty meters do with the specification's example authentication key.
    frame = frame_of(seal(TELEGRAMS[0], 5, auth_key=OTHER_KEY))
    result = Decryptor(KEY, AUTH_KEY).decrypt(frame)
    assert result.outcome is Outcome.AUTHENTICATION_FAILED
    assert result.plaintext is None  # never parsed
    assert "decrypts to a telegram, but its tag does not verify" in result.reason
    assert "authentication key is wrong" in result.reason
    # Unverified, the same frame decrypts: its CRC will tell.
    assert Decryptor(KEY).decrypt(frame).plaintext == TELEGRAMS[0]


@needs_cryptography
def test_damaged_tag_and_ciphertext() -> None:
    data = seal(TELEGRAMS[0], 5)
    for position in (len(data) - 1, len(data) - 12, HEADER, HEADER + 100):
        frame = frame_of(flip(data, position))
        assert Decryptor(KEY, AUTH_KEY).decrypt(frame).outcome is Outcome.AUTHENTICATION_FAILED
        unverified = Decryptor(KEY).decrypt(frame)
        assert unverified.outcome is Outcome.DECRYPTED
        assert unverified.plaintext is not None
        # Unverified, a damaged ciphertext byte is the same damaged plaintext byte, nothing else.
        pairs = zip(unverified.plaintext, TELEGRAMS[0], strict=True)
        changed = [i for i, (a, b) in enumerate(pairs) if a != b]
        assert changed == ([position - HEADER] if position < len(data) - 12 else [])


@needs_cryptography
def test_damaged_header() -> None:
    data = seal(TELEGRAMS[0], 5)
    decryptor = Decryptor(KEY)
    assert decryptor.decrypt(frame_of(data)).accepted
    title = decryptor.decrypt(frame_of(flip(data, 4)))
    counter = decryptor.decrypt(frame_of(flip(data, 16)))
    # The key decrypted the frame before: these frames' headers were damaged.
    assert title.outcome is counter.outcome is Outcome.DAMAGED
    assert "its header (system title, length or counter) was damaged" in title.reason
    # Frames that do not decrypt, three in a row: the key changed.
    assert decryptor.decrypt(frame_of(flip(data, 5))).outcome is Outcome.WRONG_KEY
    assert decryptor.failures == 3


@needs_cryptography
def test_a_damaged_frame_after_verified_ones() -> None:
    decryptor = Decryptor(KEY, AUTH_KEY)
    assert decryptor.decrypt(frame_of(seal(TELEGRAMS[0], 5))).accepted
    damaged = decryptor.decrypt(frame_of(flip(seal(TELEGRAMS[1], 6), HEADER + 3)))
    assert damaged.outcome is Outcome.AUTHENTICATION_FAILED
    assert damaged.reason == (
        "authentication failed: damaged (or altered): the tag does not verify, though the frames"
        " before it did"
    )
    # Three in a row: the keys no longer fit (here, the authentication key changed).
    for counter in (7, 8):
        result = decryptor.decrypt(frame_of(seal(TELEGRAMS[2], counter, auth_key=OTHER_KEY)))
    assert "the authentication key is wrong" in result.reason


@needs_cryptography
def test_replayed_counters() -> None:
    decryptor = Decryptor(KEY, AUTH_KEY)
    assert decryptor.decrypt(frame_of(seal(TELEGRAMS[0], 10))).accepted
    for counter in (10, 9, 0):
        result = decryptor.decrypt(frame_of(seal(TELEGRAMS[1], counter)))
        assert result.outcome is Outcome.REPLAY
        assert result.plaintext is None
        assert result.reason == (
            f"replayed counter: invocation counter {counter} is not above the last accepted 10"
        )
    assert decryptor.decrypt(frame_of(seal(TELEGRAMS[1], 11))).accepted
    # Another meter (system title) has counters of its own.
    other = b"OTH5\x00\x00\x00\x01"
    assert decryptor.decrypt(frame_of(seal(TELEGRAMS[2], 3, title=other))).accepted
    assert decryptor.counters == {TITLE: 11, other: 3}
    # Carried over to a new decryptor (a restart), a replay is still one.
    again = Decryptor(KEY, AUTH_KEY, counters=decryptor.counters)
    assert again.decrypt(frame_of(seal(TELEGRAMS[1], 11))).outcome is Outcome.REPLAY


@needs_cryptography
def test_unverified_counters_are_recorded_by_accept() -> None:
    decryptor = Decryptor(KEY)
    frame = frame_of(seal(TELEGRAMS[0], 10))
    assert decryptor.decrypt(frame).accepted
    assert decryptor.decrypt(frame).accepted  # not yet: its CRC has not been verified
    decryptor.accept(frame)
    assert decryptor.decrypt(frame).outcome is Outcome.REPLAY


def test_counters_are_bounded() -> None:
    decryptor = Decryptor(KEY)
    for number in range(40):
        title = b"MTR" + number.to_bytes(5, "big")
        decryptor.accept(frame_of(random_frame(random.Random(number), 50, 1, title)))
    assert len(decryptor.counters) == 16


@needs_cryptography
def test_authenticated_binary_data_is_not_a_telegram() -> None:
    # An Austrian-style meter: the frame authenticates, but holds a DLMS data notification.
    notification = b"\x0f\x00\x00\x00\x01\x0c\x07\xe8\x01\x01" + random.Random(5).randbytes(200)
    result = Decryptor(KEY, AUTH_KEY).decrypt(frame_of(seal(notification, 1)))
    assert result.outcome is Outcome.NOT_TELEGRAM
    assert "binary DLMS data, not a P1 telegram" in result.reason
