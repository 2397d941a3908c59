"""Decrypting P1 frames: keys, the two modes, and what can go wrong with each frame.

An encrypted meter (see :mod:`.dlms`) encrypts every telegram with AES-128-GCM under the key its
grid operator gives the customer; the initialisation vector is the frame's system title and
invocation counter, the additional authenticated data the security control byte followed by the
authentication key.

Two modes:

* **authenticated** (an authentication key is given): the GCM tag is verified; a frame whose tag
  fails is rejected ("wrong key, or damaged") and never parsed;
* **unverified** (no authentication key): real Smarty meters do not verify with the authentication
  key their specification prints as an example, so the frame is decrypted as GCM does without
  checking the tag (AES-CTR from the counter block after J0, that is the IV followed by
  ``00000002``) and the telegram's own CRC carries integrity. A damaged byte of the ciphertext is
  then the same damaged byte of the plaintext, so the repair engine applies as to any telegram.

A wrong key gives random bytes, which are told from a telegram by their make-up (a telegram is
text). The invocation counter must increase: a frame whose counter is not above the last accepted
one from the same meter is a replay and is rejected.

Decryption uses ``cryptography`` (Home Assistant ships it), imported on the first encrypted frame:
plain telegrams need nothing but the standard library.
"""

from __future__ import annotations

import string
from enum import StrEnum
from typing import Any, NamedTuple

from .dlms import MIN_PLAINTEXT, SECURITY_CONTROL, TAG_LENGTH, TITLE_LENGTH, GcmFrame, build_frame

__all__ = [
    "AUTHENTICATION_KEY_EXAMPLE",
    "CryptographyMissing",
    "Decryption",
    "Decryptor",
    "KEY_LENGTH",
    "MESSAGES",
    "Mode",
    "Outcome",
    "encrypt_telegram",
    "parse_key",
    "telegram_like",
]

KEY_LENGTH = 16
"""AES-128: 16 bytes, written as 32 hexadecimal digits."""
AUTHENTICATION_KEY_EXAMPLE = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
"""The authentication key the Smarty specification prints (an example: real meters do not verify
with it)."""
_COUNTER_BLOCK = b"\x00\x00\x00\x02"
"""GCM encrypts from inc32(J0), J0 being the 96-bit IV followed by 00000001."""
STREAK = 3
"""Consecutive frames that do not decrypt after which the key is taken to be wrong (changed),
rather than each frame damaged."""


class Mode(StrEnum):
    """How frames are decrypted."""

    AUTHENTICATED = "authenticated"
    """The GCM tag is verified with the authentication key."""
    UNVERIFIED = "unverified"
    """No authentication key: the telegram's CRC carries integrity."""


class Outcome(StrEnum):
    """What became of one encrypted frame (the texts begin the reason of a rejected frame)."""

    DECRYPTED = "decrypted"
    NO_KEY = "no key"
    NO_LIBRARY = "no cryptography"
    WRONG_KEY = "wrong key"
    DAMAGED = "damaged frame"
    AUTHENTICATION_FAILED = "authentication failed"
    NOT_TELEGRAM = "not a telegram"
    REPLAY = "replayed counter"
    TRUNCATED = "truncated"


MESSAGES: dict[Outcome, str] = {
    Outcome.DECRYPTED: "the frames decrypt to telegrams",
    Outcome.NO_KEY: "this meter encrypts its telegrams: a key is needed",
    Outcome.NO_LIBRARY: (
        "decrypting needs the Python package 'cryptography' (pip install cryptography)"
    ),
    Outcome.WRONG_KEY: "the frame does not decrypt to a telegram with this key",
    Outcome.DAMAGED: (
        "the frame does not decrypt to a telegram, though the ones before it did: its header"
        " (system title, length or counter) was damaged, or bytes were lost or added inside it"
    ),
    Outcome.AUTHENTICATION_FAILED: "wrong key, or damaged: the tag does not verify",
    Outcome.NOT_TELEGRAM: (
        "the frame decrypts and authenticates, but holds binary DLMS data, not a P1 telegram"
        " (this meter is not supported)"
    ),
    Outcome.REPLAY: "the invocation counter did not increase: a replayed frame",
    Outcome.TRUNCATED: "the stream ended inside an encrypted frame",
}
"""What each outcome means, in a sentence (for logs and messages)."""


class CryptographyMissing(ImportError):
    """The ``cryptography`` package is not installed."""


class Decryption(NamedTuple):
    """The outcome for one frame."""

    outcome: Outcome
    plaintext: bytes | None
    """The telegram's bytes when decrypted (and, in the authenticated mode, verified)."""
    reason: str = ""
    """Why the frame was rejected: the outcome's text, a colon, what happened."""

    @property
    def accepted(self) -> bool:
        """Decrypted to a telegram, with a new counter."""
        return self.outcome is Outcome.DECRYPTED


_TEXT = (string.printable + "\xff").encode("latin-1")
"""Bytes a telegram consists of: printable ASCII, line ends (and tabs), the 0xFF fill of a
provider message."""


def telegram_like(plaintext: bytes) -> bool:
    """Whether decrypted bytes are a telegram (perhaps a damaged one) rather than noise.

    A wrong key gives uniformly random bytes, of which 39 % are text; a telegram is text but for
    damage. Nine bytes in ten must be text: random bytes of the smallest frame pass with a chance
    of about 1 in 100,000, of a real telegram's size never.
    """
    if len(plaintext) < MIN_PLAINTEXT:
        return False
    return 10 * len(plaintext.translate(None, _TEXT)) <= len(plaintext)


def parse_key(text: str, name: str = "key") -> bytes:
    """A 16-byte key from its 32 hexadecimal digits (spaces, colons and a ``0x`` are allowed).

    Raises ValueError with a message that never repeats the key.
    """
    digits = "".join(text.split()).replace(":", "").replace("-", "")
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if not all(c in string.hexdigits for c in digits):
        raise ValueError(f"the {name} holds characters that are not hexadecimal digits")
    if len(digits) != 2 * KEY_LENGTH:
        raise ValueError(
            f"the {name} is {2 * KEY_LENGTH} hexadecimal digits ({KEY_LENGTH} bytes), "
            f"not {len(digits)}"
        )
    return bytes.fromhex(digits)


_backend: tuple[Any, Any, Any, type[Exception]] | None = None


def _library() -> tuple[Any, Any, Any, type[Exception]]:
    """``cryptography``'s Cipher, AES, modes and InvalidTag, imported on first use."""
    global _backend  # noqa: PLW0603 (a lazily imported module, once per process)
    if _backend is None:
        try:
            from cryptography.exceptions import InvalidTag
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        except ImportError as err:
            raise CryptographyMissing(MESSAGES[Outcome.NO_LIBRARY]) from err
        _backend = (Cipher, algorithms.AES, modes, InvalidTag)
    return _backend


def _check_key(key: bytes | None, name: str) -> None:
    if key is not None and len(key) != KEY_LENGTH:
        raise ValueError(f"the {name} is {KEY_LENGTH} bytes, not {len(key)}")


class Decryptor:
    """Decrypts frames with one meter's keys, keeps the counters and tells what went wrong.

    Without a key every frame is reported as needing one. ``counters`` (system title to the last
    accepted invocation counter) may carry on from an earlier decryptor, so that a replay across a
    restart is caught too.
    """

    def __init__(
        self,
        key: bytes | None = None,
        auth_key: bytes | None = None,
        counters: dict[bytes, int] | None = None,
    ) -> None:
        _check_key(key, "key")
        _check_key(auth_key, "authentication key")
        if auth_key is not None and key is None:
            raise ValueError("an authentication key needs the key")
        self._key = key
        self._aes: Any = None  # the key as cryptography's AES, made on the first frame
        self._aad = None if auth_key is None else bytes((SECURITY_CONTROL,)) + auth_key
        self.counters: dict[bytes, int] = dict(counters or {})
        """The last accepted invocation counter per system title."""
        self.decrypted_any = False
        """A frame decrypted to a telegram: the key is right."""
        self.verified_any = False
        """A frame's tag verified: the authentication key is right too."""
        self.failures = 0
        """Consecutive frames that did not decrypt to a telegram (or did not verify)."""

    @property
    def mode(self) -> Mode | None:
        """The mode in use; None without a key."""
        if self._key is None:
            return None
        return Mode.UNVERIFIED if self._aad is None else Mode.AUTHENTICATED

    def decrypt(self, frame: GcmFrame) -> Decryption:
        """Decrypt one frame. In the unverified mode the counter is recorded by :meth:`accept`
        once the telegram's CRC verified; in the authenticated mode the tag verified it."""
        result = self._decrypt(frame)
        self.failures = 0 if result.outcome is Outcome.DECRYPTED else self.failures + 1
        return result

    def accept(self, frame: GcmFrame) -> None:
        """Record a frame's counter: a frame with this counter or a lower one is now a replay."""
        counters = self.counters
        if frame.system_title not in counters and len(counters) >= 16:
            del counters[next(iter(counters))]  # bounded: a meter keeps its title
        counters[frame.system_title] = max(frame.counter, counters.get(frame.system_title, -1))

    def keystream_decrypt(self, frame: GcmFrame) -> bytes:
        """The plaintext as GCM computes it, without checking the tag (AES-CTR)."""
        cipher, _, modes, _ = _library()
        decryptor = cipher(self._cipher_key(), modes.CTR(frame.iv + _COUNTER_BLOCK)).decryptor()
        plaintext: bytes = decryptor.update(frame.ciphertext)
        return plaintext

    def _cipher_key(self) -> Any:
        """The key as cryptography's AES algorithm (made once: it checks the key)."""
        if self._aes is None:
            assert self._key is not None
            self._aes = _library()[1](self._key)
        return self._aes

    def _decrypt(self, frame: GcmFrame) -> Decryption:
        if self._key is None:
            return _reject(Outcome.NO_KEY)
        if not frame.complete or len(frame.data) < frame.header_length + TAG_LENGTH + MIN_PLAINTEXT:
            return _reject(
                Outcome.TRUNCATED,
                f"the encrypted frame is cut short ({len(frame.data)} of"
                f" {frame.declared_size} bytes)",
            )
        try:
            cipher, _, modes, invalid_tag = _library()
        except CryptographyMissing:
            return _reject(Outcome.NO_LIBRARY)
        if self._aad is None:
            plaintext = self.keystream_decrypt(frame)
            if not telegram_like(plaintext):
                # The key is wrong, unless it decrypted the frames just before (then this frame was
                # damaged: its system title, counter or length, or bytes lost or added inside it).
                if self.decrypted_any and self.failures + 1 < STREAK:
                    return _reject(Outcome.DAMAGED)
                return _reject(Outcome.WRONG_KEY)
        else:
            mode = modes.GCM(frame.iv, frame.tag, min_tag_length=TAG_LENGTH)
            decryptor = cipher(self._cipher_key(), mode).decryptor()
            decryptor.authenticate_additional_data(self._aad)
            plaintext = decryptor.update(frame.ciphertext)
            try:
                decryptor.finalize()
            except invalid_tag:
                if self.verified_any and self.failures + 1 < STREAK:
                    return _reject(
                        Outcome.AUTHENTICATION_FAILED,
                        "damaged (or altered): the tag does not verify, though the frames before"
                        " it did",
                    )
                if not telegram_like(self.keystream_decrypt(frame)):
                    return _reject(Outcome.AUTHENTICATION_FAILED)
                self.decrypted_any = True
                return _reject(
                    Outcome.AUTHENTICATION_FAILED,
                    "the frame decrypts to a telegram, but its tag does not verify: the"
                    " authentication key is wrong (without it the telegrams are decrypted"
                    " unverified), or the frame is damaged",
                )
            self.verified_any = True
            if not telegram_like(plaintext):
                return _reject(Outcome.NOT_TELEGRAM)
        self.decrypted_any = True
        last = self.counters.get(frame.system_title)
        if last is not None and frame.counter <= last:
            return _reject(
                Outcome.REPLAY,
                f"invocation counter {frame.counter} is not above the last accepted {last}",
            )
        if self._aad is not None:
            self.accept(frame)
        return Decryption(Outcome.DECRYPTED, plaintext)


def _reject(outcome: Outcome, detail: str = "") -> Decryption:
    return Decryption(outcome, None, f"{outcome}: {detail or MESSAGES[outcome]}")


def encrypt_telegram(
    telegram: bytes,
    key: bytes,
    system_title: bytes = b"SAG\x00\x00\xbc\x61\x4e",
    counter: int = 1,
    auth_key: bytes = AUTHENTICATION_KEY_EXAMPLE,
) -> bytes:
    """One encrypted frame carrying ``telegram``, as a meter sends it (for tests, benchmarks and
    demos: a simulated encrypted meter)."""
    _check_key(key, "key")
    _check_key(auth_key, "authentication key")
    if len(system_title) != TITLE_LENGTH:
        raise ValueError("the system title is 8 bytes")
    cipher, aes, modes, _ = _library()
    iv = system_title + counter.to_bytes(4, "big")
    encryptor = cipher(aes(key), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(bytes((SECURITY_CONTROL,)) + auth_key)
    ciphertext = encryptor.update(telegram) + encryptor.finalize()
    return build_frame(system_title, counter, ciphertext, encryptor.tag[:TAG_LENGTH])
