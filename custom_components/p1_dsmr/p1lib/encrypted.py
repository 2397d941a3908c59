"""The decoding pipeline for meters that may encrypt their telegrams.

:class:`EncryptedDecoder` is a :class:`~.decoder.Decoder` that also reads encrypted frames
(:mod:`.dlms`, :mod:`.cipher`): feed it the received bytes in any chunks, as they come, and it
returns a :class:`~.decoder.DecodeResult` for every telegram, encrypted or not:

* an encrypted frame that decrypts is framed, verified, repaired and parsed like any telegram
  (its result's frame offset is the frame's offset in the received stream, ``0xDB`` included);
* one that does not is an invalid result whose reason says why (the texts of
  :class:`~.cipher.Outcome`: ``no key: ...``, ``wrong key: ...``, ``authentication failed: ...``,
  ``replayed counter: ...``), its data the frame as received;
* bytes between frames reach the plain decoder unchanged: noise is reported like any other noise
  (and described with the next frame), plain telegrams are decoded as always.

Without a key the decoder reads plain telegrams as :class:`~.decoder.Decoder` does and reports
encrypted frames as needing one; ``cryptography`` is imported on the first frame there is a key for.
A stream without a ``0xDB`` byte costs one search per chunk.

For a host (the Home Assistant integration): :attr:`EncryptedDecoder.cipher` counts frames by
outcome, :meth:`EncryptedDecoder.take_notices` gives what changed (the first frame without a key,
the first with a wrong key, decrypting again...) to log once, :attr:`EncryptedDecoder.problem`
says what stops the meter's frames from being read, :attr:`EncryptedDecoder.mode` which mode is
in use.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from .cipher import MESSAGES, STREAK, Decryption, Decryptor, Mode, Outcome
from .decoder import Decoder, DecodeResult, Status, suspicious_bytes
from .dlms import FrameScanner, GcmFrame
from .framing import MAX_NOISE, Frame, Framer
from .parsing import Parser
from .repair import RepairEngine

__all__ = ["CipherNotice", "CipherStats", "EncryptedDecoder"]


class CipherNotice(NamedTuple):
    """A change in how the meter's frames decrypt: worth one line in a log."""

    outcome: Outcome
    message: str
    """What happened, in a sentence: the rejected frame's reason (``wrong key: ...``), or for
    decrypted frames ``decrypted: ...`` with the mode."""
    offset: int
    """Stream offset of the frame that brought the change."""


@dataclass(slots=True)
class CipherStats:
    """Counters of encrypted frames over the life of a decoder."""

    frames: int = 0
    decrypted: int = 0
    """Frames that decrypted to a telegram with a new counter (whatever the telegram's CRC)."""
    by_outcome: dict[str, int] = field(default_factory=dict)
    last_outcome: Outcome | None = None
    system_title: bytes | None = None
    """The last frame's system title (the meter's identity)."""
    counter: int | None = None
    """The last frame's invocation counter."""


class EncryptedDecoder(Decoder):
    """Bytes in, one :class:`~.decoder.DecodeResult` per telegram out, encrypted or not.

    Made as a :class:`~.decoder.Decoder` is, with the keys by name: ``key`` (16 bytes) decrypts;
    with ``auth_key`` (16 bytes) every frame's GCM tag is verified (authenticated mode), without it
    the telegram's CRC carries integrity (unverified mode). ``counters`` carries the last accepted
    invocation counters over from an earlier decoder (see :attr:`counters`).
    """

    def __init__(
        self,
        repair: RepairEngine | None = None,
        parser: Parser | None = None,
        *,
        key: bytes | None = None,
        auth_key: bytes | None = None,
        counters: dict[bytes, int] | None = None,
    ) -> None:
        super().__init__(repair=repair, parser=parser)
        self._decryptor = Decryptor(key, auth_key, counters)
        self._scanner = FrameScanner()
        self.cipher = CipherStats()
        self.bytes_in = 0
        """Bytes received."""
        self._removed = 0  # bytes of encrypted frames kept from the plain decoder
        self._passed = 0  # bytes handed to the plain decoder
        self._gap_start = 0  # where (in those) the bytes after the last telegram began
        self._tail = b""  # the last MAX_NOISE of those bytes
        self._inner_noise = 0  # noise inside decrypted frames
        self._notices: deque[CipherNotice] = deque(maxlen=32)
        self._last_reason = ""

    @property
    def mode(self) -> Mode | None:
        """:attr:`~.cipher.Mode.AUTHENTICATED` or :attr:`~.cipher.Mode.UNVERIFIED`; None without
        a key."""
        return self._decryptor.mode

    @property
    def encrypted(self) -> bool:
        """Encrypted frames were found."""
        return self.cipher.frames > 0

    @property
    def key_decrypts(self) -> bool:
        """The key decrypted a frame to a telegram (even one whose tag then failed: with this,
        an authentication failure is told to be the authentication key's)."""
        return self._decryptor.decrypted_any

    @property
    def counters(self) -> dict[bytes, int]:
        """The last accepted invocation counter per system title (to carry over)."""
        return self._decryptor.counters

    @property
    def noise_bytes(self) -> int:
        """Bytes that belonged to no telegram and no encrypted frame."""
        return self.framer.noise_bytes + self._inner_noise

    @property
    def problem(self) -> str:
        """What keeps the meter's encrypted frames from being read, as the last frame's reason
        (``no key: ...``, ``wrong key: ...``, ``authentication failed: ...``); "" when they are
        read, or there are none. A frame now and then that fails is damage, not a problem: it is
        one when no frame has decrypted yet, or the last few in a row failed."""
        outcome = self.cipher.last_outcome
        if outcome is None or outcome is Outcome.DECRYPTED or outcome is Outcome.TRUNCATED:
            return ""
        if self.cipher.decrypted and self._decryptor.failures < STREAK:
            return ""
        return self._last_reason

    def take_notices(self) -> list[CipherNotice]:
        """The changes since the last call (the outcome of a frame differs from the frame's before):
        the first frame without a key, the first with a wrong key, decrypting again..."""
        notices = list(self._notices)
        self._notices.clear()
        return notices

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[DecodeResult]:
        """Decode the telegrams that ``chunk`` completes."""
        self.bytes_in += len(chunk)
        return self._pieces(self._scanner.feed(chunk))

    def flush(self) -> list[DecodeResult]:
        """End of stream: report a trailing truncated telegram or frame."""
        results = self._pieces(self._scanner.flush())
        return results + self._plain_results(self.framer.flush()) + self.decide_pending()

    def _pieces(self, pieces: list[bytes | GcmFrame]) -> list[DecodeResult]:
        if len(pieces) == 1 and type(pieces[0]) is bytes:
            return self._plain(pieces[0])
        results: list[DecodeResult] = []
        for piece in pieces:
            if type(piece) is bytes:
                results += self._plain(piece)
            else:
                assert isinstance(piece, GcmFrame)
                results += self._encrypted(piece)
        return results

    def _plain(self, data: bytes) -> list[DecodeResult]:
        """Bytes outside encrypted frames: to the plain decoder."""
        self._passed += len(data)
        self._tail = (self._tail + data[-MAX_NOISE:])[-MAX_NOISE:]
        return self._plain_results(self.framer.feed(data))

    def _plain_results(self, frames: list[Frame]) -> list[DecodeResult]:
        if not frames:
            return []
        self._gap_start = max(self._gap_start, frames[-1].end_offset)
        shift = self._removed
        if shift:
            # Offsets in the stream as received: the plain decoder never saw the encrypted frames,
            # and its frames come before the next one (see _encrypted).
            frames = [f._replace(offset=f.offset + shift) for f in frames]
        return self.decode_frames(frames)

    def _gap(self) -> tuple[bytes, int]:
        """The bytes between the last telegram and here (the last MAX_NOISE), and their count."""
        count = self._passed - self._gap_start
        noise = self._tail[len(self._tail) - min(count, len(self._tail)) :] if count else b""
        stripped = noise.strip(b"\r\n")
        return stripped, count - (len(noise) - len(stripped))

    def _encrypted(self, frame: GcmFrame) -> list[DecodeResult]:
        # The bytes before this frame end here: a plain telegram they began is truncated, their
        # noise is counted now.
        results = self._plain_results(self.framer.flush()) if self.framer.buffered else []
        noise, noise_count = self._gap()
        self._gap_start = self._passed
        self._removed += len(frame.data)
        decryption = self._decryptor.decrypt(frame)
        self._count(frame, decryption)
        plaintext = decryption.plaintext
        if plaintext is None:
            unread = Frame(frame.data, b"", frame.offset, frame.complete, False, noise, noise_count)
            return [*results, self._rejected(unread, decryption.reason)]
        # One telegram, normally; damage may split it or leave bytes that are not one.
        framer = Framer()
        inner = framer.feed(plaintext) + framer.flush()
        if not inner:  # text, but its '/' and '!' were both damaged
            unread = Frame(plaintext, b"", frame.offset, False, False, noise, noise_count)
            reason = f"{Outcome.DAMAGED}: it decrypts to text that holds no telegram"
            return [*results, self._rejected(unread, reason, suspicious_bytes(plaintext))]
        self._inner_noise += framer.noise_bytes
        accepted = False
        for index, part in enumerate(inner):
            offset = frame.offset + part.offset
            if index == 0:
                part = part._replace(
                    offset=offset,
                    noise=(noise + part.noise)[-MAX_NOISE:],
                    noise_count=noise_count + part.noise_count,
                )
            else:
                part = part._replace(offset=offset)
            decoded = self.decode_frames([part])  # a damaged one may wait for the next good one
            accepted = accepted or any(r.accepted for r in decoded)
            results += decoded
        if accepted and self.mode is Mode.UNVERIFIED:
            self._decryptor.accept(frame)  # its CRC verified: the counter is the meter's
        return results

    def _rejected(
        self, frame: Frame, reason: str, suspicious: tuple[tuple[int, int], ...] = ()
    ) -> DecodeResult:
        """An invalid result for an encrypted frame that holds no telegram to decode; counted."""
        result = DecodeResult(
            Status.INVALID, frame, None, frame.data, None, None, reason, suspicious
        )
        self.stats.count(result)
        return result

    def _count(self, frame: GcmFrame, decryption: Decryption) -> None:
        cipher = self.cipher
        outcome = decryption.outcome
        cipher.frames += 1
        if outcome is Outcome.DECRYPTED:
            cipher.decrypted += 1
            reason = f"{outcome}: {MESSAGES[outcome]} ({self.mode} mode)"
        else:
            reason = self._last_reason = decryption.reason
        cipher.by_outcome[outcome.value] = cipher.by_outcome.get(outcome.value, 0) + 1
        if outcome is not cipher.last_outcome:
            self._notices.append(CipherNotice(outcome, reason, frame.offset))
        cipher.last_outcome = outcome
        cipher.system_title = frame.system_title
        cipher.counter = frame.counter
