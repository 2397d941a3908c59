"""Encrypted frames for the tests, built here with cryptography's AESGCM directly (independent of
p1lib's encrypt_telegram and build_frame), and frames of random bytes for tests of the structure."""

from __future__ import annotations

import random

import pytest

try:
    import cryptography  # noqa: F401 (is it installed?)
except ImportError:
    HAVE_CRYPTOGRAPHY = False
else:
    HAVE_CRYPTOGRAPHY = True

needs_cryptography = pytest.mark.skipif(
    not HAVE_CRYPTOGRAPHY, reason="the cryptography package is not installed"
)
"""For tests that decrypt or encrypt: they skip where cryptography is absent (the converter's
plain logs need only the standard library)."""

KEY = bytes.fromhex("0A1B2C3D4E5F60718293A4B5C6D7E8F9")
"""A fixed test key (the grid operator's "GUEK")."""
AUTH_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
"""The authentication key the Smarty specification prints."""
OTHER_KEY = bytes.fromhex("F0E1D2C3B4A5968778695A4B3C2D1E0F")
TITLE = b"TST5\x00\x01\xe2\x40"
HEADER = 18
"""Bytes before the ciphertext with the 0x82 length form (tag, title, length, control, counter)."""


def seal(
    telegram: bytes,
    counter: int,
    key: bytes = KEY,
    auth_key: bytes = AUTH_KEY,
    title: bytes = TITLE,
) -> bytes:
    """One frame as a Smarty meter sends it: the 0x82 length form, a 12-byte tag."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    iv = title + counter.to_bytes(4, "big")
    sealed = AESGCM(key).encrypt(iv, telegram, b"\x30" + auth_key)
    ciphertext, tag = sealed[:-16], sealed[-16:-4]  # DLMS truncates the tag to 12 bytes
    body = b"\x30" + counter.to_bytes(4, "big") + ciphertext + tag
    return b"\xdb\x08" + title + b"\x82" + len(body).to_bytes(2, "big") + body


def random_frame(rng: random.Random, size: int, counter: int = 1, title: bytes = TITLE) -> bytes:
    """A frame of the right structure around random bytes (no cryptography needed)."""
    body = b"\x30" + counter.to_bytes(4, "big") + rng.randbytes(size + 12)
    return b"\xdb\x08" + title + b"\x82" + len(body).to_bytes(2, "big") + body


def flip(frame: bytes, position: int, mask: int = 0x01) -> bytes:
    """The frame with the bits of ``mask`` flipped at ``position``."""
    return frame[:position] + bytes((frame[position] ^ mask,)) + frame[position + 1 :]
